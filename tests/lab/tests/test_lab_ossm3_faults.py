"""Faults of the OSSM 3 side (`lab fault istiod3-down|istiod3-up|eastwest-down|eastwest-up`) on
the `--ossm 3` lab of test_lab_ossm3_operator.py (same private lab, same ip block)."""

from __future__ import annotations

import pytest
from ossm3_helpers import OSSM3_BLOCK, Cluster, condition, eastwest_gateway, wait

REVISION = "default-v1-30-latest"


@pytest.fixture(scope="module")
def lab(lab_factory):
    return lab_factory("ossm3", "east-mesh west-mesh", OSSM3_BLOCK, ossm="3")


@pytest.fixture
def east_gateway(lab):
    east = Cluster(lab, "east-mesh")
    ns = "lab-test-faults"
    east.namespace_with(ns)
    east.create_gateway(ns, eastwest_gateway("east-network", REVISION))
    wait("Programmed", lambda: condition(east.gateway(ns, "eastwestgateway"),
                                         "Programmed").get("status") == "True")
    yield east, ns
    lab.run("fault", "eastwest-up", "east-mesh", check=False)
    east.delete_namespace(ns)


def _ready(east: Cluster, ns: str, name: str):
    return east.apps.read_namespaced_deployment(name, ns).status.ready_replicas


def test_eastwest_down_and_up(lab, east_gateway):
    east, ns = east_gateway
    out = lab.run("fault", "eastwest-down", "east-mesh").stdout
    assert f"{ns}/eastwestgateway-istio" in out
    assert _ready(east, ns, "eastwestgateway-istio") is None
    # A change of the Gateway (new generation) is reconciled; the gateway stays down.
    gw = east.custom.patch_namespaced_custom_object(
        "gateway.networking.k8s.io", "v1", ns, "gateways", "eastwestgateway",
        {"spec": {"infrastructure": {"labels": {"lab-test": "touch"}}}})
    generation = gw["metadata"]["generation"]
    wait("reconciled", lambda: condition(east.gateway(ns, "eastwestgateway"), "Programmed")
         .get("observedGeneration") == generation)
    assert _ready(east, ns, "eastwestgateway-istio") is None
    lab.run("fault", "eastwest-up", "east-mesh")
    assert _ready(east, ns, "eastwestgateway-istio") == 1
    # The other mesh has no east-west gateway: a clear error, nothing changed.
    proc = lab.run("fault", "eastwest-down", "west-mesh", check=False)
    assert proc.returncode == 1 and "west-mesh has no east-west gateway" in proc.stderr


def test_istiod3_down_stops_readiness_and_gateway_programming(lab):
    east = Cluster(lab, "east-mesh")
    ns = "lab-test-istiod-down"
    east.namespace_with(ns)
    try:
        lab.run("fault", "istiod3-down", "east-mesh")
        istio = wait("Istio not ready", lambda: condition(east.sail("istios", "default"), "Ready")
                     .get("status") == "False" and east.sail("istios", "default"))
        assert istio["status"]["state"] == "IstiodNotReady"
        assert condition(istio, "Ready")["message"] == "not all istiod pods are ready"
        assert _ready(east, "east-mesh-system", f"istiod-{REVISION}") is None
        # No istiod: a new Gateway is not programmed (its status stays the CRD's default).
        east.create_gateway(ns, eastwest_gateway("east-network", REVISION))
        wait("created", lambda: east.gateway(ns, "eastwestgateway"))
        assert condition(east.gateway(ns, "eastwestgateway"), "Programmed")["reason"] == "Pending"

        lab.run("fault", "istiod3-up", "east-mesh")
        assert condition(east.sail("istios", "default"), "Ready")["status"] == "True"
        wait("Programmed once istiod is back", lambda: condition(
            east.gateway(ns, "eastwestgateway"), "Programmed").get("status") == "True")
    finally:
        lab.run("fault", "istiod3-up", "east-mesh", check=False)
        east.delete_namespace(ns)


def test_ossm_2_faults_are_refused_on_an_ossm_3_lab(lab):
    proc = lab.run("fault", "istiod-down", "east-mesh", check=False)
    assert proc.returncode == 1 and "runs no OSSM 2.6" in proc.stderr


def test_up_brings_back_what_the_ossm3_faults_took_down(lab):
    east = Cluster(lab, "east-mesh")
    lab.run("fault", "istiod3-down", "east-mesh")
    assert condition(east.sail("istios", "default"), "Ready")["status"] == "False"
    lab.up()
    wait("Istio Ready again", lambda: condition(east.sail("istios", "default"), "Ready")
         .get("status") == "True")
    assert _ready(east, "east-mesh-system", f"istiod-{REVISION}") == 1


def test_operator_carries_on_after_an_apiserver_restart(lab):
    east = Cluster(lab, "east-mesh")
    cluster = lab.state["meshes"]["east-mesh"]["cluster"]
    lab.run("fault", "apiserver-down", cluster)
    lab.run("fault", "apiserver-up", cluster)
    ns = "lab-test-after-restart"
    east.namespace_with(ns)
    try:
        east.create_gateway(ns, eastwest_gateway("east-network", REVISION))
        wait("Programmed after the restart", lambda: condition(
            east.gateway(ns, "eastwestgateway"), "Programmed").get("status") == "True", 60)
    finally:
        east.delete_namespace(ns)
