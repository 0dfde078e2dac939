# Copyright (c) servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The per-pair report for the directions of a federation matrix that are not connected.

One description per failed direction: the matrix cell's evidence (state, lastDisconnectStatus
and its usual meaning, where to look), plus - when the federation_status results are given -
the Events and log lines gathered for that peer: this mesh's istiod and egress gateway, and the
peer's ingress gateway for this mesh (read from the peer's side). A direction whose planned
services are not all in names each missing one with its likely cause, and where to look (the
exporter's ExportedServiceSet status, this mesh's ImportedServiceSet status, istiod on both
sides).

A direction that fails because a component it needs is not ready (matrix.component_cause: an
istiod, an egress or ingress gateway) carries that ``cause``; the text names each such component
once, with the directions it cuts off, instead of a paragraph per direction.
"""

from __future__ import annotations


def describe_failures(matrix: dict, results: dict | None = None,
                      plan: dict | None = None) -> list[dict]:
    """``results[mesh][peer]``: federation_status' peer results; ``plan``: for cluster names."""
    results = results or {}
    meshes = (plan or {}).get("meshes") or {}
    failures = []
    for mesh, peer in matrix["failed"]:
        cell = matrix["cells"][mesh][peer]
        here = results.get(mesh, {}).get(peer) or {}
        back = results.get(peer, {}).get(mesh) or {}
        logs = [(here.get("logs") or {}).get("istiod"), (here.get("logs") or {}).get("egress"),
                (back.get("logs") or {}).get("ingress")]
        failure = {
            "direction": f"{mesh} -> {peer}",
            "state": cell["state"],
            "summary": cell.get("summary", cell["state"]),
            "watch_connected": cell["watch"],
            "remote_seen_by_peer": cell["remote"],
            "last_disconnect_status": cell["evidence"]["last_disconnect_status"],
            "meaning": cell["evidence"]["meaning"],
            "look_at": cell["evidence"]["pointers"],
            "events": here.get("events") or [],
            "logs": [log for log in logs if log],
        }
        if cell.get("cause"):
            failure["cause"] = cell["cause"]
        if cell.get("imports"):
            failure["imports"] = cell["imports"]
        if cell.get("exports"):
            failure["exports"] = cell["exports"]
        peer_istiod = (back.get("logs") or {}).get("istiod")
        services_missing = any((cell.get(k) or {}).get("missing") for k in ("imports", "exports"))
        if services_missing and peer_istiod:  # the exporter's istiod logs skipped export rules
            failure["logs"].append(dict(peer_istiod, component=f"istiod of {peer}"))
        if mesh in meshes and peer in meshes:
            failure["clusters"] = (f"{mesh} on {meshes[mesh]['cluster']}, "
                                   f"{peer} on {meshes[peer]['cluster']}")
        failures.append(failure)
    return failures
