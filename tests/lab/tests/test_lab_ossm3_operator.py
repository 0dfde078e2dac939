"""`lab up --ossm 3`: the real Sail / Istio / Gateway API CRDs, the simulated Sail operator and
istiod's Gateway deployment controller, against the real apiservers (private lab, two meshes on
two clusters; ip block LAB_TEST_OSSM3_IP_BLOCK, default 210)."""

from __future__ import annotations

import json

import pytest
from kubernetes.client.exceptions import ApiException
from ossm3_helpers import OSSM3_BLOCK, Cluster, condition, eastwest_gateway, wait

REVISION = "default-v1-30-latest"


@pytest.fixture(scope="module")
def lab(lab_factory):
    return lab_factory("ossm3", "east-mesh west-mesh", OSSM3_BLOCK, ossm="3")


@pytest.fixture(scope="module")
def east(lab):
    return Cluster(lab, "east-mesh")


def test_state_and_status_show_ossm_3(lab):
    assert lab.state["ossm"] == "3"
    status = json.loads(lab.run("status", "--json").stdout)
    assert status["ossm"] == "3"
    for cluster in status["clusters"].values():
        assert cluster["ossm3_operator"]["alive"] and cluster["ossm3_operator"]["ready"]
    for mesh in status["meshes"].values():
        assert mesh["istio"] == "default" and mesh["ready"] and mesh["pid"] == 0
    assert "ossm       3" in lab.run("status").stdout


def test_no_ossm_2_on_an_ossm_3_lab(east):
    with pytest.raises(ApiException) as e:
        east.ext.read_custom_resource_definition("servicemeshcontrolplanes.maistra.io")
    assert e.value.status == 404
    for name in ("istios.sailoperator.io", "serviceentries.networking.istio.io",
                 "workloadentries.networking.istio.io", "authorizationpolicies.security.istio.io",
                 "gateways.gateway.networking.k8s.io", "gatewayclasses.gateway.networking.k8s.io"):
        east.ext.read_custom_resource_definition(name)


@pytest.mark.parametrize("mesh", ["east-mesh", "west-mesh"])
def test_each_mesh_gets_a_ready_istio_with_its_revision_and_istiod(lab, mesh):
    c = Cluster(lab, mesh)
    istio = c.sail("istios", "default")
    assert istio["spec"]["namespace"] == f"{mesh}-system"
    assert istio["spec"]["updateStrategy"]["type"] == "RevisionBased"
    assert istio["spec"]["values"]["meshConfig"] == {"trustDomain": f"{mesh}.local"}  # nothing else
    status = istio["status"]
    assert status["state"] == "Healthy" and status["activeRevisionName"] == REVISION
    assert {c["type"]: c["status"] for c in status["conditions"]} == {
        "Reconciled": "True", "Ready": "True", "DependenciesHealthy": "True"}
    assert status["revisions"] == {"total": 1, "ready": 1, "inUse": 0}

    rev = c.sail("istiorevisions", REVISION)
    assert rev["spec"]["version"] == "v1.30.3"  # the alias resolved as the operator's table says
    assert rev["spec"]["values"]["global"]["istioNamespace"] == f"{mesh}-system"
    assert rev["metadata"]["ownerReferences"][0]["uid"] == istio["metadata"]["uid"]
    assert condition(rev, "InUse")["reason"] == "NotReferenced"
    deployment = c.apps.read_namespaced_deployment(f"istiod-{REVISION}", f"{mesh}-system")
    assert deployment.status.ready_replicas == 1
    cni = c.sail("istiocnis", "default")
    assert cni["status"]["state"] == "Healthy"


def _message(e) -> str:
    return json.loads(e.value.body)["message"]


def test_crds_refuse_what_the_real_ones_refuse(east):
    bad_strategy = {"apiVersion": "sailoperator.io/v1", "kind": "Istio",
                    "metadata": {"name": "lab-test-bad"},
                    "spec": {"namespace": "x", "version": "v1.30-latest",
                             "updateStrategy": {"type": "Canary"}}}
    with pytest.raises(ApiException) as e:
        east.create_sail("istios", bad_strategy)
    assert e.value.status == 422 and 'Unsupported value: "Canary"' in _message(e)
    unknown = {**bad_strategy, "spec": {"namespace": "x", "version": "v1.99.0"}}
    with pytest.raises(ApiException) as e:
        east.create_sail("istios", unknown)
    assert e.value.status == 422 and 'Unsupported value: "v1.99.0"' in _message(e)
    gateway = eastwest_gateway("east-network")
    del gateway["spec"]["listeners"][0]["tls"]  # TLS without a mode
    with pytest.raises(ApiException) as e:
        east.create_gateway("default", gateway)
    assert e.value.status == 422 and "tls mode must be set for protocol TLS" in _message(e)


def test_end_of_life_version_is_reported_in_status(east):
    istio = {"apiVersion": "sailoperator.io/v1", "kind": "Istio", "metadata": {"name": "lab-old"},
             "spec": {"namespace": "east-mesh-system", "version": "v1.24-latest",
                      "updateStrategy": {"type": "RevisionBased"}}}
    east.create_sail("istios", istio)  # in the CRD's enum: the apiserver accepts it
    try:
        got = wait("Reconciled=False", lambda: condition(east.sail("istios", "lab-old"),
                                                         "Reconciled").get("status") == "False"
                   and east.sail("istios", "lab-old"))
        assert got["status"]["state"] == "ReconcileError"
        assert condition(got, "Reconciled")["message"] == (
            'version "v1.24-latest" is end-of-life and cannot be installed; use a supported '
            "version")
        assert condition(got, "Ready")["status"] == "Unknown"
        assert east.sail("istiorevisions", "lab-old-v1-24-latest") is None
    finally:
        east.delete_sail("istios", "lab-old")


def test_revision_based_update_keeps_the_used_revision_and_prunes_the_unused(east):
    ns, apps = "lab-test-system", "lab-test-apps"
    east.namespace_with(ns)
    istio = {"apiVersion": "sailoperator.io/v1", "kind": "Istio", "metadata": {"name": "lab-test"},
             "spec": {"namespace": ns, "version": "v1.30-latest",
                      "updateStrategy": {"type": "RevisionBased",
                                         "inactiveRevisionDeletionGracePeriodSeconds": 1}}}
    east.create_sail("istios", istio)
    try:
        first, second = "lab-test-v1-30-latest", "lab-test-v1-29-latest"
        wait("first revision ready", lambda: condition(east.sail("istiorevisions", first),
                                                       "Ready").get("status") == "True")
        east.namespace_with(apps, {"istio.io/rev": first})
        wait("InUse", lambda: condition(east.sail("istiorevisions", first),
                                        "InUse").get("status") == "True")
        east.custom.patch_cluster_custom_object("sailoperator.io", "v1", "istios", "lab-test",
                                                {"spec": {"version": "v1.29-latest"}})
        got = wait("second revision active", lambda: (
            (i := east.sail("istios", "lab-test"))["status"].get("activeRevisionName") == second
            and i["status"]["revisions"]["total"] == 2 and i["status"]["revisions"]["ready"] == 2
            and i))
        assert got["status"]["revisions"]["inUse"] == 1
        assert east.sail("istiorevisions", second)["spec"]["version"] == "v1.29.6"
        east.apps.read_namespaced_deployment(f"istiod-{second}", ns)
        east.namespace_with(apps, {"istio.io/rev": second})  # workloads moved: first unused
        wait("old revision pruned", lambda: east.sail("istiorevisions", first) is None, 20)
    finally:
        east.delete_sail("istios", "lab-test")
        east.delete_namespace(apps)
    # The garbage collector removes the revisions the Istio owned, and their istiod.
    wait("revisions collected", lambda: east.sail("istiorevisions", "lab-test-v1-29-latest")
         is None, 60)
    east.delete_namespace(ns)


def test_gateway_of_class_istio_gets_service_address_and_programmed(lab, east):
    ns = "lab-test-ingress"
    east.namespace_with(ns)
    try:
        east.create_gateway(ns, eastwest_gateway("east-network", REVISION))
        gw = wait("Programmed", lambda: condition(east.gateway(ns, "eastwestgateway"),
                                                  "Programmed").get("status") == "True"
                  and east.gateway(ns, "eastwestgateway"))
        prefix = lab.state["meshes"]["east-mesh"]["lb_prefix"]
        ((address),) = gw["status"]["addresses"]
        assert address["type"] == "IPAddress" and address["value"].startswith(prefix + ".")
        svc = east.core.read_namespaced_service("eastwestgateway-istio", ns)
        assert svc.spec.type == "LoadBalancer"
        assert svc.status.load_balancer.ingress[0].ip == address["value"]
        assert {p.port for p in svc.spec.ports} == {15021, 15443}
        assert svc.metadata.labels["topology.istio.io/network"] == "east-network"
        assert condition(gw, "Accepted")["status"] == "True"
        (listener,) = gw["status"]["listeners"]
        assert listener["name"] == "cross-network"
        assert {c["type"]: c["status"] for c in listener["conditions"]}["Programmed"] == "True"
        deployment = east.apps.read_namespaced_deployment("eastwestgateway-istio", ns)
        assert deployment.status.ready_replicas == 1
    finally:
        east.delete_namespace(ns)


def test_gateway_no_istiod_manages_keeps_waiting(east):
    ns = "lab-test-unmanaged"
    east.namespace_with(ns)  # no istio.io/rev on the namespace or the Gateway
    try:
        east.create_gateway(ns, eastwest_gateway("east-network"))
        # A managed Gateway created after it: once that one is programmed, the controller has
        # seen both.
        managed = eastwest_gateway("east-network", REVISION)
        managed["metadata"]["name"] = "managed"
        east.create_gateway(ns, managed)
        wait("managed Programmed", lambda: condition(east.gateway(ns, "managed"), "Programmed")
             .get("status") == "True")
        gw = east.gateway(ns, "eastwestgateway")
        assert condition(gw, "Accepted")["reason"] == "Pending"  # the CRD's default status
        assert condition(gw, "Programmed")["message"] == "Waiting for controller"
        with pytest.raises(ApiException):
            east.core.read_namespaced_service("eastwestgateway-istio", ns)
    finally:
        east.delete_namespace(ns)


def test_istio_remote_gateway_is_accepted_with_the_addresses_it_names(lab, east):
    peer = lab.state["meshes"]["west-mesh"]["lb_prefix"] + ".100"  # west's first OSSM 3 address
    gateway = eastwest_gateway("west-network", REVISION)
    gateway["metadata"]["name"] = "remote-gateway-west-network"
    gateway["spec"]["gatewayClassName"] = "istio-remote"
    gateway["spec"]["addresses"] = [{"type": "IPAddress", "value": peer}]
    del gateway["spec"]["listeners"][0]["hostname"]
    east.create_gateway("east-mesh-system", gateway)
    try:
        gw = wait("Programmed", lambda: condition(
            east.gateway("east-mesh-system", "remote-gateway-west-network"),
            "Programmed").get("status") == "True"
            and east.gateway("east-mesh-system", "remote-gateway-west-network"))
        assert gw["status"]["addresses"] == [{"type": "IPAddress", "value": peer}]
        with pytest.raises(ApiException):  # nothing deployed for a remote gateway
            east.core.read_namespaced_service("remote-gateway-west-network-istio",
                                              "east-mesh-system")
    finally:
        east.custom.delete_namespaced_custom_object("gateway.networking.k8s.io", "v1",
                                                    "east-mesh-system", "gateways",
                                                    "remote-gateway-west-network")
