# Copyright: (c) 2026, servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Discovery status of one mesh's ServiceMeshPeers (federation_status), with diagnostics.

For a peer that is not connected, gather what the API offers about it, following the
troubleshooting pointers (fact sheet §6.1): the ServiceMeshPeer's Events and the last lines of
this mesh's istiod and of its egress / ingress gateway for that peer. A cluster that does not
serve pod logs (or a Role that does not allow them) gives a note instead of a failure.

With planned services, each peer's ImportedServiceSet and ExportedServiceSet (named after the
peer) are read too, and a peer is done only when it is connected and they show every planned
import imported and every planned export exported (peer_status.evaluate_services). Waiting watches
each kind in turn (watch.wait_for_all): one watch per kind in the namespace, never one per peer.
"""

from __future__ import annotations

import time

from ansible_collections.servicemesh.federation.plugins.module_utils.client.watch import (
    wait_for_all,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.errors import (
    ClusterError,
    TaskError,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.kinds import (
    DEPLOYMENT,
    EVENT,
    EXPORTED_SERVICE_SET,
    IMPORTED_SERVICE_SET,
    POD,
    SERVICE_MESH_PEER,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.naming import (
    ISTIOD_LABEL,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.peer_status import (
    evaluate_peer,
    evaluate_services,
)

CANONICAL_NAME = "service.istio.io/canonical-name"
LOG_LINES = 40
REWRITE_GRACE = 30  # seconds to wait for istiod to rewrite the status of a changed peer


def planned_services(services: dict | None, namespace: str = "") -> dict:
    """Check the `services` option: peer -> {"imports": [exported name], "exports": [...]}."""
    planned, problems = {}, []
    for peer, entry in (services or {}).items():
        if not isinstance(entry, dict):
            problems.append(f"services.{peer}: expected a mapping with imports and/or exports, "
                            f"got {type(entry).__name__}")
            continue
        unknown = sorted(set(entry) - {"imports", "exports"})
        if unknown:
            problems.append(f"services.{peer}: unknown key(s) {', '.join(map(str, unknown))} "
                            "(allowed: imports, exports)")
        lists = {}
        for key in ("imports", "exports"):
            names = entry.get(key) or []
            if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
                problems.append(f"services.{peer}.{key}: expected a list of exported service "
                                "names (<name>.<namespace>.svc.<mesh>-exports.local)")
                names = []
            lists[key] = list(dict.fromkeys(names))
        planned[str(peer)] = lists
    if problems:
        where = f" (mesh namespace {namespace})" if namespace else ""
        raise TaskError(f"bad planned services{where}: " + "; ".join(problems))
    return planned


def _wanted(names: list | None, planned: dict, objects: dict) -> list:
    return sorted(set(names) | set(planned)) if names else sorted(set(objects) | set(planned))


def _all_connected(names: list | None, planned: dict):
    def done(objects: dict) -> bool:
        return all(evaluate_peer(objects.get(n))["connected"]
                   for n in _wanted(names, planned, objects))
    return done


def _all_imported(planned: dict):
    def done(sets: dict) -> bool:
        # connected=True: the connection is the ServiceMeshPeers' condition, not this one
        return all(not evaluate_services(True, sets.get(peer), None, entry["imports"])["missing"]
                   for peer, entry in planned.items())
    return done


def _all_exported(planned: dict):
    def done(sets: dict) -> bool:
        return all(not evaluate_services(True, None, sets.get(peer), (), entry["exports"])
                   ["exports_missing"] for peer, entry in planned.items())
    return done


def _conditions(names: list | None, planned: dict, peers_done) -> dict:
    """The condition per kind to wait for; a set kind only when some peer plans it."""
    conditions = {SERVICE_MESH_PEER: peers_done}
    if any(entry["imports"] for entry in planned.values()):
        conditions[IMPORTED_SERVICE_SET] = _all_imported(planned)
    if any(entry["exports"] for entry in planned.values()):
        conditions[EXPORTED_SERVICE_SET] = _all_exported(planned)
    return conditions


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
            "istiod": logs.of("istiod", *ISTIOD_LABEL),
            "egress": logs.of("egress gateway", CANONICAL_NAME,
                              (gateways.get("egress") or {}).get("name")),
            "ingress": logs.of("ingress gateway", CANONICAL_NAME,
                               (gateways.get("ingress") or {}).get("name")),
        },
    }


def readiness(deployment: dict) -> dict | None:
    """A Deployment's readiness as the Deployment controller reports it; None before the
    controller has written any status (nothing is known yet)."""
    status = deployment.get("status") or {}
    if "observedGeneration" not in status and not status.get("conditions"):
        return None
    name = deployment["metadata"]["name"]
    replicas = (deployment.get("spec") or {}).get("replicas", 1)
    ready = status.get("readyReplicas") or 0
    return {"deployment": name, "namespace": deployment["metadata"].get("namespace"),
            "ready": ready > 0, "ready_replicas": ready, "replicas": replicas,
            "text": f"Deployment {name} {ready}/{replicas}"}


def control_plane(cluster, namespace: str, smps: dict) -> dict:
    """Readiness of this mesh's istiod and of the gateways its ServiceMeshPeers name (OSSM names
    a gateway's Deployment after the gateway): one list of the namespace's Deployments.

    A component without a Deployment (or with no status yet) is None: unknown, never blamed.
    """
    try:
        deployments = {d["metadata"]["name"]: d for d in cluster.list(DEPLOYMENT, namespace)}
    except ClusterError as exc:
        return {"istiod": None, "gateways": {}, "note": f"Deployments not readable: {exc.reason}"}
    istiods = [readiness(d) for d in deployments.values()
               if (d["metadata"].get("labels") or {}).get(ISTIOD_LABEL[0]) == ISTIOD_LABEL[1]]
    istiods = [r for r in istiods if r]
    # Several istiod Deployments (revisions): one that is ready serves the mesh.
    istiod = next((r for r in istiods if r["ready"]), istiods[0] if istiods else None)
    gateways = {}
    for smp in smps.values():
        for side in ("ingress", "egress"):
            name = ((((smp.get("spec") or {}).get("gateways") or {}).get(side)) or {}).get("name")
            if name and name in deployments:
                gateways[name] = readiness(deployments[name])
    return {"istiod": istiod, "gateways": gateways, "note": None}


def _components(smp: dict | None, plane: dict) -> dict:
    """The readiness of what one peer's direction goes through on this mesh's side."""
    gateways = ((smp or {}).get("spec") or {}).get("gateways") or {}
    names = {side: (gateways.get(side) or {}).get("name") for side in ("ingress", "egress")}
    return {"istiod": plane["istiod"],
            "gateways": {side: plane["gateways"].get(name) if name else None
                         for side, name in names.items()}}


def _rewritten(reconfigured: dict):
    def done(objects: dict) -> bool:
        return all((objects.get(name) or {}).get("status") != before
                   for name, before in reconfigured.items())
    return done


def status(cluster, namespace: str, names: list | None, wait: bool, timeout: float,
           reconfigured: dict | None = None, services: dict | None = None,
           clock=time.monotonic) -> dict:
    """Evaluate the peers (all in the namespace when `names` is empty), optionally waiting.

    `reconfigured` maps peers this run changed to their status before the change: while a peer
    still shows exactly that status, istiod has not acted on the change and "connected" may be
    stale, so the wait first asks for a rewritten status as well. istiod rewrites it when it
    restarts the watch; if it has not within REWRITE_GRACE seconds (e.g. a change it only
    reads at its next resync), the current status is taken as it is.

    `services` (see planned_services) adds, per peer, the planned imports and exports that
    must show in the peer's ImportedServiceSet / ExportedServiceSet status.
    """
    started = clock()
    planned = planned_services(services, namespace)
    connected = _all_connected(names, planned)
    if wait:
        seen, finished = {}, False
        if reconfigured:
            rewritten = _rewritten(reconfigured)
            seen, finished = wait_for_all(
                cluster, namespace,
                _conditions(names, planned, lambda o: rewritten(o) and connected(o)),
                min(timeout, REWRITE_GRACE), clock=clock)
        if not finished:
            seen = wait_for_all(cluster, namespace, _conditions(names, planned, connected),
                                max(0, timeout - (clock() - started)), clock=clock)[0]
    else:
        seen = {gvk: {item["metadata"]["name"]: item for item in cluster.list(gvk, namespace)}
                for gvk in _conditions(names, planned, connected)}
    objects = seen[SERVICE_MESH_PEER]
    imported_sets = seen.get(IMPORTED_SERVICE_SET, {})
    exported_sets = seen.get(EXPORTED_SERVICE_SET, {})
    wanted = _wanted(names, planned, objects)
    peers = {name: evaluate_peer(objects.get(name)) for name in wanted}
    for name, entry in planned.items():
        peers[name]["services"] = evaluate_services(
            peers[name]["watch"]["connected"], imported_sets.get(name), exported_sets.get(name),
            entry["imports"], entry["exports"])
    for result in peers.values():
        result["done"] = result["connected"] and result.get("services", {}).get("done", True)
    failing = [name for name in wanted if not peers[name]["done"]]
    plane = control_plane(cluster, namespace, objects)
    for name in wanted:
        # Not connected because istiod or a gateway is not ready: a mesh-level cause
        # (matrix.component_cause).
        peers[name].update(_components(objects.get(name), plane))
    if failing:
        logs = _Logs(cluster, namespace)
        for name in failing:
            peers[name].update(_diagnostics(cluster, namespace, name, objects.get(name), logs))
    return {
        "peers": peers,
        "istiod": plane["istiod"],
        "all_connected": all(peers[name]["connected"] for name in wanted),
        "all_done": not failing,
        "elapsed": round(clock() - started, 1),
    }
