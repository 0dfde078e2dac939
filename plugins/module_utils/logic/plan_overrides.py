# Copyright (c) servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The plan's check of each mesh's mesh_peers overrides (addresses, ports, gateway names, the
managed ingress Service). Pure Python."""

from __future__ import annotations

from ansible_collections.servicemesh.federation.plugins.module_utils.logic.plan_values import (
    Problems,
    address_error,
    port_error,
)

OVERRIDE_KEYS = ("addresses", "discovery_port", "service_port", "ingress_gateway", "egress_gateway",
                 "ingress_service")
INGRESS_SERVICE_KEYS = ("type", "annotations", "node_ports")
INGRESS_SERVICE_TYPES = ("LoadBalancer", "NodePort")
NODE_PORT_KEYS = ("discovery", "service")
NODE_PORT_RANGE = (30000, 32767)  # the API server's default service-node-port-range


def _check_ingress_service(p: Problems, mesh: dict, field: str, value, gateways: str,
                           used_ports: dict) -> dict | None:
    """Validate a mesh_peers.<peer>.ingress_service override; return its plan form or None."""
    if gateways != "managed":
        p.mesh(mesh, field, "applies only when federation_gateways is managed (the collection "
                            "creates the gateway Service)")
        return None
    if not isinstance(value, dict):
        p.mesh(mesh, field, "must be a mapping with type, annotations and/or node_ports")
        return None
    ok = True
    for key in sorted(set(value) - set(INGRESS_SERVICE_KEYS), key=str):
        p.mesh(mesh, f"{field}.{key}", f"unknown key (known: {', '.join(INGRESS_SERVICE_KEYS)})")
        ok = False
    kind = value.get("type", "LoadBalancer")
    if kind not in INGRESS_SERVICE_TYPES:
        p.mesh(mesh, f"{field}.type",
               f"must be one of {', '.join(INGRESS_SERVICE_TYPES)}, got {kind!r}")
        ok = False
    result = {"type": kind}
    annotations = value.get("annotations")
    if annotations is not None:
        if not isinstance(annotations, dict):
            p.mesh(mesh, f"{field}.annotations", "must be a mapping of names to strings")
            ok = False
        else:
            for key in sorted(annotations, key=str):
                if not isinstance(key, str) or not isinstance(annotations[key], str):
                    p.mesh(mesh, f"{field}.annotations.{key}",
                           f"values must be strings, got {annotations[key]!r} (quote it in YAML)")
                    ok = False
            result["annotations"] = dict(annotations)
    ports = value.get("node_ports")
    if ports is not None:
        ok = _check_node_ports(p, mesh, f"{field}.node_ports", ports, kind, used_ports) and ok
        result["node_ports"] = dict(ports) if isinstance(ports, dict) else ports
    return result if ok else None


def _check_node_ports(p: Problems, mesh: dict, field: str, ports, kind: str,
                      used_ports: dict) -> bool:
    if kind != "NodePort":
        p.mesh(mesh, field, "needs type: NodePort")
        return False
    if not isinstance(ports, dict) or not ports:
        p.mesh(mesh, field, "must be a mapping with discovery and/or service")
        return False
    ok = True
    for key in sorted(set(ports) - set(NODE_PORT_KEYS), key=str):
        p.mesh(mesh, f"{field}.{key}", f"unknown key (known: {', '.join(NODE_PORT_KEYS)})")
        ok = False
    low, high = NODE_PORT_RANGE
    for key in NODE_PORT_KEYS:
        if key not in ports:
            continue
        port = ports[key]
        if isinstance(port, bool) or not isinstance(port, int) or not low <= port <= high:
            p.mesh(mesh, f"{field}.{key}",
                   f"must be an integer from {low} to {high} (node port range), got {port!r}")
            ok = False
        elif port in used_ports:
            # Node ports are cluster-wide: two gateway Services cannot share one.
            p.mesh(mesh, f"{field}.{key}", f"node port {port} is also set in {used_ports[port]}")
            ok = False
        else:
            used_ports[port] = f"{field}.{key}"
    return ok


def check_overrides(p: Problems, mesh: dict, linked: set[str], known: set[str],
                    outside: set[str], gateways: str = "managed") -> dict:
    """Validate mesh_peers; return {peer: overrides} for the valid peer entries.

    Entries for meshes ``outside`` this run (inventory meshes left out by --limit) are skipped.
    """
    peers = mesh["_peers"]
    if peers is None:
        return {}
    if not isinstance(peers, dict):
        p.mesh(mesh, "mesh_peers", "must be a mapping keyed by peer mesh name")
        return {}
    result = {}
    used_ports: dict[int, str] = {}
    for peer in sorted(peers, key=str):
        field = f"mesh_peers.{peer}"
        if peer == mesh["name"]:
            p.mesh(mesh, field, "a mesh cannot peer with itself")
            continue
        if peer in outside and peer not in known:
            continue
        if peer not in known:
            p.mesh(mesh, field, f"unknown peer mesh (known meshes: {', '.join(sorted(known))})")
            continue
        if peer not in linked:
            p.mesh(mesh, field, "this mesh is not linked with that peer (see federation_links)")
            continue
        over = peers[peer]
        if over is None:
            over = {}
        if not isinstance(over, dict):
            p.mesh(mesh, field, "must be a mapping of overrides")
            continue
        for key in sorted(set(over) - set(OVERRIDE_KEYS), key=str):
            p.mesh(mesh, f"{field}.{key}",
                   f"unknown override (known: {', '.join(OVERRIDE_KEYS)})")
        if "addresses" in over:
            addresses = over["addresses"]
            if not isinstance(addresses, list) or not addresses:
                p.mesh(mesh, f"{field}.addresses",
                       "must be a non-empty list of hostnames or IP addresses")
            else:
                for i, address in enumerate(addresses):
                    err = address_error(address)
                    if err:
                        p.mesh(mesh, f"{field}.addresses[{i}]", err)
        for key in ("discovery_port", "service_port"):
            if key in over:
                err = port_error(over[key])
                if err:
                    p.mesh(mesh, f"{field}.{key}", err)
        if "ingress_service" in over:
            over = dict(over, ingress_service=_check_ingress_service(
                p, mesh, f"{field}.ingress_service", over["ingress_service"], gateways,
                used_ports))
        result[peer] = over
    return result
