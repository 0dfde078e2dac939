"""Report files for pipelines (federation_report_dir) against the shared 3-mesh lab, and the HTML
page looked at in a real headless browser (Debian's chromium, scripts/setup-browser.sh).

A federate.yml run with one broken direction fails and still leaves federation-matrix.json (the
set_stats matrix), federation-junit.xml (6 test cases, 1 failure) and federation-matrix.html;
so does verify.yml. The page is screenshotted; a synthetic page of ten meshes is measured in the
browser (no sideways scrolling at 1200 pixels, cells not cramped). With REPORT_SCREENSHOTS=<dir>
the screenshots are also copied there (docs/img/ holds the ones the docs show).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
import zlib
from collections import Counter
from pathlib import Path

import pytest
from ansible_run import load_inventory, mesh_hosts, write_inventory
from common import run_playbook

from ansible_collections.servicemesh.federation.plugins.module_utils.logic.failures import (
    describe_failures,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.matrix import (
    build_matrix,
    service_pointers,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.peer_status import (
    evaluate_peer,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.plan import build_plan
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.report_files import (
    render_html,
)

CHROMIUM = Path("/usr/bin/chromium")
WINDOW = (1200, 900)
FILES = ("federation-matrix.json", "federation-junit.xml", "federation-matrix.html")
# Cell colours of the page's CSS (reports._CSS): connected ok, failing, missing services.
OK_RGB, FAILING_RGB, SERVICES_RGB = (0x1A, 0x7F, 0x37), (0xCF, 0x22, 0x2E), (0xD4, 0xA7, 0x2C)


def chromium(*args: str, user_data: Path) -> subprocess.CompletedProcess:
    assert CHROMIUM.exists(), "chromium is missing: run scripts/setup-browser.sh"
    cmd = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-quic", "--no-first-run", f"--user-data-dir={user_data}",
           f"--window-size={WINDOW[0]},{WINDOW[1]}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def screenshot(page: Path, png: Path) -> Path:
    run = chromium(f"--screenshot={png}", page.as_uri(), user_data=png.with_suffix(".profile"))
    assert run.returncode == 0 and png.exists(), run.stderr[-2000:]
    if os.environ.get("REPORT_SCREENSHOTS"):
        shutil.copy(png, Path(os.environ["REPORT_SCREENSHOTS"]) / png.name)
    return png


def png_pixels(png: Path) -> tuple[int, int, list[bytes]]:
    """Width, height and RGB rows of an 8-bit RGB or RGBA PNG (what chromium writes)."""
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour, _compression, _filter, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, header
    bpp = 3 if colour == 2 else 4
    raw, stride, rows, prev = zlib.decompress(idat), width * bpp, [], bytearray(width * bpp)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up, corner = prev[i], prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                pred = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + pred) & 0xFF
        rows.append(bytes(line))
        prev = line
    if bpp == 4:  # drop alpha
        rows = [bytes(b for i, b in enumerate(r) if i % 4 != 3) for r in rows]
    return width, height, rows


def colour_counts(png: Path) -> tuple[int, dict[tuple, int]]:
    """Distinct colours, and how many pixels are (nearly) each cell colour."""
    width, height, rows = png_pixels(png)
    assert (width, height) == WINDOW
    pixels = Counter()
    for row in rows:
        pixels.update(zip(row[0::3], row[1::3], row[2::3], strict=True))
    counts = {want: sum(n for rgb, n in pixels.items()
                        if max(abs(a - b) for a, b in zip(rgb, want, strict=True)) <= 3)
              for want in (OK_RGB, FAILING_RGB, SERVICES_RGB)}
    return len(pixels), counts


CELL = 70 * 38  # fewer pixels than one grid cell's colour (74 x 42 less rounded corners)


def test_a_failed_federate_and_verify_write_the_three_reports(lab3, tmp_path):
    inventory = load_inventory(lab3.inventory)
    # red-mesh's peer for green-mesh points at an address nobody serves: red -> green breaks.
    mesh_hosts(inventory)["red-mesh"]["mesh_peers"] = {
        "green-mesh": {"addresses": ["127.254.254.254"]}}
    group = inventory["all"]["children"]["meshes"]["vars"]
    group["federation_wait_timeout"] = 10
    group["federation_report_dir"] = str(tmp_path / "federate")
    broken = write_inventory(tmp_path / "broken.yml", inventory)

    run = run_playbook("federate.yml", broken)
    assert run.rc != 0, run.explain()
    reports = tmp_path / "federate"
    assert sorted(p.name for p in reports.iterdir()) == sorted(FILES)
    published = run.custom_stats["_run"]["federation_matrix"]
    assert json.loads((reports / "federation-matrix.json").read_text()) == published

    suite = ET.parse(reports / "federation-junit.xml").getroot().find("testsuite")
    cases = suite.findall("testcase")
    assert len(cases) == 6 and suite.get("failures") == "1"
    (failed,) = [c for c in cases if c.find("failure") is not None]
    assert failed.get("name") == "red-mesh -> green-mesh" and failed.get("classname") == "red-mesh"
    assert "503" in failed.find("failure").get("message")
    assert "check: egress gateway egress-green-mesh of mesh red-mesh" in failed.find("failure").text

    page = (reports / "federation-matrix.html").read_text()
    assert "503 Service Unavailable" in page and page.count('<td class="failing"') == 1
    colours, counts = colour_counts(screenshot(reports / "federation-matrix.html",
                                               tmp_path / "report-lab.png"))
    # Not blank: text, five green cells and one red cell (each a block of its colour).
    assert colours > 50
    assert counts[OK_RGB] > 5 * CELL and counts[FAILING_RGB] > CELL

    # verify.yml reads the same broken federation once and reports it the same way.
    group["federation_report_dir"] = str(tmp_path / "verify")
    write_inventory(broken, inventory)
    verify = run_playbook("verify.yml", broken)
    assert verify.rc != 0, verify.explain()
    suite = ET.parse(tmp_path / "verify" / "federation-junit.xml").getroot().find("testsuite")
    assert [c.get("name") for c in suite.iter("testcase") if c.find("failure") is not None] == [
        "red-mesh -> green-mesh"]
    assert json.loads((tmp_path / "verify" / "federation-matrix.json").read_text()) == \
        verify.custom_stats["_run"]["federation_matrix"]


def ten_meshes() -> str:
    """The page of a synthetic federation of ten meshes: two failing directions, one missing
    ServiceMeshPeer (and so a missing remote back), one with a planned import missing."""
    names = [f"mesh-{i:02d}-{team}" for i, team in enumerate(
        ["payments", "orders", "catalog", "search", "identity", "billing", "shipping",
         "reviews", "ratings", "inventory"], 1)]
    broken = {(names[0], names[3]): "503 Service Unavailable",
              (names[6], names[2]): "403 Forbidden"}
    plan = build_plan({m: {"mesh_cluster": {"kubeconfig": "/k", "context": f"{m}-cluster"}}
                       for m in names}, None)
    results = {}
    for mesh in names:
        for peer in names:
            if peer == mesh or (mesh, peer) == (names[8], names[9]):
                continue
            entry = {"pod": "istiod-1", "watch": {"connected": (mesh, peer) not in broken},
                     "remotes": [{"source": "10.0.0.1", "connected": True}]}
            if (mesh, peer) in broken:
                entry["watch"]["lastDisconnectStatus"] = broken[(mesh, peer)]
            results.setdefault(mesh, {})[peer] = evaluate_peer({"status": {"discoveryStatus": {
                "active" if (mesh, peer) not in broken else "inactive": [entry]}}})
    matrix = build_matrix(results, plan)
    # One connected direction whose planned import is not in (what the services check reports).
    cell = matrix["cells"][names[4]][names[7]]
    cell.update(ok=False, summary="connected 1/2", imports={
        "expected": 2, "imported": 1, "missing": [{
            "exported_name": "reviews-apps/ratings",
            "cause": "exported by the peer but no import rule of this mesh matched it"}]})
    cell["evidence"]["pointers"] = service_pointers(names[4], names[7])
    matrix["failed"] = sorted(matrix["failed"] + [[names[4], names[7]]])
    return render_html(matrix, describe_failures(matrix, results, plan), plan,
                       "2026-11-02T06:00:00Z", "Ten meshes")


# Test-only: measures the layout in the browser and writes the numbers into the DOM that
# --dump-dom prints (the report itself has no script).
MEASURE = """<script>
const wrap = document.querySelector('.grid-wrap'), grid = wrap.querySelector('table');
const cells = [...grid.querySelectorAll('td')].map(td => td.getBoundingClientRect());
const first = document.querySelector('ol.causes > li');
const out = {page_overflow: document.documentElement.scrollWidth - window.innerWidth,
  grid_overflow: wrap.scrollWidth - wrap.clientWidth,
  grid_right: Math.round(grid.getBoundingClientRect().right), window: window.innerWidth,
  cell_width: Math.min(...cells.map(r => r.width)),
  cell_height: Math.min(...cells.map(r => r.height)),
  causes_below_grid: first.getBoundingClientRect().top >= grid.getBoundingClientRect().bottom};
const pre = document.createElement('pre'); pre.id = 'layout';
pre.textContent = JSON.stringify(out); document.body.appendChild(pre);
</script>"""


def test_ten_meshes_are_readable_in_a_1200_pixel_window(tmp_path):
    page = tmp_path / "report-ten-meshes.html"
    page.write_text(ten_meshes())
    colours, counts = colour_counts(screenshot(page, tmp_path / "report-ten-meshes.png"))
    assert colours > 50
    assert counts[OK_RGB] > 80 * CELL  # 90 directions, 5 not ok
    assert counts[FAILING_RGB] > 4 * CELL and counts[SERVICES_RGB] > CELL

    measured = tmp_path / "measured.html"
    measured.write_text(page.read_text().replace("</body>", MEASURE + "</body>"))
    run = chromium("--dump-dom", measured.as_uri(), user_data=tmp_path / "dom.profile")
    found = re.search(r'<pre id="layout">(.*?)</pre>', run.stdout)
    assert found, run.stderr[-2000:]
    layout = json.loads(found.group(1))
    assert layout["page_overflow"] <= 0 and layout["grid_overflow"] <= 0, layout
    assert layout["grid_right"] <= layout["window"], layout
    assert layout["cell_width"] >= 60 and layout["cell_height"] >= 36, layout
    assert layout["causes_below_grid"], layout


@pytest.fixture(autouse=True)
def _screenshots_dir():
    if os.environ.get("REPORT_SCREENSHOTS"):
        Path(os.environ["REPORT_SCREENSHOTS"]).mkdir(parents=True, exist_ok=True)
