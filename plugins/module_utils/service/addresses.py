# Copyright: (c) 2026, servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where peers reach a mesh's ingress gateway: discovered from its Service (the load balancer's
ingress, or node ports with the nodes' addresses). Used by the pre-flight (mesh_facts) and by
the gateways step, which waits for the address.
"""

from __future__ import annotations

from ansible_collections.servicemesh.federation.plugins.module_utils.logic.errors import (
    ClusterError,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.kinds import NODE
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.naming import (
    DEFAULT_DISCOVERY_PORT,
    DEFAULT_SERVICE_PORT,
)

# Port names of the federation gateway Services in the fact sheet (§4.2), for Services whose
# targetPort is a named container port.
_PORT_NAMES = {DEFAULT_DISCOVERY_PORT: ("https-discovery", "http-discovery"),
               DEFAULT_SERVICE_PORT: ("tls",)}


def _service_port(ports: list, container_port: int) -> dict | None:
    """The Service port entry that forwards to ``container_port``."""
    tests = (
        lambda e: e.get("targetPort", e.get("port")) == container_port,
        lambda e: e.get("port") == container_port,
        lambda e: e.get("name") in _PORT_NAMES[container_port],
    )
    for test in tests:
        for entry in ports:
            if test(entry):
                return entry
    return None


# An ingress gateway Service without an address yet, in the form of reachable_address.
NO_ADDRESS = {"addresses": [], "discovery_port": None, "service_port": None, "source": None}


def reachable_address(service: dict, node_addresses: list[str] | None = None) -> dict | None:
    """Where a peer reaches this ingress gateway Service, or None when there is no address yet.

    LoadBalancer: the ingress IPs (else hostnames) and the Service ports for 8188 / 15443.
    NodePort (type NodePort only, with ``node_addresses`` supplied by the caller): the node
    addresses and node ports. A LoadBalancer still pending gives None rather than NodePort data
    that would flip as soon as the balancer gets its address.
    """
    spec = service.get("spec") or {}
    ports = spec.get("ports") or []
    discovery = _service_port(ports, DEFAULT_DISCOVERY_PORT) or {}
    traffic = _service_port(ports, DEFAULT_SERVICE_PORT) or {}
    lb = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    addresses = [e.get("ip") or e.get("hostname") for e in lb if e.get("ip") or e.get("hostname")]
    if addresses:
        return {
            "addresses": addresses,
            "discovery_port": discovery.get("port", DEFAULT_DISCOVERY_PORT),
            "service_port": traffic.get("port", DEFAULT_SERVICE_PORT),
            "source": "loadbalancer",
        }
    if (spec.get("type") == "NodePort" and node_addresses
            and discovery.get("nodePort") and traffic.get("nodePort")):
        return {
            "addresses": list(node_addresses),
            "discovery_port": discovery["nodePort"],
            "service_port": traffic["nodePort"],
            "source": "nodeport",
        }
    return None


def read_node_addresses(cluster) -> list[str] | None:
    """Addresses of the cluster's nodes, for NodePort gateways (None when we may not read them)."""
    try:
        nodes = cluster.list(NODE, "")
    except ClusterError:
        return None
    addresses = []
    for node in nodes:
        by_type = {a.get("type"): a.get("address")
                   for a in (node.get("status") or {}).get("addresses") or []}
        address = by_type.get("ExternalIP") or by_type.get("InternalIP")
        if address:
            addresses.append(address)
    return addresses
