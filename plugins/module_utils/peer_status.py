# Copyright: (c) 2026, servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Discovery status of one mesh's ServiceMeshPeers (federation_status), with diagnostics.

For a peer that is not connected, gather what the API offers about it, following the
troubleshooting pointers (fact sheet §6.1): the ServiceMeshPeer's Events and the last lines of
this mesh's istiod and of its egress / ingress gateway for that peer. A cluster that does not
serve pod logs (or a Role that does not allow them) gives a note instead of a failure.
"""

from __future__ import annotations

import time

from ansible_collections.servicemesh.federation.plugins.module_utils.cluster import (
    EVENT,
    POD,
    SERVICE_MESH_PEER,
    ClusterError,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.status import evaluate_peer
from ansible_collections.servicemesh.federation.plugins.module_utils.watch import wait_for

CANONICAL_NAME = "service.istio.io/canonical-name"
LOG_LINES = 40
REWRITE_GRACE = 30  # seconds to wait for istiod to rewrite the status of a changed peer


def _all_connected(names: list | None):
    def done(objects: dict) -> bool:
        wanted = names if names else list(objects)
        return all(evaluate_peer(objects.get(n))["connected"] for n in wanted)
    return done


def _events(cluster, namespace: str, name: str) -> list:
    selector = f"involvedObject.kind=ServiceMeshPeer,involvedObject.name={name}"
    try:
        items = cluster.list(EVENT, namespace, field_selector=selector)
    except ClusterError as exc:
        return [{"note": f"events not readable: {exc.reason}"}]
    items.sort(key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")
    return [{"type": e.get("type"), "reason": e.get("reason"), "message": e.get("message"),
             "count": e.get("count"), "last_seen": e.get("lastTimestamp") or e.get("eventTime")}
            for e in items]


class _Logs:
    """Pod logs, read at most once per pod (istiod is shared by every peer)."""

    def __init__(self, cluster, namespace: str) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self._cache: dict[str, dict] = {}
        try:
            self.pods = cluster.list(POD, namespace)
            self.note = None
        except ClusterError as exc:
            self.pods, self.note = [], f"pods not readable: {exc.reason}"

    def _pod(self, label: str, value: str) -> dict | None:
        matching = [p for p in self.pods
                    if ((p["metadata"].get("labels") or {}).get(label)) == value]
        running = [p for p in matching if (p.get("status") or {}).get("phase") == "Running"]
        return (running or matching or [None])[0]

    def of(self, component: str, label: str, value: str | None) -> dict:
        if self.note:
            return {"component": component, "note": self.note}
        if not value:
            return {"component": component, "note": "not named in the ServiceMeshPeer spec"}
        pod = self._pod(label, value)
        if pod is None:
            return {"component": component,
                    "note": f"no pod labelled {label}={value} in {self.namespace}"}
        name = pod["metadata"]["name"]
        if name not in self._cache:
            entry = {"component": component, "pod": name}
            try:
                entry["lines"] = self.cluster.pod_log(self.namespace, name,
                                                      tail_lines=LOG_LINES).splitlines()
            except ClusterError as exc:
                entry["note"] = f"log not served by the API: {exc.reason}"
            self._cache[name] = entry
        return dict(self._cache[name], component=component)


def _diagnostics(cluster, namespace: str, name: str, smp: dict | None, logs: _Logs) -> dict:
    gateways = ((smp or {}).get("spec") or {}).get("gateways") or {}
    return {
        "events": _events(cluster, namespace, name) if smp else [],
        "logs": {
            "istiod": logs.of("istiod", "app", "istiod"),
            "egress": logs.of("egress gateway", CANONICAL_NAME,
                              (gateways.get("egress") or {}).get("name")),
            "ingress": logs.of("ingress gateway", CANONICAL_NAME,
                               (gateways.get("ingress") or {}).get("name")),
        },
    }


def _rewritten(reconfigured: dict):
    def done(objects: dict) -> bool:
        return all((objects.get(name) or {}).get("status") != before
                   for name, before in reconfigured.items())
    return done


def status(cluster, namespace: str, names: list | None, wait: bool, timeout: float,
           reconfigured: dict | None = None, clock=time.monotonic) -> dict:
    """Evaluate the peers (all in the namespace when `names` is empty), optionally waiting.

    `reconfigured` maps peers this run changed to their status before the change: while a peer
    still shows exactly that status, istiod has not acted on the change and "connected" may be
    stale, so the wait first asks for a rewritten status as well. istiod rewrites it when it
    restarts the watch; if it has not within REWRITE_GRACE seconds (e.g. a change it only
    reads at its next resync), the current status is taken as it is.
    """
    started = clock()
    done = _all_connected(names)
    if wait:
        objects, finished = {}, False
        if reconfigured:
            rewritten = _rewritten(reconfigured)
            objects, finished = wait_for(cluster, SERVICE_MESH_PEER, namespace,
                                         lambda o: rewritten(o) and done(o),
                                         min(timeout, REWRITE_GRACE), clock=clock)
        if not finished:
            objects = wait_for(cluster, SERVICE_MESH_PEER, namespace, done,
                               max(0, timeout - (clock() - started)), clock=clock)[0]
    else:
        items = cluster.list(SERVICE_MESH_PEER, namespace)
        objects = {item["metadata"]["name"]: item for item in items}
    wanted = sorted(names) if names else sorted(objects)
    peers = {name: evaluate_peer(objects.get(name)) for name in wanted}
    failing = [name for name in wanted if not peers[name]["connected"]]
    if failing:
        logs = _Logs(cluster, namespace)
        for name in failing:
            peers[name].update(_diagnostics(cluster, namespace, name, objects.get(name), logs))
    return {
        "peers": peers,
        "all_connected": not failing,
        "elapsed": round(clock() - started, 1),
    }
