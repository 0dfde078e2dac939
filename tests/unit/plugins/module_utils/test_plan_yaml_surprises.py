"""Values YAML reads as something other than the string the user meant (``on``, ``no``,
``0123``) are refused saying so, and one malformed federation_links entry is reported once,
not again by every override and import it leaves unlinked (module_utils/logic/plan.py)."""

import pytest

from ansible_collections.servicemesh.federation.plugins.module_utils.logic.errors import (
    PlanError,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.plan import (
    build_plan,
)

BOOLEAN = "(YAML reads unquoted yes/no/on/off/true/false as a boolean: quote the value)"
NUMBER = "(YAML read it as a number: quote the value)"


def mesh(**extra):
    return {"mesh_cluster": {"host": "https://api.example.com:6443", "api_key": "t0ken"}, **extra}


def problems(meshes, links=None, settings=None):
    with pytest.raises(PlanError) as info:
        build_plan(meshes, links, settings=settings)
    return info.value.problems


@pytest.mark.parametrize("changes, expected", [
    ({"mesh_name": True}, f"mesh 'True' (inventory host 'red'): mesh_name: must be a string, "
                          f"got True {BOOLEAN}"),
    ({"mesh_name": 83}, f"mesh '83' (inventory host 'red'): mesh_name: must be a string, "
                        f"got 83 {NUMBER}"),
    ({"mesh_namespace": False}, f"mesh 'red': mesh_namespace: must be a string, got False "
                                f"{BOOLEAN}"),
    ({"mesh_trust_domain": 1.5}, f"mesh 'red': mesh_trust_domain: must be a string, got 1.5 "
                                 f"{NUMBER}"),
])
def test_a_name_yaml_did_not_read_as_a_string_says_why(changes, expected):
    found = problems({"red": mesh(**changes), "green": mesh()})
    assert any(p.startswith(expected) for p in found), found


def test_group_variables_read_as_booleans_say_why():
    found = problems({"red": mesh(), "green": mesh()}, links=[["red", True]],
                     settings={"federation_wait_timeout": True})
    assert found == [
        f"federation_links[0]: must be a list of exactly two mesh names, got ['red', True] "
        f"{BOOLEAN}",
        f"federation_wait_timeout: must be a whole number of seconds (1 or more), got True "
        f"{BOOLEAN}",
    ]


def test_a_malformed_link_is_reported_once_not_by_every_override_and_import():
    meshes = {
        "red": mesh(mesh_peers={"blue": {"discovery_port": 8188}},
                    mesh_imports=[{"from": "blue", "service": "ratings", "namespace": "apps"}]),
        "green": mesh(),
        "blue": mesh(mesh_exports=[{"service": "ratings", "namespace": "apps"}]),
    }
    assert problems(meshes, links=[["red", "blue", "green"]]) == [
        "federation_links[0]: must be a list of exactly two mesh names, got "
        "['red', 'blue', 'green']"]
    # With valid links, an override for a peer they leave unlinked is still a problem.
    found = problems(meshes, links=[["red", "green"]])
    assert "mesh 'red': mesh_peers.blue: this mesh is not linked with that peer " \
           "(see federation_links)" in found, found
