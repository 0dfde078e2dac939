# Copyright: (c) 2026, servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a module of this collection inside the controller's worker process.

Every module of the collection talks to cluster APIs, so it always ran on the controller
(`connection: local`), each run a new Python process: AnsiballZ, `ansible.module_utils.basic`,
the kubernetes client, ~0.9 s of CPU per mesh and step (docs/benchmark.md). The action plugin
of the same name runs the module's own `execute(module)` here instead, with an object that
behaves as AnsibleModule / AnsibleK8SModule for what the modules use: the same argument
validation (ModuleArgumentSpecValidator, the same messages), check and diff mode, warnings,
no_log masking of the result. `invocation` only at -vvv, where Ansible shows it: below that the
main process would copy and convert each task's whole arguments per mesh only to hide them
(most of a result's size). The strategy imports the action plugin in the main
`ansible-playbook` process before it forks a worker per host and task, so the kubernetes client
and this collection's module_utils are imported once per run, not once per mesh and task.

Modules still run as modules (AnsiballZ) where in-process would change their meaning: a task on
a non-local connection (the module then runs on that host, as before), a task with an
`environment` (the module process would have it; this process does not).
"""

from __future__ import annotations

import contextlib
import datetime
import importlib
import json
from collections.abc import Mapping

from ansible.module_utils.common.arg_spec import ModuleArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible.module_utils.errors import UnsupportedError
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

display = Display()

LOCAL_CONNECTIONS = frozenset(("local", "ansible.builtin.local", "ansible.legacy.local"))


def controller_module(name: str):
    """This collection's module `name`, imported with kubernetes.core's client (which the
    modules import only when they connect), or None when they cannot be imported here.

    Called when the action plugin is imported: by the strategy, in the main process, so the
    forked workers share these imports instead of paying them per mesh and task."""
    try:
        importlib.import_module("ansible_collections.kubernetes.core.plugins.module_utils.k8s.client")
        return importlib.import_module(f"{__name__.rsplit('.', 2)[0]}.modules.{name}")
    except ImportError:  # e.g. no kubernetes client on the controller: run as a module process
        return None


class ModuleExit(BaseException):
    """exit_json / fail_json: ends the module's code as sys.exit ends a module process.

    A BaseException, like SystemExit, so that a module's own `except Exception` around code
    that fails the module does not catch it."""

    def __init__(self, result: dict) -> None:
        super().__init__(result.get("msg", ""))
        self.result = result


def _json_default(value):
    # What AnsibleModule's JSON encoder turns into JSON: results cross to the main process as
    # they would have from a module's stdout.
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


class InProcessModule:
    """The AnsibleModule surface the collection's modules use, without a process."""

    # AnsibleK8SModule's attributes that kubernetes.core's client reads.
    server_side_dry_run = False

    def __init__(self, name: str, args: Mapping, *, check_mode: bool, diff: bool,
                 argument_spec: dict, invocation: bool = True,
                 supports_check_mode: bool = False,
                 mutually_exclusive=None, required_together=None, required_one_of=None,
                 required_if=None, required_by=None, **_k8s_options) -> None:
        self._name = name
        self.argument_spec = argument_spec
        self.check_mode = check_mode
        self._diff = diff
        self._invocation = invocation
        self.supports_check_mode = supports_check_mode
        self.params = dict(args)
        self.no_log_values: set[str] = set()
        self._warnings: list[str] = []
        validation = ModuleArgumentSpecValidator(
            argument_spec, mutually_exclusive, required_together, required_one_of,
            required_if, required_by).validate(self.params)
        self.params.update(validation.validated_parameters)
        # pylint: disable-next=protected-access  # AnsibleModule reads the same attribute
        self.no_log_values.update(validation._no_log_values)
        if validation.errors.errors:
            msg = validation.errors.msg
            if isinstance(validation.errors[0], UnsupportedError):
                msg = f"Unsupported parameters for ({name}) module: {msg}"
            self.fail_json(msg=msg)
        if check_mode and not supports_check_mode:
            self.exit_json(skipped=True, msg=f"remote module ({name}) does not support check mode")

    @property
    def _module(self):  # AnsibleK8SModule wraps an AnsibleModule; here they are one object
        return self

    def requires(self, *_args, **_kwargs) -> None:
        """The controller imported the kubernetes client already (the action plugin did)."""

    def warn(self, warning: str) -> None:
        self._warnings.append(warning)

    def exit_json(self, **result):
        raise ModuleExit(self._formatted(result))

    def fail_json(self, msg, **result):
        result.update(failed=True, msg=str(msg))
        raise ModuleExit(self._formatted(result))

    def _formatted(self, result: dict) -> dict:
        if self._invocation:
            result.setdefault("invocation", {"module_args": self.params})
        else:
            result.pop("invocation", None)
        if self._warnings:
            result["warnings"] = list(self._warnings)
        plain = json.loads(json.dumps(result, default=_json_default))
        return remove_values(plain, self.no_log_values)


class InProcessModuleAction(ActionBase):
    """Base of the action plugins that run a module of this collection in process.

    Subclasses set MODULE: the module's Python module, exposing `module_options()` and
    `execute(module)`, or None when it cannot be imported on the controller."""

    TRANSFERS_FILES = False
    MODULE = None

    def _in_process(self) -> bool:
        connection = getattr(self._connection, "_load_name", None) or self._play_context.connection
        # Ansible gives every task an environment list ([{}] when none is set).
        return (self.MODULE is not None and connection in LOCAL_CONNECTIONS
                and not any(self._task.environment or ()))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        if not self._in_process():
            # As a module process: on the task's host, with the task's environment. An import
            # error of the controller-side path (e.g. no kubernetes client here) surfaces there.
            result.update(self._execute_module(task_vars=task_vars))
            return result
        name = self._task.resolved_action.rsplit(".", 1)[-1]
        # A module process ran in the playbook's directory: relative paths (ca_cert) resolve there.
        with contextlib.chdir(self._loader.get_basedir()):
            try:
                module = InProcessModule(
                    name, self._task.args, check_mode=bool(self._task.check_mode),
                    diff=bool(self._task.diff), invocation=display.verbosity >= 3,
                    **self.MODULE.module_options())
                self.MODULE.execute(module)
                raise AssertionError(f"{name} returned without exit_json or fail_json")
            except ModuleExit as done:
                result.update(done.result)
        return result
