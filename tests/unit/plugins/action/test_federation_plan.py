"""The federation_plan action plugin: a thin wrapper over plan.build_plan."""

from unittest import mock

import pytest
from ansible.playbook.task import Task

from ansible_collections.servicemesh.federation.plugins.action.federation_plan import (
    ActionModule,
    env_auth_available,
)

SECRET = "sha256~do-not-print-me"


def run(args, environ=None):
    task = Task()
    task.args = args
    action = ActionModule(task, mock.MagicMock(), mock.MagicMock(), loader=None, templar=None,
                          shared_loader_obj=None)
    with mock.patch.dict("os.environ", environ or {}, clear=True):
        return action.run(task_vars={})


def token_mesh():
    return {"mesh_cluster": {"host": "https://api.example:6443", "api_key": SECRET}}


def test_returns_the_plan_without_changing_anything():
    result = run({"meshes": {"red": token_mesh(), "green": token_mesh()}})
    assert not result.get("failed") and result["changed"] is False
    assert result["plan"]["directions"] == [["green", "red"], ["red", "green"]]
    assert SECRET not in repr(result)


def test_fails_listing_every_problem_without_secrets():
    meshes = {"red": {"mesh_cluster": {"api_key": SECRET}, "mesh_namespace": "Bad"},
              "green": token_mesh()}
    result = run({"meshes": meshes, "links": [["red", "green"], ["red", "blue"]]})
    assert result["failed"] is True
    assert len(result["problems"]) == 3, result["problems"]
    assert all(p in result["msg"] for p in result["problems"])
    assert SECRET not in repr(result)


@pytest.mark.parametrize("env_auth, environ, ok", [
    (None, {}, False),
    (None, {"K8S_AUTH_KUBECONFIG": "/k"}, True),
    (True, {}, True),
    (False, {"K8S_AUTH_KUBECONFIG": "/k"}, False),
])
def test_empty_mesh_cluster_needs_environment_auth(env_auth, environ, ok):
    args = {"meshes": {"red": {}, "green": token_mesh()}}
    if env_auth is not None:
        args["env_auth"] = env_auth
    result = run(args, environ)
    assert bool(result.get("failed")) is not ok
    if ok:
        assert result["plan"]["meshes"]["red"]["auth"] == "environment"


@pytest.mark.parametrize("environ, available", [
    ({}, False),
    ({"K8S_AUTH_KUBECONFIG": "/k"}, True),
    ({"K8S_AUTH_CONTEXT": "red"}, True),
    ({"K8S_AUTH_HOST": "https://a"}, False),
    ({"K8S_AUTH_HOST": "https://a", "K8S_AUTH_API_KEY": "t"}, True),
    ({"K8S_AUTH_HOST": "https://a", "K8S_AUTH_USERNAME": "u"}, False),
    ({"K8S_AUTH_HOST": "https://a", "K8S_AUTH_USERNAME": "u", "K8S_AUTH_PASSWORD": "p"}, True),
    ({"K8S_AUTH_KUBECONFIG": ""}, False),
])
def test_env_auth_available(environ, available):
    assert env_auth_available(environ) is available


def test_outside_meshes_are_passed_to_the_plan():
    meshes = {"red": dict(token_mesh(), mesh_peers={"blue": {}}), "green": token_mesh()}
    assert run({"meshes": meshes})["failed"] is True
    assert not run({"meshes": meshes, "outside_meshes": ["blue"]}).get("failed")


@pytest.mark.parametrize("args, mode", [({}, "managed"), ({"gateways": None}, "managed"),
                                        ({"gateways": "external"}, "external")])
def test_gateways_default_to_managed(args, mode):
    result = run(dict(args, meshes={"red": token_mesh(), "green": token_mesh()}))
    assert result["plan"]["meshes"]["red"]["gateways"] == mode


def test_an_unknown_gateways_mode_is_a_plan_problem():
    result = run({"meshes": {"red": token_mesh()}, "gateways": "yes"})
    assert result["problems"] == ["federation_gateways: must be one of managed, external, "
                                  "got 'yes'"]
