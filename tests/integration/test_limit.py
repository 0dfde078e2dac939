"""federate.yml end to end with `--limit` and with fewer forks than meshes, on private labs.

`--limit` (3 meshes, ip block 64): federating two meshes of three writes only to their cluster and
never touches the third mesh (no write on its cluster, its SMCP and objects unchanged, no host of
its own in the recap); federating all afterwards connects every direction. Forks (6 meshes, ip
block 68): a run with `--forks 2` connects all 30 directions with the exact writes of a first run.

Both labs put several meshes on one cluster (fewer apiservers: cheaper to start and keep idle).
"""

from __future__ import annotations

import pytest
from common import now, run_playbook, writes
from mesh_admin import MANAGED

ASH, ELM, OAK = "ash-mesh", "elm-mesh", "oak-mesh"
# ash and elm share a cluster; oak (the mesh left out by --limit) has its own.
LIMIT_LAB = f"{ASH}:grove {ELM}:grove {OAK}:ridge"
LIMIT_IP_BLOCK = 64
FORK_MESHES = [f"fork{i}-mesh" for i in range(1, 7)]
FORK_LAB = " ".join(f"{m}:{'fork-a' if i < 3 else 'fork-b'}" for i, m in enumerate(FORK_MESHES))
FORK_IP_BLOCK = 68
# Per direction a -> b, in a's namespace: CA ConfigMap, ServiceMeshPeer, ExportedServiceSet,
# ImportedServiceSet (the lab inventory shares ratings in every direction).
OBJECTS_PER_DIRECTION = 4


def first_run_writes(meshes: int) -> int:
    """One gateway apply per mesh and one write per object (docs/benchmark.md)."""
    return meshes + OBJECTS_PER_DIRECTION * meshes * (meshes - 1)


def connected_cells(run) -> dict[tuple[str, str], str]:
    """(mesh, peer) -> summary of every cell of the run's matrix; the run must be all connected."""
    matrix = run.custom_stats["_run"]["federation_matrix"]
    assert matrix["all_connected"] is True and matrix["failed"] == [], matrix
    return {(mesh, peer): cell["summary"]
            for mesh, row in matrix["cells"].items() for peer, cell in row.items()}


@pytest.fixture(scope="module")
def limit_lab(lab_factory, release_lab):
    yield lab_factory("limit", LIMIT_LAB, LIMIT_IP_BLOCK)
    release_lab("limit")


@pytest.fixture(scope="module")
def fork_lab(lab_factory, release_lab):
    yield lab_factory("forks", FORK_LAB, FORK_IP_BLOCK)
    release_lab("forks")


def test_limit_federates_two_meshes_and_leaves_the_third_untouched(limit_lab):
    ash, elm, oak = (limit_lab.admin(m) for m in (ASH, ELM, OAK))
    smcp_before, objects_before = oak.smcp(), oak.snapshot()
    since = now()

    run = run_playbook("federate.yml", limit_lab.inventory, limit=f"{ASH},{ELM}")
    assert run.rc == 0, run.explain()
    assert set(run.stats) == {ASH, ELM}, run.stats  # oak has no line in the recap
    assert connected_cells(run) == {(ASH, ELM): "connected 1/1", (ELM, ASH): "connected 1/1"}
    # Exactly a first run of two meshes on their cluster; nothing on oak's.
    assert writes(limit_lab, [ash.cluster], since) == first_run_writes(2)
    assert writes(limit_lab, [oak.cluster], since) == 0
    smcp_after = oak.smcp()
    assert smcp_after["metadata"]["resourceVersion"] == smcp_before["metadata"]["resourceVersion"]
    assert smcp_after["spec"] == smcp_before["spec"]
    assert oak.snapshot() == objects_before
    # The two federated meshes describe each other only.
    assert set(ash.peers(MANAGED)) == {ELM} and set(elm.peers(MANAGED)) == {ASH}

    since = now()
    run = run_playbook("federate.yml", limit_lab.inventory)
    assert run.rc == 0, run.explain()
    assert connected_cells(run) == {(a, b): "connected 1/1"
                                    for a in (ASH, ELM, OAK) for b in (ASH, ELM, OAK) if a != b}
    # The four new directions' objects, oak's gateway apply, and one apply each on ash and elm
    # for their new gateway pair towards oak; ash <-> elm is not written again.
    assert writes(limit_lab, [ash.cluster, oak.cluster], since) == (
        3 + OBJECTS_PER_DIRECTION * 4)
    for m in (ash, elm, oak):
        assert set(m.peers(MANAGED)) == {ASH, ELM, OAK} - {m.name}


def test_six_meshes_with_two_forks_connect_with_exact_writes(fork_lab):
    lab = fork_lab
    clusters = sorted({lab.admin(m).cluster for m in FORK_MESHES})
    since = now()

    run = run_playbook("federate.yml", lab.inventory, forks=2)
    assert run.rc == 0, run.explain()
    assert set(connected_cells(run).values()) == {"connected 1/1"}
    assert len(connected_cells(run)) == len(FORK_MESHES) * (len(FORK_MESHES) - 1)
    assert writes(lab, clusters, since) == first_run_writes(len(FORK_MESHES))
