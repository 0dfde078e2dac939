"""A mesh whose ingress gateway has no load balancer address, reached by its peer through an
address override (``mesh_peers.<mesh>.addresses`` on the peer's host).

External gateways: a private two-mesh lab started with its gateways (the user's own,
``federation_gateways: external``). alpha-mesh's ingress for beta-mesh gets the lab annotation
``lab.servicemesh.federation/external-address``: its Service has no ``status.loadBalancer``
address (as behind a balancer Kubernetes does not manage) and the gateway listens on the
annotated address instead. Without the override the pre-flight stops before any write and says
where to set it; with it, every direction connects.

Managed gateways: a second private lab without gateways; the collection adds them, the
annotation comes from ``mesh_peers.<peer>.ingress_service.annotations``, and the gateways step
must not wait for the address that never comes.
"""

from __future__ import annotations

import pytest
from ansible_run import load_inventory, mesh_hosts, run_playbook, write_inventory
from common import now, writes
from kubernetes import watch
from readback import connected_both_ways, meshes

ALPHA, BETA = "alpha-mesh", "beta-mesh"
GAMMA, DELTA = "gamma-mesh", "delta-mesh"
IP_BLOCK = 122  # 122 and 123 (pod IPs): inside BADINPUT's 120-139
MANAGED_IP_BLOCK = 124
EXTERNAL_ADDRESS = "lab.servicemesh.federation/external-address"
HIDDEN_GATEWAY = f"ingress-{BETA}"  # alpha-mesh's ingress for beta-mesh
PREFLIGHT_TASK = "Fail listing every mesh's pre-flight problems"


@pytest.fixture(scope="module")
def lab2(lab_factory):
    return lab_factory("override", f"{ALPHA} {BETA}", IP_BLOCK, gateways=True)


@pytest.fixture(scope="module")
def mesh(lab2):
    return meshes(lab2)


@pytest.fixture(scope="module")
def address(lab2, mesh):
    """alpha-mesh's ingress for beta-mesh without a load balancer address, listening on the
    returned address (the user's edit of their own gateway entry, as the lab admin)."""
    alpha = mesh[ALPHA]
    hidden = f"{alpha.info['lb_prefix']}.200"
    patch = {"spec": {"gateways": {"additionalIngress": {HIDDEN_GATEWAY: {"service": {
        "metadata": {"annotations": {EXTERNAL_ADDRESS: hidden}}}}}}}}
    smcp = lab2.client(ALPHA).resources.get(api_version="maistra.io/v2",
                                            kind="ServiceMeshControlPlane")
    smcp.patch(name="basic", namespace=alpha.namespace, body=patch,
               content_type="application/merge-patch+json")
    # Watch the Service until the lab operator has applied the annotation and withdrawn the
    # load balancer address.
    for event in watch.Watch().stream(alpha.core.list_namespaced_service, alpha.namespace,
                                      field_selector=f"metadata.name={HIDDEN_GATEWAY}",
                                      timeout_seconds=120):
        svc = event["object"]
        lb = svc.status.load_balancer if svc.status else None
        if ((svc.metadata.annotations or {}).get(EXTERNAL_ADDRESS) == hidden
                and not (lb and lb.ingress)):
            break
    else:
        pytest.fail(f"{HIDDEN_GATEWAY} kept its load balancer address")
    return hidden


def _inventory(lab2, tmp_path, override: str | None):
    inventory = load_inventory(lab2.inventory)
    inventory["all"]["children"]["meshes"].setdefault("vars", {})["federation_gateways"] = \
        "external"
    if override:
        mesh_hosts(inventory)[BETA]["mesh_peers"] = {ALPHA: {"addresses": [override]}}
    return write_inventory(tmp_path / f"override-{bool(override)}.yml", inventory)


def test_without_the_override_the_preflight_says_where_to_set_it_and_writes_nothing(
        lab2, mesh, address, tmp_path):
    clusters = sorted({m.cluster for m in mesh.values()})
    since = now()
    run = run_playbook("federate.yml", _inventory(lab2, tmp_path, None))
    assert run.rc != 0
    failed = run.results(PREFLIGHT_TASK, status="failed")
    assert failed, run.explain()
    text = run.failure_text()
    alpha = mesh[ALPHA]
    assert (f"mesh {ALPHA} (cluster {alpha.cluster}): ingress gateway Service "
            f"{alpha.namespace}/{HIDDEN_GATEWAY} (for peer {BETA}) has no address yet") in text, \
        text
    assert (f"if peer {BETA} reaches it another way, set that address override on mesh {BETA}: "
            "mesh_peers.<this mesh>.addresses") in text, text
    # beta-mesh's ingress has its address: only the hidden one is a problem.
    assert f"{HIDDEN_GATEWAY.replace(BETA, ALPHA)} (for peer {ALPHA})" not in text, text
    assert writes(lab2, clusters, since) == 0


def test_with_the_override_every_direction_connects(lab2, mesh, address, tmp_path):
    run = run_playbook("federate.yml", _inventory(lab2, tmp_path, address))
    assert run.rc == 0, run.explain()
    matrix = run.custom_stats["_run"]["federation_matrix"]
    assert matrix["all_connected"] is True and matrix["failed"] == [], matrix

    # Read back as admin: beta-mesh dials the overridden address, alpha-mesh the balancer's.
    alpha, beta = mesh[ALPHA], mesh[BETA]
    assert beta.peer(ALPHA)["spec"]["remote"]["addresses"] == [address]
    assert alpha.peer(BETA)["spec"]["remote"]["addresses"] == [
        beta.ingress_ip(f"ingress-{ALPHA}")]
    assert connected_both_ways(alpha.peer(BETA)), alpha.peer(BETA).get("status")
    assert connected_both_ways(beta.peer(ALPHA)), beta.peer(ALPHA).get("status")


def test_managed_gateways_federate_through_the_override_without_waiting_for_an_address(
        lab_factory, tmp_path):
    lab = lab_factory("override-managed", f"{GAMMA} {DELTA}", MANAGED_IP_BLOCK)
    mesh = meshes(lab)
    gamma, delta = mesh[GAMMA], mesh[DELTA]
    hidden = f"{gamma.info['lb_prefix']}.200"
    inventory = load_inventory(lab.inventory)
    hosts = mesh_hosts(inventory)
    hosts[GAMMA]["mesh_peers"] = {DELTA: {"ingress_service": {
        "annotations": {EXTERNAL_ADDRESS: hidden}}}}
    hosts[DELTA]["mesh_peers"] = {GAMMA: {"addresses": [hidden]}}
    run = run_playbook("federate.yml", write_inventory(tmp_path / "managed.yml", inventory))
    assert run.rc == 0, run.explain()
    matrix = run.custom_stats["_run"]["federation_matrix"]
    assert matrix["all_connected"] is True and matrix["failed"] == [], matrix

    # The gateway the collection added has no load balancer address; delta-mesh dials the
    # override and both directions are connected.
    svc = gamma.core.read_namespaced_service(f"ingress-{DELTA}", gamma.namespace)
    assert not (svc.status.load_balancer and svc.status.load_balancer.ingress), svc.status
    assert delta.peer(GAMMA)["spec"]["remote"]["addresses"] == [hidden]
    assert connected_both_ways(gamma.peer(DELTA)), gamma.peer(DELTA).get("status")
    assert connected_both_ways(delta.peer(GAMMA)), delta.peer(GAMMA).get("status")
