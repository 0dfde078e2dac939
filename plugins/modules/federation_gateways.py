#!/usr/bin/python
# Copyright: (c) 2026, servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: federation_gateways
short_description: Manage a mesh's per-peer federation gateways on its ServiceMeshControlPlane
version_added: 0.2.0
author:
  - servicemesh.federation maintainers (@servicemesh)
description:
  - In one mesh's control-plane namespace, makes the ServiceMeshControlPlane (C(maistra.io/v2),
    exactly one per namespace) carry, for every link of the plan, the ingress gateway entry
    C(spec.gateways.additionalIngress.<ingress_gateway>) and the egress gateway entry
    C(spec.gateways.additionalEgress.<egress_gateway>) in the documented form. Ingress is
    C(LoadBalancer) (or the link's C(ingress_service)), ports 15443 C(tls) and 8188
    C(https-discovery), label C(federation.maistra.io/ingress-for). Egress has ports 15443
    C(tls) and 8188 C(http-discovery), C(requestedNetworkView) set to the link's network, and
    label C(federation.maistra.io/egress-for). C(routerMode) is not written (obsolete after
    OSSM 2.1).
  - Writes with one server-side apply per mesh under the field manager
    C(servicemesh.federation), with strict field validation. The apply holds every entry the
    collection should own, so the collection owns exactly those entries and nothing else of a
    control plane that people or GitOps own.
  - Decides before writing. An entry already there that this collection does not own is
    adopted without a write when it already has what the plan gives; fields it has beyond
    those (such as C(routerMode)) stay with their owner. If it differs, the task fails naming
    the mesh namespace, the cluster, the entry and each differing field, and writes nothing,
    unless O(take_over=true) (the apply is then forced). The same applies to an entry of ours
    when a field it would change is now owned by another manager. When nothing differs, no
    request is written.
  - Our entries that the plan no longer gives (a peer left the links) are dropped from the
    apply, and the API server removes them. An entry another manager co-owns (it was adopted)
    stays, and only our ownership goes.
  - Then, with O(wait=true), watches the namespace's Services until every gateway has its
    Service (named like the entry) and every ingress has an address (load balancer, or node
    addresses and node ports for C(NodePort)), up to O(timeout) seconds.
  - With O(state=absent), removes the entries this collection owns (all of them or those of
    O(peers)), and never touches other entries.
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - servicemesh.federation.cluster
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.ACTIONGROUPS
options:
  namespace:
    description: The mesh's control-plane namespace (where its ServiceMeshControlPlane is).
    type: str
    required: true
  state:
    description: Whether the entries of O(links) should exist, or our entries be removed.
    type: str
    choices: [present, absent]
    default: present
  links:
    description:
      - The mesh's links from the federation plan (the C(links) list of one mesh in the
        output of the M(servicemesh.federation.federation_plan) action), one per peer.
      - With O(state=present), our entries for peers not in the list are removed.
      - With O(state=absent), used only to find the gateway names of O(peers).
      - "Keys used: C(peer) (required); C(ingress_gateway) (default C(ingress-<peer>));
        C(egress_gateway) (default C(egress-<peer>)); C(network), the egress gateway's
        C(requestedNetworkView) (default C(network-<peer>)); C(ingress_service), the ingress
        gateway Service's settings: C(type) (C(LoadBalancer), the default, or C(NodePort)),
        C(annotations) (such as C(service.beta.kubernetes.io/aws-load-balancer-type: nlb)) and
        C(node_ports) (C({discovery: <port>, service: <port>}), node ports 30000-32767 for
        8188 and 15443); C(ingress_address_overridden), true when the peer reaches this
        ingress gateway through an address override (its address is then not waited for).
        Other keys of the plan's links are ignored."
    type: list
    elements: dict
    default: []
  take_over:
    description:
      - Replace the fields of existing entries that another manager owns and that differ from
        the plan (forced server-side apply), instead of failing.
    type: bool
    default: false
  peers:
    description:
      - With O(state=absent), only remove the entries for these peer mesh names (their
        gateway names from O(links), else C(ingress-<peer>) and C(egress-<peer>)); by default
        every entry this collection owns is removed.
    type: list
    elements: str
  prune_peers:
    description:
      - With O(state=present), the peer meshes whose entries this collection owns may be
        removed when O(links) no longer gives them (the meshes of this run). Entries named
        C(ingress-<peer>) / C(egress-<peer>) for other peers (left out of the run, for example
        by C(--limit)), and entries with other names, stay.
      - Omitted, every entry of ours that O(links) does not give is removed.
    type: list
    elements: str
  wait:
    description:
      - With O(state=present), wait (by watch) until every gateway Service exists and every
        ingress has an address. Not in check mode.
    type: bool
    default: true
  timeout:
    description: How many seconds to wait at most; then the task fails naming what is missing.
    type: int
    default: 300
attributes:
  check_mode:
    support: full
    details:
      - Predicts every change, with the same RV(entries) and RV(diff), sends no write, and
        does not wait (RV(ingress) is what exists now).
  diff_mode:
    support: full
    details:
      - Before / after of the gateway entries that change.
seealso:
  - module: servicemesh.federation.federation_peers
  - module: servicemesh.federation.mesh_info
requirements:
  - kubernetes
"""

EXAMPLES = r"""
- name: Add red-mesh's federation gateways (links from the plan) and wait for their addresses
  servicemesh.federation.federation_gateways:
    context: red
    namespace: red-mesh-system
    links: "{{ plan.meshes['red-mesh'].links }}"
  register: gateways

- name: Expose the ingress for green-mesh as a NodePort with fixed ports
  servicemesh.federation.federation_gateways:
    context: red
    namespace: red-mesh-system
    links:
      - peer: green-mesh
        ingress_service: {type: NodePort, node_ports: {discovery: 30188, service: 30443}}

- name: Remove the gateways the collection added for green-mesh only
  servicemesh.federation.federation_gateways:
    context: red
    namespace: red-mesh-system
    state: absent
    peers: [green-mesh]
"""

RETURN = r"""
entries:
  description: Every gateway entry considered, with what was (or in check mode would be) done.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Gateway name (the entry's key, and its Service's name).
      type: str
    kind:
      description: V(ingress) (C(additionalIngress)) or V(egress) (C(additionalEgress)).
      type: str
    action:
      description:
        - V(added), V(updated), V(unchanged), V(adopted) (someone else's and identical, kept
          without a write), V(removed), or V(released) (co-owned with other managers, so only
          our ownership is dropped and the entry stays).
      type: str
    owners:
      description: With V(released), the other field managers that keep the entry.
      type: list
      elements: str
      returned: when released
  sample:
    - {name: ingress-green-mesh, kind: ingress, action: added}
    - {name: egress-green-mesh, kind: egress, action: unchanged}
writes:
  description: Number of write requests sent (1 when anything changes, 0 in check mode and on
    a re-run).
  returned: always
  type: int
  sample: 1
diff:
  description: Before / after of the entries that change (C(spec.gateways) of the SMCP).
  returned: always
  type: list
  elements: dict
ingress:
  description:
    - Per ingress gateway, where peers reach it, as M(servicemesh.federation.mesh_info)
      returns it. Without an address yet (O(wait=false), check mode), V(addresses) is empty.
  returned: with O(state=present)
  type: dict
  sample:
    ingress-green-mesh:
      addresses: [203.0.113.7]
      discovery_port: 8188
      service_port: 15443
      source: loadbalancer
"""

# Before kubernetes.core: the kubernetes client is then imported lazily (faster start).
# pylint: disable-next=unused-import
from ansible_collections.servicemesh.federation.plugins.module_utils.client import (  # noqa: E402,F401,I001 isort:skip
    lazy_imports,
)
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import (  # noqa: E402
    AnsibleK8SModule,
)

from ansible_collections.servicemesh.federation.plugins.module_utils.common import (  # noqa: E402
    argspec,
    run,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.service.gateways import (  # noqa: E402
    converge,
    desired_from_params,
)


def module_options() -> dict:
    """The argument spec and options: AnsibleK8SModule's here, the in-process run's in
    plugins/action/federation_gateways.py."""
    return dict(
        argument_spec=argspec(
            namespace=dict(type="str", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            links=dict(type="list", elements="dict", default=[]),
            take_over=dict(type="bool", default=False),
            peers=dict(type="list", elements="str"),
            prune_peers=dict(type="list", elements="str"),
            wait=dict(type="bool", default=True),
            timeout=dict(type="int", default=300),
        ),
        supports_check_mode=True,
    )


def execute(module) -> None:
    """The module's work; ends with module.exit_json or module.fail_json."""
    params = module.params
    run(module, lambda cluster, desired: converge(cluster, params, module.check_mode, desired),
        check_input=lambda: desired_from_params(params))


def main():
    execute(AnsibleK8SModule(**module_options()))


if __name__ == "__main__":
    main()
