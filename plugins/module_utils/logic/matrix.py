# Copyright (c) servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The N x N federation matrix from every mesh's federation_status results (peer_status.py's
evaluations): per direction its state, the planned services that are in or missing, the component
that is not ready (component_cause), and where to look (the pointers, fact sheet §6.1).
"""

from __future__ import annotations

from ansible_collections.servicemesh.federation.plugins.module_utils.logic.link import Link
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.naming import (
    egress_gateway_name,
    ingress_gateway_name,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.peer_status import (
    classify,
    evaluate_peer,
    unique_names,
)


def diagnostic_pointers(mesh: str, peer: str, link: Link | None = None) -> list[str]:
    """Where to look when mesh -> peer fails (fact sheet §6.1), named from the plan when known."""
    link = link or {}
    ns = link.get("namespace", f"{mesh}'s control plane namespace")
    egress = link.get("egress_gateway", egress_gateway_name(peer))
    peer_ns = link.get("peer_namespace", f"{peer}'s control plane namespace")
    ingress = link.get("peer_ingress_gateway", ingress_gateway_name(mesh))
    return [
        f"istiod of mesh {mesh} (namespace {ns}), federation log scope",
        f"egress gateway {egress} of mesh {mesh} (namespace {ns}), access log",
        f"ingress gateway {ingress} of mesh {peer} (namespace {peer_ns}), access log",
    ]


def cause_pointers(cause: dict) -> list[str]:
    """Where to look when a component is not ready (component_cause)."""
    namespace = cause.get("namespace")
    where = f"namespace {namespace}" if namespace else f"{cause['mesh']}'s control plane namespace"
    return [f"Deployment {cause['deployment']} of mesh {cause['mesh']} ({where}): its pods, "
            "their events and logs (crash loop, image pull, scheduling, scaled to 0)"]


def service_pointers(mesh: str, peer: str, link: Link | None = None) -> list[str]:
    """Where to look when services of peer are not imported by mesh (fact sheet §3, §6)."""
    link = link or {}
    ns = link.get("namespace", f"{mesh}'s control plane namespace")
    peer_ns = link.get("peer_namespace", f"{peer}'s control plane namespace")
    return [
        f"ExportedServiceSet {mesh} of mesh {peer} (namespace {peer_ns}), "
        f"status.exportedServices: what {peer} exports to {mesh}",
        f"ImportedServiceSet {peer} of mesh {mesh} (namespace {ns}), "
        "status.importedServices: an empty localService means no import rule matched",
        f"istiod of mesh {peer} (namespace {peer_ns}) and of mesh {mesh} (namespace {ns}): "
        "rules are skipped with a log line only ('skipping rule', 'cannot use importAsLocal "
        "without setting a fixed namespace alias', 'cannot use domainSuffix that matches the "
        "cluster domain suffix')",
    ]


NOT_READ_CAUSE = "the status of this direction was not read (the mesh failed before the wait)"
NOT_CHECKED_CAUSE = "not checked: federation_status was not given this planned service"


def _planned(link: Link | None, key: str) -> list[str] | None:
    """Exported names a plan link lists under ``key``; None when it has no such key (no plan,
    or a plan made before services were planned): the results tell then."""
    if link is None or key not in link:
        return None
    return unique_names(e.get("exported_name") for e in link.get(key) or [] if isinstance(e, dict))


def planned_services_of(links: list[Link]) -> dict:
    """federation_status' ``services`` from one mesh's plan links: peer -> exported names of
    its planned ``imports`` and ``exports`` (only links that plan any)."""
    services = {}
    for link in links:
        imports, exports = _planned(link, "imports") or [], _planned(link, "exports") or []
        if imports or exports:
            services[link["peer"]] = {"imports": imports, "exports": exports}
    return services


def _imports(mesh: str, peer: str, results: dict, link: Link | None) -> dict | None:
    """mesh's planned imports from peer (from the plan, else the results) and how many are in."""
    here = results.get(mesh, {}).get(peer)
    services = (here or {}).get("services")
    planned = _planned(link, "imports")
    if planned is None:
        if not services or not services.get("expected"):
            return None
        return {"expected": services["expected"], "imported": services["imported"],
                "missing": list(services.get("missing") or [])}
    if not planned:
        return None
    imported = {s["exported_name"] for s in (services or {}).get("imported_services") or []}
    causes = {m["exported_name"]: m["cause"] for m in (services or {}).get("missing") or []}
    missing = []
    for name in planned:
        if name in imported:
            continue
        cause = causes.get(name) or (NOT_READ_CAUSE if here is None else NOT_CHECKED_CAUSE)
        missing.append({"exported_name": name, "cause": cause})
    return {"expected": len(planned), "imported": len(planned) - len(missing), "missing": missing}


def _exports(mesh: str, peer: str, results: dict, link: Link | None) -> dict | None:
    """peer's planned exports to mesh (they flow over mesh's watch of peer), as peer's
    ExportedServiceSet status shows them."""
    there = results.get(peer, {}).get(mesh)
    services = (there or {}).get("services")
    planned = _planned(link, "exports")
    if planned is None:
        if not services or not services.get("exports_expected"):
            return None
        return {"expected": services["exports_expected"], "listed": services["exported"],
                "missing": list(services.get("exports_missing") or [])}
    if not planned or not services:  # exports not read: the imports side tells what is in
        return None
    listed = set(services.get("exported_services") or [])
    causes = {m["exported_name"]: m["cause"] for m in services.get("exports_missing") or []}
    missing = [{"exported_name": n, "cause": causes.get(n, NOT_CHECKED_CAUSE)}
               for n in planned if n not in listed]
    return {"expected": len(planned), "listed": len(planned) - len(missing), "missing": missing}


def _istiod(results: dict, mesh: str) -> dict | None:
    """mesh's istiod readiness, as any of its federation_status peer results carries it."""
    return next((r["istiod"] for r in (results.get(mesh) or {}).values()
                 if isinstance(r, dict) and r.get("istiod")), None)


def _down(readiness: dict | None) -> bool:
    return isinstance(readiness, dict) and readiness.get("ready") is False


def component_cause(mesh: str, peer: str, results: dict) -> dict | None:
    """A component the direction mesh -> peer needs that is not ready, mesh-level causes first:
    the istiod of either mesh (istiod watches the peer, the peer's istiod serves the watch),
    then mesh's egress gateway for the peer and the peer's ingress gateway for mesh.
    None when every known component is ready (an unknown one is never blamed)."""
    for side in (mesh, peer):
        istiod = _istiod(results, side)
        if _down(istiod):
            return {"component": "istiod", "mesh": side, "deployment": istiod["deployment"],
                    "namespace": istiod.get("namespace"),
                    "text": f"istiod of {side} is not ready ({istiod['text']})"}
    here = (results.get(mesh) or {}).get(peer) or {}
    there = (results.get(peer) or {}).get(mesh) or {}
    for side, gateway, kind in ((mesh, (here.get("gateways") or {}).get("egress"), "egress"),
                                (peer, (there.get("gateways") or {}).get("ingress"), "ingress")):
        if _down(gateway):
            return {"component": f"{kind} gateway", "mesh": side,
                    "gateway": gateway["deployment"], "deployment": gateway["deployment"],
                    "namespace": gateway.get("namespace"),
                    "text": f"{kind} gateway {gateway['deployment']} of {side} is not ready "
                            f"({gateway['text']})"}
    return None


def _cell(mesh: str, peer: str, results: dict, link: Link | None,
          back_link: Link | None) -> dict:
    here = results.get(mesh, {}).get(peer) or evaluate_peer(None)
    there = results.get(peer, {}).get(mesh) or evaluate_peer(None)
    watch, remote = here["watch"]["connected"], there["remote"]["connected"]
    cause = None if watch and remote else component_cause(mesh, peer, results)
    if watch and remote:
        state = "connected"
    elif cause:
        # Whatever the status shows (stale, none, 503) follows from this: say it, not a guess.
        state = "istiod-down" if cause["component"] == "istiod" else "gateway-down"
    elif here["watch"]["state"] in ("missing", "no-status"):
        state = here["watch"]["state"]
    elif not watch:
        state = classify(here["watch"]["last_disconnect_status"])[0]
    else:
        state = "no-remote"  # we reach the peer, but the peer's istiod does not list us yet
    meaning = cause["text"] if cause else here["watch"]["meaning"]
    if state == "no-remote":
        meaning = (f"this mesh's watch is connected, but {peer}'s ServiceMeshPeer {mesh} shows "
                   "no connected remote from it yet (its status may lag, or it is missing)")
    imports = _imports(mesh, peer, results, link)
    exports = _exports(mesh, peer, results, back_link)
    summary = state
    if imports:
        summary += f" {imports['imported']}/{imports['expected']}"
    if exports and exports["missing"]:
        summary += f" exported {exports['listed']}/{exports['expected']}"
    services_ok = not (imports and imports["missing"]) and not (exports and exports["missing"])
    pointers = ([] if state == "connected" else cause_pointers(cause) if cause
                else diagnostic_pointers(mesh, peer, link))
    if not services_ok:
        pointers += service_pointers(mesh, peer, link)
    cell = {
        "state": state,
        "summary": summary,
        "ok": state == "connected" and services_ok,
        "watch": watch,
        "remote": remote,
        "evidence": {
            "watch_state": here["watch"]["state"],
            # While the watch is connected, a lastDisconnectStatus is a leftover, not evidence.
            "last_disconnect_status": None if watch else here["watch"]["last_disconnect_status"],
            "meaning": meaning,
            "peer_side_state": there["watch"]["state"],
            "pointers": pointers,
        },
    }
    if cause:
        cell["cause"] = cause
    if imports:
        cell["imports"] = imports
    if exports:
        cell["exports"] = exports
    return cell


def build_matrix(results: dict, plan: dict | None = None) -> dict:
    """Combine per-mesh federation_status peer results into the N x N federation matrix.

    ``results[mesh][peer]`` is evaluate_peer() of mesh's ServiceMeshPeer for peer, with
    ``services`` (evaluate_services()) when planned services were read. Direction
    mesh -> peer is connected when mesh's watch is connected AND peer's SMP for mesh lists a
    connected remote; it is ok when, in addition, mesh imported every planned import from peer
    and peer's ExportedServiceSet lists every planned export to mesh (both travel over mesh's
    watch of peer). The directions and planned services are the plan's when given (links'
    ``imports`` / ``exports``), else every pair in ``results`` and their ``services``.
    """
    links = {}
    if plan:
        meshes = sorted(plan["meshes"])
        directions = {tuple(d) for d in plan["directions"]}
        links = {(lk["mesh"], lk["peer"]): lk
                 for m in plan["meshes"].values() for lk in m["links"]}
    else:
        meshes = sorted(set(results) | {p for r in results.values() for p in r})
        directions = {(m, p) for m, r in results.items() for p in r if p != m}
        directions |= {(p, m) for m, p in directions}
    cells = {m: {} for m in meshes}
    for mesh, peer in sorted(directions):
        cells[mesh][peer] = _cell(mesh, peer, results, links.get((mesh, peer)),
                                  links.get((peer, mesh)))
    failed = [[m, p] for m, p in sorted(directions) if not cells[m][p]["ok"]]
    return {"meshes": meshes, "cells": cells, "all_connected": not failed, "failed": failed}
