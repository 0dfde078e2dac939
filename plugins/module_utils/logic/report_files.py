# Copyright (c) servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Report files for pipelines, rendered from the federation matrix (matrix.build_matrix) and
the per-pair failures (failures.describe_failures): pure rendering, no I/O.

- ``render_json``: the matrix exactly as published with set_stats (``federation_matrix``);
- ``render_junit``: one testsuite, one testcase per direction, the cause as failure message;
- ``render_html``: one self-contained page (inline CSS, no script, no external resource): the
  N x N grid coloured by state, a legend, and below it the failing cells keyed by number with
  their cause and where to look.
"""

from __future__ import annotations

import html
import json
import re
import xml.etree.ElementTree as ET

from ansible_collections.servicemesh.federation.plugins.module_utils.logic.failures import (
    describe_failures,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.report_text import (
    failure_lines,
)

# Characters XML 1.0 cannot carry (log lines may hold terminal escapes): replaced, not dropped.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

# Cell kinds of the grid: (css class, legend label, legend meaning).
LEGEND = (
    ("ok", "connected", "watch connected both ways and every planned service in"),
    ("failing", "failing", "not connected: the cell names the state (503, missing, ...)"),
    ("services", "missing services", "connected, but planned services are not all in "
                                     "(imported/planned)"),
    ("none", "not linked", "no direction planned between these meshes"),
)


def _xml_text(value) -> str:
    return _NOT_XML.sub("\ufffd", str(value))


def cause_parts(failure: dict) -> list[str]:
    """Why a direction failed: its status and usual meaning, then its missing services."""
    mesh, peer = failure["direction"].split(" -> ")
    parts = []
    if not (failure["watch_connected"] and failure["remote_seen_by_peer"]):
        head = failure["last_disconnect_status"] or failure["state"]
        parts.append(f"{head}: {failure['meaning']}" if failure["meaning"] else head)
    imports = failure.get("imports") or {}
    if imports.get("missing"):
        names = ", ".join(m["exported_name"] for m in imports["missing"])
        parts.append(f"{mesh} imported {imports['imported']} of {imports['expected']} planned "
                     f"services from {peer} (missing: {names})")
    exports = failure.get("exports") or {}
    if exports.get("missing"):
        names = ", ".join(m["exported_name"] for m in exports["missing"])
        parts.append(f"{peer} exports {exports['listed']} of {exports['expected']} planned "
                     f"services to {mesh} (missing: {names})")
    return parts or [failure.get("summary") or failure["state"]]


def direction_cause(failure: dict) -> str:
    """One line: why a direction failed (the JUnit failure message)."""
    return "; ".join(cause_parts(failure))


def _directions(matrix: dict) -> list[tuple[str, str]]:
    return [(m, p) for m in matrix["meshes"] for p in matrix["meshes"]
            if p in (matrix["cells"].get(m) or {})]


def render_json(matrix: dict) -> str:
    return json.dumps(matrix, indent=2, sort_keys=True) + "\n"


def render_junit(matrix: dict, failures: list[dict], generated: str | None = None,
                 name: str = "federation") -> str:
    """JUnit XML: ``<testsuites>`` with one ``<testsuite>``, one ``<testcase>`` per direction
    (classname the mesh holding the ServiceMeshPeer, name ``"<mesh> -> <peer>"``); a direction
    that is not ok has a ``<failure>`` whose message is its cause, type its state, and text the
    per-pair report (evidence, where to look, events, log tails)."""
    by_direction = {f["direction"]: f for f in failures}
    directions = _directions(matrix)
    failed = sum(1 for m, p in directions if not matrix["cells"][m][p]["ok"])
    counts = {"tests": str(len(directions)), "failures": str(failed), "errors": "0",
              "skipped": "0", "time": "0"}
    root = ET.Element("testsuites", {"name": "servicemesh.federation", **counts})
    suite = ET.SubElement(root, "testsuite", {"name": name, **counts})
    if generated:
        suite.set("timestamp", _xml_text(generated))
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", {"name": "meshes",
                                      "value": _xml_text(" ".join(matrix["meshes"]))})
    for mesh, peer in directions:
        direction = f"{mesh} -> {peer}"
        case = ET.SubElement(suite, "testcase", {"classname": _xml_text(mesh),
                                                 "name": _xml_text(direction), "time": "0"})
        cell = matrix["cells"][mesh][peer]
        if cell["ok"]:
            continue
        failure = by_direction.get(direction)
        if failure is None:  # failures of another matrix: still a failing test case
            message, text = cell.get("summary") or cell["state"], ""
        else:
            message, text = direction_cause(failure), "\n".join(failure_lines(failure))
        element = ET.SubElement(case, "failure", {"message": _xml_text(message),
                                                  "type": _xml_text(cell["state"])})
        element.text = _xml_text(text)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def cell_kind(cell: dict | None) -> str:
    if cell is None:
        return "none"
    if cell["ok"]:
        return "ok"
    return "services" if cell["state"] == "connected" else "failing"


def _cell_label(cell: dict) -> str:
    if cell["ok"] or cell["state"] != "connected":
        return "ok" if cell["ok"] else cell["state"]
    parts = []
    if (cell.get("imports") or {}).get("missing"):
        parts.append(f"{cell['imports']['imported']}/{cell['imports']['expected']}")
    if (cell.get("exports") or {}).get("missing"):
        parts.append(f"exp {cell['exports']['listed']}/{cell['exports']['expected']}")
    return " ".join(parts) or "services"


_CSS = """
*{box-sizing:border-box}
body{margin:0;padding:20px 28px 40px;font:14px/1.45 "DejaVu Sans","Liberation Sans",
 system-ui,sans-serif;color:#1f2328;background:#fff}
h1{font-size:22px;margin:0 0 2px}
h2{font-size:17px;margin:26px 0 8px;padding-bottom:4px;border-bottom:1px solid #d0d7de}
.meta{color:#57606a;margin:0 0 10px}
.verdict{display:inline-block;padding:4px 10px;border-radius:6px;font-weight:700}
.verdict.ok{background:#dafbe1;color:#116329}.verdict.bad{background:#ffebe9;color:#a40e26}
.legend{display:flex;flex-wrap:wrap;gap:6px 18px;margin:12px 0 4px;padding:0;list-style:none}
.legend li{display:flex;align-items:center;gap:6px}
.swatch{display:inline-block;width:18px;height:18px;border-radius:3px;flex:none}
.legend .what{color:#57606a}
.grid-wrap{overflow-x:auto;max-width:100%;padding-bottom:4px}
table.grid{border-collapse:separate;border-spacing:3px}
.grid th{font-weight:600;font-size:13px}
.grid th.col{vertical-align:bottom;padding:4px 0;height:1px}
.grid th.col span{writing-mode:vertical-rl;transform:rotate(180deg);white-space:nowrap;
 display:inline-block;max-height:170px;overflow:hidden;text-overflow:ellipsis}
.grid th.row{text-align:right;white-space:nowrap;padding:0 8px 0 0;max-width:240px;
 overflow:hidden;text-overflow:ellipsis}
.grid th.corner{text-align:right;vertical-align:bottom;color:#57606a;font-weight:400;
 white-space:nowrap;padding:0 8px 6px 0}
.grid td{width:74px;min-width:74px;height:42px;text-align:center;vertical-align:middle;
 border-radius:4px;font-size:12px;font-weight:700;padding:2px 4px;line-height:1.2;
 white-space:nowrap}
.grid td a{color:inherit;text-decoration:none;display:block}
.grid td .key{display:inline-block;margin-top:2px;padding:0 5px;border-radius:8px;
 background:rgba(255,255,255,.85);color:#1f2328;font-size:11px}
.ok{background:#1a7f37;color:#fff}.failing{background:#cf222e;color:#fff}
.services{background:#d4a72c;color:#1f2328}.none{background:#eaeef2;color:#8c959f}
.self{background:repeating-linear-gradient(135deg,#d0d7de 0 4px,#f6f8fa 4px 9px)}
ol.causes{list-style:none;padding:0;margin:0}
ol.causes>li{border:1px solid #d0d7de;border-left:6px solid #cf222e;border-radius:6px;
 padding:10px 14px;margin:0 0 12px;max-width:1100px}
ol.causes>li.services{border-left-color:#d4a72c;background:none;color:inherit}
ol.causes>li.failing{background:none;color:inherit}
.causes h3{margin:0 0 6px;font-size:15px;display:flex;align-items:center;gap:8px;flex-wrap:wrap}
.causes h3 .key{background:#1f2328;color:#fff;border-radius:10px;padding:0 8px;font-size:12px}
.badge{border-radius:4px;padding:1px 7px;font-size:12px}
.cause{margin:0 0 4px;font-weight:600}
.causes ul{margin:2px 0 6px;padding-left:20px}
.causes .label{color:#57606a;font-weight:600;margin:6px 0 0}
.causes code,.causes pre{font:12px/1.4 "DejaVu Sans Mono","Liberation Mono",monospace}
.causes pre{background:#f6f8fa;padding:8px;border-radius:4px;white-space:pre-wrap;
 word-break:break-all;margin:4px 0}
details summary{cursor:pointer;color:#57606a}
table.meshes{border-collapse:collapse}
table.meshes th,table.meshes td{border:1px solid #d0d7de;padding:4px 10px;text-align:left}
table.meshes th{background:#f6f8fa}
"""


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _grid(matrix: dict, keys: dict) -> list[str]:
    meshes = matrix["meshes"]
    out = ['<div class="grid-wrap"><table class="grid" aria-label="federation matrix">',
           '<thead><tr><th class="corner">from \u2193 \u00a0 to \u2192</th>']
    out += [f'<th class="col" scope="col" title="{_e(p)}"><span>{_e(p)}</span></th>'
            for p in meshes]
    out.append("</tr></thead><tbody>")
    for mesh in meshes:
        out.append(f'<tr><th class="row" scope="row" title="{_e(mesh)}">{_e(mesh)}</th>')
        for peer in meshes:
            cell = (matrix["cells"].get(mesh) or {}).get(peer)
            if peer == mesh:
                out.append('<td class="self" title="the mesh itself"></td>')
                continue
            kind = cell_kind(cell)
            title = f"{mesh} -> {peer}: " + (cell.get("summary") or cell["state"]
                                             if cell else "not linked")
            if cell is None:
                out.append(f'<td class="none" title="{_e(title)}">\u2013</td>')
            elif (mesh, peer) in keys:
                key = keys[(mesh, peer)]
                out.append(f'<td class="{kind}" title="{_e(title)}"><a href="#f{key}">'
                           f'{_e(_cell_label(cell))}<br><span class="key">{key}</span></a></td>')
            else:
                out.append(f'<td class="{kind}" title="{_e(title)}">{_e(_cell_label(cell))}'
                           "</td>")
        out.append("</tr>")
    out.append("</tbody></table></div>")
    return out


def _legend() -> list[str]:
    out = ['<ul class="legend">']
    out += [f'<li><span class="swatch {kind}"></span><b>{_e(label)}</b>'
            f'<span class="what">{_e(what)}</span></li>' for kind, label, what in LEGEND]
    out.append('<li><span class="swatch self"></span><b>the mesh itself</b></li></ul>')
    return out


def _list(label: str, items: list[str], code: bool = False) -> list[str]:
    if not items:
        return []
    wrap = (lambda s: f"<code>{_e(s)}</code>") if code else _e
    return [f'<p class="label">{_e(label)}</p><ul>'] + [f"<li>{wrap(i)}</li>" for i in items] \
        + ["</ul>"]


def _failure_block(key: int, failure: dict, kind: str) -> list[str]:
    mesh, peer = failure["direction"].split(" -> ")
    out = [f'<li id="f{key}" class="{kind}"><h3><span class="key">{key}</span>'
           f"{_e(mesh)} \u2192 {_e(peer)}"
           f'<span class="badge {kind}">{_e(failure.get("summary") or failure["state"])}'
           "</span></h3>",
           *(f'<p class="cause">{_e(part)}</p>' for part in cause_parts(failure))]
    facts = [f"watch connected: {failure['watch_connected']}, remote seen by the peer: "
             f"{failure['remote_seen_by_peer']}"]
    if failure["last_disconnect_status"]:
        facts.append(f"lastDisconnectStatus: {failure['last_disconnect_status']}")
    if failure.get("clusters"):
        facts.append(f"clusters: {failure['clusters']}")
    out += _list("Evidence", facts)
    for key_name, what in (("imports", f"Missing imports of {mesh} from {peer}"),
                           ("exports", f"Missing exports of {peer} to {mesh}")):
        missing = (failure.get(key_name) or {}).get("missing") or []
        out += _list(what, [f"{m['exported_name']}: {m['cause']}" for m in missing])
    out += _list("Where to look", failure["look_at"])
    events = [e["note"] if "note" in e else
              f"{e.get('type') or ''} {e.get('reason') or ''}: {e.get('message') or ''}"
              for e in failure["events"]]
    out += _list("Events", events, code=True)
    for log in failure["logs"]:
        name = f"log of {log['component']}" + (f" {log['pod']}" if log.get("pod") else "")
        if "lines" in log:
            out.append(f"<details><summary>{_e(name)}: {len(log['lines'])} line(s)</summary>"
                       f"<pre>{_e(chr(10).join(log['lines']))}</pre></details>")
        else:
            out.append(f'<p class="label">{_e(name)}: {_e(log.get("note") or "")}</p>')
    out.append("</li>")
    return out


def _meshes_table(matrix: dict, plan: dict | None) -> list[str]:
    planned = (plan or {}).get("meshes") or {}
    out = ['<table class="meshes"><thead><tr><th>mesh</th><th>cluster</th>'
           "<th>control plane namespace</th><th>trust domain</th><th>peers</th></tr></thead>"
           "<tbody>"]
    for mesh in matrix["meshes"]:
        info = planned.get(mesh) or {}
        peers = sorted(matrix["cells"].get(mesh) or {})
        out.append("<tr>" + "".join(f"<td>{_e(v)}</td>" for v in (
            mesh, info.get("cluster", "\u2013"), info.get("namespace", "\u2013"),
            info.get("trust_domain", "\u2013"), len(peers))) + "</tr>")
    out.append("</tbody></table>")
    return out


def render_html(matrix: dict, failures: list[dict], plan: dict | None = None,
                generated: str | None = None, title: str = "Service mesh federation") -> str:
    """One self-contained page; every value from the cluster or inventory is escaped."""
    by_direction = {f["direction"]: f for f in failures}
    # Without failures from the caller (or from another matrix): the matrix's own evidence.
    fallback = {f["direction"]: f for f in describe_failures(matrix)}
    failing = [(m, p) for m, p in _directions(matrix) if not matrix["cells"][m][p]["ok"]]
    keys = {d: n for n, d in enumerate(failing, start=1)}
    total = len(_directions(matrix))
    verdict = ('<span class="verdict ok">every direction connected</span>' if not failing else
               f'<span class="verdict bad">{len(failing)} of {total} directions failing</span>')
    when = f' \u00b7 generated <time datetime="{_e(generated)}">{_e(generated)}</time>' \
        if generated else ""
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width,initial-scale=1">',
           f"<title>{_e(title)}: federation matrix</title><style>{_CSS}</style></head><body>",
           f"<h1>{_e(title)}: federation matrix</h1>",
           f'<p class="meta">{len(matrix["meshes"])} meshes \u00b7 {total} directions{when}</p>',
           f"<p>{verdict}</p>"]
    out += _legend()
    out += _grid(matrix, keys)
    if failing:
        out.append("<h2>Failing directions</h2><ol class=\"causes\">")
        for mesh, peer in failing:
            cell = matrix["cells"][mesh][peer]
            failure = by_direction.get(f"{mesh} -> {peer}") or fallback[f"{mesh} -> {peer}"]
            out += _failure_block(keys[(mesh, peer)], failure, cell_kind(cell))
        out.append("</ol>")
    out.append("<h2>Meshes of the plan</h2>")
    out += _meshes_table(matrix, plan)
    out.append("</body></html>")
    return "\n".join(out) + "\n"
