#!/usr/bin/python
# Copyright: (c) 2026, servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: federation_status
short_description: Discovery status of a mesh's ServiceMeshPeers, optionally waiting until connected
version_added: 0.1.0
author:
  - servicemesh.federation maintainers (@servicemesh)
description:
  - Evaluates the C(status.discoveryStatus) of the ServiceMeshPeers in one mesh's
    control-plane namespace, as seen by this mesh's istiod, for each peer - C(watch) (this mesh
    reaches the peer) and C(remote) (the peer reaches this mesh).
  - With O(wait=true), watches the ServiceMeshPeers (Kubernetes watch events, no polling)
    until every listed peer is done (see O(services)) or O(timeout) seconds have passed. A
    timeout is not a failure; RV(all_done) and RV(all_connected) tell, and the caller decides.
  - With O(services), also reads this mesh's ImportedServiceSet and ExportedServiceSet named
    after each peer, and a peer is done only when it is connected, every planned import is
    listed in the ImportedServiceSet's C(status.importedServices) with a non-empty
    C(localService.hostname), and every planned export is listed in the ExportedServiceSet's
    C(status.exportedServices). With O(wait=true) those sets are watched too (one watch per kind
    in O(namespace), in turn).
  - For every peer that is not done, gathers diagnostics - the ServiceMeshPeer's Events
    and the last lines of this mesh's istiod and of its egress and ingress gateways for that
    peer. Where the API server does not serve pod logs, a note says so.
  - Read-only.
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
  peers:
    description:
      - ServiceMeshPeer names (peer mesh names) to evaluate. Default - every ServiceMeshPeer
        in O(namespace).
    type: list
    elements: str
    default: []
  wait:
    description:
      - Wait until every peer is done (connected, and its O(services) in), or until O(timeout).
    type: bool
    default: false
  timeout:
    description: How long to wait, in seconds, with O(wait=true).
    type: int
    default: 300
  reconfigured:
    description:
      - Peers whose spec or CA root was just changed, each with the status it had before the
        change (the C(reconfigured) result of M(servicemesh.federation.federation_peers)).
        Until istiod acts on a change, the old status, possibly C(connected), describes the old
        configuration. With O(wait=true), such a peer counts as connected only once its status
        has been rewritten, or after 30 seconds without a rewrite (a change istiod reads only
        at its next resync).
    type: dict
    default: {}
  services:
    description:
      - The planned services per peer - a mapping peer name -> C(imports) (the exported names
        this mesh imports from that peer) and C(exports) (the exported names this mesh exports
        to it), each a list of FQDNs C(<name>.<namespace>.svc.<importing mesh>-exports.local) as
        the exporter publishes them.
      - P(servicemesh.federation.federation_status_services#filter) builds it from the plan's
        links of this mesh.
      - A peer named here is evaluated even when O(peers) does not list it.
    type: dict
    default: {}
attributes:
  check_mode:
    support: full
    details: Read-only; runs the same in check mode.
  diff_mode:
    support: N/A
    details: Read-only.
seealso:
  - module: servicemesh.federation.federation_peers
requirements:
  - kubernetes
"""

EXAMPLES = r"""
- name: Wait up to five minutes for red-mesh's peers to connect
  servicemesh.federation.federation_status:
    context: red
    namespace: red-mesh-system
    peers: [green-mesh, blue-mesh]
    wait: true
    timeout: 300
  register: red_status

- name: Wait also until ratings of green-mesh is imported and red-mesh's ratings exported to it
  servicemesh.federation.federation_status:
    context: red
    namespace: red-mesh-system
    services:
      green-mesh:
        imports: [ratings.green-mesh-apps.svc.red-mesh-exports.local]
        exports: [ratings.red-mesh-apps.svc.green-mesh-exports.local]
    wait: true

- name: The same, from the plan
  servicemesh.federation.federation_status:
    namespace: "{{ federation_plan_mesh.namespace }}"
    services: "{{ federation_plan_mesh.links | servicemesh.federation.federation_status_services }}"

- name: Show what is wrong with a direction
  ansible.builtin.debug:
    msg: "{{ item.key }}: {{ item.value.watch.state }} - {{ item.value.watch.meaning }}"
  loop: "{{ red_status.peers | dict2items }}"
  when: not item.value.connected
"""

RETURN = r"""
peers:
  description:
    - Per peer name, the evaluation of its ServiceMeshPeer (see the C(status.evaluate_peer)
      shape - C(exists), C(has_status), C(watch), C(remote), C(connected)), C(done) (connected
      and, with O(services), every planned service in), plus C(events) and C(logs) for a peer
      that is not done.
    - For a peer in O(services), C(services) - C(expected) and C(imported) (counts of planned
      imports), C(imported_services) (C(exported_name) and the local C(hostname) to call),
      C(missing) (each C(exported_name) with its likely C(cause) - the ImportedServiceSet does
      not exist, the direction is not connected yet, not exported by the peer, or exported but
      matched by no import rule), C(exports_expected), C(exported) (counts of planned exports),
      C(exported_services) (their exported names), C(exports_missing) (each C(exported_name)
      and C(cause)) and C(done).
    - C(istiod) - this mesh's istiod readiness (see RV(istiod)); C(gateways) - C(ingress) and
      C(egress), the readiness of the Deployments of the gateways the ServiceMeshPeer names
      (same shape, null when there is no such Deployment or it has no status yet).
  returned: always
  type: dict
  sample:
    green-mesh:
      exists: true
      has_status: true
      connected: false
      watch: {connected: false, state: "503", last_disconnect_status: 503 Service Unavailable}
      remote: {connected: true, sources: []}
      done: false
      services:
        expected: 1
        imported: 0
        imported_services: []
        missing:
          - exported_name: ratings.green-mesh-apps.svc.red-mesh-exports.local
            cause: the direction is not connected yet
        exports_expected: 0
        exported: 0
        exported_services: []
        exports_missing: []
        done: false
      events: []
      logs:
        istiod: {component: istiod, pod: istiod-basic-0, note: "log not served by the API"}
all_connected:
  description: Whether every evaluated peer is connected in both directions as seen here.
  returned: always
  type: bool
all_done:
  description:
    - Whether every evaluated peer is done - connected, and every planned service of
      O(services) imported and exported. What O(wait=true) waits for.
  returned: always
  type: bool
istiod:
  description:
    - Readiness of this mesh's istiod Deployment (label C(app=istiod)), read once after the
      wait - C(deployment), C(namespace), C(ready) (at least one ready replica),
      C(ready_replicas), C(replicas) and C(text) (C(Deployment istiod-basic 0/1)).
    - Null when there is none, it has no status yet, or Deployments may not be listed.
  returned: always
  type: dict
  sample: {deployment: istiod-basic, namespace: red-mesh-system, ready: false, ready_replicas: 0,
           replicas: 1, text: Deployment istiod-basic 0/1}
elapsed:
  description: Seconds spent, including waiting.
  returned: always
  type: float
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
from ansible_collections.servicemesh.federation.plugins.module_utils.service.mesh_status import (  # noqa: E402
    planned_services,
    status,
)


def module_options() -> dict:
    """The argument spec and options: AnsibleK8SModule's here, the in-process run's in
    plugins/action/federation_status.py."""
    return dict(
        argument_spec=argspec(
            namespace=dict(type="str", required=True),
            peers=dict(type="list", elements="str", default=[]),
            wait=dict(type="bool", default=False),
            timeout=dict(type="int", default=300),
            reconfigured=dict(type="dict", default={}),
            services=dict(type="dict", default={}),
        ),
        supports_check_mode=True,
    )


def execute(module) -> None:
    """The module's work; ends with module.exit_json or module.fail_json."""
    p = module.params
    run(module,
        lambda cluster, services: dict(changed=False, **status(
            cluster, p["namespace"], p["peers"], p["wait"], p["timeout"], p["reconfigured"],
            services)),
        lambda: planned_services(p["services"], p["namespace"]))


def main():
    execute(AnsibleK8SModule(**module_options()))


if __name__ == "__main__":
    main()
