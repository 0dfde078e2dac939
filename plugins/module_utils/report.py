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

A direction that fails because a component it needs is not ready (status.component_cause: an
istiod, an egress or ingress gateway) carries that ``cause``; the text names each such component
once, with the directions it cuts off, instead of a paragraph per direction.
"""

from __future__ import annotations

from ansible_collections.servicemesh.federation.plugins.module_utils.status import cause_pointers

LOG_TAIL = 5  # log lines per component in the text; the data keeps all of them


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


def _event_text(event: dict) -> str:
    if "note" in event:
        return event["note"]
    return f"{event.get('type') or ''} {event.get('reason') or ''}: {event.get('message') or ''}"


def failure_lines(failure: dict) -> list[str]:
    """One paragraph: the direction, its evidence, where to look, events and log tails."""
    summary = failure.get("summary", failure["state"])
    lines = [f"{failure['direction']}: {summary} (watch connected: "
             f"{failure['watch_connected']}, remote seen by the peer: "
             f"{failure['remote_seen_by_peer']})"]
    if failure["last_disconnect_status"]:
        lines.append(f"  lastDisconnectStatus: {failure['last_disconnect_status']}")
    if failure["meaning"]:
        lines.append(f"  usually means: {failure['meaning']}")
    if failure.get("clusters"):
        lines.append(f"  clusters: {failure['clusters']}")
    mesh, peer = failure["direction"].split(" -> ")
    imports = failure.get("imports") or {}
    if imports.get("missing"):
        lines.append(f"  imported by {mesh} from {peer}: {imports['imported']} of "
                     f"{imports['expected']} planned; missing:")
        lines += [f"    {m['exported_name']}: {m['cause']}" for m in imports["missing"]]
    exports = failure.get("exports") or {}
    if exports.get("missing"):
        lines.append(f"  exported by {peer} to {mesh} (its ExportedServiceSet {mesh} status): "
                     f"{exports['listed']} of {exports['expected']} planned; missing:")
        lines += [f"    {m['exported_name']}: {m['cause']}" for m in exports["missing"]]
    lines += [f"  check: {pointer}" for pointer in failure["look_at"]]
    lines += [f"  event: {_event_text(event)}" for event in failure["events"]]
    for log in failure["logs"]:
        what = f"  log of {log['component']}" + (f" {log['pod']}" if "pod" in log else "") + ": "
        if "lines" in log:
            lines.append(f"{what}{len(log['lines'])} line(s), last ones:")
            lines += [f"    {line}" for line in log["lines"][-LOG_TAIL:]]
        else:
            lines.append(what + (log.get("note") or ""))
    return lines


def _cut_off(cause: dict, directions: list[str]) -> str:
    if cause["component"] == "istiod":
        return f"no direction from or to {cause['mesh']} can connect: {', '.join(directions)}"
    peers = sorted({p for d in directions for p in d.split(" -> ") if p != cause["mesh"]})
    return f"it cuts off {', '.join(peers)} ({', '.join(directions)})"


def cause_lines(failures: list[dict]) -> list[str]:
    """One paragraph per component that is not ready, with the directions it cuts off."""
    grouped: dict[tuple, tuple[dict, list]] = {}
    for failure in failures:
        cause = failure.get("cause")
        if cause:
            key = (cause["component"], cause["mesh"], cause["deployment"])
            grouped.setdefault(key, (cause, []))[1].append(failure["direction"])
    lines = []
    for cause, directions in grouped.values():
        lines.append(f"{cause['text']}: {_cut_off(cause, directions)}")
        lines += [f"  check: {pointer}" for pointer in cause_pointers(cause)]
    return lines


def render_failures(failures: list[dict]) -> str:
    lines = cause_lines(failures)
    lines += [line for failure in failures if not failure.get("cause")
              for line in failure_lines(failure)]
    return "\n".join(lines)
