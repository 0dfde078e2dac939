"""`lab up --ossm 2+3`: OSSM 2.6 federation as always, beside the OSSM 3 operator side without an
Istio (the migration's starting point). Private lab, ip block LAB_TEST_OSSM23_IP_BLOCK (default
214), started --with-gateways and a 2 s resync so that the 2.6 federation test below runs on it
exactly as on the gateway lab."""

from __future__ import annotations

import json

import pytest
import test_mesh_federation
from ossm3_helpers import OSSM23_BLOCK, Cluster, condition

# An existing 2.6 federation path, run unchanged on this lab (its `pair` fixture uses our `lab`).
pair = test_mesh_federation.pair
test_pair_connects_in_both_directions = test_mesh_federation.test_pair_connects_in_both_directions


@pytest.fixture(scope="module")
def lab(lab_factory):
    return lab_factory("ossm23", "east-mesh west-mesh", OSSM23_BLOCK, gateways=True,
                       resync_seconds=2, ossm="2+3")


def test_state_and_status_show_ossm_2_and_3(lab):
    assert lab.state["ossm"] == "2+3"
    status = json.loads(lab.run("status", "--json").stdout)
    assert status["ossm"] == "2+3"
    for cluster in status["clusters"].values():
        assert cluster["ossm3_operator"]["alive"] and cluster["ossm3_operator"]["ready"]
    for mesh in status["meshes"].values():  # the 2.6 mesh processes run as always
        assert mesh["alive"] and mesh["ready"] and "istio" not in mesh


@pytest.mark.parametrize("mesh", ["east-mesh", "west-mesh"])
def test_both_operators_side_by_side_no_istio_yet(lab, mesh):
    c = Cluster(lab, mesh)
    smcp = c.custom.get_namespaced_custom_object("maistra.io", "v2", f"{mesh}-system",
                                                 "servicemeshcontrolplanes", "basic")
    assert condition(smcp, "Ready")["status"] == "True"
    for name in ("istios.sailoperator.io", "istiorevisions.sailoperator.io",
                 "istiocnis.sailoperator.io", "serviceentries.networking.istio.io",
                 "gateways.gateway.networking.k8s.io"):
        c.ext.read_custom_resource_definition(name)
    assert c.custom.list_cluster_custom_object("sailoperator.io", "v1", "istios")["items"] == []
    assert c.custom.list_cluster_custom_object("sailoperator.io", "v1", "istiocnis")["items"] == []
    for name, controller in (("istio", "istio.io/gateway-controller"),
                             ("istio-remote", "istio.io/unmanaged-gateway")):
        gc = c.custom.get_cluster_custom_object("gateway.networking.k8s.io", "v1",
                                                "gatewayclasses", name)
        assert gc["spec"]["controllerName"] == controller
        assert condition(gc, "Accepted")["status"] == "True"


def test_up_with_another_ossm_is_refused(lab):
    proc = lab.run("up", "--meshes", lab.mesh_spec, "--ip-block", str(lab.ip_block),
                   "--ossm", "3", check=False)
    assert proc.returncode == 1 and "(--ossm 2+3)" in proc.stderr and "down" in proc.stderr
