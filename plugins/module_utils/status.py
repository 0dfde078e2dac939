# Copyright (c) servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read ServiceMeshPeer discovery status and build the federation matrix.

Semantics (fact sheet §1.2): each istiod pod has one entry, in ``active`` when its outbound
``watch`` is connected, else in ``inactive``. ``watch`` proves this mesh reaches the peer;
``remotes`` (on any entry, active or inactive) prove the peer's istiod reaches this mesh.
``lastDisconnectStatus`` is never cleared, so it is only evidence while not connected.
"""

from __future__ import annotations

import re

NO_STATUS_MEANING = ("no discovery status: the CA ConfigMap is missing or lacks the key "
                     "root-cert.pem (or certificateChain names a wrong kind), or federation is "
                     "disabled in istiod")
MISSING_MEANING = "the ServiceMeshPeer does not exist"

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


def diagnostic_pointers(mesh: str, peer: str, link: dict | None = None) -> list[str]:
    """Where to look when mesh -> peer fails (fact sheet §6.1), named from the plan when known."""
    link = link or {}
    ns = link.get("namespace", f"{mesh}'s control plane namespace")
    egress = link.get("egress_gateway", f"egress-{peer}")
    peer_ns = link.get("peer_namespace", f"{peer}'s control plane namespace")
    ingress = link.get("peer_ingress_gateway", f"ingress-{mesh}")
    return [
        f"istiod of mesh {mesh} (namespace {ns}), federation log scope",
        f"egress gateway {egress} of mesh {mesh} (namespace {ns}), access log",
        f"ingress gateway {ingress} of mesh {peer} (namespace {peer_ns}), access log",
    ]


def _cell(mesh: str, peer: str, results: dict, link: dict | None) -> dict:
    here = results.get(mesh, {}).get(peer) or evaluate_peer(None)
    there = results.get(peer, {}).get(mesh) or evaluate_peer(None)
    watch, remote = here["watch"]["connected"], there["remote"]["connected"]
    if watch and remote:
        state = "connected"
    elif here["watch"]["state"] in ("missing", "no-status"):
        state = here["watch"]["state"]
    elif not watch:
        state = _classify(here["watch"]["last_disconnect_status"])[0]
    else:
        state = "no-remote"  # we reach the peer, but the peer's istiod does not list us yet
    meaning = here["watch"]["meaning"]
    if state == "no-remote":
        meaning = (f"this mesh's watch is connected, but {peer}'s ServiceMeshPeer {mesh} shows "
                   "no connected remote from it yet (its status may lag, or it is missing)")
    return {
        "state": state,
        "watch": watch,
        "remote": remote,
        "evidence": {
            "watch_state": here["watch"]["state"],
            # While the watch is connected, a lastDisconnectStatus is a leftover, not evidence.
            "last_disconnect_status": None if watch else here["watch"]["last_disconnect_status"],
            "meaning": meaning,
            "peer_side_state": there["watch"]["state"],
            "pointers": [] if state == "connected" else diagnostic_pointers(mesh, peer, link),
        },
    }


def build_matrix(results: dict, plan: dict | None = None) -> dict:
    """Combine per-mesh evaluate_peer results into the N x N federation matrix.

    ``results[mesh][peer]`` is evaluate_peer() of mesh's ServiceMeshPeer for peer. Direction
    mesh -> peer is connected when mesh's watch is connected AND peer's SMP for mesh lists a
    connected remote. The directions are the plan's when given, else every pair in ``results``.
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
        cells[mesh][peer] = _cell(mesh, peer, results, links.get((mesh, peer)))
    failed = [[m, p] for m, p in sorted(directions) if cells[m][p]["state"] != "connected"]
    return {"meshes": meshes, "cells": cells, "all_connected": not failed, "failed": failed}


def render_matrix(matrix: dict) -> str:
    """Fixed-width table: rows are "from" (the mesh holding the ServiceMeshPeer), columns "to"."""
    meshes = matrix["meshes"]
    corner = "from \\ to"
    rows = [[corner] + meshes]
    for mesh in meshes:
        rows.append([mesh] + [
            matrix["cells"].get(mesh, {}).get(peer, {}).get("state", "-") for peer in meshes])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows)
    return "\n".join(line.rstrip() for line in lines)
