"""The per-peer gateway entries on a mesh's ServiceMeshControlPlane (service/gateways.py):
what is desired, what is decided before writing (add, keep, adopt, refuse, take over, remove),
the one server-side apply per mesh, and the wait for the gateway Services by watch.

The fake cluster applies with the server-side apply rules the module relies on (conflicts,
co-ownership, removal of fields only we owned), so these tests assert on the SMCP that results.
"""

import copy

import pytest
from fake_cluster import FakeCluster, ScriptedCluster, field_paths, fields_v1

from ansible_collections.servicemesh.federation.plugins.module_utils.logic.errors import (
    TaskError,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.gateway_entries import (
    desired_entries,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.managed_fields import (
    owners,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.service.gateways import (
    converge,
    desired_from_params,
    wait_for_gateways,
)

NS = "red-system"


def link(peer, **over):
    return {"mesh": "red", "namespace": NS, "peer": peer, "ingress_gateway": f"ingress-{peer}",
            "egress_gateway": f"egress-{peer}", "network": f"network-{peer}",
            "ingress_service": {"type": "LoadBalancer"}, **over}


def ingress(name, **service):
    return {"enabled": True, "service": {
        "type": "LoadBalancer",
        "metadata": {"labels": {"federation.maistra.io/ingress-for": name}},
        "ports": [{"port": 15443, "name": "tls"}, {"port": 8188, "name": "https-discovery"}],
        **service}}


def egress(name, network):
    return {"enabled": True, "requestedNetworkView": [network], "service": {
        "metadata": {"labels": {"federation.maistra.io/egress-for": name}},
        "ports": [{"port": 15443, "name": "tls"}, {"port": 8188, "name": "http-discovery"}]}}


def smcp(gateways=None, managers=()):
    """An SMCP; `managers`: (manager, operation, gateways subtree it owns)."""
    obj = {"apiVersion": "maistra.io/v2", "kind": "ServiceMeshControlPlane",
           "metadata": {"name": "basic", "namespace": NS},
           "spec": {"version": "v2.5", "gateways": copy.deepcopy(gateways or {})}}
    obj["metadata"]["managedFields"] = [
        {"manager": manager, "operation": operation, "apiVersion": "maistra.io/v2",
         "fieldsType": "FieldsV1",
         "fieldsV1": fields_v1(field_paths({"spec": {"gateways": owned}}))}
        for manager, operation, owned in managers]
    return obj


def run(cluster, links=(), check_mode=False, **params):
    params = {"namespace": NS, "links": list(links), "state": "present", "take_over": False,
              "wait": False, "timeout": 300, **params}
    return converge(cluster, params, check_mode, desired_from_params(params))


def spec_gateways(cluster):
    return cluster.object("ServiceMeshControlPlane", NS, "basic")["spec"]["gateways"]


def applies(cluster):
    return [r for r in cluster.requests if r[0] == "apply"]


GREEN = {"additionalIngress": {"ingress-green": ingress("ingress-green")},
         "additionalEgress": {"egress-green": egress("egress-green", "network-green")}}


# --- desired entries -------------------------------------------------------------------------

def test_entries_are_the_documented_form_without_router_mode():
    desired = desired_entries([link("green")])
    assert desired == {("ingress", "ingress-green"): ingress("ingress-green"),
                       ("egress", "egress-green"): egress("egress-green", "network-green")}


def test_ingress_service_override_nodeport_and_annotations():
    nlb = {"service.beta.kubernetes.io/aws-load-balancer-type": "nlb"}
    entry = desired_entries([link("green", ingress_service={
        "type": "NodePort", "annotations": nlb,
        "node_ports": {"discovery": 30188, "service": 30443}})])[("ingress", "ingress-green")]
    assert entry["service"]["type"] == "NodePort"
    assert entry["service"]["metadata"]["annotations"] == nlb
    assert entry["service"]["ports"] == [{"port": 15443, "name": "tls", "nodePort": 30443},
                                         {"port": 8188, "name": "https-discovery",
                                          "nodePort": 30188}]


def test_defaults_when_the_link_has_no_gateway_fields():
    desired = desired_entries([{"peer": "green"}])
    assert set(desired) == {("ingress", "ingress-green"), ("egress", "egress-green")}
    assert desired[("egress", "egress-green")]["requestedNetworkView"] == ["network-green"]


def test_bad_links_are_all_reported_before_any_request():
    with pytest.raises(TaskError) as failure:
        desired_entries([link("green", ingress_gateway="istio-ingressgateway"),
                         link("blue", egress_gateway="ingress-green",
                              ingress_service={"type": "ClusterIP"})])
    message = str(failure.value)
    assert "'istio-ingressgateway' is reserved" in message
    assert "'ClusterIP' is not one of LoadBalancer, NodePort" in message
    assert "unique across ingress and egress" not in message  # the reserved one was not taken
    with pytest.raises(TaskError, match="'ingress-x' is used for both peer 'a' and peer 'b'"):
        desired_entries([link("a", ingress_gateway="ingress-x"),
                         link("b", egress_gateway="ingress-x")])


# --- the control plane -----------------------------------------------------------------------

def test_no_control_plane_or_several_is_an_error_naming_cluster_and_namespace():
    with pytest.raises(TaskError, match=f"cluster 'fake'.*namespace {NS}: no ServiceMesh"):
        run(FakeCluster([]), [link("green")])
    other = smcp()
    other["metadata"]["name"] = "other"
    with pytest.raises(TaskError, match="2 ServiceMeshControlPlanes \\(basic, other\\)"):
        run(FakeCluster([smcp(), other]), [link("green")])


# --- deciding and applying -------------------------------------------------------------------

def test_first_run_adds_every_entry_in_one_apply_and_a_rerun_writes_nothing():
    cluster = FakeCluster([smcp()])
    result = run(cluster, [link("green"), link("blue")])
    assert result["changed"] is True and result["writes"] == 1
    assert {(e["kind"], e["name"], e["action"]) for e in result["entries"]} == {
        ("ingress", "ingress-green", "added"), ("egress", "egress-green", "added"),
        ("ingress", "ingress-blue", "added"), ("egress", "egress-blue", "added")}
    ((_verb, _kind, _name, config, force),) = applies(cluster)
    assert force is False
    assert config["apiVersion"] == "maistra.io/v2" and config["kind"] == "ServiceMeshControlPlane"
    assert config["metadata"]["name"] == "basic" and config["metadata"]["namespace"] == NS
    assert config["spec"] == {"gateways": {
        "additionalIngress": {"ingress-green": ingress("ingress-green"),
                              "ingress-blue": ingress("ingress-blue")},
        "additionalEgress": {"egress-green": egress("egress-green", "network-green"),
                             "egress-blue": egress("egress-blue", "network-blue")}}}
    assert spec_gateways(cluster)["additionalIngress"]["ingress-blue"] == ingress("ingress-blue")

    again = run(cluster, [link("green"), link("blue")])
    assert again["changed"] is False and again["writes"] == 0
    assert {e["action"] for e in again["entries"]} == {"unchanged"}
    assert len(applies(cluster)) == 1


def test_our_entry_is_updated_and_a_field_we_no_longer_want_is_removed():
    nlb = {"service.beta.kubernetes.io/aws-load-balancer-type": "nlb"}
    cluster = FakeCluster([smcp()])
    run(cluster, [link("green", ingress_service={"type": "LoadBalancer", "annotations": nlb})])
    assert spec_gateways(cluster)["additionalIngress"]["ingress-green"]["service"][
        "metadata"]["annotations"] == nlb
    result = run(cluster, [link("green")])
    assert result["writes"] == 1
    assert {e["name"]: e["action"] for e in result["entries"]} == {
        "ingress-green": "updated", "egress-green": "unchanged"}
    assert spec_gateways(cluster)["additionalIngress"]["ingress-green"] == ingress(
        "ingress-green")
    assert run(cluster, [link("green")])["writes"] == 0


def test_identical_foreign_entries_are_adopted_without_a_write():
    cluster = FakeCluster([smcp(GREEN, [("kubectl-edit", "Update", GREEN)])])
    result = run(cluster, [link("green")])
    assert result["changed"] is False and result["writes"] == 0
    assert {e["action"] for e in result["entries"]} == {"adopted"}
    assert applies(cluster) == []


def test_adopted_entries_are_in_the_apply_when_something_else_changes():
    cluster = FakeCluster([smcp(GREEN, [("kubectl-edit", "Update", GREEN)])])
    result = run(cluster, [link("green"), link("blue")])
    assert result["writes"] == 1
    assert {e["name"]: e["action"] for e in result["entries"]} == {
        "ingress-green": "adopted", "egress-green": "adopted",
        "ingress-blue": "added", "egress-blue": "added"}
    ((*_request, config, force),) = applies(cluster)
    assert force is False  # equal values: co-owned, no conflict
    assert config["spec"]["gateways"]["additionalIngress"]["ingress-green"] == ingress(
        "ingress-green")
    assert {e["action"] for e in run(cluster, [link("green"), link("blue")])["entries"]} == {
        "unchanged"}


def test_a_different_foreign_entry_is_refused_naming_mesh_entry_and_difference():
    theirs = {"additionalIngress": {"ingress-green": ingress("ingress-green", type="NodePort")}}
    cluster = FakeCluster([smcp(theirs, [("gitops", "Apply", theirs)])])
    before = copy.deepcopy(cluster.object("ServiceMeshControlPlane", NS, "basic"))
    with pytest.raises(TaskError) as failure:
        run(cluster, [link("green")])
    message = str(failure.value)
    assert f"cluster 'fake' (https://127.0.0.1:6443), mesh namespace {NS}" in message
    assert "ServiceMeshControlPlane basic" in message
    assert "additionalIngress.ingress-green differs from the plan" in message
    assert "owners: gitops" in message
    assert 'additionalIngress.ingress-green.service.type: "NodePort" -> "LoadBalancer"' in message
    assert "take_over" in message
    assert failure.value.result["writes"] == 0
    assert applies(cluster) == []
    assert cluster.object("ServiceMeshControlPlane", NS, "basic") == before


def test_take_over_forces_the_apply_and_makes_the_fields_ours():
    theirs = {"additionalIngress": {"ingress-green": ingress("ingress-green", type="NodePort")}}
    cluster = FakeCluster([smcp(theirs, [("gitops", "Apply", theirs)])])
    result = run(cluster, [link("green")], take_over=True)
    assert result["writes"] == 1
    assert {e["name"]: e["action"] for e in result["entries"]} == {
        "ingress-green": "updated", "egress-green": "added"}
    ((*_request, force),) = applies(cluster)
    assert force is True
    assert spec_gateways(cluster)["additionalIngress"]["ingress-green"] == ingress(
        "ingress-green")
    assert run(cluster, [link("green")])["writes"] == 0


def test_our_entry_changed_by_someone_else_is_refused_unless_take_over():
    cluster = FakeCluster([smcp()])
    run(cluster, [link("green")])
    # `kubectl edit` takes the type: the API server moves its ownership to kubectl-edit
    obj = cluster.object("ServiceMeshControlPlane", NS, "basic")
    obj["spec"]["gateways"]["additionalIngress"]["ingress-green"]["service"]["type"] = "NodePort"
    for managed in obj["metadata"]["managedFields"]:
        managed["fieldsV1"]["f:spec"]["f:gateways"]["f:additionalIngress"]["f:ingress-green"][
            "f:service"].pop("f:type")
    obj["metadata"]["managedFields"].append(
        {"manager": "kubectl-edit", "operation": "Update", "fieldsV1": fields_v1(field_paths(
            {"spec": {"gateways": {"additionalIngress": {"ingress-green": {
                "service": {"type": "NodePort"}}}}}}))})
    with pytest.raises(TaskError, match="ingress-green differs from the plan and is owned by "
                                        "kubectl-edit"):
        run(cluster, [link("green")])
    assert run(cluster, [link("green")], take_over=True)["writes"] == 1
    assert spec_gateways(cluster)["additionalIngress"]["ingress-green"]["service"][
        "type"] == "LoadBalancer"


def test_entry_name_used_by_the_other_kind_is_refused():
    theirs = {"additionalEgress": {"ingress-green": egress("ingress-green", "network-green")}}
    cluster = FakeCluster([smcp(theirs, [("gitops", "Apply", theirs)])])
    with pytest.raises(TaskError, match="additionalEgress.ingress-green already exists"):
        run(cluster, [link("green")], take_over=True)
    assert applies(cluster) == []


def test_a_peer_dropped_from_the_links_loses_its_entries():
    cluster = FakeCluster([smcp()])
    run(cluster, [link("green"), link("blue")])
    result = run(cluster, [link("green")])
    assert result["writes"] == 1
    assert {e["name"]: e["action"] for e in result["entries"]} == {
        "ingress-green": "unchanged", "egress-green": "unchanged",
        "ingress-blue": "removed", "egress-blue": "removed"}
    assert spec_gateways(cluster) == GREEN


def test_check_mode_writes_nothing_and_shows_the_diff():
    cluster = FakeCluster([smcp()])
    result = run(cluster, [link("green")], check_mode=True)
    assert result["changed"] is True and result["writes"] == 0
    assert applies(cluster) == []
    assert spec_gateways(cluster) == {}
    ((diff,),) = [result["diff"]]
    assert diff["before"] == {"additionalIngress": {"ingress-green": None},
                              "additionalEgress": {"egress-green": None}}
    assert diff["after"] == GREEN
    assert diff["after_header"] == f"ServiceMeshControlPlane {NS}/basic spec.gateways"


# --- removal ---------------------------------------------------------------------------------

FOREIGN = {"additionalIngress": {"ingress-legacy": ingress("ingress-legacy")}}


def test_absent_removes_only_our_entries():
    cluster = FakeCluster([smcp(FOREIGN, [("gitops", "Apply", FOREIGN)])])
    run(cluster, [link("green"), link("blue")])
    result = run(cluster, state="absent")
    assert result["writes"] == 1
    assert sorted((e["name"], e["action"]) for e in result["entries"]) == [
        ("egress-blue", "removed"), ("egress-green", "removed"),
        ("ingress-blue", "removed"), ("ingress-green", "removed")]
    # Deleted by a guarded merge patch, not an apply without them: the API server would turn
    # the emptied additionalEgress map into null, which the schema refuses. A merge patch
    # leaves it empty, as here.
    assert spec_gateways(cluster) == {**FOREIGN, "additionalEgress": {}}
    assert len(applies(cluster)) == 1  # only the first run's
    assert run(cluster, state="absent")["writes"] == 0


def test_absent_for_some_peers_keeps_our_other_entries_as_they_are():
    cluster = FakeCluster([smcp()])
    nlb = {"service.beta.kubernetes.io/aws-load-balancer-type": "nlb"}
    run(cluster, [link("green", ingress_service={"annotations": nlb}), link("blue")])
    kept = copy.deepcopy(spec_gateways(cluster)["additionalIngress"]["ingress-green"])
    result = run(cluster, state="absent", peers=["blue"])
    assert {e["name"]: e["action"] for e in result["entries"]} == {
        "ingress-blue": "removed", "egress-blue": "removed"}
    gateways = spec_gateways(cluster)
    assert gateways["additionalIngress"] == {"ingress-green": kept}
    assert set(gateways["additionalEgress"]) == {"egress-green"}
    # still ours: a later run with the plan finds nothing to do
    assert run(cluster, [link("green", ingress_service={"annotations": nlb})])["writes"] == 0


def test_absent_releases_a_co_owned_entry_and_says_so():
    cluster = FakeCluster([smcp(GREEN, [("kubectl-edit", "Update", GREEN)])])
    run(cluster, [link("green"), link("blue")])  # adopts green: co-owned from now on
    result = run(cluster, state="absent", peers=["green"])
    actions = {e["name"]: e for e in result["entries"]}
    assert actions["ingress-green"]["action"] == "released"
    assert actions["ingress-green"]["owners"] == ["kubectl-edit"]
    assert spec_gateways(cluster)["additionalIngress"]["ingress-green"] == ingress(
        "ingress-green")
    # no longer ours: not touched again
    assert run(cluster, state="absent", peers=["green"])["writes"] == 0


# --- waiting for the gateway Services --------------------------------------------------------

def service(name, rv, lb_ip=None, kind="LoadBalancer", node_ports=None):
    ports = [{"port": 15443, "name": "tls"}, {"port": 8188, "name": "https-discovery"}]
    if node_ports:
        ports = [dict(p, nodePort=n) for p, n in zip(ports, node_ports, strict=True)]
    svc = {"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": name, "namespace": NS, "resourceVersion": str(rv)},
           "spec": {"type": kind, "ports": ports}, "status": {}}
    if lb_ip:
        svc["status"] = {"loadBalancer": {"ingress": [{"ip": lb_ip}]}}
    return svc


def test_wait_watches_until_every_service_exists_and_the_ingress_has_an_address(clock):
    cluster = ScriptedCluster(
        [([], "10")],
        [([("ADDED", service("egress-green", 11)), ("ADDED", service("ingress-green", 12))], 5),
         ([("MODIFIED", service("ingress-green", 13, lb_ip="203.0.113.7"))], 0)],
        clock)
    ingress_of = wait_for_gateways(cluster, NS, desired_entries([link("green")]), 60,
                                   clock=clock)
    assert ingress_of == {"ingress-green": {"addresses": ["203.0.113.7"], "discovery_port": 8188,
                                            "service_port": 15443, "source": "loadbalancer"}}
    assert cluster.calls == [("list",), ("watch", "10", 60), ("watch", "12", 55)]


def test_wait_timeout_names_what_is_missing_and_the_likely_cause(clock):
    cluster = ScriptedCluster([([service("ingress-green", 11)], "12")], [([], 60)], clock)
    with pytest.raises(TaskError) as failure:
        wait_for_gateways(cluster, NS, desired_entries([link("green")]), 60, clock=clock)
    message = str(failure.value)
    assert "not ready after 60s" in message
    assert "no Service yet for egress-green (is the operator reconciling" in message
    assert "no address yet for ingress ingress-green (no load balancer" in message
    assert "NodePort" in message


def test_nodeport_ingress_gets_the_node_addresses():
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"},
            "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.5"}]}}
    cluster = FakeCluster([node, service("egress-green", 3),
                           service("ingress-green", 4, kind="NodePort",
                                   node_ports=[30443, 30188])])
    desired = desired_entries([link("green", ingress_service={"type": "NodePort"})])
    assert wait_for_gateways(cluster, NS, desired, 60) == {"ingress-green": {
        "addresses": ["10.0.0.5"], "discovery_port": 30188, "service_port": 30443,
        "source": "nodeport"}}


def test_present_waits_and_returns_the_ingress_addresses():
    cluster = FakeCluster([smcp(), service("egress-green", 3),
                           service("ingress-green", 4, lb_ip="198.51.100.4")])
    result = run(cluster, [link("green")], wait=True)
    assert result["ingress"]["ingress-green"]["addresses"] == ["198.51.100.4"]
    assert result["writes"] == 1


def test_ports_keyed_by_port_and_protocol_in_managed_fields_are_still_ours():
    entry = {"f:enabled": {}, "f:service": {"f:ports": {
        'k:{"port":15443,"protocol":"TCP"}': {".": {}, "f:name": {}, "f:port": {}}}}}
    obj = {"metadata": {"managedFields": [{
        "manager": "servicemesh.federation", "operation": "Apply",
        "fieldsV1": {"f:spec": {"f:gateways": {"f:additionalIngress": {
            "f:ingress-green": entry}}}}}]}}
    assert owners(obj)[("ingress", "ingress-green")]["servicemesh.federation"] == {
        ("enabled",), ("service", "ports", "[port=15443]", "name"),
        ("service", "ports", "[port=15443]", "port")}


def test_entries_of_a_peer_outside_the_run_stay():
    cluster = FakeCluster([smcp()])
    run(cluster, [link("green"), link("blue")])
    # `--limit red,green`: blue is not a mesh of this run; its entries are not this run's.
    result = run(cluster, [link("green")], prune_peers=["red", "green"])
    assert result["writes"] == 0 and not result["changed"]
    assert sorted(spec_gateways(cluster)["additionalIngress"]) == ["ingress-blue", "ingress-green"]
    # Within the run, a link dropped from the plan loses its entries.
    result = run(cluster, [link("green")], prune_peers=["red", "green", "blue"])
    assert sorted((e["name"], e["action"]) for e in result["entries"]
                  if e["action"] != "unchanged") == [("egress-blue", "removed"),
                                                     ("ingress-blue", "removed")]
    assert sorted(spec_gateways(cluster)["additionalIngress"]) == ["ingress-green"]


class ChangedAfterRead(FakeCluster):
    """Runs `change` on itself once, right after the first read of the SMCP: the write that
    follows carries a resourceVersion that is no longer current."""

    def __init__(self, objects, change):
        super().__init__(objects)
        self.change = change

    def list(self, gvk, namespace, label_selector=None, field_selector=None):
        items = super().list(gvk, namespace, label_selector, field_selector)
        if self.change and gvk[1] == "ServiceMeshControlPlane":
            change, self.change = self.change, None
            change(self)
        return items


def test_an_smcp_changed_after_the_read_is_decided_again_on_a_fresh_read():
    def operator_writes_status(cluster):
        current = cluster.object("ServiceMeshControlPlane", NS, "basic")
        cluster.put(dict(current, status={"readiness": {"components": {}}},
                         metadata=dict(current["metadata"], resourceVersion="999")))

    cluster = ChangedAfterRead([smcp()], operator_writes_status)
    result = run(cluster, [link("green")])
    assert result["changed"] is True and result["writes"] == 2  # the refused apply, then ours
    assert [r[0] for r in cluster.requests if r[1] == "ServiceMeshControlPlane"] == [
        "list", "apply", "list", "apply"]
    assert spec_gateways(cluster) == GREEN


def test_entries_another_run_wrote_after_the_read_are_not_written_again():
    def other_run_applies(cluster):
        other = smcp()
        other["spec"]["gateways"] = copy.deepcopy(GREEN)
        cluster.apply(dict(other, metadata={"name": "basic", "namespace": NS}))

    cluster = ChangedAfterRead([smcp()], other_run_applies)
    result = run(cluster, [link("green")])
    assert result["changed"] is False and result["writes"] == 2  # theirs, our refused one
    assert {e["action"] for e in result["entries"]} == {"unchanged"}
    assert spec_gateways(cluster) == GREEN


def test_an_smcp_that_keeps_changing_fails_naming_the_conflict():
    class AlwaysChanging(FakeCluster):
        def list(self, gvk, namespace, label_selector=None, field_selector=None):
            items = super().list(gvk, namespace, label_selector, field_selector)
            current = self.object("ServiceMeshControlPlane", NS, "basic")
            self.put(dict(current, metadata=dict(current["metadata"],
                                                 resourceVersion=str(next(self._rv)))))
            return items

    cluster = AlwaysChanging([smcp()])
    with pytest.raises(Exception, match="has been modified") as caught:
        run(cluster, [link("green")])
    assert caught.value.status == 409
    assert [r[0] for r in cluster.requests].count("apply") == 4  # first try and 3 re-reads
    assert caught.value.result["changed"] is False and caught.value.result["writes"] == 4
