"""Fault 10 of docs/reliability.md: a mesh's root certificate rotated (`lab fault rotate-ca`).

A private 2-mesh lab (ip block 60) whose simulated istiods re-read peer roots as OSSM does, at
their resync, here every 3 s instead of 60 so the test stays short. The tests run in order:
federate, rotate one mesh's root, a re-run is refused before any write showing the old and new
fingerprints, check mode shows them too (and the ConfigMap change in diff mode), a re-run that
accepts the change updates the copies and ends connected, and the next re-run writes nothing.
"""

from __future__ import annotations

import pytest
from ansible_run import run_playbook
from common import now, writes
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from mesh_admin import MeshAdmin

MESHES = ("teal-mesh", "plum-mesh")
ROTATED, HOLDER = "plum-mesh", "teal-mesh"
ANNOTATION = "federation.servicemesh.io/root-sha256"
GATE_TASK = "Show the root certificate changes (old -> new fingerprints per mesh)"
APPLY_TASK = "Create or update the CA ConfigMaps, ServiceMeshPeers and service sets"


@pytest.fixture(scope="module")
def roots_lab(lab_factory):
    return lab_factory("roots", " ".join(MESHES), 60, resync_seconds=3)


@pytest.fixture(scope="module")
def mesh(roots_lab):
    return {name: roots_lab.admin(name) for name in MESHES}


@pytest.fixture(scope="module")
def clusters(mesh):
    return sorted({m.cluster for m in mesh.values()})


@pytest.fixture(scope="module")
def old_root(mesh, federated):
    return current_root(mesh[ROTATED])


@pytest.fixture(scope="module")
def federated(roots_lab, mesh):
    run = run_playbook("federate.yml", roots_lab.inventory)
    assert run.rc == 0, run.explain()
    return run


def current_root(m: MeshAdmin) -> str:
    return m.configmap("istio-ca-root-cert").data["root-cert.pem"]


def fingerprint(pem: str) -> str:
    return x509.load_pem_x509_certificate(pem.encode()).fingerprint(hashes.SHA256()).hex()


def copy_of(mesh, holder: str, owner: str):
    return mesh[holder].configmap(f"{owner}-ca-root-cert")


def test_each_copy_records_the_fingerprint_of_the_root_it_holds(mesh, federated):
    for holder, owner in (MESHES, MESHES[::-1]):
        copy = copy_of(mesh, holder, owner)
        assert copy.data["root-cert.pem"] == current_root(mesh[owner])
        assert copy.metadata.annotations[ANNOTATION] == fingerprint(current_root(mesh[owner]))


def test_a_rotated_root_stops_the_run_before_any_write(roots_lab, mesh, clusters, old_root):
    roots_lab.run("fault", "rotate-ca", ROTATED)
    new_root = current_root(mesh[ROTATED])
    assert new_root != old_root
    since = now()
    run = run_playbook("federate.yml", roots_lab.inventory)
    assert run.rc != 0
    assert writes(roots_lab, clusters, since) == 0, run.explain()
    text = run.failure_text()
    assert f"old sha256 {fingerprint(old_root)}" in text, run.explain()
    assert f"new sha256 {fingerprint(new_root)}" in text
    assert f"mesh {ROTATED} (cluster " in text
    assert f"{HOLDER} ({HOLDER}-system/{ROTATED}-ca-root-cert)" in text
    assert f"federation_accept_root_change: [{ROTATED}]" in text
    # Nothing moved: the holder still trusts the old root.
    assert copy_of(mesh, HOLDER, ROTATED).data["root-cert.pem"] == old_root


def test_check_mode_shows_the_fingerprints_and_the_configmap_change(
        roots_lab, mesh, clusters, old_root):
    new_root = current_root(mesh[ROTATED])
    since = now()
    run = run_playbook("federate.yml", roots_lab.inventory, check=True, diff=True)
    assert run.rc == 0, run.explain()
    assert writes(roots_lab, clusters, since) == 0
    shown = list(run.results(GATE_TASK, "ok").values())
    assert len(shown) == 1, run.explain()  # printed once, by the first mesh
    shown = shown[0]
    assert shown["msg"].startswith("check mode: a real run would stop before any write")
    assert f"old sha256 {fingerprint(old_root)}" in shown["msg"]
    assert f"new sha256 {fingerprint(new_root)}" in shown["msg"]
    (diff,) = [d for d in run.results(APPLY_TASK)[HOLDER]["diff"]
               if d["after_header"].endswith(f"/{ROTATED}-ca-root-cert")]
    assert diff["before"]["data"]["root-cert.pem"] == old_root
    assert diff["after"]["data"]["root-cert.pem"] == new_root
    assert diff["before"]["metadata"]["annotations"] == {ANNOTATION: fingerprint(old_root)}
    assert diff["after"]["metadata"]["annotations"] == {ANNOTATION: fingerprint(new_root)}


def test_an_accepted_change_updates_every_copy_and_ends_connected(roots_lab, mesh, clusters):
    new_root = current_root(mesh[ROTATED])
    since = now()
    run = run_playbook("federate.yml", roots_lab.inventory,
                       extra_vars={"federation_accept_root_change": [ROTATED]})
    assert run.rc == 0, run.explain()  # the report role fails unless every direction connects
    # One write: the holder's copy (content and fingerprint in one patch).
    assert writes(roots_lab, clusters, since) == 1
    copy = copy_of(mesh, HOLDER, ROTATED)
    assert copy.data["root-cert.pem"] == new_root
    assert copy.metadata.annotations[ANNOTATION] == fingerprint(new_root)
    for holder, owner in (MESHES, MESHES[::-1]):
        status = mesh[holder].peer(owner)["status"]["discoveryStatus"]
        assert [e["watch"]["connected"] for e in status["active"]] == [True]


def test_a_further_rerun_sends_no_write(roots_lab, clusters):
    since = now()
    run = run_playbook("federate.yml", roots_lab.inventory)
    assert run.rc == 0, run.explain()
    assert writes(roots_lab, clusters, since) == 0
    assert run.changed == 0


def test_a_copy_made_before_the_annotation_is_recorded_without_a_gate(
        roots_lab, mesh, clusters):
    copy = copy_of(mesh, HOLDER, ROTATED)
    mesh[HOLDER].core.patch_namespaced_config_map(
        copy.metadata.name, mesh[HOLDER].namespace,
        {"metadata": {"annotations": {ANNOTATION: None}}})
    since = now()
    run = run_playbook("federate.yml", roots_lab.inventory)
    assert run.rc == 0, run.explain()
    assert writes(roots_lab, clusters, since) == 1  # the annotation, recorded now
    assert copy_of(mesh, HOLDER, ROTATED).metadata.annotations[ANNOTATION] == fingerprint(
        current_root(mesh[ROTATED]))
