"""Passwords by cluster name from the file an AWX credential injects: the plan checks which
clusters it has (never the values), cluster_login takes the value; no message shows one."""

from types import SimpleNamespace
from unittest import mock

import pytest

from ansible_collections.servicemesh.federation.plugins.action.federation_plan import (
    ActionModule,
    passwords_file,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.client.passwords import (
    PasswordsError,
    password_for,
    read_passwords,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.errors import (
    PlanError,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.naming import (
    PASSWORDS_ENV,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.plan import (
    build_plan,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.plan_clusters import (
    cluster_name,
)
from ansible_collections.servicemesh.federation.plugins.modules.cluster_login import (
    file_password,
)

PASSWORD = "correct-horse-battery-staple"
OTHER = "tr0ub4dor&3"


def password_mesh(**cluster):
    return {"mesh_cluster": {"host": "https://api.east.example:6443",
                             "username": "federation-automation", **cluster}}


@pytest.fixture
def pw_file(tmp_path):
    path = tmp_path / "passwords"
    path.write_text(f"east: {PASSWORD}\n'https://api.west.example:6443': '{OTHER}'\n")
    path.chmod(0o600)
    return str(path)


def test_reads_the_mapping(pw_file):
    assert read_passwords(pw_file) == {"east": PASSWORD, "https://api.west.example:6443": OTHER}
    assert password_for(pw_file, "east") == PASSWORD


@pytest.mark.parametrize("text, reason", [
    (f"east: {PASSWORD}\n  west: [{OTHER}\n", "is not valid YAML (line 2)"),
    (f"- {PASSWORD}\n", "must be a YAML mapping of cluster name to password"),
    ("", "must be a YAML mapping"),
    (f"east: [{PASSWORD}]\n", "the password of cluster 'east' must be a non-empty string"),
    ("east: 12345\n", "the password of cluster 'east' must be a non-empty string"),
    (f"42: {PASSWORD}\n", "every key must be a cluster name"),
])
def test_bad_files_are_named_with_the_reason_and_no_content(tmp_path, text, reason):
    path = tmp_path / "passwords"
    path.write_text(text)
    with pytest.raises(PasswordsError) as info:
        read_passwords(str(path))
    assert reason in str(info.value) and str(path) in str(info.value)
    assert PASSWORD not in str(info.value) and OTHER not in str(info.value)
    assert "12345" not in str(info.value)


def test_missing_file_and_missing_cluster(tmp_path, pw_file):
    with pytest.raises(PasswordsError, match="cannot read .*No such file"):
        read_passwords(str(tmp_path / "nope"))
    with pytest.raises(PasswordsError) as info:
        password_for(pw_file, "north")
    assert "no password for cluster 'north'" in str(info.value)
    assert PASSWORD not in str(info.value)


@pytest.mark.parametrize("cluster, name", [
    ({"name": "east", "context": "ctx", "host": "https://h"}, "east"),
    ({"context": "ctx", "host": "https://h"}, "ctx"),
    ({"host": "https://h"}, "https://h"),
    ({}, None),
    (None, None),
])
def test_cluster_name_is_name_else_context_else_host(cluster, name):
    assert cluster_name(cluster) == name


# The plan: username without password is complete only when the file has the cluster.

def test_plan_accepts_username_without_password_when_the_file_has_the_cluster():
    meshes = {"red": password_mesh(name="east"),
              "green": password_mesh(host="https://api.west.example:6443")}
    plan = build_plan(meshes, passwords={"clusters": ["east", "https://api.west.example:6443"]})
    assert {m["auth"] for m in plan["meshes"].values()} == {"password"}
    assert plan["meshes"]["red"]["cluster"] == "east"


def test_plan_names_the_cluster_the_file_lacks():
    meshes = {"red": password_mesh(name="north"), "green": password_mesh(name="east")}
    with pytest.raises(PlanError) as info:
        build_plan(meshes, passwords={"clusters": ["east"]})
    assert info.value.problems == [
        "mesh 'red': mesh_cluster.password: missing, and the passwords file "
        f"({PASSWORDS_ENV}) has no password for cluster 'north' (the key is mesh_cluster.name, "
        "else context, else host; clusters in the file: east)"]


def test_plan_without_the_file_still_needs_the_password():
    with pytest.raises(PlanError) as info:
        build_plan({"red": password_mesh(), "green": password_mesh(name="g")})
    assert all(f"mesh_cluster.password: missing (username and password go together; or set "
               f"{PASSWORDS_ENV}" in p for p in info.value.problems)


def test_plan_reports_an_unusable_file_per_mesh_that_needs_it():
    meshes = {"red": password_mesh(name="east"),
              "green": {"mesh_cluster": {"kubeconfig": "/k", "context": "green"}}}
    with pytest.raises(PlanError) as info:
        build_plan(meshes, passwords={"error": "/x/passwords is not valid YAML (line 2)"})
    assert info.value.problems == [
        f"mesh 'red': mesh_cluster.password: missing, and the passwords file ({PASSWORDS_ENV}) "
        "cannot be used: /x/passwords is not valid YAML (line 2)"]


def test_a_given_password_wins_and_the_file_is_not_needed():
    plan = build_plan({"red": password_mesh(password=PASSWORD), "green": password_mesh(
        password=PASSWORD, name="g")}, passwords={"error": "broken"})
    assert plan["meshes"]["red"]["auth"] == "password"


# The action plugin reads the file named by the variable: names only, never values.

def test_passwords_file_gives_names_only(pw_file, tmp_path):
    assert passwords_file({}) is None
    assert passwords_file({PASSWORDS_ENV: pw_file}) == {
        "clusters": ["east", "https://api.west.example:6443"]}
    broken = passwords_file({PASSWORDS_ENV: str(tmp_path / "missing")})
    assert "cannot read" in broken["error"]


def run_action(args, environ):
    from ansible.playbook.task import Task

    task = Task()
    task.args = args
    action = ActionModule(task, mock.MagicMock(), mock.MagicMock(), loader=None, templar=None,
                          shared_loader_obj=None)
    with mock.patch.dict("os.environ", environ, clear=True):
        return action.run(task_vars={})


def test_plan_action_checks_the_file_before_any_login(pw_file):
    meshes = {"red": password_mesh(name="east"), "green": password_mesh(name="north")}
    result = run_action({"meshes": meshes}, {PASSWORDS_ENV: pw_file})
    assert result["failed"] is True
    assert result["problems"] == [
        "mesh 'green': mesh_cluster.password: missing, and the passwords file "
        f"({PASSWORDS_ENV}) has no password for cluster 'north' (the key is mesh_cluster.name, "
        "else context, else host; clusters in the file: east, https://api.west.example:6443)"]
    assert PASSWORD not in repr(result) and OTHER not in repr(result)


def test_plan_action_accepts_a_context_with_the_kubeconfig_from_the_environment():
    meshes = {"red": {"mesh_cluster": {"context": "red-automation"}},
              "green": {"mesh_cluster": {"context": "green-automation"}}}
    result = run_action({"meshes": meshes}, {"K8S_AUTH_KUBECONFIG": "/runner/env/tmpabc"})
    assert not result.get("failed"), result
    assert {m["cluster"] for m in result["plan"]["meshes"].values()} == {
        "red-automation", "green-automation"}
    result = run_action({"meshes": meshes}, {})
    assert result["failed"] and all(
        "mesh_cluster.kubeconfig: missing: a context needs a kubeconfig" in p
        for p in result["problems"])


# cluster_login takes the value straight from the file and masks it.

def login_module(**params):
    """Shaped like AnsibleK8SModule: the AnsibleModule (with no_log_values) inside."""
    base = {"passwords_file": None, "cluster_name": None}
    return SimpleNamespace(params={**base, **params},
                           _module=SimpleNamespace(no_log_values=set()))


def test_login_takes_the_cluster_password_and_masks_it(pw_file):
    module = login_module(passwords_file=pw_file, cluster_name="east")
    assert file_password(module) == PASSWORD
    assert PASSWORD in module._module.no_log_values
    assert file_password(login_module()) is None


def test_login_without_cluster_name_or_entry_fails_clearly(pw_file):
    with pytest.raises(PasswordsError, match="cluster_name is required"):
        file_password(login_module(passwords_file=pw_file))
    with pytest.raises(PasswordsError) as info:
        file_password(login_module(passwords_file=pw_file, cluster_name="north"))
    assert "no password for cluster 'north'" in str(info.value)
    assert PASSWORD not in str(info.value)
