# Copyright: (c) 2026, servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every federation module shares: the argument spec and the run / fail wrapper."""

from __future__ import annotations

import copy
from collections.abc import Callable

from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC

from ansible_collections.servicemesh.federation.plugins.module_utils.client.cluster import (
    connect,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.client.kubeconfig import (
    mask_credentials_only,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.errors import (
    ClusterError,
    TaskError,
)


def argspec(**options) -> dict:
    """kubernetes.core's connection options (same names, K8S_AUTH_* variables) plus `options`."""
    spec = copy.deepcopy(AUTH_ARG_SPEC)
    spec.update(options)
    return spec


def run(module, action: Callable, check_input: Callable | None = None) -> None:
    """Exit with `action(cluster)`, or `action(cluster, check_input())` when the task's input
    must be checked before the first API request.

    Expected failures (API errors, bad input) become one fail_json whose message names the
    cluster, namespace, object and reason; anything else is a bug and keeps its traceback.
    """
    cluster = None
    reported = {}
    invocation = mask_credentials_only(module)
    if invocation:
        reported["invocation"] = invocation

    def warn_repeats():
        # Requests that failed transiently and succeeded when repeated: said, not hidden.
        if cluster is not None and cluster.repeated():
            module.warn(cluster.repeated())

    try:
        checked = (check_input(),) if check_input else ()
        cluster = connect(module)
        result = action(cluster, *checked)
    except (ClusterError, TaskError) as exc:
        warn_repeats()
        module.fail_json(msg=str(exc), **{**getattr(exc, "result", {}), **reported})
    warn_repeats()
    module.exit_json(**{**result, **reported})
