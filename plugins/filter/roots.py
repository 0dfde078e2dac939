# Copyright (c) servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The root-change gate of the playbooks (documented in federation_root_gate.yml)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.servicemesh.federation.plugins.module_utils.logic import roots


def federation_root_gate(plan, hosts, hostvars, accept=False, check_mode=False):
    try:
        return roots.gate_from_hostvars(plan, hosts, hostvars, accept, bool(check_mode))
    except (KeyError, TypeError, AttributeError) as exc:
        raise AnsibleFilterError(f"federation_root_gate: malformed input ({exc!r})") from exc


class FilterModule:
    def filters(self):
        return {"federation_root_gate": federation_root_gate}
