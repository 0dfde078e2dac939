"""Running a module in the controller's worker: the same validation, masking and results as the
module process, and the module process where in-process would change the task's meaning."""

from unittest import mock

import pytest

from ansible_collections.servicemesh.federation.plugins.modules import (
    cluster_login,
    federation_status,
)
from ansible_collections.servicemesh.federation.plugins.plugin_utils.in_process import (
    InProcessModule,
    InProcessModuleAction,
    ModuleExit,
)

SECRET = "sha256~do-not-print-me"


def module(args, check_mode=False, options=None):
    return InProcessModule("federation_status", args, check_mode=check_mode, diff=False,
                           **(options or federation_status.module_options()))


def exit_of(call):
    with pytest.raises(ModuleExit) as done:
        call()
    return done.value.result


def test_missing_option_fails_with_the_modules_message():
    result = exit_of(lambda: module({}))
    assert result["failed"] is True
    assert result["msg"] == "missing required arguments: namespace"


def test_unknown_option_is_named_as_a_module_names_it():
    result = exit_of(lambda: module({"namespace": "x", "bogus": 1}))
    assert result["msg"].startswith("Unsupported parameters for (federation_status) module: bogus.")


def test_defaults_and_types_are_applied():
    m = module({"namespace": "x", "timeout": "30", "wait": "yes"})
    assert m.params["timeout"] == 30 and m.params["wait"] is True and m.params["peers"] == []


def test_credentials_are_masked_in_the_result_and_its_invocation():
    m = module({"namespace": "x", "api_key": SECRET})
    result = exit_of(lambda: m.fail_json(msg=f"refused with {SECRET}", echo=[SECRET]))
    text = repr(result)
    assert SECRET not in text
    assert result["invocation"]["module_args"]["namespace"] == "x"


def test_a_password_added_at_run_time_is_masked_too():
    m = InProcessModule("cluster_login", {"host": "https://api:6443", "username": "u"},
                        check_mode=False, diff=False, **cluster_login.module_options())
    m._module.no_log_values.add("hunter2")  # as cluster_login.file_password does
    assert "hunter2" not in repr(exit_of(lambda: m.exit_json(said="hunter2")))


def test_warnings_are_returned_and_results_are_plain_json():
    m = module({"namespace": "x"})
    m.warn("repeated once")
    result = exit_of(lambda: m.exit_json(changed=False, names={"a"}, pair=("b", "c")))
    assert result["warnings"] == ["repeated once"]
    assert result["names"] == ["a"] and result["pair"] == ["b", "c"]


def test_exit_is_not_caught_by_a_modules_broad_except():
    m = module({"namespace": "x"})

    def body():
        try:
            m.fail_json(msg="stop here")
        except Exception:  # noqa: BLE001 - what cluster_login does around its work
            m.exit_json(msg="swallowed")
    assert exit_of(body)["msg"] == "stop here"


def test_check_mode_is_passed_and_refused_where_unsupported():
    assert module({"namespace": "x"}, check_mode=True).check_mode is True
    options = {**federation_status.module_options(), "supports_check_mode": False}
    result = exit_of(lambda: module({"namespace": "x"}, check_mode=True, options=options))
    assert result["skipped"] is True


def action(connection="local", environment=None, module_available=True):
    task = mock.MagicMock(environment=environment, args={"namespace": "x"}, check_mode=False,
                          diff=False, resolved_action="servicemesh.federation.federation_status")
    conn = mock.MagicMock(_load_name=connection)

    class Action(InProcessModuleAction):
        MODULE = federation_status if module_available else None
    loader = mock.MagicMock()
    loader.get_basedir.return_value = "/"
    return Action(task, conn, mock.MagicMock(connection=connection), loader=loader, templar=None,
                  shared_loader_obj=None)


@pytest.mark.parametrize("connection, environment, available, in_process", [
    ("local", None, True, True),
    ("ansible.builtin.local", [], True, True),
    ("ssh", None, True, False),          # the module runs on that host, as before
    ("local", [{"HTTPS_PROXY": "p"}], True, False),  # the module process gets the environment
    ("local", [{}], True, True),       # no environment set: what Ansible passes
    ("local", None, False, False),       # the module cannot be imported on the controller
])
def test_where_the_module_runs(connection, environment, available, in_process):
    assert action(connection, environment, available)._in_process() is in_process


def test_a_remote_task_runs_the_module_process():
    act = action("ssh")
    with mock.patch.object(InProcessModuleAction, "_execute_module",
                           return_value={"changed": False, "ran": "remotely"}) as execute, \
            mock.patch("ansible.plugins.action.ActionBase.run", return_value={}):
        assert act.run(task_vars={})["ran"] == "remotely"
    execute.assert_called_once()


def test_a_local_task_runs_in_process_with_the_modules_validation():
    act = action()
    act._task.args = {}
    with mock.patch("ansible.plugins.action.ActionBase.run", return_value={}):
        result = act.run(task_vars={})
    assert result["failed"] is True and result["msg"] == "missing required arguments: namespace"


def test_the_module_runs_in_the_playbooks_directory(tmp_path):
    """As a module process did: a relative ca_cert names a file next to the playbook."""
    act = action()
    act._loader.get_basedir.return_value = str(tmp_path)
    seen = {}

    class Probe:
        @staticmethod
        def module_options():
            return federation_status.module_options()

        @staticmethod
        def execute(module):
            import os
            seen["cwd"] = os.getcwd()
            module.exit_json()
    act.MODULE = Probe
    with mock.patch("ansible.plugins.action.ActionBase.run", return_value={}):
        act.run(task_vars={})
    assert seen["cwd"] == str(tmp_path)


def test_invocation_is_left_out_below_the_verbosity_that_shows_it():
    m = InProcessModule("federation_status", {"namespace": "x"}, check_mode=False, diff=False,
                        invocation=False, **federation_status.module_options())
    result = exit_of(lambda: m.exit_json(changed=False))
    assert "invocation" not in result and result["changed"] is False
