# Copyright (c) servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Report file filters (documented in the federation_report_*.yml sidecar files)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.servicemesh.federation.plugins.module_utils.logic.failures import (
    describe_failures,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.report_files import (
    render_html,
    render_json,
    render_junit,
)


def _matrix_arg(name, matrix):
    if not isinstance(matrix, dict) or "meshes" not in matrix or "cells" not in matrix:
        raise AnsibleFilterError(f"{name}: expects the output of federation_matrix")
    return matrix


def _failures(name, matrix, results, plan):
    if results is not None and not isinstance(results, dict):
        raise AnsibleFilterError(f"{name}: results must be a mapping mesh -> peer -> status")
    if plan is not None and not isinstance(plan, dict):
        raise AnsibleFilterError(f"{name}: plan must be the federation plan")
    return describe_failures(matrix, results, plan)


def _generated(name, generated):
    if generated is not None and not isinstance(generated, str):
        raise AnsibleFilterError(f"{name}: generated must be a time stamp string")
    return generated


def federation_report_json(matrix):
    return render_json(_matrix_arg("federation_report_json", matrix))


def federation_report_junit(matrix, results=None, plan=None, generated=None):
    name = "federation_report_junit"
    matrix = _matrix_arg(name, matrix)
    try:
        return render_junit(matrix, _failures(name, matrix, results, plan),
                            _generated(name, generated))
    except (KeyError, TypeError, AttributeError) as exc:
        raise AnsibleFilterError(f"{name}: malformed input ({exc!r})") from exc


def federation_report_html(matrix, results=None, plan=None, generated=None,
                           title="Service mesh federation"):
    name = "federation_report_html"
    matrix = _matrix_arg(name, matrix)
    try:
        return render_html(matrix, _failures(name, matrix, results, plan), plan,
                           _generated(name, generated), str(title))
    except (KeyError, TypeError, AttributeError) as exc:
        raise AnsibleFilterError(f"{name}: malformed input ({exc!r})") from exc


class FilterModule:
    def filters(self):
        return {
            "federation_report_json": federation_report_json,
            "federation_report_junit": federation_report_junit,
            "federation_report_html": federation_report_html,
        }
