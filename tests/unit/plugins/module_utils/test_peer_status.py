"""federation_status logic (module_utils/peer_status.py): evaluation per peer, and diagnostics
(Events, istiod / gateway logs, or a note) only for peers that are not connected."""

from fake_cluster import Clock, FakeCluster, ScriptedCluster

from ansible_collections.servicemesh.federation.plugins.module_utils.cluster import ClusterError
from ansible_collections.servicemesh.federation.plugins.module_utils.peer_status import (
    REWRITE_GRACE,
    status,
)

NS = "red-system"
T = "2026-11-25T10:00:00Z"


def smp(name, watch_connected, remote_connected=True, last=None):
    watch = {"connected": watch_connected, "lastConnected": T}
    if last:
        watch["lastDisconnectStatus"] = last
    entry = {"pod": "istiod-basic-1", "watch": watch,
             "remotes": [{"connected": remote_connected, "source": "10.0.0.9"}]}
    group = "active" if watch_connected else "inactive"
    return {"apiVersion": "federation.maistra.io/v1", "kind": "ServiceMeshPeer",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"gateways": {"ingress": {"name": f"ingress-{name}"},
                                  "egress": {"name": f"egress-{name}"}}},
            "status": {"discoveryStatus": {group: [entry]}}}


def pod(name, labels, phase="Running"):
    metadata = {"name": name, "namespace": NS, "labels": labels}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "status": {"phase": phase}}


def event(name, reason, message, when):
    return {"apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{name}.{reason}", "namespace": NS},
            "involvedObject": {"kind": "ServiceMeshPeer", "name": name},
            "type": "Warning", "reason": reason, "message": message, "count": 1,
            "lastTimestamp": when}


def lab_cluster():
    cluster = FakeCluster([
        smp("green", True), smp("blue", False, last="503 Service Unavailable"),
        pod("istiod-basic-1", {"app": "istiod"}),
        pod("egress-blue-1", {"service.istio.io/canonical-name": "egress-blue"}),
        event("blue", "WatchFailed", "503 from egress", "2026-11-25T10:02:00Z"),
        event("blue", "WatchStarted", "connecting", "2026-11-25T10:01:00Z"),
        event("green", "Connected", "ok", "2026-11-25T10:00:00Z"),
    ])
    cluster.logs = {"istiod-basic-1": "a\nwatch failed: 503\n"}
    cluster.fail_on[("log", "Pod", "egress-blue-1")] = ClusterError(
        cluster.name, "no kubelet serves logs (500)", "read log of", "Pod", NS, "egress-blue-1",
        status=500)
    return cluster


def test_connected_peer_has_no_diagnostics():
    result = status(lab_cluster(), NS, ["green", "blue"], wait=False, timeout=0)
    green = result["peers"]["green"]
    assert green["connected"] is True
    assert "events" not in green and "logs" not in green
    assert result["all_connected"] is False


def test_failing_peer_gets_its_events_in_order_and_the_logs_the_api_serves():
    blue = status(lab_cluster(), NS, ["green", "blue"], wait=False, timeout=0)["peers"]["blue"]
    assert blue["watch"]["last_disconnect_status"] == "503 Service Unavailable"
    assert [e["reason"] for e in blue["events"]] == ["WatchStarted", "WatchFailed"]
    logs = blue["logs"]
    assert logs["istiod"]["lines"] == ["a", "watch failed: 503"]
    assert logs["egress"]["pod"] == "egress-blue-1"
    assert logs["egress"]["note"] == "log not served by the API: no kubelet serves logs (500)"
    assert logs["ingress"]["note"] == "no pod labelled " \
        "service.istio.io/canonical-name=ingress-blue in red-system"


def test_each_pod_log_is_read_once():
    cluster = lab_cluster()
    cluster.store[("ServiceMeshPeer", NS, "green")] = smp("green", False)
    status(cluster, NS, ["green", "blue"], wait=False, timeout=0)
    assert cluster.requests.count(("log", "Pod", "istiod-basic-1")) == 1


def test_missing_peer_is_reported_not_failed():
    result = status(lab_cluster(), NS, ["ghost"], wait=False, timeout=0)
    ghost = result["peers"]["ghost"]
    assert ghost["exists"] is False and ghost["watch"]["state"] == "missing"
    assert ghost["events"] == []


def test_default_is_every_peer_in_the_namespace():
    result = status(lab_cluster(), NS, [], wait=False, timeout=0)
    assert sorted(result["peers"]) == ["blue", "green"]


def test_unreadable_pods_give_a_note():
    cluster = lab_cluster()
    cluster.fail_on[("list", "Pod", "")] = ClusterError(cluster.name, "pods is forbidden (403)",
                                                        status=403)
    logs = status(cluster, NS, ["blue"], wait=False, timeout=0)["peers"]["blue"]["logs"]
    assert logs["istiod"]["note"] == "pods not readable: pods is forbidden (403)"


def test_wait_returns_at_once_when_already_connected():
    cluster = FakeCluster([smp("green", True)])
    result = status(cluster, NS, ["green"], wait=True, timeout=30)
    assert result["all_connected"] is True
    assert ("watch", "ServiceMeshPeer", "") not in cluster.requests


# -- a peer this run changed: its old status must not end the wait ------------------------------
class WatchedCluster(ScriptedCluster):
    """Scripted lists and watch streams; no events or pods for the diagnostics."""

    def list(self, gvk, namespace, **selectors):
        return []


def rv(obj, version):
    obj["metadata"]["resourceVersion"] = str(version)
    return obj


def test_stale_connected_status_of_a_changed_peer_is_not_the_answer():
    before = smp("green", True)
    rewritten = [("MODIFIED", rv(smp("green", False, last="200 OK"), 2)),  # watch restarted
                 ("MODIFIED", rv(smp("green", True), 3))]
    rewritten[1][1]["status"]["discoveryStatus"]["active"][0]["watch"]["lastConnected"] = "later"
    clock = Clock()
    cluster = WatchedCluster([([before], "1")], [(rewritten, 2)], clock)
    result = status(cluster, NS, ["green"], wait=True, timeout=60,
                    reconfigured={"green": before["status"]}, clock=clock)
    assert result["all_connected"] is True
    assert cluster.calls == [("list",), ("watch", "1", REWRITE_GRACE)]  # not done at the list


def test_changed_peer_that_fails_after_the_change_is_reported():
    before = smp("green", True)
    after = rv(smp("green", False, last="503 Service Unavailable"), 2)
    clock = Clock()
    # Rewritten within the grace, but never connected: the rest of the timeout is waited too.
    cluster = WatchedCluster([([before], "1"), ([after], "2")],
                             [([("MODIFIED", after)], REWRITE_GRACE), ([], 30)], clock)
    result = status(cluster, NS, ["green"], wait=True, timeout=60,
                    reconfigured={"green": before["status"]}, clock=clock)
    assert result["all_connected"] is False and result["elapsed"] == 60
    assert result["peers"]["green"]["watch"]["last_disconnect_status"] == "503 Service Unavailable"


def test_status_never_rewritten_is_taken_as_it_is_after_the_grace():
    before = smp("green", True)
    clock = Clock()
    cluster = WatchedCluster([([before], "1"), ([before], "5")], [([], REWRITE_GRACE)], clock)
    result = status(cluster, NS, ["green"], wait=True, timeout=300,
                    reconfigured={"green": before["status"]}, clock=clock)
    assert result["all_connected"] is True
    assert result["elapsed"] == REWRITE_GRACE
    assert cluster.calls == [("list",), ("watch", "1", REWRITE_GRACE), ("list",)]
