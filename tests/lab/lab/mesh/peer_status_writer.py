"""ServiceMeshPeer discovery status, as Maistra's federation status handler keeps and writes it.

One ``PeerStatus`` per ServiceMeshPeer (created only once the peer's root cert was loaded, so a
peer whose CA ConfigMap is missing has no status at all). Events mutate it; the ones the fact
sheet marks as "written at once" call ``flush``. The writer thread turns it into
``status.discoveryStatus`` for this istiod pod (the only pod: entries of other, older pods are
dropped as the leader would) and writes it through the status subresource only when it differs
from what it wrote last.
"""

from __future__ import annotations

import calendar
import copy
import hashlib
import logging
import queue
import threading
import time

from lab import kubeapi

log = logging.getLogger("federation")

STALE_REMOTE_SECONDS = 300  # Maistra's staleRemoteStatusDuration
COALESCE_SECONDS = 0.1


def now_rfc3339(t: float | None = None) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if t is None else t))


def _epoch(ts: str) -> float:
    return calendar.timegm(time.strptime(ts, "%Y-%m-%dT%H:%M:%SZ"))


class PeerStatus:
    """Discovery status of one peer as seen by this istiod pod (guarded by the writer's lock)."""

    def __init__(self, name: str, uid: str):
        self.name = name
        self.uid = uid
        self.watch: dict = {"connected": False}
        self.remotes: dict[str, dict] = {}
        self._remote_conns: dict[str, int] = {}

    # outbound watch (this istiod -> peer)
    def watch_initiated(self) -> None:
        self.watch["connected"] = False
        self.watch["lastConnected"] = now_rfc3339()  # set on every attempt, as Maistra does

    def watching(self) -> None:
        self.watch["connected"] = True  # lastDisconnectStatus is deliberately kept

    def event_received(self) -> None:
        self.watch["lastEvent"] = now_rfc3339()

    def full_sync(self) -> None:
        self.watch["lastFullSync"] = now_rfc3339()

    def terminated(self, status: str) -> None:
        if self.watch.get("connected"):
            self.watch["lastDisconnect"] = now_rfc3339()
        self.watch["connected"] = False
        self.watch["lastDisconnectStatus"] = status

    # inbound watches (peer istiod -> this istiod), keyed by source address
    def remote_accepted(self, source: str) -> None:
        self._remote_conns[source] = self._remote_conns.get(source, 0) + 1
        entry = self.remotes.setdefault(source, {})
        entry["connected"] = True
        entry["lastConnected"] = now_rfc3339()

    def remote_event(self, source: str) -> None:
        if source in self.remotes:
            self.remotes[source]["lastEvent"] = now_rfc3339()

    def remote_full_sync(self, source: str) -> None:
        if source in self.remotes:
            self.remotes[source]["lastFullSync"] = now_rfc3339()

    def remote_closed(self, source: str) -> None:
        left = self._remote_conns.get(source, 1) - 1
        self._remote_conns[source] = left
        if left <= 0 and source in self.remotes:
            self._remote_conns.pop(source, None)
            self.remotes[source]["connected"] = False
            self.remotes[source]["lastDisconnect"] = now_rfc3339()

    def prune_remotes(self) -> bool:
        cutoff = time.time() - STALE_REMOTE_SECONDS
        stale = [
            s
            for s, r in self.remotes.items()
            if not r.get("connected") and _epoch(r.get("lastDisconnect", now_rfc3339())) < cutoff
        ]
        for s in stale:
            del self.remotes[s]
        return bool(stale)

    def discovery_status(self, pod: str) -> dict:
        entry: dict = {"pod": pod, "watch": dict(self.watch)}
        if self.remotes:
            entry["remotes"] = [{"source": s, **r} for s, r in sorted(self.remotes.items())]
        key = "active" if self.watch.get("connected") else "inactive"
        return {key: [entry]}


def _normalise(discovery_status: dict | None) -> dict:
    """Compare statuses ignoring empty/absent lists and list order."""
    out = {}
    for key in ("active", "inactive"):
        entries = (discovery_status or {}).get(key) or []
        if entries:
            out[key] = sorted(entries, key=lambda e: e.get("pod", ""))
    return out


class StatusWriter(threading.Thread):
    """Writes peer status and Warning events from one thread; retries while the API is away."""

    def __init__(self, api: kubeapi.KubeApi, namespace: str, pod: str):
        super().__init__(name="status-writer", daemon=True)
        self.api = api
        self.namespace = namespace
        self.pod = pod
        self.lock = threading.RLock()
        self.peers: dict[str, PeerStatus] = {}  # by SMP name
        self._written: dict[str, dict] = {}  # uid -> normalised discoveryStatus last seen/written
        self._dirty: set[str] = set()
        self._wake = threading.Event()
        self._events: queue.SimpleQueue = queue.SimpleQueue()
        self._event_keys: dict[str, tuple] = {}
        self._write_error = ""

    # -- peer registry -------------------------------------------------------------------
    def add_peer(self, smp: dict) -> PeerStatus:
        """The status handler for an SMP (new once its root cert loaded, as Maistra's PeerAdded)."""
        name, uid = smp["metadata"]["name"], smp["metadata"]["uid"]
        with self.lock:
            peer = self.peers.get(name)
            if peer is None or peer.uid != uid:
                peer = PeerStatus(name, uid)
                self.peers[name] = peer
                current = (smp.get("status") or {}).get("discoveryStatus")
                self._written[uid] = _normalise(current)
            return peer

    def remove_peer(self, name: str) -> None:
        with self.lock:
            peer = self.peers.pop(name, None)
            if peer:
                self._written.pop(peer.uid, None)
                self._dirty.discard(name)
                self._event_keys.pop(peer.uid, None)

    def flush(self, name: str) -> None:
        with self.lock:
            self._dirty.add(name)
        self._wake.set()

    def prune(self) -> None:
        with self.lock:
            for name, peer in self.peers.items():
                if peer.prune_remotes():
                    self._dirty.add(name)
        self._wake.set()

    # -- events --------------------------------------------------------------------------
    def event(self, smp: dict, event_type: str, reason: str, message: str) -> None:
        """Record a Kubernetes Event on the SMP once per change of (reason, message)."""
        uid = smp["metadata"]["uid"]
        key = (event_type, reason, message)
        with self.lock:
            if self._event_keys.get(uid) == key:
                return
            self._event_keys[uid] = key
        (log.warning if event_type == "Warning" else log.info)(
            "%s/%s: %s", self.namespace, smp["metadata"]["name"], message
        )
        self._events.put((smp, event_type, reason, message))
        self._wake.set()

    # -- writer loop ---------------------------------------------------------------------
    def run(self) -> None:
        while True:
            self._wake.wait()
            # Coalesce bursts (watch established + full sync + remote accepted) into one write.
            time.sleep(COALESCE_SECONDS)
            self._wake.clear()
            retry = self._post_events() | self._write_statuses()
            if retry:
                time.sleep(1.0)
                self._wake.set()

    def _write_statuses(self) -> bool:
        with self.lock:
            dirty, self._dirty = self._dirty, set()
            work = []
            for name in dirty:
                peer = self.peers.get(name)
                if peer:
                    work.append((name, peer.uid, copy.deepcopy(peer.discovery_status(self.pod))))
        failed = False
        for name, uid, desired in work:
            with self.lock:
                if self._written.get(uid) == _normalise(desired):
                    continue
            patch = {
                "status": {
                    "discoveryStatus": {
                        "active": desired.get("active"),
                        "inactive": desired.get("inactive"),
                    }
                }
            }
            url = kubeapi.path(
                kubeapi.FEDERATION, "servicemeshpeers", self.namespace, name, "status"
            )
            try:
                obj = self.api.patch(url, patch)
            except kubeapi.ApiError as e:
                if e.status == 404:
                    continue
                if str(e) != self._write_error:  # retried every second while the API is away
                    log.warning(
                        "error updating status for ServiceMeshPeer %s/%s: %s",
                        self.namespace,
                        name,
                        e,
                    )
                    self._write_error = str(e)
                with self.lock:
                    self._dirty.add(name)
                failed = True
                continue
            self._write_error = ""
            if obj["metadata"]["uid"] != uid:
                continue
            with self.lock:
                self._written[uid] = _normalise(desired)
        return failed

    def _post_events(self) -> bool:
        pending = []
        while not self._events.empty():
            pending.append(self._events.get())
        for i, (smp, event_type, reason, message) in enumerate(pending):
            meta = smp["metadata"]
            ts = now_rfc3339()
            digest = hashlib.sha256(f"{meta['uid']}{reason}{message}{time.time()}".encode())
            event = {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {
                    "name": f"{meta['name']}.{digest.hexdigest()[:16]}",
                    "namespace": self.namespace,
                },
                "involvedObject": {
                    "apiVersion": "federation.maistra.io/v1",
                    "kind": "ServiceMeshPeer",
                    "name": meta["name"],
                    "namespace": self.namespace,
                    "uid": meta["uid"],
                },
                "type": event_type,
                "reason": reason,
                "message": message,
                "source": {"component": "istiod", "host": self.pod},
                "reportingComponent": "istiod",
                "reportingInstance": self.pod,
                "firstTimestamp": ts,
                "lastTimestamp": ts,
                "count": 1,
            }
            try:
                self.api.create(kubeapi.path(kubeapi.CORE, "events", self.namespace), event)
            except kubeapi.ApiError as e:
                if e.status in (0, 429, 500, 503):
                    for rest in pending[i:]:
                        self._events.put(rest)
                    return True
                log.warning("could not record event for %s: %s", meta["name"], e)
        return False
