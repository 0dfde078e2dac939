"""Report files for pipelines (logic/report_files.py): the JSON is the matrix, the JUnit XML
parses with one test case per direction, the HTML page is self-contained and escapes
everything."""

import json
import xml.etree.ElementTree as ET

from status_samples import peer

from ansible_collections.servicemesh.federation.plugins.module_utils.logic.failures import (
    describe_failures,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.matrix import (
    build_matrix,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.plan import build_plan
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.report_files import (
    cause_parts,
    direction_cause,
    render_html,
    render_json,
    render_junit,
)

GENERATED = "2026-11-02T10:00:00+00:00"


def federation(names, broken=None, missing=None):
    """Matrix, results and plan of meshes ``names``, every direction connected but ``broken``
    (mesh, peer, lastDisconnectStatus) and ``missing`` (mesh, peer): no ServiceMeshPeer."""
    broken, missing = broken or {}, missing or set()
    plan = build_plan({m: {"mesh_cluster": {"kubeconfig": "/k", "context": f"ctx-{m}"}}
                       for m in names}, None)
    results = {}
    for mesh in names:
        for other in names:
            if other == mesh or (mesh, other) in missing:
                continue
            last = broken.get((mesh, other))
            results.setdefault(mesh, {})[other] = peer(last is None, True, last)
    return build_matrix(results, plan), results, plan


def three():
    return federation(["blue", "green", "red"],
                      broken={("red", "green"): "503 Service Unavailable"},
                      missing={("blue", "red")})


def test_json_is_the_matrix():
    matrix = three()[0]
    assert json.loads(render_json(matrix)) == matrix


def test_junit_has_a_test_case_per_direction_and_the_cause_as_failure_message():
    matrix, results, plan = three()
    failures = describe_failures(matrix, results, plan)
    root = ET.fromstring(render_junit(matrix, failures, GENERATED))
    (suite,) = root.findall("testsuite")
    cases = suite.findall("testcase")
    # blue has no ServiceMeshPeer for red: blue -> red is missing, red -> blue has no remote.
    assert len(cases) == 3 * 2 and suite.get("tests") == "6" and suite.get("failures") == "3"
    assert suite.get("timestamp") == GENERATED
    failed = {c.get("name"): c.find("failure") for c in cases if c.find("failure") is not None}
    assert sorted(failed) == ["blue -> red", "red -> blue", "red -> green"]
    red_green = failed["red -> green"]
    assert red_green.get("message").startswith("503 Service Unavailable: the local egress")
    assert red_green.get("type") == "503"
    assert "check: egress gateway egress-green of mesh red" in red_green.text
    assert failed["blue -> red"].get("message").startswith("missing: the ServiceMeshPeer")
    assert {c.get("classname") for c in cases} == {"blue", "green", "red"}


def test_junit_stays_valid_xml_with_control_characters_in_logs():
    matrix, results, plan = three()
    results["red"]["green"]["logs"] = {"istiod": {
        "component": "istiod", "pod": "p", "lines": ["\x1b[31merror\x1b[0m <&> \x00"]}}
    text = render_junit(matrix, describe_failures(matrix, results, plan))
    failure = ET.fromstring(text).find(".//failure[@type='503']")
    assert "<&>" in failure.text and "\x1b" not in failure.text


def test_cause_names_missing_services():
    failure = {"direction": "red -> green", "state": "connected", "watch_connected": True,
               "remote_seen_by_peer": True, "last_disconnect_status": None, "meaning": None,
               "imports": {"expected": 2, "imported": 1,
                           "missing": [{"exported_name": "ratings", "cause": "x"}]}}
    assert direction_cause(failure) == (
        "red imported 1 of 2 planned services from green (missing: ratings)")


def test_html_holds_every_mesh_every_failing_cause_and_where_to_look():
    matrix, results, plan = three()
    failures = describe_failures(matrix, results, plan)
    page = render_html(matrix, failures, plan, GENERATED)
    for mesh in ("blue", "green", "red"):
        assert f">{mesh}</th>" in page
    for failure in failures:
        for part in cause_parts(failure):
            assert part.replace("'", "&#x27;") in page
        for pointer in failure["look_at"]:
            assert pointer.replace("'", "&#x27;") in page
    assert page.count('<td class="failing"') == 3 and page.count('<td class="ok"') == 3
    assert 'href="#f1"' in page and 'id="f1"' in page and GENERATED in page
    assert "ctx-red" in page  # the plan's meshes and their clusters


def test_html_is_self_contained():
    matrix, results, plan = three()
    page = render_html(matrix, describe_failures(matrix, results, plan), plan, GENERATED)
    lowered = page.lower()
    for forbidden in ("<script", "src=", "url(", "http://", "https://", "<link", "@import"):
        assert forbidden not in lowered


def test_html_escapes_values_from_clusters_and_inventory():
    hostile = '<img src=x onerror="alert(1)">'
    matrix, results, plan = three()
    results["red"]["green"]["events"] = [{"type": "Warning", "reason": hostile, "message": "m"}]
    failures = describe_failures(matrix, results, plan)
    failures[0]["look_at"].append(hostile)
    page = render_html(matrix, failures, plan, hostile, title=hostile)
    assert "<img" not in page and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page


def test_html_of_a_healthy_federation_has_no_failure_list():
    matrix, results, plan = federation(["a", "b"])
    page = render_html(matrix, [], plan, GENERATED)
    assert "every direction connected" in page and "Failing directions" not in page
