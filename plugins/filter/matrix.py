# Copyright (c) servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Federation matrix filters (documented in the federation_*.yml sidecar files)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.servicemesh.federation.plugins.module_utils.logic.failures import (
    describe_failures,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.matrix import (
    build_matrix,
    planned_services_of,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.report_text import (
    render_failures,
    render_matrix,
)


def federation_matrix(results, plan=None):
    if not isinstance(results, dict):
        raise AnsibleFilterError("federation_matrix: expects a mapping mesh -> peer -> status")
    try:
        return build_matrix(results, plan)
    except (KeyError, TypeError, AttributeError) as exc:
        raise AnsibleFilterError(f"federation_matrix: malformed input ({exc!r})") from exc


def _matrix_arg(name, matrix):
    if not isinstance(matrix, dict) or "meshes" not in matrix or "cells" not in matrix:
        raise AnsibleFilterError(f"{name}: expects the output of federation_matrix")
    return matrix


def federation_matrix_text(matrix):
    return render_matrix(_matrix_arg("federation_matrix_text", matrix))


def _failures(name, matrix, results, plan):
    matrix = _matrix_arg(name, matrix)
    if results is not None and not isinstance(results, dict):
        raise AnsibleFilterError(f"{name}: results must be a mapping mesh -> peer -> status")
    if plan is not None and not isinstance(plan, dict):
        raise AnsibleFilterError(f"{name}: plan must be the federation plan")
    try:
        return describe_failures(matrix, results, plan)
    except (KeyError, TypeError, AttributeError) as exc:
        raise AnsibleFilterError(f"{name}: malformed input ({exc!r})") from exc


def federation_status_services(links):
    """The federation_status `services` option from this mesh's plan links."""
    if not isinstance(links, list) or not all(isinstance(lk, dict) for lk in links):
        raise AnsibleFilterError("federation_status_services: expects the plan links of a mesh")
    try:
        return planned_services_of(links)
    except (KeyError, TypeError, AttributeError) as exc:
        raise AnsibleFilterError(f"federation_status_services: malformed link ({exc!r})") from exc


def federation_failures(matrix, results=None, plan=None):
    return _failures("federation_failures", matrix, results, plan)


def federation_failures_text(matrix, results=None, plan=None):
    return render_failures(_failures("federation_failures_text", matrix, results, plan))


class FilterModule:
    def filters(self):
        return {
            "federation_matrix": federation_matrix,
            "federation_matrix_text": federation_matrix_text,
            "federation_failures": federation_failures,
            "federation_failures_text": federation_failures_text,
            "federation_status_services": federation_status_services,
        }
