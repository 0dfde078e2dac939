# Copyright (c) servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The playbooks' cross-mesh steps: what one mesh's task needs from the other meshes' results.

The roles call these through the filters in plugins/filter/cross_mesh.py instead of Jinja loops, so
that the logic is plain Python with unit tests. Inputs are the plan (module_utils/logic/plan.py) and
``hostvars``-like mappings; nothing here contacts a cluster.
"""

from __future__ import annotations

from collections.abc import Mapping

from ansible_collections.servicemesh.federation.plugins.module_utils.logic.link import Link


def run_links(links, outside) -> object:
    """``federation_links`` without the links that name a mesh left out of this run (--limit).

    Anything malformed is passed on unchanged: the plan reports it with the right field name.
    """
    if not isinstance(links, list):
        return links
    outside = set(outside or ())
    kept = []
    for link in links:
        is_pair = isinstance(link, (list, tuple))
        if is_pair and any(isinstance(m, str) and m in outside for m in link):
            continue
        kept.append(link)
    return kept


# What check mode shows as the remote address of a peer whose ingress gateway is not there yet.
PENDING_ADDRESS = "<address of {gateway}.{namespace}, assigned once the gateway is added>"


def _where(host: str, hostvars: Mapping) -> str:
    mesh = (hostvars.get(host) or {}).get("federation_plan_mesh") or {}
    return "mesh {} (cluster {})".format(mesh.get("name", host), mesh.get("cluster", "?"))


def preflight_problems(hosts, hostvars: Mapping, play_hosts) -> list[str]:
    """Every mesh's pre-flight problems, each prefixed with the mesh and its cluster.

    A mesh whose inspection failed (unreachable, unauthorized) has left the play and counts as
    a problem too: nothing may be written while any mesh is unknown.
    """
    problems = []
    for host in hosts:
        where = _where(host, hostvars)
        facts = (hostvars.get(host) or {}).get("federation_inspect_mesh")
        if host not in play_hosts or facts is None:
            problems.append(f"{where}: could not be inspected, see the error reported for "
                            f"{host} above")
            continue
        problems.extend(f"{where}: {problem}" for problem in facts.get("problems") or [])
    return problems


def peer_facts(links: list[Link], hostvars: Mapping) -> dict:
    """Peer mesh name -> {root_cert, ingress} from each peer host's inspect (and gateways) result.

    With managed gateways the ingress addresses come from the gateways step, which ran after the
    inspection and waited for them; otherwise from the inspection.
    """
    facts = {}
    for link in links:
        peer_vars = hostvars.get(link["peer_host"]) or {}
        mesh = peer_vars.get("federation_inspect_mesh") or {}
        ingress = dict(mesh.get("ingress") or {})
        gateways = peer_vars.get("federation_gateways_result") or {}
        ingress.update(gateways.get("ingress") or {})
        gateway = link.get("peer_ingress_gateway")
        if "ingress" in gateways and not (ingress.get(gateway) or {}).get("addresses"):
            # Only in check mode (a real run waits for the address or fails): the peer's
            # managed gateway is still to be added, so its address can only be named.
            ingress[gateway] = dict(ingress.get(gateway) or {}, addresses=[PENDING_ADDRESS.format(
                gateway=gateway, namespace=link["peer_namespace"])])
        facts[link["peer"]] = {"root_cert": (mesh.get("root_cert") or {}).get("pem"),
                               "ingress": ingress}
    return facts


def inspect_peers(mesh: dict, plan: dict) -> list[dict]:
    """mesh_info's ``peers`` option for ``mesh`` (its part of the plan): the local gateways per
    peer, and whether the peer reaches this mesh's ingress through an address override, in which
    case that ingress needs no load balancer address."""
    peers = []
    for link in mesh["links"]:
        back = [b for b in plan["meshes"].get(link["peer"], {}).get("links", [])
                if b["peer"] == mesh["name"]]
        overridden = bool(back and back[0].get("addresses"))
        peers.append({"peer": link["peer"], "ingress_gateway": link["ingress_gateway"],
                      "egress_gateway": link["egress_gateway"],
                      "require_address": not overridden})
    return peers


def inspect_exports(links: list[Link]) -> list[dict]:
    """mesh_info's ``exports`` option: this mesh's named and selector exports, each once."""
    exports, seen = [], set()
    for link in links:
        for export in list(link.get("exports") or []) + list(link.get("export_selectors") or []):
            entry = {k: export[k] for k in ("service", "namespace", "selector") if k in export}
            key = repr(sorted(entry.items()))
            if key not in seen:
                seen.add(key)
                exports.append(entry)
    return exports


def drift(mesh: str, namespace: str, objects: list, gateway_entries: list) -> list[str]:
    """verify.yml: what a check-mode apply would change, one line per object or gateway entry."""
    where = f"mesh {mesh} (namespace {namespace})"
    lines = [f"{where}: {o['kind']} {o['name']} would be {o['action']}"
             for o in objects or [] if o["action"] != "unchanged"]
    lines += [f"{where}: ServiceMeshControlPlane gateway {e['name']} would be {e['action']}"
              for e in gateway_entries or [] if e["action"] not in ("unchanged", "adopted")]
    return lines


def status_results(hosts, hostvars: Mapping) -> dict:
    """Mesh name -> peer -> federation_status result, for the hosts whose status was read."""
    results = {}
    for host in hosts:
        facts = hostvars.get(host) or {}
        peers = (facts.get("federation_wait_status") or {}).get("peers")
        if peers is not None:
            results[facts["federation_plan_mesh"]["name"]] = peers
    return results


def report_lines(drift: list, failed_meshes: list, failures: list, directions: int,
                 failures_text: str) -> list[str]:
    """The lines of the run's failure message: drift, meshes that failed early, the per-pair
    report. Empty when there is nothing to fail for."""
    lines = []
    if drift:
        lines.append(f"{len(drift)} object(s) do not match the peers' current facts:")
        lines.extend("  " + d for d in drift)
    lines.extend(f"mesh {m} failed before its status was read: see its error above"
                 for m in failed_meshes)
    if failures:
        lines.append("{} of {} directions are not connected: {}".format(
            len(failures), directions, ", ".join(f["direction"] for f in failures)))
        lines.extend(failures_text.splitlines())
    return lines


def report_headline(drift: list, failed_meshes: list, failures: list, directions: int) -> str:
    """The fail message: one line that counts what the report (printed just before) details."""
    parts = []
    if failures:
        parts.append(f"{len(failures)} of {directions} directions are not connected")
    if drift:
        parts.append(f"{len(drift)} object(s) do not match the peers' current facts")
    if failed_meshes:
        parts.append(f"{len(failed_meshes)} mesh(es) failed before their status was read: "
                     + ", ".join(failed_meshes))
    return "federation check failed: " + "; ".join(parts) + " (the report is printed above)"
