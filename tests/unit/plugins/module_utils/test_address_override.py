"""An ingress gateway reached by its peer through an address override needs no address of its
own: the plan marks the link, the pre-flight does not ask for one, and the gateways step does
not wait for one (module_utils/logic/plan.py, cross_mesh.py, gateways.py)."""

from fake_cluster import FakeCluster

from ansible_collections.servicemesh.federation.plugins.module_utils.logic import cross_mesh
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.plan import build_plan
from ansible_collections.servicemesh.federation.plugins.module_utils.service.gateways import (
    converge,
    desired_from_params,
)

NS = "alpha-system"
OVERRIDE = "gw.alpha.example.com"


def plan():
    cluster = {"host": "https://api.example.com:6443", "api_key": "t0ken"}
    return build_plan({
        "alpha": {"mesh_cluster": cluster, "mesh_namespace": NS},
        "beta": {"mesh_cluster": cluster, "mesh_peers": {"alpha": {"addresses": [OVERRIDE]}}},
    })


def test_the_plan_marks_the_ingress_the_peer_reaches_through_its_override():
    (alpha_link,) = plan()["meshes"]["alpha"]["links"]
    (beta_link,) = plan()["meshes"]["beta"]["links"]
    assert alpha_link["ingress_address_overridden"] is True   # beta dials OVERRIDE
    assert beta_link["ingress_address_overridden"] is False   # alpha dials beta's balancer
    assert beta_link["addresses"] == [OVERRIDE]


def test_the_preflight_needs_no_address_for_that_ingress():
    whole = plan()
    assert cross_mesh.inspect_peers(whole["meshes"]["alpha"], whole)[0]["require_address"] is False
    assert cross_mesh.inspect_peers(whole["meshes"]["beta"], whole)[0]["require_address"] is True


def service(name, rv, lb_ip=None):
    svc = {"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": name, "namespace": NS, "resourceVersion": str(rv)},
           "spec": {"type": "LoadBalancer",
                    "ports": [{"port": 15443, "name": "tls"},
                              {"port": 8188, "name": "https-discovery"}]},
           "status": {}}
    if lb_ip:
        svc["status"] = {"loadBalancer": {"ingress": [{"ip": lb_ip}]}}
    return svc


def test_the_gateways_step_does_not_wait_for_an_address_of_that_ingress():
    smcp = {"apiVersion": "maistra.io/v2", "kind": "ServiceMeshControlPlane",
            "metadata": {"name": "basic", "namespace": NS, "managedFields": []},
            "spec": {"version": "v2.5"}}
    # The Services exist; the ingress has no load balancer address (and never gets one).
    cluster = FakeCluster([smcp, service("ingress-beta", 3), service("egress-beta", 4)])
    (link,) = plan()["meshes"]["alpha"]["links"]
    params = {"namespace": NS, "links": [link], "state": "present", "take_over": False,
              "wait": True, "timeout": 5}
    result = converge(cluster, params, False, desired_from_params(params))
    assert result["ingress"]["ingress-beta"]["addresses"] == []
