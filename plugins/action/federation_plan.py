# Copyright (c) servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validate the whole federation plan on the controller (documented in modules/federation_plan)."""

from __future__ import annotations

import os

from ansible.plugins.action import ActionBase

from ansible_collections.servicemesh.federation.plugins.module_utils.client.passwords import (
    PasswordsError,
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

ARGUMENT_SPEC = {
    "meshes": {"type": "dict", "required": True},
    "links": {"type": "raw"},
    "env_auth": {"type": "bool"},
    "outside_meshes": {"type": "list", "elements": "str", "default": []},
    # raw: build_plan names federation_gateways in its message; null means managed.
    "gateways": {"type": "raw", "default": "managed"},
    # raw values of the other federation_* group variables (unset ones left out), and the names
    # of every federation_* variable found, so build_plan can name what the user wrote.
    "settings": {"type": "dict", "default": {}},
    "variables": {"type": "list", "elements": "str", "default": []},
}


def env_auth_available(environ=None) -> bool:
    """Whether K8S_AUTH_* variables give kubernetes.core a connection without mesh_cluster."""
    environ = os.environ if environ is None else environ

    def given(name):
        return bool(environ.get(name))

    return (given("K8S_AUTH_KUBECONFIG") or given("K8S_AUTH_CONTEXT")
            or (given("K8S_AUTH_HOST") and (given("K8S_AUTH_API_KEY")
                                            or (given("K8S_AUTH_USERNAME")
                                                and given("K8S_AUTH_PASSWORD")))))


def passwords_file(environ=None) -> dict | None:
    """What the plan may know of the passwords file named by FEDERATION_CLUSTER_PASSWORDS:
    the cluster names it holds, or why it cannot be read; None when the variable is unset.
    The passwords themselves stay here (cluster_login reads the file again for the value)."""
    environ = os.environ if environ is None else environ
    path = environ.get(PASSWORDS_ENV)
    if not path:
        return None
    try:
        return {"clusters": sorted(read_passwords(path))}
    except PasswordsError as exc:
        return {"error": str(exc)}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self.validate_argument_spec(ARGUMENT_SPEC)[1]
        env_auth = args["env_auth"]
        if env_auth is None:
            env_auth = env_auth_available()
        try:
            plan = build_plan(args["meshes"], args["links"], env_auth=env_auth,
                              outside=args["outside_meshes"], gateways=args["gateways"],
                              passwords=passwords_file(), settings=args["settings"],
                              variables=args["variables"])
        except PlanError as exc:
            result.update(failed=True, msg=str(exc), problems=exc.problems)
            return result
        result.update(changed=False, plan=plan)
        return result
