"""List+watch caches of the mesh process: one ``Informer`` thread per watched collection.

Each keeps a name -> object cache of one collection and calls back on every change; a broken
stream or an apiserver that is away just means relist with back-off.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable

from lab.kubeapi import ApiError, KubeApi

log = logging.getLogger("kube")


def namespaced_key(obj: dict) -> str:
    return f"{obj['metadata'].get('namespace', '')}/{obj['metadata']['name']}"


class Informer(threading.Thread):
    """List+watch one resource collection into a name -> object cache.

    ``on_change(event_type, obj, old)`` runs on this thread for every change; it must not block.
    ``key``: the cache key of an object (default its name; ``namespaced_key`` for a collection
    across namespaces).
    """

    def __init__(
        self,
        api: KubeApi,
        url: str,
        on_change: Callable[[str, dict, dict | None], None],
        key: Callable[[dict], str] | None = None,
    ):
        super().__init__(name=f"informer {url}", daemon=True)
        self.api = api
        self.url = url
        self.on_change = on_change
        self.key = key or (lambda o: o["metadata"]["name"])
        self.synced = threading.Event()
        self._lock = threading.Lock()
        self._cache: dict[str, dict] = {}
        self._last_error = ""

    def get(self, name: str) -> dict | None:
        with self._lock:
            return self._cache.get(name)

    def items(self) -> list[dict]:
        with self._lock:
            return list(self._cache.values())

    def run(self) -> None:
        delay = 0.5
        while True:
            try:
                rv = self._list()
                self.synced.set()
                self._last_error = ""
                delay = 0.5
                while rv:
                    rv = self._watch(rv)
            except ApiError as e:
                if str(e) != self._last_error:
                    log.warning("list/watch %s failed: %s", self.url, e)
                    self._last_error = str(e)
                time.sleep(delay)
                delay = min(delay * 2, 4.0)
            except Exception as e:  # noqa: BLE001 - a broken stream just means relist
                log.warning("watch %s interrupted: %s", self.url, e)
                time.sleep(delay)

    def _list(self) -> str:
        data = self.api.list(self.url)
        fresh = {self.key(o): o for o in data.get("items") or []}
        with self._lock:
            old, self._cache = self._cache, fresh
        for name, obj in fresh.items():
            prev = old.get(name)
            if (
                prev is None
                or prev["metadata"]["resourceVersion"] != obj["metadata"]["resourceVersion"]
            ):
                self.on_change("ADDED" if prev is None else "MODIFIED", obj, prev)
        for name, prev in old.items():
            if name not in fresh:
                self.on_change("DELETED", prev, prev)
        return data["metadata"]["resourceVersion"]

    def _watch(self, rv: str) -> str | None:
        """Follow one watch stream; the next resourceVersion, or None to relist (410 Gone)."""
        resp = self.api.watch(self.url, rv)
        buf = b""
        try:
            for chunk in resp.stream(amt=None, decode_content=False):
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if not line.strip():
                        continue
                    event = json.loads(line)
                    kind, obj = event["type"], event["object"]
                    if kind == "ERROR":
                        if obj.get("code") == 410:
                            return None
                        raise ApiError(obj.get("code", 0), obj.get("message", ""))
                    rv = obj["metadata"]["resourceVersion"]
                    if kind == "BOOKMARK":
                        continue
                    name = self.key(obj)
                    with self._lock:
                        prev = self._cache.get(name)
                        if kind == "DELETED":
                            self._cache.pop(name, None)
                        else:
                            self._cache[name] = obj
                    self.on_change(kind, obj, prev)
        finally:
            resp.release_conn()
        return rv
