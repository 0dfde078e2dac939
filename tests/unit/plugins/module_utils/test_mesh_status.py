"""federation_status logic (service/mesh_status.py): evaluation per peer, planned services
from the ImportedServiceSet / ExportedServiceSet status, and diagnostics (Events, istiod /
gateway logs, or a note) only for peers that are not done."""

import pytest
from fake_cluster import Clock, FakeCluster, ScriptedCluster
from scripted_kinds import KindScriptedCluster

from ansible_collections.servicemesh.federation.plugins.module_utils.logic.errors import (
    ClusterError,
    TaskError,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.service.mesh_status import (
    REWRITE_GRACE,
    planned_services,
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


# -- planned services: the ImportedServiceSet / ExportedServiceSet named after the peer ----------
RATINGS = "ratings.green-apps.svc.red-exports.local"  # green's ratings, as green exports it to red
REVIEWS = "reviews.green-apps.svc.red-exports.local"
OURS = "ratings.red-apps.svc.green-exports.local"  # red's ratings, as red exports it to green
PLANNED = {"green": {"imports": [RATINGS, REVIEWS], "exports": [OURS]}}


def local(hostname):
    name, namespace = (hostname.split(".") + ["", ""])[:2] if hostname else ("", "")
    return {"name": name, "namespace": namespace, "hostname": hostname}


def service_set(kind, name, entries, with_status=True):
    key = "importedServices" if kind == "ImportedServiceSet" else "exportedServices"
    obj = {"apiVersion": "federation.maistra.io/v1", "kind": kind,
           "metadata": {"name": name, "namespace": NS}, "spec": {}}
    if with_status:
        obj["status"] = {key: [{"exportedName": e, "localService": local(h)}
                               for e, h in entries.items()]}
    return obj


def iss(name, entries, with_status=True):
    return service_set("ImportedServiceSet", name, entries, with_status)


def ess(name, entries):
    return service_set("ExportedServiceSet", name, entries)


IMPORTED = {RATINGS: "ratings.green-apps.svc.green-imports.local",
            REVIEWS: "reviews.green-apps.svc.green-imports.local"}
EXPORTED = {OURS: "ratings.red-apps.svc.cluster.local"}


def test_connected_and_every_planned_service_in_is_done():
    cluster = FakeCluster([smp("green", True), iss("green", IMPORTED), ess("green", EXPORTED)])
    result = status(cluster, NS, ["green"], wait=False, timeout=0, services=PLANNED)
    green = result["peers"]["green"]
    assert green["done"] is True and result["all_done"] is True
    services = green["services"]
    assert (services["expected"], services["imported"], services["missing"]) == (2, 2, [])
    assert services["imported_services"][0] == {
        "exported_name": RATINGS, "hostname": "ratings.green-apps.svc.green-imports.local"}
    assert (services["exports_expected"], services["exported"]) == (1, 1)
    assert "logs" not in green
    # read once: one list per kind, no watch; then the Deployments (istiod, gateways) once
    assert [r for r in cluster.requests if r[0] in ("list", "watch")] == [
        ("list", "ServiceMeshPeer", ""), ("list", "ImportedServiceSet", ""),
        ("list", "ExportedServiceSet", ""), ("list", "Deployment", "")]


def causes(result, peer="green"):
    return {m["exported_name"]: m["cause"] for m in result["peers"][peer]["services"]["missing"]}


def test_each_missing_import_carries_its_likely_cause():
    # ratings listed with an empty localService, reviews not listed at all
    cluster = FakeCluster([smp("green", True), iss("green", {RATINGS: ""}),
                           ess("green", EXPORTED)])
    result = status(cluster, NS, ["green"], wait=False, timeout=0, services=PLANNED)
    green = result["peers"]["green"]
    assert green["connected"] is True and green["done"] is False
    assert result["all_connected"] is True and result["all_done"] is False
    assert green["services"]["imported"] == 0
    assert causes(result)[RATINGS].startswith("exported by the peer but no import rule")
    assert causes(result)[REVIEWS].startswith("not exported by the peer")
    # a peer that is not done gets the diagnostics (istiod logs the skipped rules)
    assert "logs" in green


def test_missing_set_and_unconnected_direction_are_named():
    cluster = FakeCluster([smp("green", False, last="503 Service Unavailable"),
                           smp("blue", True)])
    result = status(cluster, NS, [], wait=False, timeout=0,
                    services={"green": {"imports": [RATINGS]}, "blue": {"imports": [RATINGS]}})
    assert causes(result, "blue")[RATINGS] == "the ImportedServiceSet does not exist"
    cluster.put(iss("green", {}, with_status=False))
    result = status(cluster, NS, [], wait=False, timeout=0,
                    services={"green": {"imports": [RATINGS]}})
    assert causes(result)[RATINGS] == "the direction is not connected yet"


def test_missing_exports_carry_their_cause():
    cluster = FakeCluster([smp("green", True), iss("green", IMPORTED), ess("green", {})])
    result = status(cluster, NS, ["green"], wait=False, timeout=0, services=PLANNED)
    services = result["peers"]["green"]["services"]
    assert services["exported"] == 0 and services["done"] is False
    (missing,) = services["exports_missing"]
    assert missing["exported_name"] == OURS
    assert "not in a member namespace" in missing["cause"]


def test_a_planned_peer_is_evaluated_even_when_not_listed_in_peers():
    cluster = FakeCluster([smp("green", True), smp("blue", True)])
    result = status(cluster, NS, ["blue"], wait=False, timeout=0,
                    services={"green": {"imports": [RATINGS]}})
    assert sorted(result["peers"]) == ["blue", "green"]
    assert "services" not in result["peers"]["blue"]


def test_without_planned_services_no_set_is_read():
    cluster = FakeCluster([smp("green", True)])
    status(cluster, NS, ["green"], wait=False, timeout=0, services={"green": {}})
    assert ("list", "ImportedServiceSet", "") not in cluster.requests
    assert ("list", "ExportedServiceSet", "") not in cluster.requests


@pytest.mark.parametrize("services, message", [
    ({"green": ["x"]}, "services.green: expected a mapping"),
    ({"green": {"import": ["x"]}}, "services.green: unknown key(s) import"),
    ({"green": {"imports": "x"}}, "services.green.imports: expected a list"),
    ({"green": {"exports": [""]}}, "services.green.exports: expected a list"),
])
def test_bad_services_option_is_refused_before_any_request(services, message):
    cluster = FakeCluster([smp("green", True)])
    with pytest.raises(TaskError) as exc:
        planned_services(services)
    assert message in str(exc.value)
    with pytest.raises(TaskError):
        status(cluster, NS, [], wait=False, timeout=0, services=services)
    assert cluster.requests == []


def test_wait_watches_each_set_kind_once_until_the_imports_are_in():
    clock = Clock()
    cluster = KindScriptedCluster(
        {"ServiceMeshPeer": [([rv(smp("green", True), 1)], "1"),
                             ([rv(smp("green", True), 1)], "9")],
         "ImportedServiceSet": [([rv(iss("green", {RATINGS: ""}), 2)], "2")],
         "ExportedServiceSet": [([rv(ess("green", EXPORTED), 3)], "3")]},
        {"ImportedServiceSet": [(
            [("MODIFIED", rv(iss("green", {RATINGS: IMPORTED[RATINGS]}), 4)),  # not reviews yet
             ("MODIFIED", rv(iss("green", IMPORTED), 5))], 12)]},
        clock)
    result = status(cluster, NS, ["green"], wait=True, timeout=120, services=PLANNED,
                    clock=clock)
    assert result["all_done"] is True
    assert result["peers"]["green"]["services"]["imported"] == 2
    # the ServiceMeshPeers are listed again after the watch on the ImportedServiceSets
    assert cluster.calls == [
        ("list", "ServiceMeshPeer"), ("list", "ImportedServiceSet"),
        ("watch", "ImportedServiceSet", "2", 120), ("list", "ExportedServiceSet"),
        ("list", "ServiceMeshPeer")]


def test_wait_times_out_with_the_causes_of_what_is_still_missing():
    clock = Clock()
    cluster = KindScriptedCluster(
        {"ServiceMeshPeer": [([rv(smp("green", True), 1)], "1"),
                             ([rv(smp("green", True), 1)], "9")],
         "ImportedServiceSet": [([rv(iss("green", {RATINGS: ""}), 2)], "2")]},
        {"ImportedServiceSet": [([], 60)]}, clock)
    result = status(cluster, NS, ["green"], wait=True, timeout=60,
                    services={"green": {"imports": [RATINGS]}}, clock=clock)
    assert result["all_done"] is False and result["all_connected"] is True
    assert result["elapsed"] == 60
    assert causes(result)[RATINGS].startswith("exported by the peer but no import rule")


def deployment(name, ready, replicas=1, labels=None, status=True):
    obj = {"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": name, "namespace": NS, "labels": labels or {"app": name}},
           "spec": {"replicas": replicas}}
    if status:
        obj["status"] = {"observedGeneration": 1, "replicas": replicas,
                         **({"readyReplicas": ready} if ready else {})}
    return obj


def test_istiod_and_the_gateways_of_each_peer_carry_their_deployment_readiness():
    cluster = FakeCluster([
        smp("green", True), smp("blue", False, last="503 Service Unavailable"),
        deployment("istiod-basic", 0, labels={"app": "istiod"}),
        deployment("ingress-blue", 0), deployment("egress-blue", 1),
        deployment("ingress-green", 1, status=False),  # no controller status yet: unknown
    ])
    result = status(cluster, NS, ["green", "blue"], wait=False, timeout=0)
    istiod = {"deployment": "istiod-basic", "namespace": NS, "ready": False,
              "ready_replicas": 0, "replicas": 1, "text": "Deployment istiod-basic 0/1"}
    assert result["istiod"] == istiod
    blue = result["peers"]["blue"]
    assert blue["istiod"] == istiod
    assert blue["gateways"]["ingress"]["text"] == "Deployment ingress-blue 0/1"
    assert blue["gateways"]["egress"]["ready"] is True
    # no status yet (ingress-green) and no Deployment at all (egress-green) are unknown
    assert result["peers"]["green"]["gateways"] == {"ingress": None, "egress": None}


def test_deployments_not_readable_leave_the_components_unknown():
    cluster = FakeCluster([smp("green", True), deployment("istiod-basic", 0,
                                                          labels={"app": "istiod"})])
    cluster.fail_on[("list", "Deployment", "")] = ClusterError(
        cluster.name, "forbidden (403)", "list", "Deployment", NS, "", status=403)
    result = status(cluster, NS, ["green"], wait=False, timeout=0)
    assert result["istiod"] is None and result["peers"]["green"]["gateways"] == {
        "ingress": None, "egress": None}
