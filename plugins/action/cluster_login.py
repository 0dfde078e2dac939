# Copyright: (c) 2026, servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run the module cluster_login in the controller's worker process rather than as a
process of its own (plugins/plugin_utils/in_process.py says why, and when it still does)."""

from __future__ import annotations

from ansible_collections.servicemesh.federation.plugins.plugin_utils.in_process import (
    InProcessModuleAction,
    controller_module,
)


class ActionModule(InProcessModuleAction):
    MODULE = controller_module("cluster_login")
