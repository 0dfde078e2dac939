"""Fixtures of the playbook integration tests: the shared 3-mesh lab, unfederated before and
after each test module, and admin read-back of its meshes."""

from __future__ import annotations

import pytest
from common import unfederate
from readback import meshes


@pytest.fixture(scope="module")
def lab3(lab):
    """The shared lab, unfederated (a previous module may have left objects behind)."""
    unfederate(lab)
    yield lab
    unfederate(lab)


@pytest.fixture(scope="module")
def mesh(lab3):
    """Mesh name -> mesh_admin.MeshAdmin (admin access)."""
    return meshes(lab3)


@pytest.fixture(scope="module")
def clusters(mesh):
    return sorted({m.cluster for m in mesh.values()})
