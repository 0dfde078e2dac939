"""The per-pair failure report (module_utils/logic/failures.py, report_text.py): evidence, clusters,
events, log tails, missing services with their likely cause."""

from status_samples import peer

from ansible_collections.servicemesh.federation.plugins.module_utils.logic.failures import (
    describe_failures,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.matrix import (
    build_matrix,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.peer_status import (
    evaluate_peer,
    evaluate_services,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.plan import build_plan
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.report_text import (
    render_failures,
)


def lab():
    plan = build_plan({m: {"mesh_cluster": {"kubeconfig": "/k", "context": f"ctx-{m}"}}
                       for m in ("red", "green")}, None)
    red_to_green = dict(peer(False, True, "503 Service Unavailable"), events=[
        {"type": "Warning", "reason": "WatchFailed", "message": "watch failed: 503"},
        {"note": "events not readable: forbidden (403)"}],
        logs={"istiod": {"component": "istiod", "pod": "istiod-1",
                         "lines": [f"line {i}" for i in range(1, 8)]},
              "egress": {"component": "egress gateway", "note": "log not served by the API"}})
    green_to_red = dict(peer(True, False), logs={
        "ingress": {"component": "ingress gateway", "pod": "ingress-red-1", "lines": ["x"]}})
    results = {"red": {"green": red_to_green}, "green": {"red": green_to_red}}
    return build_matrix(results, plan), results, plan


def test_failure_carries_evidence_events_and_the_logs_of_both_sides():
    matrix, results, plan = lab()
    (failure,) = describe_failures(matrix, results, plan)
    assert failure["direction"] == "red -> green"
    assert failure["clusters"] == "red on ctx-red, green on ctx-green"
    assert failure["last_disconnect_status"] == "503 Service Unavailable"
    assert len(failure["look_at"]) == 3 and len(failure["events"]) == 2
    # this mesh's istiod and egress gateway, then the peer's ingress gateway for this mesh
    assert [log["component"] for log in failure["logs"]] == [
        "istiod", "egress gateway", "ingress gateway"]


def test_report_text_reads_top_down_with_the_last_log_lines():
    matrix, results, plan = lab()
    lines = render_failures(describe_failures(matrix, results, plan)).splitlines()
    assert lines[0] == ("red -> green: 503 (watch connected: False, "
                        "remote seen by the peer: False)")
    assert lines[1] == "  lastDisconnectStatus: 503 Service Unavailable"
    assert lines[2].startswith("  usually means: ")
    assert lines[3] == "  clusters: red on ctx-red, green on ctx-green"
    assert [line for line in lines if line.startswith("  event: ")] == [
        "  event: Warning WatchFailed: watch failed: 503",
        "  event: events not readable: forbidden (403)"]
    i = lines.index("  log of istiod istiod-1: 7 line(s), last ones:")
    assert lines[i + 1:i + 6] == [f"    line {n}" for n in range(3, 8)]
    assert "  log of egress gateway: log not served by the API" in lines
    assert "  log of ingress gateway ingress-red-1: 1 line(s), last ones:" in lines


def test_matrix_alone_gives_the_evidence_without_events_logs_or_clusters():
    matrix = lab()[0]
    (failure,) = describe_failures(matrix)
    assert failure["events"] == [] and failure["logs"] == [] and "clusters" not in failure
    text = render_failures([failure])
    assert "check: egress gateway egress-green of mesh red" in text
    assert "event:" not in text and "log of" not in text


def test_no_failed_direction_gives_an_empty_report():
    results = {"red": {"green": peer(True, True)}, "green": {"red": peer(True, True)}}
    assert render_failures(describe_failures(build_matrix(results))) == ""


# -- planned services -----------------------------------------------------------------------
RATINGS = "ratings.green-apps.svc.red-exports.local"
REVIEWS = "reviews.green-apps.svc.red-exports.local"


def services_lab():
    plan = build_plan({m: {"mesh_cluster": {"kubeconfig": "/k", "context": f"ctx-{m}"}}
                       for m in ("red", "green")}, None)
    red_link = plan["meshes"]["red"]["links"][0]
    green_link = plan["meshes"]["green"]["links"][0]
    red_link["imports"] = [{"service": "ratings", "namespace": "green-apps",
                            "exported_name": RATINGS},
                           {"service": "reviews", "namespace": "green-apps",
                            "exported_name": REVIEWS}]
    green_link["exports"] = [dict(i) for i in red_link["imports"]]
    red_link["exports"], green_link["imports"] = [], []
    iss = {"status": {"importedServices": [
        {"exportedName": RATINGS, "localService": {"name": "ratings", "namespace": "green-apps",
                                                   "hostname": "ratings.green-apps.svc.x"}}]}}
    ess = {"status": {"exportedServices": [
        {"exportedName": RATINGS, "localService": {"name": "ratings", "namespace": "green-apps",
                                                   "hostname": "ratings.green-apps.svc.y"}}]}}
    red = peer(True, True)
    red["services"] = evaluate_services(True, iss, None, [RATINGS, REVIEWS])
    red["logs"] = {"istiod": {"component": "istiod", "pod": "istiod-red", "lines": ["r"]}}
    green = peer(True, True)
    green["services"] = evaluate_services(True, None, ess, (), [RATINGS, REVIEWS])
    green["logs"] = {"istiod": {"component": "istiod", "pod": "istiod-green",
                                "lines": ["skipping rule"]}}
    results = {"red": {"green": red}, "green": {"red": green}}
    return build_matrix(results, plan), results, plan


def test_report_names_each_missing_service_its_cause_and_where_to_look():
    matrix, results, plan = services_lab()
    (failure,) = describe_failures(matrix, results, plan)
    assert failure["summary"] == "connected 1/2 exported 1/2"
    assert failure["imports"]["missing"][0]["exported_name"] == REVIEWS
    # this mesh's istiod, then the exporter's (it logs the export rules it skipped)
    assert [log["component"] for log in failure["logs"]] == ["istiod", "istiod of green"]
    lines = render_failures([failure]).splitlines()
    assert lines[0] == ("red -> green: connected 1/2 exported 1/2 (watch connected: True, "
                        "remote seen by the peer: True)")
    i = lines.index("  imported by red from green: 1 of 2 planned; missing:")
    assert lines[i + 1].startswith(f"    {REVIEWS}: not exported by the peer (the peer's "
                                   "ExportedServiceSet has no rule for it")
    i = lines.index("  exported by green to red (its ExportedServiceSet red status): 1 of 2 "
                    "planned; missing:")
    assert lines[i + 1].startswith(f"    {REVIEWS}: not exported: the Service does not exist")
    checks = [line for line in lines if line.startswith("  check: ")]
    assert checks == [
        "  check: ExportedServiceSet red of mesh green (namespace green-system), "
        "status.exportedServices: what green exports to red",
        "  check: ImportedServiceSet green of mesh red (namespace red-system), "
        "status.importedServices: an empty localService means no import rule matched",
        "  check: istiod of mesh green (namespace green-system) and of mesh red (namespace "
        "red-system): rules are skipped with a log line only ('skipping rule', 'cannot use "
        "importAsLocal without setting a fixed namespace alias', 'cannot use domainSuffix that "
        "matches the cluster domain suffix')",
    ]
    assert "    skipping rule" in lines


def test_services_all_in_give_no_report():
    matrix, results, plan = services_lab()
    red, green = results["red"]["green"], results["green"]["red"]
    full = {"status": {"importedServices": [
        {"exportedName": n, "localService": {"hostname": "h"}} for n in (RATINGS, REVIEWS)]}}
    red["services"] = evaluate_services(True, full, None, [RATINGS, REVIEWS])
    green["services"] = evaluate_services(True, None, {"status": {"exportedServices": [
        {"exportedName": n} for n in (RATINGS, REVIEWS)]}}, (), [RATINGS, REVIEWS])
    matrix = build_matrix(results, plan)
    assert matrix["cells"]["red"]["green"]["summary"] == "connected 2/2"
    assert describe_failures(matrix, results, plan) == []


def down(name):
    return {"deployment": name, "namespace": "ns", "ready": False, "ready_replicas": 0,
            "replicas": 1, "text": f"Deployment {name} 0/1"}


def up(name):
    return dict(down(name), ready=True, ready_replicas=1, text=f"Deployment {name} 1/1")


def with_components(result, istiod, ingress=None, egress=None):
    return dict(result, istiod=istiod, gateways={"ingress": ingress, "egress": egress})


def three_meshes(results):
    plan = build_plan({m: {"mesh_cluster": {"kubeconfig": "/k", "context": f"ctx-{m}"}}
                       for m in ("red", "green", "blue")}, None)
    return build_matrix(results, plan), plan


def test_istiod_not_ready_is_named_once_for_every_direction_it_cuts():
    red_down, ok = down("istiod-basic"), up("istiod-basic")
    results = {
        # red's own status is stale or absent: its istiod is gone
        "red": {p: with_components(evaluate_peer({"status": {}}), red_down)
                for p in ("green", "blue")},
        "green": {"red": with_components(peer(False, False, "503 Service Unavailable"), ok),
                  "blue": with_components(peer(True, True), ok)},
        "blue": {"red": with_components(peer(False, False, "503 Service Unavailable"), ok),
                 "green": with_components(peer(True, True), ok)},
    }
    matrix, plan = three_meshes(results)
    assert sorted(map(tuple, matrix["failed"])) == [
        ("blue", "red"), ("green", "red"), ("red", "blue"), ("red", "green")]
    cell = matrix["cells"]["green"]["red"]
    assert cell["state"] == "istiod-down"
    assert cell["evidence"]["meaning"] == "istiod of red is not ready (Deployment istiod-basic 0/1)"
    assert matrix["cells"]["green"]["blue"]["ok"] is True
    text = render_failures(describe_failures(matrix, results, plan))
    assert text.splitlines()[0] == (
        "istiod of red is not ready (Deployment istiod-basic 0/1): no direction from or to red "
        "can connect: blue -> red, green -> red, red -> blue, red -> green")
    assert text.count("istiod of red is not ready") == 1
    assert "CA ConfigMap" not in text and "503" not in text


def test_ingress_gateway_down_names_the_gateway_and_the_peer_it_cuts_off():
    ok = up("istiod-basic")
    results = {
        "red": {"green": with_components(peer(False, True, "503 Service Unavailable"), ok,
                                         egress=up("egress-green"))},
        "green": {"red": with_components(peer(True, False), ok,
                                         ingress=down("ingress-red"))},
    }
    matrix, plan = build_matrix(results, lab()[2]), lab()[2]
    assert matrix["failed"] == [["red", "green"]]
    failure = describe_failures(matrix, results, plan)[0]
    assert failure["state"] == "gateway-down"
    assert failure["cause"]["gateway"] == "ingress-red"
    assert render_failures([failure]).splitlines()[0] == (
        "ingress gateway ingress-red of green is not ready (Deployment ingress-red 0/1): "
        "it cuts off red (red -> green)")


def test_a_component_that_is_ready_or_unknown_is_never_blamed():
    matrix, results, plan = lab()  # no readiness at all: unknown
    assert "cause" not in matrix["cells"]["red"]["green"]
    results["green"]["red"] = with_components(results["green"]["red"], up("istiod-basic"),
                                              ingress=up("ingress-red"))
    matrix = build_matrix(results, plan)
    assert matrix["cells"]["red"]["green"]["state"] == "503"
