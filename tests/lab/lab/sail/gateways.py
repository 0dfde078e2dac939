"""Istio's Gateway API deployment controller, as istiod (OSSM 3) runs it, and the cloud load
balancer in front of it.

Sources: Istio's pilot/pkg/config/kube/gateway (deploymentcontroller.go: which revision manages a
Gateway, the ``<name>-istio`` Service / Deployment / ServiceAccount with the Gateway's labels,
owned by the Gateway; conditions.go: Accepted / Programmed and per-listener conditions) and the
Gateway API spec (status.addresses). Class ``istio-remote`` (controller
``istio.io/unmanaged-gateway``) renders nothing: it names a gateway of another network by its
``spec.addresses``, which its status reports.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

MANAGED = "istio.io-gateway-controller"
NAME_LABEL = "gateway.networking.k8s.io/gateway-name"
REV_LABEL = "istio.io/rev"
STATUS_PORT = 15021
CLASSES = {"istio": "istio.io/gateway-controller", "istio-remote": "istio.io/unmanaged-gateway"}
ROUTE_KINDS = {"HTTP": ["HTTPRoute", "GRPCRoute"], "HTTPS": ["HTTPRoute", "GRPCRoute"],
               "TLS": ["TLSRoute"], "TCP": ["TCPRoute"], "UDP": ["UDPRoute"]}
POOL_FIRST, POOL_LAST = 100, 199  # 127.N.<mesh>.<k>: the 2.6 mesh process hands out 1, 2, ...


def selected_tag(gateway: dict, namespace: dict | None) -> str:
    """The revision (or tag) a Gateway asks for: its own ``istio.io/rev`` label, else its
    namespace's; empty means the default revision."""
    labels = gateway["metadata"].get("labels") or {}
    if REV_LABEL in labels:
        return labels[REV_LABEL]
    return ((namespace or {}).get("metadata", {}).get("labels") or {}).get(REV_LABEL, "")


def manages(revision: str, tag: str) -> bool:
    """istiod of ``revision`` (``default`` for the revision without a name) handles the Gateway."""
    return tag == revision or (tag == "" and revision == "default")


def service_name(gateway: dict) -> str:
    return f"{gateway['metadata']['name']}-istio"


def _port_name(listener: dict) -> str:
    return re.sub(r"[^a-z0-9-]", "-", listener["name"].lower())[:15].strip("-") or "port"


def rendered(gateway: dict, revision: str, owner: dict) -> list[tuple[str, dict]]:
    """(collection path, object): ServiceAccount, Service (LoadBalancer) and Deployment named
    ``<gateway>-istio``, carrying the Gateway's labels and annotations."""
    meta = gateway["metadata"]
    ns, name = meta["namespace"], service_name(gateway)
    labels = {**(meta.get("labels") or {}),
              **(((gateway.get("spec") or {}).get("infrastructure") or {}).get("labels") or {}),
              NAME_LABEL: meta["name"], "gateway.istio.io/managed": MANAGED,
              "gateway.networking.k8s.io/gateway-class-name": gateway["spec"]["gatewayClassName"]}
    if revision != "default":
        labels[REV_LABEL] = revision
    common = {"namespace": ns, "labels": labels, "ownerReferences": [owner],
              **({"annotations": meta["annotations"]} if meta.get("annotations") else {})}
    ports = [{"name": "status-port", "port": STATUS_PORT, "protocol": "TCP",
              "appProtocol": "tcp"}]
    for listener in gateway["spec"].get("listeners") or []:
        if all(p["port"] != listener["port"] for p in ports):
            ports.append({"name": _port_name(listener), "port": listener["port"],
                          "protocol": "UDP" if listener.get("protocol") == "UDP" else "TCP"})
    selector = {NAME_LABEL: meta["name"]}
    return [
        (f"/api/v1/namespaces/{ns}/serviceaccounts", {"metadata": {"name": name, **common}}),
        (f"/api/v1/namespaces/{ns}/services", {
            "metadata": {"name": name, **common},
            "spec": {"type": "LoadBalancer", "selector": selector, "ports": ports,
                     "allocateLoadBalancerNodePorts": False}}),
        (f"/apis/apps/v1/namespaces/{ns}/deployments", {
            "metadata": {"name": name, **common},
            "spec": {"replicas": 1, "selector": {"matchLabels": selector},
                     "template": {"metadata": {"labels": labels}, "spec": {
                         "serviceAccountName": name,
                         "containers": [{"name": "istio-proxy", "image": "auto"}]}}}}),
    ]


def _listener_status(gateway: dict, programmed: bool, now: str) -> list[dict]:
    generation = gateway["metadata"].get("generation", 1)
    out = []
    for listener in gateway["spec"].get("listeners") or []:
        kinds = ROUTE_KINDS.get(listener.get("protocol", ""), [])
        conditions = [("Accepted", "True", "Accepted"), ("NoConflicts", "False", "NoConflicts"),
                      ("Programmed", "True" if programmed else "False",
                       "Programmed" if programmed else "Invalid"),
                      ("ResolvedRefs", "True", "ResolvedRefs")]
        out.append({"name": listener["name"], "attachedRoutes": 0,
                    "supportedKinds": [{"group": "gateway.networking.k8s.io", "kind": k}
                                       for k in kinds],
                    "conditions": [{"type": t, "status": s, "reason": r,
                                    "message": "No errors found", "observedGeneration": generation,
                                    "lastTransitionTime": now}
                                   for t, s, r in conditions]})
    return out


def _address(value: str) -> dict:
    is_ip = re.fullmatch(r"[0-9.]+|[0-9a-fA-F:]+", value) is not None
    return {"type": "IPAddress" if is_ip else "Hostname", "value": value}


def status(gateway: dict, address: str | None, old: dict | None, now: str) -> dict:
    """Gateway status: for class ``istio`` the Service's load balancer address (Programmed once
    it has one); for ``istio-remote`` the addresses the spec names."""
    spec, meta = gateway["spec"], gateway["metadata"]
    generation = meta.get("generation", 1)
    if spec["gatewayClassName"] == "istio-remote":
        addresses = [{"type": a.get("type", "IPAddress"), "value": a["value"]}
                     for a in spec.get("addresses") or []]
        programmed = bool(addresses)
        message = ("Resource programmed, using the addresses of the remote gateway"
                   if programmed else "no addresses given for the remote gateway")
    else:
        addresses = [_address(address)] if address else []
        svc = f"{service_name(gateway)}.{meta['namespace']}.svc.cluster.local"
        ports = ",".join(str(lst["port"]) for lst in spec.get("listeners") or [])
        programmed = bool(address)
        message = (f"Resource programmed, assigned to service(s) {svc}:{ports}" if programmed else
                   f"Assigned to service(s) {svc}:{ports}, but failed to assign to all requested "
                   f"addresses: address pending for {svc}")
    wanted = [("Accepted", "True", "Accepted", "Resource accepted"),
              ("Programmed", "True" if programmed else "False",
               "Programmed" if programmed else "AddressNotAssigned", message)]
    previous = {c["type"]: c for c in (old or {}).get("conditions") or []}
    conditions = []
    for kind, value, reason, text in wanted:
        prev = previous.get(kind) or {}
        ltt = prev.get("lastTransitionTime") if prev.get("status") == value else None
        conditions.append({"type": kind, "status": value, "reason": reason, "message": text,
                           "observedGeneration": generation, "lastTransitionTime": ltt or now})
    return {"addresses": addresses, "conditions": conditions,
            "listeners": _listener_status(gateway, programmed, now)}


def same(current: dict | None, desired: dict) -> bool:
    """Equal up to lastTransitionTime (so an unchanged status is never rewritten)."""
    def strip(s):
        s = json.loads(json.dumps(s or {}))
        for c in s.get("conditions") or []:
            c.pop("lastTransitionTime", None)
        for lst in s.get("listeners") or []:
            for c in lst.get("conditions") or []:
                c.pop("lastTransitionTime", None)
        return s
    return strip(current) == strip(desired)


def class_status(gateway_class: dict, now: str) -> dict:
    old = next((c for c in (gateway_class.get("status") or {}).get("conditions") or []
                if c.get("type") == "Accepted"), {})
    return {"conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted",
                            "message": "Handled by Istio controller",
                            "observedGeneration": gateway_class["metadata"].get("generation", 1),
                            "lastTransitionTime": (old.get("lastTransitionTime")
                                                   if old.get("status") == "True" else now)}]}


class AddressPool:
    """Per mesh, ``<lb-prefix>.<k>`` for k in 100-199 (the 2.6 mesh process counts from 1), one
    per ``<ns>/<gateway>``, kept in a file so that addresses survive restarts."""

    def __init__(self, prefix: str, state_file: Path):
        self.prefix, self.state_file = prefix, state_file
        try:
            self.assigned: dict[str, int] = json.loads(state_file.read_text())
        except (FileNotFoundError, ValueError):
            self.assigned = {}

    def address(self, key: str) -> str:
        if key not in self.assigned:
            used = set(self.assigned.values())
            self.assigned[key] = next(k for k in range(POOL_FIRST, POOL_LAST + 1) if k not in used)
            self._save()
        return f"{self.prefix}.{self.assigned[key]}"

    def release_except(self, keep: set[str]) -> None:
        gone = [k for k in self.assigned if k not in keep]
        for k in gone:
            del self.assigned[k]
        if gone:
            self._save()

    def _save(self) -> None:
        self.state_file.write_text(json.dumps(self.assigned, indent=1, sort_keys=True))
