"""Event-driven waiting (module_utils/client/watch.py): list, watch from the list's resourceVersion,
resume after a stream ends, re-list on 410 Gone, stop at the deadline."""

import pytest
from fake_cluster import ScriptedCluster
from scripted_kinds import KindScriptedCluster

from ansible_collections.servicemesh.federation.plugins.module_utils.client.watch import (
    wait_for,
    wait_for_all,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.errors import (
    ClusterError,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.kinds import (
    SERVICE_MESH_PEER,
)

NS = "red-system"


def smp(name, rv, connected=False):
    return {"metadata": {"name": name, "resourceVersion": str(rv)},
            "status": {"connected": connected}}


def all_connected(objects):
    return bool(objects) and all(o["status"]["connected"] for o in objects.values())


def test_condition_already_true_needs_no_watch(clock):
    cluster = ScriptedCluster([([smp("green", 5, True)], "10")], [], clock)
    objects, done = wait_for(cluster, SERVICE_MESH_PEER, NS, all_connected, 60, clock=clock)
    assert done is True
    assert cluster.calls == [("list",)]


def test_events_update_the_objects_until_done(clock):
    cluster = ScriptedCluster(
        [([smp("green", 5), smp("old", 6)], "10")],
        [([("MODIFIED", smp("green", 11)),
           ("DELETED", smp("old", 12)),
           ("MODIFIED", smp("green", 13, True)),
           ("MODIFIED", smp("green", 14, False))], 0)],  # the last is never read
        clock)
    objects, done = wait_for(cluster, SERVICE_MESH_PEER, NS, all_connected, 60, clock=clock)
    assert done is True
    assert set(objects) == {"green"}
    assert objects["green"]["metadata"]["resourceVersion"] == "13"
    assert cluster.calls == [("list",), ("watch", "10", 60)]


def test_a_stream_that_ends_is_resumed_from_the_last_resource_version(clock):
    cluster = ScriptedCluster(
        [([smp("green", 5)], "10")],
        [([("MODIFIED", smp("green", 11))], 10), ([("MODIFIED", smp("green", 12, True))], 0)],
        clock)
    done = wait_for(cluster, SERVICE_MESH_PEER, NS, all_connected, 100, clock=clock)[1]
    assert done is True
    # the second watch starts where the first stopped, bounded by the time that is left
    assert cluster.calls == [("list",), ("watch", "10", 100), ("watch", "11", 90)]


def test_expired_resource_version_relists(clock):
    gone = ClusterError("'fake'", "too old resource version (410)", status=410)
    cluster = ScriptedCluster(
        [([smp("green", 5)], "10"), ([smp("green", 40, True)], "41")],
        [gone],
        clock)
    objects, done = wait_for(cluster, SERVICE_MESH_PEER, NS, all_connected, 60, clock=clock)
    assert done is True
    assert cluster.calls == [("list",), ("watch", "10", 60), ("list",)]
    assert objects["green"]["metadata"]["resourceVersion"] == "40"


def test_deadline_ends_the_wait_without_sleeping(clock):
    cluster = ScriptedCluster([([smp("green", 5)], "10")], [([], 30.5)], clock)
    objects, done = wait_for(cluster, SERVICE_MESH_PEER, NS, all_connected, 30.5, clock=clock)
    assert done is False
    assert objects["green"]["status"]["connected"] is False
    # one watch bounded by the whole remaining time (rounded up), then the deadline has passed
    assert cluster.calls == [("list",), ("watch", "10", 31)]


def test_other_watch_errors_propagate(clock):
    denied = ClusterError("'fake'", "forbidden (403)", status=403)
    cluster = ScriptedCluster([([smp("green", 5)], "10")], [denied], clock)
    with pytest.raises(ClusterError, match="forbidden"):
        wait_for(cluster, SERVICE_MESH_PEER, NS, all_connected, 60, clock=clock)


# -- several kinds: waited for in turn, one watch per kind ----------------------------------------
ISS = ("federation.maistra.io/v1", "ImportedServiceSet")


def iss(name, rv, imported=False):
    return {"metadata": {"name": name, "resourceVersion": str(rv)},
            "status": {"connected": imported}}


def test_several_kinds_already_done_need_one_list_each(clock):
    cluster = KindScriptedCluster({"ServiceMeshPeer": [([smp("green", 5, True)], "10")],
                                   "ImportedServiceSet": [([iss("green", 6, True)], "11")]},
                                  {}, clock)
    seen, done = wait_for_all(cluster, NS, {SERVICE_MESH_PEER: all_connected,
                                            ISS: all_connected}, 60, clock=clock)
    assert done is True
    assert set(seen[ISS]) == {"green"}
    assert cluster.calls == [("list", "ServiceMeshPeer"), ("list", "ImportedServiceSet")]


def test_a_kind_done_before_another_needed_a_watch_is_listed_again(clock):
    cluster = KindScriptedCluster(
        {"ServiceMeshPeer": [([smp("green", 5, True)], "10"), ([smp("green", 30, True)], "31")],
         "ImportedServiceSet": [([iss("green", 6)], "11")]},
        {"ImportedServiceSet": [([("MODIFIED", iss("green", 20, True))], 0)]}, clock)
    seen, done = wait_for_all(cluster, NS, {SERVICE_MESH_PEER: all_connected,
                                            ISS: all_connected}, 60, clock=clock)
    assert done is True
    assert cluster.calls == [("list", "ServiceMeshPeer"), ("list", "ImportedServiceSet"),
                             ("watch", "ImportedServiceSet", "11", 60),
                             ("list", "ServiceMeshPeer")]
    assert seen[SERVICE_MESH_PEER]["green"]["metadata"]["resourceVersion"] == "30"


def test_a_kind_that_regressed_meanwhile_is_watched_again(clock):
    cluster = KindScriptedCluster(
        {"ServiceMeshPeer": [([smp("green", 5, True)], "10"), ([smp("green", 30)], "31")],
         "ImportedServiceSet": [([iss("green", 6)], "11"), ([iss("green", 40, True)], "41")]},
        {"ImportedServiceSet": [([("MODIFIED", iss("green", 20, True))], 5)],
         "ServiceMeshPeer": [([("MODIFIED", smp("green", 35, True))], 5)]}, clock)
    done = wait_for_all(cluster, NS, {SERVICE_MESH_PEER: all_connected,
                                      ISS: all_connected}, 60, clock=clock)[1]
    assert done is True
    assert [c[:2] for c in cluster.calls] == [
        ("list", "ServiceMeshPeer"), ("list", "ImportedServiceSet"),
        ("watch", "ImportedServiceSet"), ("list", "ServiceMeshPeer"),
        ("watch", "ServiceMeshPeer"), ("list", "ImportedServiceSet")]


def test_timeout_on_one_kind_relists_the_others_for_a_current_answer(clock):
    cluster = KindScriptedCluster(
        {"ServiceMeshPeer": [([smp("green", 5, True)], "10"), ([smp("green", 30)], "31")],
         "ImportedServiceSet": [([iss("green", 6)], "11")]},
        {"ImportedServiceSet": [([], 60)]}, clock)
    seen, done = wait_for_all(cluster, NS, {SERVICE_MESH_PEER: all_connected,
                                            ISS: all_connected}, 60, clock=clock)
    assert done is False
    assert cluster.calls[-1] == ("list", "ServiceMeshPeer")
    assert seen[SERVICE_MESH_PEER]["green"]["status"]["connected"] is False
