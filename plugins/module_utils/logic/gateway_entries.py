# Copyright: (c) 2026, servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The SMCP gateway entries of a mesh's links: ``spec.gateways.additionalIngress.<ingress-peer>``
and ``additionalEgress.<egress-peer>`` in the documented form (fact sheet §4.2). Pure Python."""

from __future__ import annotations

from ansible_collections.servicemesh.federation.plugins.module_utils.logic.errors import (
    TaskError,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.link import GatewayLink
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.naming import (
    DEFAULT_DISCOVERY_PORT,
    DEFAULT_SERVICE_PORT,
    RESERVED_GATEWAYS,
    egress_gateway_name,
    ingress_gateway_name,
    network_name,
)

INGRESS, EGRESS = "ingress", "egress"
FIELD = {INGRESS: "additionalIngress", EGRESS: "additionalEgress"}
SERVICE_TYPES = ("LoadBalancer", "NodePort")
Key = tuple  # (INGRESS | EGRESS, gateway name)


def _ports(discovery_name: str, node_ports: dict | None) -> list[dict]:
    ports = [{"port": DEFAULT_SERVICE_PORT, "name": "tls"},
             {"port": DEFAULT_DISCOVERY_PORT, "name": discovery_name}]
    if node_ports:
        ports[0]["nodePort"] = node_ports["service"]
        ports[1]["nodePort"] = node_ports["discovery"]
    return ports


def ingress_entry(name: str, ingress_service: dict | None = None) -> dict:
    """``additionalIngress.<name>``: the documented form (no routerMode: obsolete after 2.1)."""
    override = ingress_service or {}
    metadata = {"labels": {"federation.maistra.io/ingress-for": name}}
    if override.get("annotations"):
        metadata["annotations"] = dict(override["annotations"])
    return {
        "enabled": True,
        "service": {
            "type": override.get("type") or "LoadBalancer",
            "metadata": metadata,
            "ports": _ports("https-discovery", override.get("node_ports")),
        },
    }


def egress_entry(name: str, network: str) -> dict:
    """``additionalEgress.<name>``: sees only the peer's network (fact sheet §4.2)."""
    return {
        "enabled": True,
        "requestedNetworkView": [network],
        "service": {
            "metadata": {"labels": {"federation.maistra.io/egress-for": name}},
            "ports": _ports("http-discovery", None),
        },
    }


def link_gateways(link: GatewayLink) -> dict[Key, str]:
    """The entries of one link -> the peer they are for."""
    peer = link["peer"]
    return {(INGRESS, link.get("ingress_gateway") or ingress_gateway_name(peer)): peer,
            (EGRESS, link.get("egress_gateway") or egress_gateway_name(peer)): peer}


def desired_entries(links: list[GatewayLink]) -> dict[Key, dict]:
    """Every entry the links ask for, checked before any request (all problems at once)."""
    problems, desired, peer_of = [], {}, {}
    for link in links:
        peer = link.get("peer")
        if not peer:
            problems.append(f"a link has no peer: {link!r}")
            continue
        service = link.get("ingress_service") or {}
        if (service.get("type") or "LoadBalancer") not in SERVICE_TYPES:
            problems.append("peer {!r}: ingress_service.type {!r} is not one of {}".format(
                peer, service.get("type"), ", ".join(SERVICE_TYPES)))
        node_ports = service.get("node_ports")
        if node_ports and not all(isinstance(node_ports.get(k), int)
                                  for k in ("discovery", "service")):
            problems.append(f"peer {peer!r}: ingress_service.node_ports needs integer "
                            "'discovery' and 'service' ports")
            node_ports = None
        for key in link_gateways(link):
            kind, name = key
            if name in RESERVED_GATEWAYS:
                problems.append(f"peer {peer!r}: gateway name {name!r} is reserved by the "
                                "operator")
            other = peer_of.get(name)
            if other is not None:
                problems.append(f"gateway name {name!r} is used for both peer {other!r} and "
                                f"peer {peer!r} (names are unique across ingress and egress)")
                continue
            peer_of[name] = peer
            if kind == INGRESS:
                desired[key] = ingress_entry(name, dict(service, node_ports=node_ports))
            else:
                desired[key] = egress_entry(name, link.get("network") or network_name(peer))
    if problems:
        raise TaskError("cannot build the gateway entries:\n- " + "\n- ".join(problems))
    return desired
