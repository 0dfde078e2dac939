"""Kubernetes access for the mesh process: plain JSON requests and list+watch caches.

A small urllib3 client driven by the kubeconfig (server, CA, bearer token or client certificate
of one context). Objects stay plain dicts. The full kubernetes client would cost ~50 MB of
memory per process, too much with eight meshes on one machine.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode

import urllib3
import yaml

log = logging.getLogger("kube")

MERGE_PATCH = "application/merge-patch+json"

CORE = "/api/v1"
APPS = "/apis/apps/v1"
MAISTRA = "/apis/maistra.io/v2"
FEDERATION = "/apis/federation.maistra.io/v1"


def path(
    group: str,
    plural: str,
    namespace: str | None = None,
    name: str | None = None,
    sub: str | None = None,
) -> str:
    p = group + (f"/namespaces/{namespace}" if namespace else "") + f"/{plural}"
    if name:
        p += f"/{name}"
    if sub:
        p += f"/{sub}"
    return p


class ApiError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


def _named(items: list[dict], name: str, kind: str, kubeconfig: str) -> dict:
    for item in items or []:
        if item.get("name") == name:
            return item.get(kind) or {}
    raise ValueError(f"kubeconfig {kubeconfig}: no {kind} named {name!r}")


def _pem(entry: dict, key: str, base: Path) -> str | None:
    """``<key>-data`` (base64) or the file ``<key>`` (relative to the kubeconfig) as text."""
    if entry.get(f"{key}-data"):
        return base64.b64decode(entry[f"{key}-data"]).decode()
    if entry.get(key):
        return (base / entry[key]).read_text()
    return None


class KubeApi:
    def __init__(self, kubeconfig: str, context: str | None):
        config = yaml.safe_load(Path(kubeconfig).read_text())
        base = Path(kubeconfig).resolve().parent
        ctx = _named(
            config.get("contexts"), context or config.get("current-context"), "context", kubeconfig
        )
        cluster = _named(config.get("clusters"), ctx.get("cluster"), "cluster", kubeconfig)
        user = _named(config.get("users"), ctx.get("user"), "user", kubeconfig)
        self.server = cluster["server"].rstrip("/")
        tls = ssl.create_default_context(cadata=_pem(cluster, "certificate-authority", base))
        cert, key = _pem(user, "client-certificate", base), _pem(user, "client-key", base)
        if cert and key:
            # ssl loads keys from paths only: an anonymous in-memory file keeps it off the disk.
            fd = os.memfd_create("client-cert", os.MFD_CLOEXEC)
            try:
                os.write(fd, (cert + key).encode())
                tls.load_cert_chain(f"/proc/self/fd/{fd}")
            finally:
                os.close(fd)
        self._headers = {"Accept": "application/json"}
        token = user.get("token") or (
            Path(user["tokenFile"]).read_text().strip() if user.get("tokenFile") else None
        )
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        # No retries: callers retry at their own pace (apiserver-down faults).
        self._pool = urllib3.PoolManager(maxsize=8, ssl_context=tls, retries=False)

    def _call(
        self,
        method: str,
        url: str,
        *,
        body=None,
        query=None,
        content_type=None,
        preload=True,
        timeout: float | tuple = 10.0,
    ):
        headers = dict(self._headers)
        data = None
        if body is not None:
            headers["Content-Type"] = content_type or "application/json"
            data = json.dumps(body).encode()
        full = self.server + url + (f"?{urlencode(query)}" if query else "")
        connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
        try:
            resp = self._pool.request(
                method,
                full,
                body=data,
                headers=headers,
                preload_content=preload,
                timeout=urllib3.Timeout(connect=connect, read=read),
            )
        except urllib3.exceptions.HTTPError as e:  # refused, timeouts: the apiserver is away
            raise ApiError(0, f"{type(e).__name__}: {e}") from None
        if resp.status >= 400:
            raw = resp.data if preload else resp.read()
            message = raw.decode(errors="replace")
            try:
                message = json.loads(raw).get("message", message)
            except ValueError:
                pass
            raise ApiError(resp.status, message)
        if not preload:
            return resp
        return json.loads(resp.data) if resp.data else None

    def get(self, url: str) -> dict | None:
        try:
            return self._call("GET", url)
        except ApiError as e:
            if e.status == 404:
                return None
            raise

    def create(self, url: str, obj: dict) -> dict:
        return self._call("POST", url, body=obj)

    def replace(self, url: str, obj: dict) -> dict:
        return self._call("PUT", url, body=obj)

    def patch(self, url: str, patch: dict) -> dict:
        return self._call("PATCH", url, body=patch, content_type=MERGE_PATCH)

    def delete(self, url: str) -> None:
        try:
            self._call("DELETE", url)
        except ApiError as e:
            if e.status != 404:
                raise

    def list(self, url: str) -> dict:
        return self._call("GET", url)

    def watch(self, url: str, resource_version: str):
        """A streaming watch response (urllib3); the server ends it after a few minutes."""
        return self._call(
            "GET",
            url,
            preload=False,
            timeout=(5, 330),
            query={
                "watch": "true",
                "resourceVersion": resource_version,
                "allowWatchBookmarks": "true",
                "timeoutSeconds": "300",
            },
        )


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
