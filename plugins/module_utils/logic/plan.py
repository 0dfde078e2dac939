# Copyright (c) servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Federation plan: validate the inventory and expand it into per-direction links.

Pure Python (stdlib only) so it runs on the controller before any cluster is contacted and can
be unit tested without Ansible. ``build_plan`` collects *every* problem and raises them together.
Problem messages never contain credential values (api_key, password, kubeconfig).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from itertools import permutations

from ansible_collections.servicemesh.federation.plugins.module_utils.logic.errors import PlanError
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.link import Link
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.naming import (
    ca_configmap_name,
    client_id,
    egress_gateway_name,
    ingress_gateway_name,
    network_name,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.plan_clusters import (
    check_cluster,
    cluster_display,
    cluster_identity,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.plan_overrides import (
    check_overrides,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.plan_settings import (
    check_settings,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.plan_values import (
    Problems,
    dns1123_label_error,
    gateway_name_error,
    not_a_string,
    trust_domain_error,
    yaml_hint,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.service_sets import (
    link_sharing,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.sharing import (
    check_imports,
    read_exports,
    read_imports,
)

MESH_VARS = ("mesh_name", "mesh_namespace", "mesh_trust_domain", "mesh_cluster", "mesh_peers",
             "mesh_exports", "mesh_imports")
GATEWAY_MODES = ("managed", "external")
# A peer named "istio" (or "ossm") would get the CA ConfigMap "istio-ca-root-cert" (or
# "ossm-ca-root-cert"): the name of the mesh's OWN root ConfigMap (fact sheet §2).
RESERVED_MESH_NAMES = ("istio", "ossm")

CLIENT_ID_RE = re.compile(r"^[^/]+/ns/[^/]+/sa/[^/]+$")


def _str_var(hostvars: dict, key: str, default: str) -> str:
    value = hostvars.get(key)
    return default if value is None else value


def _read_mesh(p: Problems, host: str, hostvars) -> dict:
    """Apply defaults and validate the per-mesh scalars."""
    if not isinstance(hostvars, dict):
        hostvars = {}
        p.general(f"inventory host {host!r}", "host variables must be a mapping")
    name = _str_var(hostvars, "mesh_name", host)
    mesh = {"name": name if isinstance(name, str) else str(name), "host": host}
    for key in sorted(k for k in hostvars if isinstance(k, str) and k.startswith("mesh_")):
        if key not in MESH_VARS:
            p.mesh(mesh, key, f"unknown variable (known: {', '.join(MESH_VARS)})")

    err = not_a_string(name) or dns1123_label_error(name)
    if err:
        hint = ("it names the ServiceMeshPeer on the other meshes" if "mesh_name" in hostvars
                else "it defaults to the inventory hostname; set mesh_name")
        p.mesh(mesh, "mesh_name", f"{err} ({hint})")
    elif name in RESERVED_MESH_NAMES:
        p.mesh(mesh, "mesh_name",
               f"{name!r} is reserved: peers would store its root in {name}-ca-root-cert, "
               "the name of their own mesh root ConfigMap")
    valid_name = err is None
    mesh["namespace"] = _str_var(hostvars, "mesh_namespace", f"{mesh['name']}-system")
    mesh["trust_domain"] = _str_var(hostvars, "mesh_trust_domain", f"{mesh['name']}.local")
    # Defaults derived from an invalid name would only repeat the mesh_name problem.
    for key, field, check in (("namespace", "mesh_namespace", dns1123_label_error),
                              ("trust_domain", "mesh_trust_domain", trust_domain_error)):
        err = not_a_string(mesh[key]) or check(mesh[key])
        if err and (valid_name or hostvars.get(field) is not None):
            p.mesh(mesh, field, err)

    cluster = hostvars.get("mesh_cluster")
    mesh["_cluster"] = cluster
    mesh["_peers"] = hostvars.get("mesh_peers")
    mesh["_exports"] = hostvars.get("mesh_exports")
    mesh["_imports"] = hostvars.get("mesh_imports")
    mesh["_valid_name"] = valid_name
    return mesh


def _directions(p: Problems, names: list[str], links) -> list[tuple[str, str]]:
    """Every ordered pair when links is None; both directions of each link otherwise ([] is
    valid and plans nothing: the plan role drops links outside a --limit run)."""
    if links is None:
        return list(permutations(sorted(names), 2))
    if not isinstance(links, list):
        p.general("federation_links", "must be a list of two-mesh lists")
        return []
    known = set(names)
    seen: dict[frozenset, int] = {}
    directions = []
    for i, link in enumerate(links):
        field = f"federation_links[{i}]"
        if (not isinstance(link, (list, tuple)) or len(link) != 2
                or not all(isinstance(m, str) for m in link)):
            p.general(field, f"must be a list of exactly two mesh names, got {link!r}"
                             + (yaml_hint(link) if isinstance(link, (list, tuple)) else ""))
            continue
        a, b = link
        if a == b:
            p.general(field, f"links {a!r} to itself (a mesh cannot peer with itself)")
            continue
        unknown = [m for m in (a, b) if m not in known]
        if unknown:
            p.general(field, f"unknown mesh {', '.join(map(repr, unknown))} "
                             f"(known meshes: {', '.join(sorted(known))})")
            continue
        key = frozenset(link)
        if key in seen:
            p.general(field, f"duplicates federation_links[{seen[key]}] "
                             "(a link already means both directions)")
            continue
        seen[key] = i
        directions += [(a, b), (b, a)]
    return sorted(directions)


def build_plan(meshes: dict, links: list | None = None, env_auth: bool = False,
               outside=(), gateways: str | None = "managed",
               passwords: dict | None = None, settings: Mapping | None = None,
               variables=None) -> dict:
    """Validate the inventory and return the federation plan (see docs/architecture.md).

    ``meshes`` maps inventory hostname -> that host's variables (mesh_* keys; other keys are
    ignored, unknown ``mesh_*`` keys are reported as typos). ``links`` is ``federation_links``
    (None: every ordered pair). ``env_auth`` tells that K8S_AUTH_* environment variables supply
    the connection, so an empty ``mesh_cluster`` is accepted. ``outside`` names meshes of the
    inventory that are not part of this run (--limit): mesh_peers entries, exports to and
    imports from them are ignored. ``gateways`` is ``federation_gateways`` (None: managed).
    ``passwords`` describes the file named by FEDERATION_CLUSTER_PASSWORDS, when set:
    ``{"clusters": [names it has a password for]}`` or ``{"error": why it cannot be read}``
    (never the passwords); a mesh with a username and no password then needs its cluster name
    (``cluster_name``) in it. ``settings`` holds the raw values of the other federation_*
    group variables the user set (federation_wait_timeout, federation_take_over,
    federation_unfederate_mesh, federation_report_dir; absent or null: unset) and
    ``variables`` the names of every federation_* variable of the inventory, to report typos.
    Raises PlanError with every problem.
    """
    p = Problems()
    if gateways is None:
        gateways = "managed"
    if gateways not in GATEWAY_MODES:
        p.general("federation_gateways", f"must be one of {', '.join(GATEWAY_MODES)}, "
                                         f"got {gateways!r}")
    if not isinstance(meshes, dict) or not meshes:
        raise PlanError(["meshes: no meshes given (is the inventory group 'meshes' empty?)"])

    by_host, by_name = _read_meshes(p, meshes)
    _check_clusters(p, by_host, by_name, env_auth, passwords)
    names = sorted(by_name)
    outside = set(outside)
    check_settings(p, settings, variables, names, outside)
    directions, linked = _linked(p, names, links)
    overrides = {m["name"]: check_overrides(p, m, linked[m["name"]], set(names), outside,
                                            gateways)
                 for m in by_name.values()}
    exports, imports = _read_sharing(p, by_name, linked, outside)
    gateway = _gateway_names(overrides)
    _check_gateway_names(p, by_name, linked, gateway)
    plan_meshes = {}
    for name in names:
        mesh = by_name[name]
        plan_meshes[name] = {
            "name": name,
            "host": mesh["host"],
            "namespace": mesh["namespace"],
            "trust_domain": mesh["trust_domain"],
            "cluster": mesh["cluster"],
            "auth": mesh["auth"],
            "gateways": gateways,
            "links": [_link(mesh, by_name[peer], overrides, gateway, exports, imports)
                      for peer in sorted(linked[name])],
        }
    if p.items:
        raise PlanError(sorted(p.items))
    return {"meshes": plan_meshes, "directions": [list(d) for d in directions]}


def _read_meshes(p: Problems, meshes: dict) -> tuple[dict[str, dict], dict[str, dict]]:
    """Every inventory host's mesh (host -> mesh), and the distinctly named ones (name -> mesh);
    duplicate names and trust domains are problems."""
    by_host = {host: _read_mesh(p, str(host), meshes[host]) for host in sorted(meshes, key=str)}
    by_name: dict[str, dict] = {}
    for mesh in by_host.values():
        other = by_name.get(mesh["name"])
        if other:
            mesh["_duplicate"] = True
            p.mesh(mesh, "mesh_name",
                   f"{mesh['name']!r} is also the name of inventory host {other['host']!r}")
        else:
            by_name[mesh["name"]] = mesh

    # Uniqueness below is checked among distinctly named meshes: a duplicate name (reported
    # above) would otherwise repeat itself as a duplicate namespace and trust domain.
    owner: dict[str, dict] = {}
    for mesh in by_name.values():
        td = mesh["trust_domain"]
        if isinstance(td, str) and td in owner:
            p.mesh(mesh, "mesh_trust_domain",
                   f"{td!r} is also the trust domain of mesh {owner[td]['name']!r} "
                   "(trust domains must be unique)")
        owner.setdefault(td, mesh)
    return by_host, by_name


def _check_clusters(p: Problems, by_host: dict, by_name: dict, env_auth: bool,
                    passwords: dict | None) -> None:
    """Each mesh's connection (its ``auth`` method and ``cluster`` name for the plan), and no
    two meshes in one namespace of one cluster."""
    for mesh in by_host.values():
        mesh["auth"] = check_cluster(p, mesh, mesh["_cluster"], env_auth, passwords)
        mesh["cluster"] = cluster_display(mesh["_cluster"], mesh["auth"])
    namespaces: dict[tuple, dict] = {}
    for mesh in by_name.values():
        identity = cluster_identity(mesh["_cluster"])
        if identity is not None:
            key = (identity, mesh["namespace"])
            if key in namespaces:
                p.mesh(mesh, "mesh_namespace",
                       f"{mesh['namespace']!r} on the same cluster is also the control plane "
                       f"namespace of mesh {namespaces[key]['name']!r}")
            namespaces.setdefault(key, mesh)


def _linked(p: Problems, names: list[str], links) -> tuple[list, dict[str, set[str]]]:
    """The planned directions, and per mesh the peers it is linked with."""
    before_links = len(p.items)
    directions = _directions(p, names, links)
    linked: dict[str, set[str]] = {name: set() for name in names}
    for a, b in directions:
        linked[a].add(b)
    if len(p.items) > before_links:
        # federation_links is wrong (reported): overrides and imports that name a peer it
        # should have linked would each repeat that as "not linked"; check them as if every
        # mesh were linked. The plan fails anyway.
        linked = {name: set(names) - {name} for name in names}
    return directions, linked


def _read_sharing(p: Problems, by_name: dict, linked: dict, outside: set) -> tuple[dict, dict]:
    """Each mesh's valid export and import rules (sharing.py), imports checked against the
    exporters' rules."""
    names = sorted(by_name)

    def report_for(name: str):
        return lambda field, reason: p.mesh(by_name[name], field, reason)

    exports, clean, imports = {}, {}, {}
    for name in names:
        scope = (linked[name], set(names), outside)
        exports[name], clean[name] = read_exports(report_for(name), name,
                                                  by_name[name]["_exports"], *scope)
        imports[name] = read_imports(report_for(name), name, by_name[name]["_imports"], *scope)
    check_imports(report_for, imports, exports, clean)
    return exports, imports


def _gateway_names(overrides: dict):
    """gateway(mesh, peer, kind): mesh's local ingress / egress gateway name for peer."""
    def gateway(mesh_name: str, peer: str, kind: str) -> str:
        value = overrides.get(mesh_name, {}).get(peer, {}).get(f"{kind}_gateway")
        if value is not None:
            return value
        return ingress_gateway_name(peer) if kind == "ingress" else egress_gateway_name(peer)
    return gateway


def _check_gateway_names(p: Problems, by_name: dict, linked: dict, gateway) -> None:
    """Local gateway names per mesh: valid, and one dedicated gateway per peer and direction
    (fact sheet §4.2: names unique across ingress and egress, never shared between peers)."""
    for name in sorted(by_name):
        mesh = by_name[name]
        used: dict[str, str] = {}
        for peer in sorted(linked[name]):
            for kind in ("ingress", "egress"):
                gw = gateway(name, peer, kind)
                field = f"mesh_peers.{peer}.{kind}_gateway"
                default = gw == (ingress_gateway_name(peer) if kind == "ingress"
                                 else egress_gateway_name(peer))
                if default and not by_name[peer]["_valid_name"]:
                    continue  # the peer's name is already reported; don't repeat it per mesh
                err = gateway_name_error(gw)
                if err:
                    p.mesh(mesh, field,
                           err + (" (the default name; set this override)" if default else ""))
                elif gw in used:
                    p.mesh(mesh, field, f"{gw!r} is already the {used[gw]} "
                                        "(each peer needs its own ingress and egress gateway)")
                else:
                    used[gw] = f"{kind} gateway for peer {peer!r}"


def _link(mesh: dict, other: dict, overrides: dict, gateway, exports: dict,
          imports: dict) -> Link:
    """The direction mesh -> other (see link.py)."""
    name, peer = mesh["name"], other["name"]
    over = overrides.get(name, {}).get(peer, {})
    peer_egress = gateway(peer, name, "egress")
    return Link(
        mesh=name,
        peer=peer,
        peer_host=other["host"],
        namespace=mesh["namespace"],
        peer_namespace=other["namespace"],
        peer_trust_domain=other["trust_domain"],
        ingress_gateway=gateway(name, peer, "ingress"),
        egress_gateway=gateway(name, peer, "egress"),
        peer_ingress_gateway=gateway(peer, name, "ingress"),
        peer_egress_gateway=peer_egress,
        # Valid trust domain, namespace and gateway name make a client ID that matches
        # CLIENT_ID_RE; each part was checked above, so no separate check here.
        client_id=client_id(other["trust_domain"], other["namespace"], peer_egress),
        ca_configmap=ca_configmap_name(peer),
        addresses=over.get("addresses"),
        discovery_port=over.get("discovery_port"),
        service_port=over.get("service_port"),
        # The peer reaches this mesh's ingress for it through its own addresses override:
        # that ingress needs no address of its own (pre-flight, gateways).
        ingress_address_overridden=bool(overrides.get(peer, {}).get(name, {}).get("addresses")),
        network=network_name(peer),
        ingress_service=over.get("ingress_service") or {"type": "LoadBalancer"},
        **link_sharing(name, peer, exports[name], imports[name]),
    )
