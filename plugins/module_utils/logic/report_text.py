# Copyright (c) servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The federation report as text, for the run's failure message: the matrix as a fixed-width table
(render_matrix) and one paragraph per failed direction or component not ready (render_failures),
from the data of matrix.build_matrix and failures.describe_failures. Pure rendering."""

from __future__ import annotations

from ansible_collections.servicemesh.federation.plugins.module_utils.logic.matrix import (
    cause_pointers,
)

LOG_TAIL = 5  # log lines per component in the text; the data keeps all of them


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
