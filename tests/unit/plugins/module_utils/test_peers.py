"""federation_peers logic (service/peers.py) against an in-memory cluster: what is written,
in which order, and that re-runs, check mode and foreign objects behave as promised."""

import copy

import pytest
from fake_cluster import FakeCluster
from test_certs import make_ca, pem

from ansible_collections.servicemesh.federation.plugins.module_utils.logic.certs import (
    root_fingerprint,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.errors import (
    ClusterError,
    TaskError,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.naming import (
    ROOT_FINGERPRINT_ANNOTATION,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.plan import build_plan
from ansible_collections.servicemesh.federation.plugins.module_utils.service.peers import (
    converge,
    desired_from_params,
)

NS = "red-system"
LABEL = {"app.kubernetes.io/managed-by": "servicemesh.federation"}
# Real roots: the CA ConfigMap carries their fingerprint (ROOT_FINGERPRINT_ANNOTATION).
ROOTS = {p: pem(make_ca(f"{p}.local root")[0]) for p in ("green", "blue")}


def red_links():
    conn = {"host": "https://127.0.0.1:6443", "api_key": "x"}
    meshes = {name: {"mesh_cluster": conn} for name in ("red", "green", "blue")}
    return build_plan(meshes, None)["meshes"]["red"]["links"]


def peer_facts():
    return {p: {"root_cert": ROOTS[p],
                "ingress": {"ingress-red": {"addresses": [f"10.0.0.{i}"], "discovery_port": 8188,
                                            "service_port": 15443, "source": "loadbalancer"}}}
            for i, p in enumerate(("green", "blue"), start=1)}


def params(**overrides):
    p = {"namespace": NS, "state": "present", "links": red_links(), "peer_facts": peer_facts(),
         "take_over": False, "peers": None}
    p.update(overrides)
    return p


def run(cluster, check_mode=False, **overrides):
    p = params(**overrides)
    return converge(cluster, p, check_mode, desired_from_params(p))


def actions(result):
    return [(o["kind"], o["name"], o["action"]) for o in result["objects"]]


def test_first_run_creates_configmaps_before_peers(cluster):
    result = run(cluster)
    assert result["changed"] is True
    assert result["writes"] == 4
    assert cluster.writes_sent() == [
        ("create", "ConfigMap", "blue-ca-root-cert"), ("create", "ConfigMap", "green-ca-root-cert"),
        ("create", "ServiceMeshPeer", "blue"), ("create", "ServiceMeshPeer", "green")]
    cm = cluster.object("ConfigMap", NS, "green-ca-root-cert")
    assert cm["data"] == {"root-cert.pem": ROOTS["green"]}
    assert cm["metadata"]["labels"] == LABEL
    smp = cluster.object("ServiceMeshPeer", NS, "green")
    assert smp["metadata"]["labels"] == LABEL
    assert smp["spec"]["remote"]["addresses"] == ["10.0.0.1"]


def test_rerun_sends_no_write_and_reads_only_one_list_per_kind(cluster):
    run(cluster)
    cluster.requests.clear()
    result = run(cluster)
    assert result["changed"] is False
    assert result["writes"] == 0
    assert {o["action"] for o in result["objects"]} == {"unchanged"}
    assert cluster.requests == [("list", "ConfigMap", ""), ("list", "ServiceMeshPeer", ""),
                                ("list", "ExportedServiceSet", ""),
                                ("list", "ImportedServiceSet", "")]
    assert result["diff"] == []


def test_check_mode_predicts_the_real_run_without_writing(cluster):
    predicted = run(FakeCluster(), check_mode=True)
    real = run(cluster)
    assert predicted["writes"] == 0
    assert predicted["changed"] is True
    assert actions(predicted) == actions(real)
    assert predicted["diff"] == real["diff"]
    assert predicted["diff"][0]["before"] == {}
    assert predicted["diff"][0]["after"]["data"] == {"root-cert.pem": ROOTS["blue"]}


def test_check_mode_writes_nothing(cluster):
    run(cluster, check_mode=True)
    assert cluster.writes_sent() == []
    assert cluster.store == {}


def test_changed_peer_is_patched_with_only_our_fields(cluster):
    run(cluster)
    # someone else adds a label, an annotation and a data key; the peer's address moves
    cm = cluster.object("ConfigMap", NS, "green-ca-root-cert")
    cm["metadata"]["labels"]["team"] = "mesh"
    cm["metadata"]["annotations"]["note"] = "keep"
    cm["data"]["extra.pem"] = "keep"
    facts = peer_facts()
    facts["green"]["ingress"]["ingress-red"]["addresses"] = ["10.9.9.9"]
    cluster.requests.clear()

    result = run(cluster, peer_facts=facts)

    assert actions(result) == [
        ("ConfigMap", "blue-ca-root-cert", "unchanged"), ("ConfigMap", "green-ca-root-cert",
                                                          "unchanged"),
        ("ServiceMeshPeer", "blue", "unchanged"), ("ServiceMeshPeer", "green", "updated")]
    assert cluster.writes_sent() == [("patch", "ServiceMeshPeer", "green")]
    assert result["writes"] == 1
    assert cluster.object("ServiceMeshPeer", NS, "green")["spec"]["remote"]["addresses"] == [
        "10.9.9.9"]
    cm = cluster.object("ConfigMap", NS, "green-ca-root-cert")
    assert cm["metadata"]["annotations"] == {
        "note": "keep", ROOT_FINGERPRINT_ANNOTATION: root_fingerprint(ROOTS["green"])}
    assert cm["data"]["extra.pem"] == "keep"
    assert cm["metadata"]["labels"]["team"] == "mesh"
    (diff,) = result["diff"]
    assert diff["before"]["spec"]["remote"]["addresses"] == ["10.0.0.1"]
    assert diff["after"]["spec"]["remote"]["addresses"] == ["10.9.9.9"]


CONNECTED = {"discoveryStatus": {"active": [{"pod": "istiod-1", "watch": {"connected": True}}]}}


def with_status(cluster, name, status):
    cluster.object("ServiceMeshPeer", NS, name)["status"] = copy.deepcopy(status)


def test_peers_whose_config_changes_are_returned_with_their_old_status(cluster):
    assert run(cluster)["reconfigured"] == {}  # created: no status to mistake
    for name in ("green", "blue"):
        with_status(cluster, name, CONNECTED)
    facts = peer_facts()
    facts["green"]["ingress"]["ingress-red"]["addresses"] = ["10.9.9.9"]  # green's spec
    facts["blue"]["root_cert"] = ROOTS["green"]  # blue's CA ConfigMap only
    assert run(cluster, check_mode=True, peer_facts=facts)["reconfigured"] == {}  # no wait
    assert run(cluster, peer_facts=facts)["reconfigured"] == {"green": CONNECTED,
                                                              "blue": CONNECTED}
    assert run(cluster, peer_facts=facts)["reconfigured"] == {}  # nothing changes any more


def test_taking_over_an_identical_peer_does_not_reconfigure_it(cluster):
    run(cluster)
    with_status(cluster, "green", CONNECTED)
    del cluster.object("ServiceMeshPeer", NS, "green")["metadata"]["labels"]
    result = run(cluster, take_over=True)
    assert ("ServiceMeshPeer", "green", "updated") in actions(result)
    assert result["reconfigured"] == {}


def foreign_peer(addresses=("10.7.7.7",)):
    return {"apiVersion": "federation.maistra.io/v1", "kind": "ServiceMeshPeer",
            "metadata": {"name": "green", "namespace": NS},
            "spec": {"remote": {"addresses": list(addresses)}}}


def test_unmanaged_differing_object_is_refused_before_any_write():
    cluster = FakeCluster([foreign_peer()])
    with pytest.raises(TaskError) as failure:
        run(cluster)
    assert "ServiceMeshPeer red-system/green" in str(failure.value)
    assert "take_over" in str(failure.value)
    assert cluster.writes_sent() == []  # not even the ConfigMaps that were free to create
    assert cluster.object("ServiceMeshPeer", NS, "green")["spec"] == foreign_peer()["spec"]


def test_take_over_adopts_the_unmanaged_object():
    cluster = FakeCluster([foreign_peer()])
    result = run(cluster, take_over=True)
    assert ("ServiceMeshPeer", "green", "updated") in actions(result)
    adopted = cluster.object("ServiceMeshPeer", NS, "green")
    assert adopted["metadata"]["labels"] == LABEL
    assert adopted["spec"]["remote"]["addresses"] == ["10.0.0.1"]
    assert run(cluster)["writes"] == 0


def test_identical_unmanaged_object_is_left_alone(cluster):
    run(cluster)
    smp = cluster.object("ServiceMeshPeer", NS, "green")
    del smp["metadata"]["labels"]
    cluster.requests.clear()
    result = run(cluster)
    assert ("ServiceMeshPeer", "green", "unchanged") in actions(result)
    assert result["writes"] == 0
    assert ("get", "ServiceMeshPeer", "green") in cluster.requests  # by-name get only for it
    assert "labels" not in cluster.object("ServiceMeshPeer", NS, "green")["metadata"]


def test_object_changed_since_read_is_not_overwritten(cluster):
    run(cluster)
    facts = peer_facts()
    facts["green"]["root_cert"] = ROOTS["blue"]
    real_list = cluster.list

    def list_then_someone_edits(gvk, namespace, **kwargs):
        items = real_list(gvk, namespace, **kwargs)
        if gvk[1] == "ConfigMap":
            cluster.patch(("v1", "ConfigMap"), NS, "green-ca-root-cert", {"data": {"x": "y"}})
            cluster.writes -= 1  # not ours
        return items

    cluster.list = list_then_someone_edits
    with pytest.raises(ClusterError) as failure:
        run(cluster, peer_facts=facts)
    assert "namespace red-system: update ConfigMap/green-ca-root-cert" in str(failure.value)
    assert failure.value.status == 409
    assert failure.value.result["writes"] == 1
    assert failure.value.result["objects"] == [
        {"kind": "ConfigMap", "name": "blue-ca-root-cert", "action": "unchanged"}]
    assert cluster.object("ConfigMap", NS, "green-ca-root-cert")["data"]["root-cert.pem"] == \
        ROOTS["green"]


def istiod_writes_status_before_each_patch(cluster, times):
    """The first `times` patches of the peer 'green' find istiod's status write in between (a
    new resourceVersion), as on a lab whose istiod retries the connection every few seconds."""
    real_patch, count = cluster.patch, {"n": 0}

    def patch(gvk, namespace, name, body):
        if name == "green" and gvk[1] == "ServiceMeshPeer" and count["n"] < times:
            count["n"] += 1
            cluster.put({**cluster.object(gvk[1], namespace, name), "status": {
                "discoveryStatus": {"inactive": [{"pod": f"istiod-{count['n']}"}]}},
                "metadata": {**cluster.object(gvk[1], namespace, name)["metadata"],
                             "resourceVersion": str(next(cluster._rv))}})
        return real_patch(gvk, namespace, name, body)

    cluster.patch = patch
    return count


def test_take_over_survives_istiod_writing_the_status_between_read_and_patch():
    cluster = FakeCluster([foreign_peer()])
    istiod_writes_status_before_each_patch(cluster, times=2)
    result = run(cluster, take_over=True)
    assert ("ServiceMeshPeer", "green", "updated") in actions(result)
    adopted = cluster.object("ServiceMeshPeer", NS, "green")
    assert adopted["metadata"]["labels"] == LABEL
    assert adopted["spec"]["remote"]["addresses"] == ["10.0.0.1"]
    # The status the wait must not mistake for the answer is the one read before the patch.
    assert result["reconfigured"]["green"]["discoveryStatus"]["inactive"] == [{"pod": "istiod-2"}]
    patches = [r for r in cluster.requests if r == ("patch", "ServiceMeshPeer", "green")]
    # two CA ConfigMaps and the peer blue created, green patched three times
    assert len(patches) == 3 and result["writes"] == 3 + 3


def test_a_status_that_keeps_changing_fails_after_a_bounded_number_of_rereads():
    cluster = FakeCluster([foreign_peer()])
    istiod_writes_status_before_each_patch(cluster, times=100)
    with pytest.raises(ClusterError) as failure:
        run(cluster, take_over=True)
    assert failure.value.status == 409
    assert "update ServiceMeshPeer/green" in str(failure.value)
    patches = [r for r in cluster.requests if r == ("patch", "ServiceMeshPeer", "green")]
    assert len(patches) == 4  # the patch and 3 more on fresh reads
    assert cluster.object("ServiceMeshPeer", NS, "green")["spec"] == foreign_peer()["spec"]


def test_a_conflicting_write_of_what_we_want_is_taken_as_done(cluster):
    run(cluster)
    facts = peer_facts()
    facts["green"]["ingress"]["ingress-red"]["addresses"] = ["10.9.9.9"]
    real_patch = cluster.patch

    def another_run_first(gvk, namespace, name, body):  # it wrote the same spec just before us
        if name == "green" and gvk[1] == "ServiceMeshPeer":
            cluster.patch = real_patch
            real_patch(gvk, namespace, name, {"spec": {"remote": {"addresses": ["10.9.9.9"]}}})
            cluster.writes -= 1  # not ours
        return real_patch(gvk, namespace, name, body)

    cluster.patch = another_run_first
    result = run(cluster, peer_facts=facts)
    assert ("ServiceMeshPeer", "green", "unchanged") in actions(result)
    assert result["writes"] == 1  # our refused patch; nothing sent again
    assert cluster.object("ServiceMeshPeer", NS, "green")["spec"]["remote"]["addresses"] == [
        "10.9.9.9"]


def test_missing_peer_facts_fail_before_any_request():
    p = params(peer_facts={"blue": peer_facts()["blue"]})
    with pytest.raises(TaskError, match="no peer_facts for peer 'green'"):
        desired_from_params(p)


def test_link_for_another_namespace_is_refused():
    links = copy.deepcopy(red_links())
    links[0]["namespace"] = "elsewhere"
    with pytest.raises(TaskError, match="is for namespace 'elsewhere', not 'red-system'"):
        desired_from_params(params(links=links))


def test_absent_deletes_only_our_objects_peers_first_and_is_idempotent(cluster):
    run(cluster)
    unrelated = {"apiVersion": "v1", "kind": "ConfigMap",
                 "metadata": {"name": "istio-ca-root-cert", "namespace": NS}, "data": {}}
    cluster.put(unrelated)
    cluster.requests.clear()

    result = run(cluster, state="absent")

    assert cluster.writes_sent() == [
        ("delete", "ServiceMeshPeer", "blue"), ("delete", "ServiceMeshPeer", "green"),
        ("delete", "ConfigMap", "blue-ca-root-cert"), ("delete", "ConfigMap", "green-ca-root-cert")]
    assert result["changed"] is True
    assert list(cluster.store) == [("ConfigMap", NS, "istio-ca-root-cert")]
    again = run(cluster, state="absent")
    assert again["changed"] is False and again["writes"] == 0 and again["objects"] == []


def test_absent_for_listed_peers_only(cluster):
    run(cluster)
    result = run(cluster, state="absent", peers=["green", "ghost"])
    assert actions(result) == [("ServiceMeshPeer", "green", "deleted"),
                               ("ConfigMap", "green-ca-root-cert", "deleted"),
                               ("ServiceMeshPeer", "ghost", "absent")]
    assert cluster.object("ServiceMeshPeer", NS, "blue") is not None
    assert cluster.object("ConfigMap", NS, "blue-ca-root-cert") is not None


def test_absent_in_check_mode_predicts_without_deleting(cluster):
    run(cluster)
    result = run(cluster, check_mode=True, state="absent")
    assert result["changed"] is True and result["writes"] == 0
    assert len(cluster.store) == 4
    assert {o["action"] for o in result["objects"]} == {"deleted"}
