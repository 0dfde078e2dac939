"""Discovery status evaluation, explanations and the federation matrix (logic/peer_status.py,
matrix.py)."""

import pytest

from ansible_collections.servicemesh.federation.plugins.module_utils.logic.failures import (
    describe_failures,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.matrix import (
    build_matrix,
    planned_services_of,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.peer_status import (
    NO_STATUS_MEANING,
    evaluate_peer,
    evaluate_services,
    explain,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.plan import build_plan
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.report_text import (
    render_failures,
    render_matrix,
)

T = "2026-11-25T10:00:00Z"


def smp(active=None, inactive=None, status=True):
    obj = {"metadata": {"name": "green", "namespace": "red-system"}, "spec": {}}
    if status:
        obj["status"] = {"discoveryStatus": {"active": active, "inactive": inactive}}
    return obj


def entry(pod, connected, last=None, remotes=()):
    watch = {"connected": connected, "lastConnected": T, "lastFullSync": T}
    if last is not None:
        watch["lastDisconnectStatus"] = last
    return {"pod": pod, "watch": watch,
            "remotes": [{"connected": c, "lastConnected": T, "source": s} for s, c in remotes]}


# The healthy example from the fact sheet (§1.2): connected, with a leftover 503.
HEALTHY = smp(active=[entry("istiod-red-mesh-b65457658-9wq5j", True, "503 Service Unavailable",
                            remotes=[("10.128.2.149", True)])])


def test_healthy_example_is_connected_despite_a_leftover_503():
    result = evaluate_peer(HEALTHY)
    assert result["connected"] is True
    assert result["watch"]["state"] == "connected"
    assert result["watch"]["connected"] and result["remote"]["connected"]
    assert result["watch"]["meaning"] is None
    assert result["watch"]["last_disconnect_status"] == "503 Service Unavailable"
    assert result["remote"]["sources"] == [{"pod": "istiod-red-mesh-b65457658-9wq5j",
                                           "source": "10.128.2.149", "connected": True}]


@pytest.mark.parametrize("obj, expected", [
    pytest.param(smp(inactive=[entry("istiod-1", False, "503 Service Unavailable",
                                     remotes=[("10.0.0.9", True)])]),
                 {"state": "inactive", "watch": False, "remote": True, "connected": False,
                  "last": "503 Service Unavailable"},
                 id="inactive-with-connected-remote"),
    pytest.param(smp(inactive=[entry("istiod-1", False, "403 Forbidden")]),
                 {"state": "inactive", "watch": False, "remote": False, "connected": False,
                  "last": "403 Forbidden"}, id="inactive-403"),
    pytest.param(smp(active=[entry("istiod-1", True)]),
                 {"state": "connected", "watch": True, "remote": False, "connected": False,
                  "last": None}, id="watch-only"),
    pytest.param(smp(active=[entry("istiod-1", True, remotes=[("10.0.0.9", True)])],
                     inactive=[entry("istiod-2", False, "404 Not Found")]),
                 {"state": "inactive", "watch": False, "remote": True, "connected": False,
                  "last": "404 Not Found"}, id="one-replica-inactive"),
    pytest.param(smp(active=[entry("istiod-1", True, remotes=[("10.0.0.9", False)])]),
                 {"state": "connected", "watch": True, "remote": False, "connected": False,
                  "last": None}, id="remote-disconnected"),
    pytest.param(smp(active=[entry("istiod-1", True),
                             entry("istiod-2", True, remotes=[("10.0.0.9", True)])]),
                 {"state": "connected", "watch": True, "remote": True, "connected": True,
                  "last": None}, id="ha-remote-on-other-pod"),
    pytest.param(smp(inactive=[entry("istiod-1", False)]),
                 {"state": "inactive", "watch": False, "remote": False, "connected": False,
                  "last": None}, id="inactive-no-attempt-finished"),
    pytest.param(smp(status=False),
                 {"state": "no-status", "watch": False, "remote": False, "connected": False,
                  "last": None}, id="no-status"),
    pytest.param(smp(active=[], inactive=None),
                 {"state": "no-status", "watch": False, "remote": False, "connected": False,
                  "last": None}, id="empty-lists"),
    pytest.param(None,
                 {"state": "missing", "watch": False, "remote": False, "connected": False,
                  "last": None}, id="missing"),
])
def test_evaluate_peer(obj, expected):
    result = evaluate_peer(obj)
    assert result["watch"]["state"] == expected["state"]
    assert result["watch"]["connected"] is expected["watch"]
    assert result["remote"]["connected"] is expected["remote"]
    assert result["connected"] is expected["connected"]
    assert result["watch"]["last_disconnect_status"] == expected["last"]
    assert result["exists"] is (obj is not None)
    assert result["has_status"] is (expected["state"] not in ("missing", "no-status"))
    if expected["state"] != "connected":
        assert result["watch"]["meaning"]


def test_no_status_means_ca_configmap_or_federation_disabled():
    result = evaluate_peer(smp(status=False))
    assert result["watch"]["meaning"] == NO_STATUS_MEANING
    assert "CA ConfigMap" in NO_STATUS_MEANING and "root-cert.pem" in NO_STATUS_MEANING
    assert "federation is disabled" in NO_STATUS_MEANING


def test_pods_list_every_entry_with_its_list():
    result = evaluate_peer(smp(active=[entry("istiod-1", True)],
                               inactive=[entry("istiod-2", False, "503 Service Unavailable")]))
    assert [(p["pod"], p["list"], p["connected"]) for p in result["watch"]["pods"]] == [
        ("istiod-1", "active", True), ("istiod-2", "inactive", False)]


@pytest.mark.parametrize("status, fragment", [
    ("503 Service Unavailable", "peer root"),
    ("403 Forbidden", "clientID"),
    ("404 Not Found", "no discovery route"),
    ("400 Bad Request", "no ServiceMeshPeer"),
    ('Get "http://egress-green.red-system.svc.cluster.local:8188/v1/watch": dial tcp: lookup '
     "egress-green.red-system.svc.cluster.local: no such host", "does not resolve"),
    ('Get "http://egress-green.red-system.svc.cluster.local:8188/v1/watch": dial tcp '
     "10.0.0.1:8188: connect: connection refused", "port 8188"),
    ("200 OK", "established watch ended"),
    ("context canceled", "cancelled"),
    ("", "no connection attempt has finished"),
    (None, "no connection attempt has finished"),
    ("418 I'm a teapot", "unrecognised"),
])
def test_explain(status, fragment):
    assert fragment in explain(status)


def test_explain_matches_codes_only_at_the_start():
    # a Go error that happens to contain "503" somewhere is not an HTTP 503
    assert "unrecognised" in explain("dial tcp 10.0.5.3:15030: i/o timeout")


def connected():
    return evaluate_peer(HEALTHY)


def test_matrix_all_connected_and_rendered():
    names = ["red", "green", "blue"]
    results = {m: {p: connected() for p in names if p != m} for m in names}
    matrix = build_matrix(results)
    assert matrix["meshes"] == ["blue", "green", "red"]
    assert matrix["all_connected"] is True and matrix["failed"] == []
    assert render_matrix(matrix).splitlines() == [
        "from \\ to  blue       green      red",
        "blue       -          connected  connected",
        "green      connected  -          connected",
        "red        connected  connected  -",
    ]


def test_direction_needs_watch_here_and_remote_there():
    # red's watch to green is connected, but green's SMP for red sees no remote from red.
    red_sees = evaluate_peer(smp(active=[entry("istiod-r", True)]))
    green_sees = evaluate_peer(smp(active=[entry("istiod-g", True)]))
    matrix = build_matrix({"red": {"green": red_sees}, "green": {"red": green_sees}})
    cell = matrix["cells"]["red"]["green"]
    assert (cell["state"], cell["watch"], cell["remote"]) == ("no-remote", True, False)
    assert "shows no connected remote" in cell["evidence"]["meaning"]
    assert matrix["failed"] == [["green", "red"], ["red", "green"]]
    assert not matrix["all_connected"]


GREEN_REACHES_RED = [("10.0.0.9", True)]


# red cannot reach green. While red's SMP has a status, it still shows green's istiod as a
# connected remote, so green -> red stays connected; without a status it cannot show that.
@pytest.mark.parametrize("red_smp, state, last, failed", [
    (smp(inactive=[entry("istiod-r", False, "503 Service Unavailable", GREEN_REACHES_RED)]),
     "503", "503 Service Unavailable", [["red", "green"]]),
    (smp(inactive=[entry("istiod-r", False, "403 Forbidden", GREEN_REACHES_RED)]),
     "403", "403 Forbidden", [["red", "green"]]),
    (smp(inactive=[entry("istiod-r", False, "dial tcp: lookup x: no such host",
                         GREEN_REACHES_RED)]),
     "no-such-host", "dial tcp: lookup x: no such host", [["red", "green"]]),
    (smp(inactive=[entry("istiod-r", False, None, GREEN_REACHES_RED)]),
     "inactive", None, [["red", "green"]]),
    (smp(status=False), "no-status", None, [["green", "red"], ["red", "green"]]),
    (None, "missing", None, [["green", "red"], ["red", "green"]]),
])
def test_failed_direction_carries_evidence_and_pointers(red_smp, state, last, failed):
    plan = build_plan({"red": {"mesh_cluster": {"kubeconfig": "/k"},
                               "mesh_peers": {"green": {"egress_gateway": "red-to-green"}}},
                       "green": {"mesh_cluster": {"kubeconfig": "/k"}, "mesh_namespace": "g-ns"}})
    results = {"red": {"green": evaluate_peer(red_smp)}, "green": {"red": connected()}}
    matrix = build_matrix(results, plan)
    assert matrix["failed"] == failed
    cell = matrix["cells"]["red"]["green"]
    assert cell["state"] == state
    evidence = cell["evidence"]
    assert evidence["last_disconnect_status"] == last
    assert evidence["meaning"]
    assert evidence["pointers"] == [
        "istiod of mesh red (namespace red-system), federation log scope",
        "egress gateway red-to-green of mesh red (namespace red-system), access log",
        "ingress gateway ingress-red of mesh green (namespace g-ns), access log",
    ]
    if len(failed) == 1:
        assert matrix["cells"]["green"]["red"]["state"] == "connected"
        assert matrix["cells"]["green"]["red"]["evidence"]["pointers"] == []
    text = render_failures(describe_failures(matrix))
    assert f"red -> green: {state} " in text
    assert "check: egress gateway red-to-green" in text
    if last:
        assert f"lastDisconnectStatus: {last}" in text


def test_plan_decides_which_cells_exist():
    plan = build_plan({m: {"mesh_cluster": {"kubeconfig": "/k"}} for m in ("a", "b", "c")},
                      [["a", "b"]])
    results = {"a": {"b": connected()}, "b": {"a": connected()}, "c": {}}
    matrix = build_matrix(results, plan)
    assert matrix["all_connected"] is True
    assert set(matrix["cells"]["a"]) == {"b"} and matrix["cells"]["c"] == {}
    rows = render_matrix(matrix).splitlines()
    assert rows[1].split() == ["a", "-", "connected", "-"]
    assert rows[3].split() == ["c", "-", "-", "-"]


def test_a_direction_missing_from_results_is_reported_missing():
    plan = build_plan({m: {"mesh_cluster": {"kubeconfig": "/k"}} for m in ("a", "b")})
    matrix = build_matrix({"a": {"b": connected()}}, plan)
    assert matrix["cells"]["b"]["a"]["state"] == "missing"
    ab = matrix["cells"]["a"]["b"]
    assert ab["state"] == "no-remote"
    assert ab["evidence"]["last_disconnect_status"] is None  # the leftover 503 is not evidence
    assert matrix["failed"] == [["a", "b"], ["b", "a"]]


# -- planned services per direction ----------------------------------------------------------
RATINGS = "ratings.green-apps.svc.red-exports.local"  # green's ratings as exported to red
REVIEWS = "reviews.green-apps.svc.red-exports.local"
RED_RATINGS = "ratings.red-apps.svc.green-exports.local"  # red's ratings as exported to green


def service_set(key, entries, status=True):
    obj = {"metadata": {"name": "green"}}
    if status:
        obj["status"] = {key: [{"exportedName": name, "localService": {
            "name": "", "namespace": "", "hostname": host}} for name, host in entries.items()]}
    return obj


def imported(entries, status=True):
    return service_set("importedServices", entries, status)


def exported(entries):
    return service_set("exportedServices", entries)


@pytest.mark.parametrize("connected, iss, cause", [
    (True, None, "the ImportedServiceSet does not exist"),
    (True, imported({}, status=False), "the ImportedServiceSet has no status yet"),
    (False, imported({}), "the direction is not connected yet"),
    (True, imported({}), "not exported by the peer"),
    (False, imported({RATINGS: ""}), "exported by the peer but no import rule"),
    (True, imported({RATINGS: ""}), "exported by the peer but no import rule"),
])
def test_cause_of_a_missing_import(connected, iss, cause):
    result = evaluate_services(connected, iss, None, [RATINGS])
    (missing,) = result["missing"]
    assert missing["cause"].startswith(cause)
    assert (result["expected"], result["imported"], result["done"]) == (1, 0, False)


def test_an_import_counts_with_a_hostname_whatever_the_connection():
    result = evaluate_services(False, imported({RATINGS: "ratings.shared.svc.cluster.local"}),
                               None, [RATINGS, RATINGS])
    assert result["imported_services"] == [
        {"exported_name": RATINGS, "hostname": "ratings.shared.svc.cluster.local"}]
    assert (result["expected"], result["imported"], result["done"]) == (1, 1, True)


@pytest.mark.parametrize("ess, cause", [
    (None, "the ExportedServiceSet does not exist"),
    ({"metadata": {"name": "green"}}, "the ExportedServiceSet has no status yet"),
    (exported({"other": "x"}), "not exported: the Service does not exist"),
])
def test_cause_of_a_missing_export(ess, cause):
    result = evaluate_services(True, None, ess, (), [RED_RATINGS])
    assert result["exports_missing"][0]["cause"].startswith(cause)
    assert (result["exports_expected"], result["exported"]) == (1, 0)
    assert evaluate_services(True, None, exported({RED_RATINGS: "h"}), (), [RED_RATINGS])["done"]


def planned_plan():
    plan = build_plan({"red": {"mesh_cluster": {"kubeconfig": "/k"}},
                       "green": {"mesh_cluster": {"kubeconfig": "/k"}, "mesh_namespace": "g-ns"}})
    for mesh in plan["meshes"].values():
        for link in mesh["links"]:
            link["imports"], link["exports"] = [], []
    red_green = plan["meshes"]["red"]["links"][0]
    green_red = plan["meshes"]["green"]["links"][0]
    red_green["imports"] = [{"service": s, "namespace": "green-apps", "exported_name": n}
                            for s, n in (("ratings", RATINGS), ("reviews", REVIEWS))]
    green_red["exports"] = [dict(e) for e in red_green["imports"]]
    return plan


def with_services(peer_result, iss=None, ess=None, imports=(), exports=()):
    return dict(peer_result, services=evaluate_services(
        peer_result["watch"]["connected"], iss, ess, imports, exports))


HOST = "ratings.green-apps.svc.green-imports.local"


def test_cell_counts_planned_imports_and_fails_below_the_plan():
    plan = planned_plan()
    results = {
        "red": {"green": with_services(connected(), imported({RATINGS: HOST, REVIEWS: ""}),
                                       imports=[RATINGS, REVIEWS])},
        "green": {"red": with_services(connected(), ess=exported({RATINGS: "r", REVIEWS: "v"}),
                                       exports=[RATINGS, REVIEWS])},
    }
    matrix = build_matrix(results, plan)
    cell = matrix["cells"]["red"]["green"]
    assert (cell["state"], cell["summary"], cell["ok"]) == ("connected", "connected 1/2", False)
    assert cell["imports"]["expected"] == 2 and cell["imports"]["imported"] == 1
    (missing,) = cell["imports"]["missing"]
    assert missing["exported_name"] == REVIEWS
    assert missing["cause"].startswith("exported by the peer but no import rule")
    assert "exports" in cell and cell["exports"]["missing"] == []
    assert any("ExportedServiceSet red of mesh green (namespace g-ns)" in p
               for p in cell["evidence"]["pointers"])
    assert matrix["failed"] == [["red", "green"]] and matrix["all_connected"] is False
    # green -> red plans nothing: plain state, ok
    back = matrix["cells"]["green"]["red"]
    assert (back["summary"], back["ok"]) == ("connected", True) and "imports" not in back
    assert render_matrix(matrix).splitlines() == [
        "from \\ to  green          red",
        "green      -              connected",
        "red        connected 1/2  -",
    ]


def test_cell_with_every_import_in_is_ok():
    plan = planned_plan()
    full = imported({RATINGS: HOST, REVIEWS: HOST})
    results = {"red": {"green": with_services(connected(), full, imports=[RATINGS, REVIEWS])},
               "green": {"red": with_services(
                   connected(), ess=exported({RATINGS: "r", REVIEWS: "v"}),
                   exports=[RATINGS, REVIEWS])}}
    matrix = build_matrix(results, plan)
    assert matrix["cells"]["red"]["green"]["summary"] == "connected 2/2"
    assert matrix["cells"]["red"]["green"]["imports"] == {"expected": 2, "imported": 2,
                                                          "missing": []}
    assert matrix["all_connected"] is True and matrix["failed"] == []


def test_exporter_missing_a_planned_export_fails_the_cell_it_travels_over():
    plan = planned_plan()
    full = imported({RATINGS: HOST, REVIEWS: HOST})
    results = {"red": {"green": with_services(connected(), full, imports=[RATINGS, REVIEWS])},
               "green": {"red": with_services(connected(), ess=exported({RATINGS: "r"}),
                                              exports=[RATINGS, REVIEWS])}}
    cell = build_matrix(results, plan)["cells"]["red"]["green"]
    assert cell["summary"] == "connected 2/2 exported 1/2" and cell["ok"] is False
    assert cell["exports"]["missing"][0]["exported_name"] == REVIEWS


def test_unconnected_direction_shows_its_count_too():
    plan = planned_plan()
    down = evaluate_peer(smp(inactive=[entry("istiod-r", False, "503 Service Unavailable",
                                             GREEN_REACHES_RED)]))
    results = {"red": {"green": with_services(down, imported({}), imports=[RATINGS, REVIEWS])},
               "green": {"red": connected()}}
    cell = build_matrix(results, plan)["cells"]["red"]["green"]
    assert cell["summary"] == "503 0/2"
    assert {m["cause"] for m in cell["imports"]["missing"]} == {
        "the direction is not connected yet"}


def test_planned_imports_of_a_mesh_not_read_or_not_checked():
    plan = planned_plan()
    cell = build_matrix({"green": {"red": connected()}}, plan)["cells"]["red"]["green"]
    assert cell["summary"] == "missing 0/2"
    assert cell["imports"]["missing"][0]["cause"].startswith("the status of this direction was "
                                                             "not read")
    results = {"red": {"green": connected()}, "green": {"red": connected()}}
    cell = build_matrix(results, plan)["cells"]["red"]["green"]
    assert cell["summary"] == "connected 0/2" and not cell["ok"]
    assert cell["imports"]["missing"][0]["cause"].startswith("not checked")


def test_without_a_plan_the_counts_come_from_the_results():
    results = {"red": {"green": with_services(connected(), imported({RATINGS: HOST}),
                                              imports=[RATINGS, REVIEWS])},
               "green": {"red": connected()}}
    matrix = build_matrix(results)
    assert matrix["cells"]["red"]["green"]["summary"] == "connected 1/2"
    assert matrix["failed"] == [["red", "green"]]


def test_planned_services_of_the_links():
    plan = planned_plan()
    assert planned_services_of(plan["meshes"]["red"]["links"]) == {
        "green": {"imports": [RATINGS, REVIEWS], "exports": []}}
    assert planned_services_of(plan["meshes"]["green"]["links"]) == {
        "red": {"imports": [], "exports": [RATINGS, REVIEWS]}}
    assert planned_services_of([{"peer": "x"}]) == {}
