# Copyright: (c) 2026, servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every module that reaches a mesh's cluster documents alike (servicemesh.federation.cluster).

List it after kubernetes.core.k8s_auth_options (the connection options) and before
ansible.builtin.action_common_attributes: a fragment's attribute values give way to those merged
before it, so these override the generic ones that follow.
"""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
attributes:
  action_group:
    description: Action is part of action_group(s), for convenient setting of module_defaults.
    support: full
    membership: [servicemesh.federation.cluster]
  platform:
    description: Target OS/families that can be operated against
    support: N/A
    platforms: kubernetes
"""
