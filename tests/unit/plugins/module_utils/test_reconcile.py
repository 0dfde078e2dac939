"""The reconcile engine (module_utils/service/reconcile.py) with the four federation kinds
(module_utils/service/peers.py KINDS) against an in-memory cluster: CA ConfigMaps, ServiceMeshPeers,
ExportedServiceSets and ImportedServiceSets in one pass, with the same guarantees for each."""

import copy

import pytest
from fake_cluster import FakeCluster
from test_peers import LABEL, NS, actions, peer_facts, red_links

from ansible_collections.servicemesh.federation.plugins.module_utils.logic.errors import (
    ClusterError,
    TaskError,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.plan import build_plan
from ansible_collections.servicemesh.federation.plugins.module_utils.service.peers import (
    KINDS,
    converge,
    desired_from_params,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.service.reconcile import (
    Kind,
    ensure_present,
)

RATINGS = {"type": "NameSelector",
           "nameSelector": {"namespace": "red-apps", "name": "ratings"}}
REVIEWS = {"type": "NameSelector",
           "nameSelector": {"namespace": "red-apps", "name": "reviews",
                            "alias": {"namespace": "shared", "name": "reviews"}}}
IMPORT = {"type": "NameSelector", "importAsLocal": False,
          "nameSelector": {"namespace": "shared", "name": "ratings"}}


def links(exports=None, imports=None):
    """red's links; green gets the given rules (default: two exports, one import)."""
    result = copy.deepcopy(red_links())
    for link in result:
        if link["peer"] == "green":
            link["export_rules"] = [RATINGS, REVIEWS] if exports is None else exports
            link["import_rules"] = [IMPORT] if imports is None else imports
    return result


def run(cluster, check_mode=False, **overrides):
    p = {"namespace": NS, "state": "present", "links": links(), "peer_facts": peer_facts(),
         "take_over": False, "peers": None}
    p.update(overrides)
    return converge(cluster, p, check_mode, desired_from_params(p))


def ess(cluster, name="green"):
    return cluster.object("ExportedServiceSet", NS, name)


def foreign_ess(rules):
    return {"apiVersion": "federation.maistra.io/v1", "kind": "ExportedServiceSet",
            "metadata": {"name": "green", "namespace": NS}, "spec": {"exportRules": rules}}


def test_first_run_creates_all_four_kinds_in_order(cluster):
    result = run(cluster)
    assert cluster.writes_sent() == [
        ("create", "ConfigMap", "blue-ca-root-cert"), ("create", "ConfigMap", "green-ca-root-cert"),
        ("create", "ServiceMeshPeer", "blue"), ("create", "ServiceMeshPeer", "green"),
        ("create", "ExportedServiceSet", "green"), ("create", "ImportedServiceSet", "green")]
    assert result["writes"] == 6 and result["changed"] is True
    assert ess(cluster)["metadata"]["labels"] == LABEL
    assert ess(cluster)["spec"] == {"exportRules": [RATINGS, REVIEWS]}
    assert cluster.object("ImportedServiceSet", NS, "green")["spec"] == {"importRules": [IMPORT]}
    # a direction without rules has no set
    assert cluster.object("ExportedServiceSet", NS, "blue") is None
    assert cluster.object("ImportedServiceSet", NS, "blue") is None


def test_rerun_sends_no_write(cluster):
    run(cluster)
    cluster.requests.clear()
    result = run(cluster)
    assert result["writes"] == 0 and result["changed"] is False and result["diff"] == []
    assert cluster.writes_sent() == []
    assert [r[0] for r in cluster.requests] == ["list"] * 4  # no get: everything is ours


def test_check_mode_writes_nothing_and_predicts_the_real_run(cluster):
    predicted = run(cluster, check_mode=True)
    assert cluster.writes_sent() == [] and cluster.store == {}
    real = run(cluster)
    assert predicted["writes"] == 0
    assert actions(predicted) == actions(real)
    assert predicted["diff"] == real["diff"]
    assert predicted["diff"][-1]["after_header"] == "ImportedServiceSet red-system/green"


def test_foreign_differing_set_is_refused_and_left_untouched():
    cluster = FakeCluster([foreign_ess([RATINGS])])
    with pytest.raises(TaskError) as failure:
        run(cluster)
    message = str(failure.value)
    assert "cluster 'fake'" in message
    assert "ExportedServiceSet red-system/green" in message
    assert "federation_take_over" in message
    assert cluster.writes_sent() == []
    assert ess(cluster) == dict(foreign_ess([RATINGS]), metadata=ess(cluster)["metadata"])
    assert "labels" not in ess(cluster)["metadata"]


def test_take_over_adopts_a_foreign_set():
    cluster = FakeCluster([foreign_ess([RATINGS])])
    result = run(cluster, take_over=True)
    assert ("ExportedServiceSet", "green", "updated") in actions(result)
    assert ess(cluster)["metadata"]["labels"] == LABEL
    assert ess(cluster)["spec"] == {"exportRules": [RATINGS, REVIEWS]}
    assert run(cluster)["writes"] == 0


def test_identical_foreign_set_is_adopted_without_a_write_and_never_deleted():
    cluster = FakeCluster([foreign_ess([RATINGS, REVIEWS])])
    result = run(cluster)
    assert ("ExportedServiceSet", "green", "unchanged") in actions(result)
    assert ("create", "ExportedServiceSet", "green") not in cluster.writes_sent()
    assert ("patch", "ExportedServiceSet", "green") not in cluster.writes_sent()
    # the plan drops green's exports: the set is not ours, so it stays
    result = run(cluster, links=links(exports=[]))
    assert ("ExportedServiceSet", "green") not in [(o["kind"], o["name"])
                                                   for o in result["objects"]]
    assert ess(cluster) is not None


def test_a_rule_removed_from_the_plan_is_removed_from_the_set(cluster):
    run(cluster)
    cluster.requests.clear()
    result = run(cluster, links=links(exports=[REVIEWS]))
    assert cluster.writes_sent() == [("patch", "ExportedServiceSet", "green")]
    assert ess(cluster)["spec"] == {"exportRules": [REVIEWS]}  # the list is replaced whole
    (diff,) = result["diff"]
    assert diff["before"]["spec"]["exportRules"] == [RATINGS, REVIEWS]
    assert diff["after"]["spec"]["exportRules"] == [REVIEWS]
    assert result["reconfigured"] == {}  # a set change does not reconfigure the peer


def test_spec_keys_the_plan_does_not_give_are_removed_from_our_sets(cluster):
    run(cluster)
    iss = cluster.object("ImportedServiceSet", NS, "green")
    iss["spec"]["domainSuffix"] = "svc.elsewhere.local"  # would move every imported host
    result = run(cluster)
    assert actions(result)[-1] == ("ImportedServiceSet", "green", "updated")
    assert cluster.object("ImportedServiceSet", NS, "green")["spec"] == {"importRules": [IMPORT]}
    assert run(cluster)["writes"] == 0


def test_a_set_whose_last_rule_is_removed_is_deleted(cluster):
    run(cluster)
    cluster.requests.clear()
    result = run(cluster, links=links(exports=[], imports=[]))
    assert cluster.writes_sent() == [("delete", "ImportedServiceSet", "green"),
                                     ("delete", "ExportedServiceSet", "green")]
    assert actions(result)[-2:] == [("ImportedServiceSet", "green", "deleted"),
                                    ("ExportedServiceSet", "green", "deleted")]
    assert result["diff"][0]["after_header"] == "ImportedServiceSet red-system/green (deleted)"
    assert ess(cluster) is None
    assert cluster.object("ServiceMeshPeer", NS, "green") is not None


def test_the_sets_of_a_link_gone_from_the_plan_are_deleted_but_not_its_peer(cluster):
    run(cluster)
    only_blue = [link for link in links() if link["peer"] == "blue"]
    result = run(cluster, links=only_blue)
    assert cluster.writes_sent()[-2:] == [("delete", "ImportedServiceSet", "green"),
                                          ("delete", "ExportedServiceSet", "green")]
    assert result["writes"] == 2  # present never deletes peers or CA ConfigMaps
    assert cluster.object("ServiceMeshPeer", NS, "green") is not None


def test_the_sets_of_a_peer_outside_the_run_stay(cluster):
    run(cluster)
    only_blue = [link for link in links() if link["peer"] == "blue"]
    # `--limit red,blue`: green is not a mesh of this run, so its sets are not this run's.
    result = run(cluster, links=only_blue, prune_peers=["red", "blue"])
    assert result["writes"] == 0 and not result["changed"]
    assert ess(cluster) is not None


def test_pruning_in_check_mode_writes_nothing(cluster):
    run(cluster)
    result = run(cluster, check_mode=True, links=links(exports=[]))
    assert actions(result)[-1] == ("ExportedServiceSet", "green", "deleted")
    assert result["writes"] == 0 and ess(cluster) is not None


def test_absent_removes_the_sets_first(cluster):
    run(cluster)
    result = run(cluster, state="absent")
    assert [w[1] for w in cluster.writes_sent()[-6:]] == [
        "ImportedServiceSet", "ExportedServiceSet", "ServiceMeshPeer", "ServiceMeshPeer",
        "ConfigMap", "ConfigMap"]
    assert result["changed"] is True and cluster.store == {}


def test_absent_for_a_peer_removes_only_its_sets(cluster):
    blue_too = links()
    blue_too[0]["export_rules"] = [RATINGS]  # blue
    run(cluster, links=blue_too)
    result = run(cluster, state="absent", peers=["blue"])
    assert actions(result) == [("ExportedServiceSet", "blue", "deleted"),
                               ("ServiceMeshPeer", "blue", "deleted"),
                               ("ConfigMap", "blue-ca-root-cert", "deleted")]
    assert ess(cluster, "green") is not None
    assert cluster.object("ImportedServiceSet", NS, "green") is not None


def test_bad_rules_fail_before_any_request():
    bad = links(exports=[{"nameSelector": {"name": "ratings"}}])
    with pytest.raises(TaskError, match="link to peer 'green'.*export_rules must be a list"):
        desired_from_params({"namespace": NS, "state": "present", "links": bad,
                             "peer_facts": peer_facts()})


# The engine on its own, with a made-up kind: projection vs whole ownership.

WIDGET = Kind("ConfigMap", ("v1", "ConfigMap"), "data")


def widget(data, managed=True):
    meta = {"name": "w", "namespace": NS}
    if managed:
        meta["labels"] = dict(LABEL)
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}


@pytest.mark.parametrize("kind, kept", [(WIDGET, True),
                                        (Kind("ConfigMap", ("v1", "ConfigMap"), "data",
                                              whole=True), False)])
def test_keys_we_do_not_set_are_kept_unless_the_kind_is_owned_whole(kind, kept):
    cluster = FakeCluster([widget({"a": "1", "other": "x"})])
    result = ensure_present(cluster, NS, (kind,), [widget({"a": "2"})], False, False)
    assert result["writes"] == 1
    data = cluster.object("ConfigMap", NS, "w")["data"]
    assert data == ({"a": "2", "other": "x"} if kept else {"a": "2"})
    again = ensure_present(cluster, NS, (kind,), [widget({"a": "2"})], False, False)
    assert again["writes"] == 0


def test_only_pruned_kinds_lose_undesired_objects():
    cluster = FakeCluster([widget({"a": "1"})])
    kept = ensure_present(cluster, NS, (WIDGET,), [], False, False)
    assert kept["objects"] == [] and cluster.object("ConfigMap", NS, "w") is not None
    pruning = Kind("ConfigMap", ("v1", "ConfigMap"), "data", prune=True)
    gone = ensure_present(cluster, NS, (pruning,), [], False, False)
    assert gone["objects"] == [{"kind": "ConfigMap", "name": "w", "action": "deleted"}]
    assert cluster.object("ConfigMap", NS, "w") is None


def test_pruning_never_deletes_foreign_objects():
    cluster = FakeCluster([widget({"a": "1"}, managed=False)])
    pruning = Kind("ConfigMap", ("v1", "ConfigMap"), "data", prune=True)
    result = ensure_present(cluster, NS, (pruning,), [], False, False)
    assert result["writes"] == 0 and cluster.object("ConfigMap", NS, "w") is not None


def test_kinds_feed_what_the_federation_kinds_say():
    assert [k.kind for k in KINDS] == ["ConfigMap", "ServiceMeshPeer", "ExportedServiceSet",
                                       "ImportedServiceSet"]
    assert [k.kind for k in KINDS if k.prune] == ["ExportedServiceSet", "ImportedServiceSet"]
    assert [k.kind for k in KINDS if k.has_status] == ["ServiceMeshPeer"]


class ParallelCluster(FakeCluster):
    """A cluster whose client takes several writes at once, as the real one does."""

    parallel_writes = 4


def many_links():
    conn = {"host": "https://127.0.0.1:6443", "api_key": "x"}
    names = ("red", "green", "blue", "amber", "violet", "teal")
    plan = build_plan({name: {"mesh_cluster": conn} for name in names}, None)
    return plan["meshes"]["red"]["links"]


def many_facts(links):
    facts = peer_facts()
    return {link["peer"]: facts["green"] for link in links}


def test_side_by_side_writes_keep_the_kinds_in_order_and_write_each_object_once():
    cluster = ParallelCluster()
    links = many_links()
    result = run(cluster, links=links, peer_facts=many_facts(links))
    kinds = [kind for _verb, kind, _name in cluster.writes_sent()]
    assert kinds == ["ConfigMap"] * 5 + ["ServiceMeshPeer"] * 5
    assert result["writes"] == cluster.writes == 10
    # The result lists the objects in the plan's order, whichever write finished first.
    assert [o["name"] for o in result["objects"] if o["kind"] == "ServiceMeshPeer"] == \
        sorted(link["peer"] for link in links)


def test_a_failed_write_stops_after_its_kind_and_a_rerun_completes():
    cluster = ParallelCluster()
    links = many_links()
    cluster.fail_on[("create", "ConfigMap", "blue-ca-root-cert")] = ClusterError(
        cluster.name, "the server is on fire (500)", "create", "ConfigMap", NS,
        "blue-ca-root-cert", status=500)
    with pytest.raises(ClusterError) as failure:
        run(cluster, links=links, peer_facts=many_facts(links))
    done = failure.value.result
    assert done["writes"] == 4  # the four other ConfigMaps went through
    assert sorted(o["name"] for o in done["objects"]) == sorted(
        f"{link['peer']}-ca-root-cert" for link in links if link["peer"] != "blue")
    assert not any(kind == "ServiceMeshPeer" for _verb, kind, _name in cluster.writes_sent())
    del cluster.fail_on[("create", "ConfigMap", "blue-ca-root-cert")]
    again = run(cluster, links=links, peer_facts=many_facts(links))
    assert [o["name"] for o in again["objects"] if o["action"] == "created"] == [
        "blue-ca-root-cert", *sorted(link["peer"] for link in links)]


def test_foreign_objects_among_many_new_names_are_found_by_one_list_and_refused():
    foreign_peer = {"apiVersion": "federation.maistra.io/v1", "kind": "ServiceMeshPeer",
                    "metadata": {"name": "green", "namespace": NS},
                    "spec": {"remote": {"addresses": ["192.0.2.1"]}}}
    cluster = FakeCluster([foreign_peer])
    with pytest.raises(TaskError) as failure:
        run(cluster)
    assert "ServiceMeshPeer red-system/green" in str(failure.value)
    assert cluster.writes_sent() == []
    # two new peers: one unfiltered list of each kind with two new names, not a read per name
    assert not [r for r in cluster.requests if r[0] == "get" and r[1] == "ServiceMeshPeer"]
    assert cluster.requests.count(("list", "ServiceMeshPeer", "")) == 2  # ours, then all
