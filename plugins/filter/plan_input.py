# Copyright (c) servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The federation plan's input from the inventory (documented in federation_plan_input.yml)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.servicemesh.federation.plugins.module_utils.logic.plan_clusters import (
    plan_input,
)


def federation_plan_input(hosts, hostvars):
    if isinstance(hosts, str) or not hasattr(hosts, "__iter__"):
        raise AnsibleFilterError("federation_plan_input: expects a list of inventory hostnames")
    try:
        return {host: plan_input(hostvars[host]) for host in hosts}
    except KeyError as exc:
        raise AnsibleFilterError(f"federation_plan_input: unknown host {exc}") from exc


class FilterModule:
    def filters(self):
        return {"federation_plan_input": federation_plan_input}
