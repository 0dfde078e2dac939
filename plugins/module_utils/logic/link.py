# Copyright (c) servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The plan's link: one direction *mesh -> peer*, seen from mesh (docs/architecture.md).

A TypedDict, so that a link stays the plain dict Ansible passes between tasks (the plan's output,
the modules' ``links`` option, the roles' facts) with no conversion at any edge, while its keys
and their types are declared once here: the pure code annotates what it reads as ``Link``, and a
type checker finds a misspelt key. Pure Python.
"""

from __future__ import annotations

from typing import TypedDict


class SharedService(TypedDict):
    """A named service crossing the direction, with the FQDN it is exported under."""

    service: str
    namespace: str
    exported_name: str  # <name>.<ns>.svc.<importer's ServiceMeshPeer name>-exports.local


class SelectorExport(TypedDict):
    namespace: str  # "*": any member namespace
    selector: dict  # a Kubernetes LabelSelector


class IngressService(TypedDict, total=False):
    """The managed ingress gateway Service's settings (mesh_peers.<peer>.ingress_service)."""

    type: str  # LoadBalancer (default) or NodePort
    annotations: dict[str, str]
    node_ports: dict[str, int]  # discovery, service


class Link(TypedDict):
    """Everything one mesh's tasks need about one peer; built by plan.build_plan."""

    mesh: str
    peer: str
    peer_host: str  # the peer's inventory host
    namespace: str  # mesh's control-plane namespace
    peer_namespace: str
    peer_trust_domain: str
    ingress_gateway: str  # mesh's local gateways for the peer
    egress_gateway: str
    peer_ingress_gateway: str  # the peer's gateways for mesh
    peer_egress_gateway: str
    client_id: str  # SPIFFE principal of the peer's egress gateway
    ca_configmap: str  # where mesh keeps the peer's root
    addresses: list[str] | None  # overrides of where mesh reaches the peer (None: discovered)
    discovery_port: int | None
    service_port: int | None
    ingress_address_overridden: bool  # the peer reaches mesh's ingress through an override
    network: str  # the egress gateway's requestedNetworkView
    ingress_service: IngressService
    export_rules: list[dict]  # ExportedServiceSet <peer> rules, API form ([]: no set)
    import_rules: list[dict]  # ImportedServiceSet <peer> rules, API form ([]: no set)
    exports: list[SharedService]  # named services mesh exports to the peer
    imports: list[SharedService]  # named services mesh imports from the peer
    export_selectors: list[SelectorExport]


class GatewayLink(TypedDict, total=False):
    """The part of a link federation_gateways reads (its ``links`` option): only ``peer`` is
    required, the rest defaults from the naming conventions."""

    peer: str
    ingress_gateway: str
    egress_gateway: str
    network: str
    ingress_service: IngressService
    ingress_address_overridden: bool
