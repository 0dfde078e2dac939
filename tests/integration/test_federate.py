"""federate.yml / verify.yml / unfederate.yml against the shared 3-mesh lab (real apiservers).

The tests run in file order and share the lab: check mode on the unfederated lab, federate, the
idempotent re-run, drift and repair, a broken direction, take-over, unfederate. The module leaves
the lab unfederated.
"""

from __future__ import annotations

import pytest
from ansible_run import load_inventory, mesh_hosts, write_inventory
from common import now, run_playbook, unfederate, writes
from kubernetes.client.exceptions import ApiException
from mesh_admin import MANAGED
from readback import connected_both_ways

MESHES = ["blue-mesh", "green-mesh", "red-mesh"]
DIRECTIONS = [(a, b) for a in MESHES for b in MESHES if a != b]
APPLY_TASK = "Create or update the CA ConfigMaps, ServiceMeshPeers and service sets"
# Per direction a -> b, in a's namespace (the lab inventory shares ratings both ways).
OBJECTS = ("ConfigMap", "ServiceMeshPeer", "ExportedServiceSet", "ImportedServiceSet")
# First run: one gateway apply per mesh, then one write per object.
FIRST_RUN_WRITES = len(MESHES) + len(OBJECTS) * len(DIRECTIONS)


@pytest.fixture(scope="module")
def before(mesh):
    """Every ConfigMap / ServiceMeshPeer before the collection wrote anything."""
    return {name: m.snapshot() for name, m in mesh.items()}


def test_default_inventory_uses_the_least_privilege_identity(lab3):
    for host, hostvars in mesh_hosts(load_inventory(lab3.inventory)).items():
        assert hostvars["mesh_cluster"]["context"].endswith("-automation"), host


def test_check_mode_predicts_every_object_and_writes_nothing(lab3, mesh, clusters, before):
    since = now()
    run = run_playbook("federate.yml", lab3.inventory, check=True)
    assert run.rc == 0, run.explain()
    predicted = [(host, o["kind"], o["name"], o["action"])
                 for host, result in run.results(APPLY_TASK).items()
                 for o in result["objects"]]
    assert sorted(predicted) == sorted(
        (a, kind, name, "created")
        for a, b in DIRECTIONS
        for kind, name in zip(OBJECTS, (f"{b}-ca-root-cert", b, b, b), strict=True))
    assert writes(lab3, clusters, since) == 0
    assert {name: m.snapshot() for name, m in mesh.items()} == before


def test_federate_connects_every_direction(lab3, mesh, clusters, before):
    since = now()
    run = run_playbook("federate.yml", lab3.inventory)
    assert run.rc == 0, run.explain()
    # Exactly one write per object and one gateway apply per mesh, all by the least-privilege
    # automation identity.
    assert writes(lab3, clusters, since) == FIRST_RUN_WRITES

    matrix = run.custom_stats["_run"]["federation_matrix"]
    assert matrix["all_connected"] is True and matrix["failed"] == []
    # Every mesh imports ratings from every peer: each cell counts it.
    assert {cell["summary"] for row in matrix["cells"].values() for cell in row.values()} == {
        "connected 1/1"}

    # Independent read-back as admin.
    for name, m in mesh.items():
        others = sorted(set(MESHES) - {name})
        smps = m.peers(MANAGED)
        cms = m.configmaps(MANAGED)
        assert sorted(smps) == others
        assert sorted(cms) == [f"{o}-ca-root-cert" for o in others]
        for other in others:
            peer = mesh[other]
            # CA byte-identical to the peer's own root.
            assert cms[f"{other}-ca-root-cert"].data == {"root-cert.pem": peer.root_pem()}
            spec = smps[other]["spec"]
            assert spec["security"]["trustDomain"] == peer.trust_domain
            assert spec["security"]["clientID"] == (
                f"{peer.trust_domain}/ns/{peer.namespace}/sa/egress-{name}-service-account")
            assert spec["security"]["certificateChain"] == {
                "kind": "ConfigMap", "name": f"{other}-ca-root-cert"}
            assert spec["remote"]["addresses"] == [peer.ingress_ip(f"ingress-{name}")]
            assert spec["gateways"] == {"ingress": {"name": f"ingress-{other}"},
                                        "egress": {"name": f"egress-{other}"}}
            assert connected_both_ways(m.peer(other)), f"{name} -> {other}"
        # Nothing but our 2 peers, 2 ConfigMaps and 2 + 2 service sets appeared.
        added = {(kind, n) for kind, n, _uid in m.snapshot() - before[name]}
        assert added == {(kind, n) for o in others
                         for kind, n in zip(OBJECTS, (f"{o}-ca-root-cert", o, o, o), strict=True)}


def test_rerun_reports_no_change_and_sends_no_write(lab3, clusters):
    since = now()
    run = run_playbook("federate.yml", lab3.inventory)
    assert run.rc == 0, run.explain()
    assert run.changed == 0, run.stats
    assert writes(lab3, clusters, since) == 0


def test_verify_as_collection_playbook_passes_read_only(lab3, clusters):
    since = now()
    run = run_playbook("servicemesh.federation.verify", lab3.inventory)
    assert run.rc == 0, run.explain()
    assert writes(lab3, clusters, since) == 0


def test_drift_is_reported_shown_as_diff_and_repaired(lab3, mesh, clusters):
    red = mesh["red-mesh"]
    good = red.peer("green-mesh")["spec"]["security"]["clientID"]
    red.custom.patch_namespaced_custom_object(
        "federation.maistra.io", "v1", red.namespace, "servicemeshpeers", "green-mesh",
        {"spec": {"security": {"clientID": "evil.local/ns/x/sa/y"}}})

    since = now()
    verify = run_playbook("verify.yml", lab3.inventory)
    assert verify.rc != 0
    text = verify.failure_text()
    assert "1 object(s) do not match" in text
    assert ("mesh red-mesh (namespace red-mesh-system): "
            "ServiceMeshPeer green-mesh would be updated") in text

    diff = run_playbook("federate.yml", lab3.inventory, check=True, diff=True)
    assert diff.rc == 0, diff.explain()
    assert "evil.local/ns/x/sa/y" in diff.stdout and good in diff.stdout
    assert writes(lab3, clusters, since) == 0

    repair = run_playbook("federate.yml", lab3.inventory)
    assert repair.rc == 0, repair.explain()
    assert writes(lab3, clusters, since) == 1
    assert red.peer("green-mesh")["spec"]["security"]["clientID"] == good


def test_broken_direction_fails_with_a_per_pair_report(lab3, tmp_path):
    inventory = load_inventory(lab3.inventory)
    hosts = mesh_hosts(inventory)
    # red-mesh's peer for green-mesh points at an address nobody serves: red -> green breaks.
    hosts["red-mesh"]["mesh_peers"] = {"green-mesh": {"addresses": ["127.254.254.254"]}}
    inventory["all"]["children"]["meshes"]["vars"]["federation_wait_timeout"] = 10
    broken = write_inventory(tmp_path / "broken.yml", inventory)

    run = run_playbook("federate.yml", broken)
    assert run.rc != 0
    text = run.failure_text()
    assert "1 of 6 directions are not connected: red-mesh -> green-mesh" in text, run.explain()
    assert "lastDisconnectStatus: 503 Service Unavailable" in text
    assert "check: istiod of mesh red-mesh (namespace red-mesh-system)" in text
    assert ("check: egress gateway egress-green-mesh of mesh red-mesh "
            "(namespace red-mesh-system)") in text
    assert ("check: ingress gateway ingress-red-mesh of mesh green-mesh "
            "(namespace green-mesh-system)") in text
    matrix = run.custom_stats["_run"]["federation_matrix"]
    assert matrix["failed"] == [["red-mesh", "green-mesh"]]

    repair = run_playbook("federate.yml", lab3.inventory)
    assert repair.rc == 0, repair.explain()


def test_unfederate_one_mesh_removes_its_peers_everywhere(lab3, mesh):
    run = run_playbook("unfederate.yml", lab3.inventory,
                       extra_vars={"federation_unfederate_mesh": "blue-mesh"})
    assert run.rc == 0, run.explain()
    assert mesh["blue-mesh"].peers(MANAGED) == {} and mesh["blue-mesh"].configmaps(MANAGED) == {}
    assert sorted(mesh["red-mesh"].peers(MANAGED)) == ["green-mesh"]
    assert sorted(mesh["red-mesh"].configmaps(MANAGED)) == ["green-mesh-ca-root-cert"]
    assert sorted(mesh["green-mesh"].peers(MANAGED)) == ["red-mesh"]


def test_unfederate_removes_exactly_what_was_created(lab3, mesh, clusters, before):
    # Something of the user's that looks similar must survive.
    red = mesh["red-mesh"]
    red.core.create_namespaced_config_map(red.namespace, {
        "metadata": {"name": "users-own-config",
                     "labels": {"app.kubernetes.io/managed-by": "someone-else"}},
        "data": {"k": "v"}})
    try:
        run = run_playbook("unfederate.yml", lab3.inventory)
        assert run.rc == 0, run.explain()
        for name, m in mesh.items():
            remaining = m.snapshot()
            extra = {(k, n) for k, n, _uid in remaining - before[name]}
            assert extra == ({("ConfigMap", "users-own-config")} if name == "red-mesh" else set())
            assert before[name] <= remaining  # same objects, same UIDs: nothing else touched

        since = now()
        again = run_playbook("unfederate.yml", lab3.inventory)
        assert again.rc == 0 and again.changed == 0, again.explain()
        assert writes(lab3, clusters, since) == 0
    finally:
        red.core.delete_namespaced_config_map("users-own-config", red.namespace)


def test_unmanaged_differing_object_is_refused_then_taken_over(lab3, mesh):
    red = mesh["red-mesh"]
    red.core.create_namespaced_config_map(red.namespace, {
        "metadata": {"name": "green-mesh-ca-root-cert"},
        "data": {"root-cert.pem": mesh["blue-mesh"].root_pem()}})
    try:
        refused = run_playbook("federate.yml", lab3.inventory,
                               extra_vars={"federation_wait_timeout": 10})
        assert refused.rc != 0
        assert "green-mesh-ca-root-cert" in refused.failure_text(), refused.explain()
        untouched = red.configmap("green-mesh-ca-root-cert")
        assert untouched.data == {"root-cert.pem": mesh["blue-mesh"].root_pem()}
        assert not (untouched.metadata.labels or {})

        adopted = run_playbook("federate.yml", lab3.inventory,
                               extra_vars={"federation_take_over": True})
        assert adopted.rc == 0, adopted.explain()
        cm = red.configmap("green-mesh-ca-root-cert")
        assert cm.data == {"root-cert.pem": mesh["green-mesh"].root_pem()}
        assert cm.metadata.labels["app.kubernetes.io/managed-by"] == "servicemesh.federation"
    finally:
        unfederate(lab3)
        try:
            red.core.delete_namespaced_config_map("green-mesh-ca-root-cert", red.namespace)
        except ApiException as e:
            assert e.status == 404
