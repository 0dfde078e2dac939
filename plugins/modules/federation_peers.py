#!/usr/bin/python
# Copyright: (c) 2026, servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: federation_peers
short_description: Manage a mesh's peer CA ConfigMaps, ServiceMeshPeers and service sets
version_added: 0.1.0
author:
  - servicemesh.federation maintainers (@servicemesh)
description:
  - In one mesh's control-plane namespace, creates or updates, for every link of the plan,
    the peer's CA root ConfigMap (C(<peer>-ca-root-cert), key C(root-cert.pem)), then the
    ServiceMeshPeer (C(federation.maistra.io/v1)) describing the peer, then the
    ExportedServiceSet and ImportedServiceSet named after the peer when the link has
    C(export_rules) / C(import_rules) (a direction without rules gets no set).
  - The sets say exactly what the plan says; their C(spec) is owned whole, so rules (or other
    C(spec) keys) the plan does not give are removed, and a set of ours (labelled) whose link
    has no rules left, or is no longer in O(links), is deleted. CA ConfigMaps and
    ServiceMeshPeers outside O(links) are left alone (use O(state=absent)).
  - Reads the actual objects first (one labelled list per kind, a get by name only for an
    object not yet labelled) and writes only what differs, as a JSON merge patch of the
    fields this collection owns (a list is replaced whole); a re-run sends no write request
    and reports no change.
  - Each CA ConfigMap carries the annotation C(federation.servicemesh.io/root-sha256), the
    SHA-256 fingerprint of each certificate of the root it holds (lowercase hex, joined by
    C(,)); the playbooks' root-change gate compares it with the peer's current root. Since
    0.3.0; a copy made earlier gets it on the next run (one patch, the root unchanged).
  - Every object written carries the label C(app.kubernetes.io/managed-by=servicemesh.federation).
    An existing object without it that differs from the plan is not touched and the task
    fails naming it, unless O(take_over=true) (the object is then adopted). One without it
    that matches the plan is left as it is, without a write (and is never deleted).
  - Writes use the field manager C(servicemesh.federation) and ask the API server for strict
    field validation (C(fieldValidation=Strict)), so a misspelt field is an error rather than
    silently pruned.
  - With O(state=absent), deletes the objects carrying the label (service sets, then
    ServiceMeshPeers, then their ConfigMaps), all of them or those of O(peers), and nothing
    else. istiod does not delete a removed peer's ConfigMap or sets; this does.
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - servicemesh.federation.cluster
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.ACTIONGROUPS
options:
  namespace:
    description: The mesh's control-plane namespace.
    type: str
    required: true
  state:
    description: Whether the objects of O(links) should exist, or our objects be removed.
    type: str
    choices: [present, absent]
    default: present
  links:
    description:
      - The mesh's links from the federation plan (the C(links) list of one mesh in the
        output of the M(servicemesh.federation.federation_plan) action), one per peer.
      - C(export_rules) and C(import_rules) of a link (API form) become the C(spec) of the
        ExportedServiceSet / ImportedServiceSet for that peer; missing or empty means no set.
      - Required with O(state=present).
    type: list
    elements: dict
    default: []
  peer_facts:
    description:
      - Per peer mesh name, what its M(servicemesh.federation.mesh_info) found,
        C({root_cert, ingress}) (the root certificate PEM, or the C(root_cert) dictionary,
        and the per-gateway ingress addresses). Overrides in O(links) win.
    type: dict
    default: {}
  take_over:
    description:
      - Adopt existing objects that this collection did not create and that differ from the
        plan, instead of failing. Adopting adds our label and sets our fields.
    type: bool
    default: false
  prune_peers:
    description:
      - With O(state=present), the peer meshes whose managed ExportedServiceSet and
        ImportedServiceSet may be deleted when the plan no longer gives them (the meshes of
        this run). Sets for other peers (left out of the run, for example by C(--limit)) stay.
      - Omitted, every managed set the plan does not give is deleted.
    type: list
    elements: str
    version_added: 0.2.0
  peers:
    description:
      - With O(state=absent), only remove the objects for these peer mesh names (the
        ServiceMeshPeer and the sets named after the peer, and the CA ConfigMap it reads); by
        default every object of this collection in O(namespace) is removed.
    type: list
    elements: str
attributes:
  check_mode:
    support: full
    details:
      - Predicts every change, with the same RV(objects) and RV(diff), and sends no write.
  diff_mode:
    support: full
    details:
      - Before / after of the fields this collection owns, for every object that changes.
seealso:
  - module: servicemesh.federation.mesh_info
  - module: servicemesh.federation.federation_status
requirements:
  - kubernetes
  - cryptography (with O(state=present))
"""

EXAMPLES = r"""
- name: Create red-mesh's peers and service sets (links from the plan, facts from mesh_info)
  servicemesh.federation.federation_peers:
    context: red
    namespace: red-mesh-system
    links: "{{ plan.meshes['red-mesh'].links }}"
    peer_facts:
      green-mesh:
        root_cert: "{{ green.mesh.root_cert.pem }}"
        ingress: "{{ green.mesh.ingress }}"

- name: Remove what the collection created for green-mesh only
  servicemesh.federation.federation_peers:
    context: red
    namespace: red-mesh-system
    state: absent
    peers: [green-mesh]
"""

RETURN = r"""
objects:
  description: Every object considered, in order, with what was (or in check mode would be) done.
  returned: always
  type: list
  elements: dict
  contains:
    kind:
      description:
        - C(ConfigMap), C(ServiceMeshPeer), C(ExportedServiceSet) or C(ImportedServiceSet).
      type: str
    name:
      description: Object name.
      type: str
    action:
      description:
        - V(created), V(updated) (including adopted), V(unchanged), V(deleted), or V(absent)
          (nothing of ours to delete).
      type: str
  sample:
    - {kind: ConfigMap, name: green-mesh-ca-root-cert, action: created}
    - {kind: ServiceMeshPeer, name: green-mesh, action: unchanged}
    - {kind: ExportedServiceSet, name: green-mesh, action: updated}
    - {kind: ImportedServiceSet, name: green-mesh, action: deleted}
writes:
  description: Number of write requests sent to the API server (0 in check mode and on a re-run).
  returned: always
  type: int
  sample: 2
diff:
  description: Before / after (fields this collection owns) of each object that changes.
  returned: always
  type: list
  elements: dict
reconfigured:
  description:
    - ServiceMeshPeers that existed and whose spec or CA ConfigMap data this run changed, each
      with its status before the change (V(null) when it had none). Pass it to
      M(servicemesh.federation.federation_status) so the wait does not take that stale status
      as the answer. Empty in check mode. A changed service set does not reconfigure its
      peer.
  returned: with O(state=present)
  type: dict
  sample: {green-mesh: {discoveryStatus: {active: []}}}
"""

# Before kubernetes.core: the kubernetes client is then imported lazily (faster start).
# pylint: disable-next=unused-import
from ansible_collections.servicemesh.federation.plugins.module_utils.client import (  # noqa: E402,F401,I001 isort:skip
    lazy_imports,
)
from ansible.module_utils.basic import missing_required_lib  # noqa: E402
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import (  # noqa: E402
    AnsibleK8SModule,
)

from ansible_collections.servicemesh.federation.plugins.module_utils.common import (  # noqa: E402
    argspec,
    run,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.certs import (  # noqa: E402
    HAS_CRYPTOGRAPHY,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.service.peers import (  # noqa: E402
    converge,
    desired_from_params,
)


def module_options() -> dict:
    """The argument spec and options: AnsibleK8SModule's here, the in-process run's in
    plugins/action/federation_peers.py."""
    return dict(
        argument_spec=argspec(
            namespace=dict(type="str", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            links=dict(type="list", elements="dict", default=[]),
            peer_facts=dict(type="dict", default={}),
            take_over=dict(type="bool", default=False),
            peers=dict(type="list", elements="str"),
            prune_peers=dict(type="list", elements="str"),
        ),
        supports_check_mode=True,
    )


def execute(module) -> None:
    """The module's work; ends with module.exit_json or module.fail_json."""
    params = module.params
    if params["state"] == "present" and not HAS_CRYPTOGRAPHY:  # the roots' fingerprints
        module.fail_json(msg=missing_required_lib("cryptography"))
    run(module, lambda cluster, desired: converge(cluster, params, module.check_mode, desired),
        check_input=lambda: desired_from_params(params))


def main():
    execute(AnsibleK8SModule(**module_options()))


if __name__ == "__main__":
    main()
