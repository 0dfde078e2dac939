# Copyright (c) servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Federation matrix filters (documented in the federation_*.yml sidecar files)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.servicemesh.federation.plugins.module_utils.status import (
    build_matrix,
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


def federation_failures_text(matrix):
    return render_failures(_matrix_arg("federation_failures_text", matrix))


class FilterModule:
    def filters(self):
        return {
            "federation_matrix": federation_matrix,
            "federation_matrix_text": federation_matrix_text,
            "federation_failures_text": federation_failures_text,
        }
