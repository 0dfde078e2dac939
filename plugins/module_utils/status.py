# Copyright (c) servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read ServiceMeshPeer discovery status and build the federation matrix.

Semantics (fact sheet §1.2): each istiod pod has one entry, in ``active`` when its outbound
``watch`` is connected, else in ``inactive``. ``watch`` proves this mesh reaches the peer;
``remotes`` (on any entry, active or inactive) prove the peer's istiod reaches this mesh.
``lastDisconnectStatus`` is never cleared, so it is only evidence while not connected.

Services (fact sheet §3): the importing mesh's ImportedServiceSet ``<peer>`` lists in
``status.importedServices`` EVERY service the peer exports to it, those that no import rule
matched with an empty ``localService``; so a planned import is done only with a non-empty
``localService.hostname``. The exporter's ExportedServiceSet ``<peer>`` lists in
``status.exportedServices`` what it actually exports. Both are written by the leader istiod only.
"""

from __future__ import annotations

import re

from ansible_collections.servicemesh.federation.plugins.module_utils.naming import (
    egress_gateway_name,
    ingress_gateway_name,
)

NO_STATUS_MEANING = ("no discovery status: the CA ConfigMap is missing or lacks the key "
                     "root-cert.pem (or certificateChain names a wrong kind), or federation is "
                     "disabled in istiod")
MISSING_MEANING = "the ServiceMeshPeer does not exist"

# Why a planned import is not imported (fact sheet §3.2, §6.2 rows 4 and 5).
NOT_EXPORTED_CAUSE = (
    "not exported by the peer (the peer's ExportedServiceSet has no rule for it, the rule was "
    "skipped by istiod, the Service does not exist or is not in a member namespace of the peer, "
    "or a name typo)")
NOT_MATCHED_CAUSE = (
    "exported by the peer but no import rule of this mesh matched it (or istiod skipped the "
    "rule: importAsLocal without an alias namespace, a domainSuffix equal to svc.cluster.local)")
NO_ISS_CAUSE = "the ImportedServiceSet does not exist"
NO_ISS_STATUS_CAUSE = ("the ImportedServiceSet has no status yet (the leader istiod writes it "
                       "once the ServiceMeshPeer exists)")
NOT_CONNECTED_CAUSE = "the direction is not connected yet"
# Why a planned export is not listed in this mesh's ExportedServiceSet status (§3.1).
NO_ESS_CAUSE = "the ExportedServiceSet does not exist"
NO_ESS_STATUS_CAUSE = ("the ExportedServiceSet has no status yet (the leader istiod writes it "
                       "once the ServiceMeshPeer exists)")
NOT_LISTED_CAUSE = (
    "not exported: the Service does not exist or is not in a member namespace, no export rule "
    "matches it (rules match the Service's labels, first match wins), or istiod skipped the rule")

# (match, short state, meaning): fact sheet §1.2 (status values) and §5 (mismatch table).
_MEANINGS = (
    ("503", "503",
     "the local egress gateway got no usable answer from the peer: the peer's ServiceMeshPeer "
     "for this mesh is missing, remote addresses/ports are wrong, the load balancer is not L4 or "
     "a firewall blocks it, or TLS fails (wrong or missing peer root, wrong trust domain). "
     "A 503 is also normal for a short time after creation"),
    ("403", "403",
     "the peer's ingress gateway rejected this mesh's egress identity: the clientID in the "
     "peer's ServiceMeshPeer for this mesh does not match this mesh's egress gateway service "
     "account (trust domain, namespace or gateway name)"),
    ("404", "404",
     "the local egress gateway has no discovery route for the peer yet: egress gateway "
     "name or labels do not match, or its configuration is out of date with spec.remote"),
    ("400", "400",
     "the peer's istiod has no ServiceMeshPeer with the name its ingress gateway rewrites to "
     "(the peer's ServiceMeshPeer for this mesh is missing or named differently)"),
    ("no such host", "no-such-host",
     "the local egress gateway Service does not resolve: wrong spec.gateways.egress.name, "
     "gateway not enabled in the control plane, or its Service is missing"),
    ("connection refused", "refused",
     "nothing listens behind the local egress gateway Service on port 8188: gateway pods not "
     "running, or the Service lacks port 8188"),
    ("200", "closed",
     "an established watch ended; istiod reconnects by itself (normal around restarts)"),
    ("context canceled", "canceled",
     "the watch was cancelled (istiod restarting or the ServiceMeshPeer changing)"),
)
_EMPTY_MEANING = ("no connection attempt has finished yet: istiod is still connecting (an "
                  "unreachable address can take a while to time out) or has just started")
_UNKNOWN_MEANING = "unrecognised status; read the logs named in the diagnostic pointers"


def _classify(last_disconnect_status: str | None) -> tuple[str, str]:
    text = (last_disconnect_status or "").strip()
    if not text:
        return "inactive", _EMPTY_MEANING
    for match, state, meaning in _MEANINGS:
        if match.isdigit() and re.match(match + r"\b", text):
            return state, meaning
        if not match.isdigit() and match in text:
            return state, meaning
    return "inactive", _UNKNOWN_MEANING


def explain(last_disconnect_status: str | None) -> str:
    """What a watch's lastDisconnectStatus usually means (fact sheet §5 / §6)."""
    return _classify(last_disconnect_status)[1]


def _entries(discovery: dict, key: str) -> list[dict]:
    return [e for e in (discovery.get(key) or []) if isinstance(e, dict)]


def evaluate_peer(smp: dict | None) -> dict:
    """Evaluate one ServiceMeshPeer's status as seen in its own cluster."""
    if smp is None:
        return {
            "exists": False, "has_status": False,
            "watch": {"connected": False, "state": "missing", "pods": [],
                      "last_disconnect_status": None, "meaning": MISSING_MEANING},
            "remote": {"connected": False, "sources": []},
            "connected": False,
        }
    discovery = (smp.get("status") or {}).get("discoveryStatus") or {}
    active, inactive = _entries(discovery, "active"), _entries(discovery, "inactive")
    pods, sources = [], []
    for group, entries in (("active", active), ("inactive", inactive)):
        for entry in entries:
            watch = entry.get("watch") or {}
            pods.append({
                "pod": entry.get("pod"),
                "list": group,
                "connected": watch.get("connected") is True,
                "last_disconnect_status": watch.get("lastDisconnectStatus") or None,
                "last_connected": watch.get("lastConnected"),
                "last_full_sync": watch.get("lastFullSync"),
            })
            for remote in entry.get("remotes") or []:
                sources.append({"pod": entry.get("pod"), "source": remote.get("source"),
                                "connected": remote.get("connected") is True})
    has_status = bool(pods)
    watch_connected = bool(active) and not inactive and all(p["connected"] for p in pods)
    if not has_status:
        state, last, meaning = "no-status", None, NO_STATUS_MEANING
    elif watch_connected:
        # A leftover lastDisconnectStatus (e.g. 503 from start-up) is not an error here.
        state, meaning = "connected", None
        last = next((p["last_disconnect_status"] for p in pods if p["last_disconnect_status"]),
                    None)
    else:
        state = "inactive"
        failing = [p for p in pods if not p["connected"]]
        last = next((p["last_disconnect_status"] for p in failing if p["last_disconnect_status"]),
                    None)
        meaning = explain(last)
    remote_connected = any(s["connected"] for s in sources)
    return {
        "exists": True,
        "has_status": has_status,
        "watch": {"connected": watch_connected, "state": state, "pods": pods,
                  "last_disconnect_status": last, "meaning": meaning},
        "remote": {"connected": remote_connected, "sources": sources},
        "connected": watch_connected and remote_connected,
    }


def _unique(names) -> list[str]:
    return list(dict.fromkeys(n for n in names or () if n))


def _listed(service_set: dict | None, key: str) -> dict | None:
    """exportedName -> localService.hostname ("" when unmatched) from an ESS / ISS status, or
    None when the set has no status yet."""
    status = (service_set or {}).get("status")
    if not isinstance(status, dict):
        return None
    return {e.get("exportedName"): ((e.get("localService") or {}).get("hostname") or "")
            for e in status.get(key) or [] if isinstance(e, dict)}


def evaluate_services(watch_connected: bool, imported_set: dict | None,
                      exported_set: dict | None, imports=(), exports=()) -> dict:
    """The planned services of one peer, as this mesh's ImportedServiceSet and ExportedServiceSet
    named after the peer show them (``None``: the set does not exist).

    ``imports``: exported names this mesh should import from the peer; ``exports``: exported
    names this mesh should export to it. A missing one carries its likely cause.
    """
    imports, exports = _unique(imports), _unique(exports)
    listed = _listed(imported_set, "importedServices")
    imported, missing = [], []
    for name in imports:
        hostname = (listed or {}).get(name)
        if hostname:
            imported.append({"exported_name": name, "hostname": hostname})
            continue
        if imported_set is None:
            cause = NO_ISS_CAUSE
        elif listed is not None and name in listed:
            cause = NOT_MATCHED_CAUSE  # a rule problem, whatever the connection does
        elif not watch_connected:
            cause = NOT_CONNECTED_CAUSE
        elif listed is None:
            cause = NO_ISS_STATUS_CAUSE
        else:
            cause = NOT_EXPORTED_CAUSE
        missing.append({"exported_name": name, "cause": cause})
    exported = _listed(exported_set, "exportedServices")
    exported_services, exports_missing = [], []
    for name in exports:
        if exported is not None and name in exported:
            exported_services.append(name)
            continue
        cause = (NO_ESS_CAUSE if exported_set is None
                 else NO_ESS_STATUS_CAUSE if exported is None else NOT_LISTED_CAUSE)
        exports_missing.append({"exported_name": name, "cause": cause})
    return {
        "expected": len(imports),
        "imported": len(imported),
        "imported_services": imported,
        "missing": missing,
        "exports_expected": len(exports),
        "exported": len(exported_services),
        "exported_services": exported_services,
        "exports_missing": exports_missing,
        "done": not missing and not exports_missing,
    }


def diagnostic_pointers(mesh: str, peer: str, link: dict | None = None) -> list[str]:
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


def service_pointers(mesh: str, peer: str, link: dict | None = None) -> list[str]:
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


def _planned(link: dict | None, key: str) -> list[str] | None:
    """Exported names a plan link lists under ``key``; None when it has no such key (no plan,
    or a plan made before services were planned): the results tell then."""
    if link is None or key not in link:
        return None
    return _unique(e.get("exported_name") for e in link.get(key) or [] if isinstance(e, dict))


def planned_services_of(links: list[dict]) -> dict:
    """federation_status' ``services`` from one mesh's plan links: peer -> exported names of
    its planned ``imports`` and ``exports`` (only links that plan any)."""
    services = {}
    for link in links:
        imports, exports = _planned(link, "imports") or [], _planned(link, "exports") or []
        if imports or exports:
            services[link["peer"]] = {"imports": imports, "exports": exports}
    return services


def _imports(mesh: str, peer: str, results: dict, link: dict | None) -> dict | None:
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


def _exports(mesh: str, peer: str, results: dict, link: dict | None) -> dict | None:
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


def _cell(mesh: str, peer: str, results: dict, link: dict | None,
          back_link: dict | None) -> dict:
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
        state = _classify(here["watch"]["last_disconnect_status"])[0]
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


def render_matrix(matrix: dict) -> str:
    """Fixed-width table: rows are "from" (the mesh holding the ServiceMeshPeer), columns "to".

    A cell is the direction's state, with "imported/planned" when imports are planned."""
    meshes = matrix["meshes"]
    corner = "from \\ to"
    rows = [[corner] + meshes]
    for mesh in meshes:
        row = [mesh]
        for peer in meshes:
            cell = matrix["cells"].get(mesh, {}).get(peer) or {}
            row.append(cell.get("summary") or cell.get("state") or "-")
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows)
    return "\n".join(line.rstrip() for line in lines)
