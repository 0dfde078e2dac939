"""The per-pair failure report (module_utils/report.py): evidence, clusters, events, log tails."""

from ansible_collections.servicemesh.federation.plugins.module_utils.plan import build_plan
from ansible_collections.servicemesh.federation.plugins.module_utils.report import (
    describe_failures,
    render_failures,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.status import (
    build_matrix,
    evaluate_peer,
)


def peer(watch, remote, last=None):
    entry = {"pod": "istiod-1", "watch": {"connected": watch},
             "remotes": [{"source": "10.0.0.1", "connected": remote}]}
    if last:
        entry["watch"]["lastDisconnectStatus"] = last
    return evaluate_peer({"status": {"discoveryStatus": {
        "active" if watch else "inactive": [entry]}}})


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
