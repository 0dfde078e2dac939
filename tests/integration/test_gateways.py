"""Managed per-peer gateways against the shared 3-mesh lab, whose control planes start as fresh
installs without federation gateways: federate.yml adds exactly the documented entries (server-side
apply, field manager servicemesh.federation), a foreign differing entry is refused on every mesh
before any write and left untouched, and unfederate.yml removes exactly the entries it owns.
"""

from __future__ import annotations

from common import now, run_playbook, writes
from mesh_admin import SMCP

MESHES = ["blue-mesh", "green-mesh", "red-mesh"]
FIELD_MANAGER = "servicemesh.federation"


def ingress(name: str) -> dict:
    return {"enabled": True, "service": {
        "type": "LoadBalancer",
        "metadata": {"labels": {"federation.maistra.io/ingress-for": name}},
        "ports": [{"port": 15443, "name": "tls"}, {"port": 8188, "name": "https-discovery"}]}}


def egress(name: str, peer: str) -> dict:
    return {"enabled": True, "requestedNetworkView": [f"network-{peer}"], "service": {
        "metadata": {"labels": {"federation.maistra.io/egress-for": name}},
        "ports": [{"port": 15443, "name": "tls"}, {"port": 8188, "name": "http-discovery"}]}}


def test_fresh_control_planes_have_no_federation_gateways(mesh):
    for m in mesh.values():
        assert m.gateways() == {"ingress": {}, "egress": {}}, m.name


def test_a_foreign_differing_entry_is_refused_everywhere_before_any_write(lab3, mesh, clusters):
    red = mesh["red-mesh"]
    foreign = ingress("ingress-green-mesh")
    foreign["service"]["type"] = "NodePort"
    red.custom.patch_namespaced_custom_object(
        *SMCP[:2], red.namespace, SMCP[2], red.smcp()["metadata"]["name"],
        {"spec": {"gateways": {"additionalIngress": {"ingress-green-mesh": foreign}}}})
    try:
        since = now()
        run = run_playbook("federate.yml", lab3.inventory)
        assert run.rc != 0
        text = run.failure_text()
        assert "ingress-green-mesh" in text and red.namespace in text, run.explain()
        assert "NodePort" in text and "LoadBalancer" in text  # the difference
        assert "take_over" in text  # how to adopt it
        assert writes(lab3, clusters, since) == 0
        assert red.gateways()["ingress"] == {"ingress-green-mesh": foreign}
    finally:
        red.custom.patch_namespaced_custom_object(
            *SMCP[:2], red.namespace, SMCP[2], red.smcp()["metadata"]["name"],
            {"spec": {"gateways": {"additionalIngress": {"ingress-green-mesh": None}}}})


def test_federate_adds_exactly_the_documented_entries(lab3, mesh, clusters):
    since = now()
    run = run_playbook("federate.yml", lab3.inventory)
    assert run.rc == 0, run.explain()
    for name, m in mesh.items():
        peers = sorted(set(MESHES) - {name})
        assert m.gateways() == {
            "ingress": {f"ingress-{p}": ingress(f"ingress-{p}") for p in peers},
            "egress": {f"egress-{p}": egress(f"egress-{p}", p) for p in peers},
        }, name
        managers = {e["manager"] for e in m.smcp()["metadata"]["managedFields"]
                    if e.get("operation") == "Apply"}
        assert managers == {FIELD_MANAGER}, name
        for p in peers:  # the operator rendered them and the ingress got its address
            assert m.ingress_ip(f"ingress-{p}")
    # One server-side apply per mesh among the first run's writes.
    patches = [e for c in clusters for e in lab3.audit_writes(c, since=since)
               if e["objectRef"]["resource"] == "servicemeshcontrolplanes"]
    assert len(patches) == len(MESHES) and {e["verb"] for e in patches} == {"patch"}


def test_unfederate_removes_exactly_the_entries_it_owns(lab3, mesh):
    red = mesh["red-mesh"]
    own = {"enabled": True, "service": {"type": "ClusterIP"}}
    red.custom.patch_namespaced_custom_object(
        *SMCP[:2], red.namespace, SMCP[2], red.smcp()["metadata"]["name"],
        {"spec": {"gateways": {"additionalIngress": {"users-own-gateway": own}}}})
    try:
        run = run_playbook("unfederate.yml", lab3.inventory)
        assert run.rc == 0, run.explain()
        assert red.gateways() == {"ingress": {"users-own-gateway": own}, "egress": {}}
        for m in mesh.values():
            if m.name != "red-mesh":
                assert m.gateways() == {"ingress": {}, "egress": {}}, m.name
    finally:
        red.custom.patch_namespaced_custom_object(
            *SMCP[:2], red.namespace, SMCP[2], red.smcp()["metadata"]["name"],
            {"spec": {"gateways": {"additionalIngress": {"users-own-gateway": None}}}})
