#!/usr/bin/python
# Copyright: (c) 2026, servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: mesh_info
short_description: Pre-flight facts of one service mesh for federation
version_added: 0.1.0
author:
  - servicemesh.federation maintainers (@servicemesh)
description:
  - Reads, and never changes, what federating a mesh depends on, in the mesh's control-plane
    namespace, and lists every missing or unusable item as a problem rather than failing, so
    that a play can report the problems of all meshes before anything is written.
  - Checks that the federation (C(federation.maistra.io/v1) C(servicemeshpeers)) and control
    plane (C(maistra.io/v2) C(servicemeshcontrolplanes)) APIs are served; that the namespace
    exists; that its ServiceMeshControlPlane is version 2.1 or later and Ready; and that the
    ingress and egress gateway Services expected for each peer exist.
  - Reads the mesh's root certificate from the ConfigMap istiod publishes (the name set by
    istiod's C(PILOT_CA_CERT_CONFIG_MAP_NAME), else C(istio-ca-root-cert)), and refuses data
    that is anything but PEM certificates (key material is reported, never returned). A root
    that is not a CA certificate, has expired, or expires within O(root_min_days) days is a
    problem.
  - Reads this mesh's copies of its peers' roots (the ConfigMaps C(<peer>-ca-root-cert)) with
    the fingerprint recorded on each, for the root-change gate of the playbooks.
  - Reads the address of each per-peer ingress gateway (load balancer IP, else hostname,
    else NodePort node addresses and node ports).
  - Reads the member namespaces from the ServiceMeshMemberRoll C(default) (C(maistra.io/v1))
    and checks this mesh's exports, listing Services in their namespaces (needs C(list) on
    C(services) there); every Service exported by name must exist in a member namespace, and a
    label selector export that matches no Service is a warning.
  - Never reads Secrets. Fails only when the cluster cannot be used (unreachable, TLS or
    credentials rejected, or not allowed to read the namespace); the message names the
    cluster.
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - servicemesh.federation.cluster
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.ACTIONGROUPS
options:
  namespace:
    description:
      - The mesh's control-plane namespace (where istiod and the ServiceMeshControlPlane run).
    type: str
    required: true
  peers:
    description:
      - The peers this mesh federates with, and this mesh's local gateways for each.
    type: list
    elements: dict
    default: []
    suboptions:
      peer:
        description: Name of the peer mesh.
        type: str
        required: true
      ingress_gateway:
        description: This mesh's ingress gateway Service for the peer; default C(ingress-<peer>).
        type: str
      egress_gateway:
        description: This mesh's egress gateway Service for the peer; default C(egress-<peer>).
        type: str
      require_address:
        description:
          - Whether an ingress gateway without an address is a problem. Set V(false) when the
            peer reaches this mesh through an address override.
        type: bool
        default: true
  exports:
    description:
      - This mesh's exports, as in the plan links' C(exports) and C(export_selectors) (an
        export sent to several peers may be listed once per peer).
      - Each named export (O(exports[].service) and O(exports[].namespace)) must exist in a
        member namespace; otherwise it is a problem.
      - A label selector export (O(exports[].selector), in O(exports[].namespace) or, when
        that is omitted or V(*), in every member namespace) that matches no Service is a
        warning.
    type: list
    elements: dict
    default: []
    suboptions:
      service:
        description: Name of an exported Service.
        type: str
      namespace:
        description: Namespace of the Service(s); V(*) means any (selectors only).
        type: str
      selector:
        description: Kubernetes label selector (C(matchLabels) and/or C(matchExpressions)).
        type: dict
      exported_name:
        description: Ignored; accepted so that a plan link's C(exports) can be passed as is.
        type: str
  gateways_managed:
    description:
      - Whether the per-peer gateways are managed by the collection (C(federation_gateways)
        V(managed)). Then missing gateway Services and ingress addresses are not problems,
        since the gateways step adds them after this pre-flight; the ServiceMeshControlPlane
        must still exist, be 2.1 or later and be Ready.
    type: bool
    default: false
  root_min_days:
    description:
      - A root certificate that expires within this many days is a problem (C(0) accepts any
        root that has not expired).
    type: int
    default: 30
    version_added: 0.3.0
  check_access:
    description:
      - Whether to check, with one C(SelfSubjectRulesReview) in O(namespace), that this identity
        may do what a federate run does there after this pre-flight. Each verb it may not use
        is one problem naming the verb, the resource, the namespace and the cluster, so that a
        missing permission stops the run before its first write.
      - "The verbs: C(get), C(list), C(create), C(patch), C(delete) on C(configmaps); the same
        and C(watch) on C(servicemeshpeers), C(exportedservicesets) and C(importedservicesets)
        (C(federation.maistra.io)); with O(gateways_managed) also C(get), C(list), C(patch) on
        C(servicemeshcontrolplanes) (C(maistra.io)) and C(get), C(list), C(watch) on
        C(services)."
      - Set V(false) for a read-only use, such as the verify playbook.
    type: bool
    default: true
    version_added: 0.3.0
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
  - cryptography
"""

EXAMPLES = r"""
- name: Inspect mesh red-mesh, which federates with green-mesh and blue-mesh
  servicemesh.federation.mesh_info:
    kubeconfig: ~/.kube/config
    context: red
    namespace: red-mesh-system
    peers:
      - peer: green-mesh
      - peer: blue-mesh
        ingress_gateway: blue-ingress
        egress_gateway: blue-egress
        require_address: false  # blue-mesh reaches red-mesh through an address override
    exports:
      - {service: ratings, namespace: red-mesh-apps}
      - {namespace: red-mesh-apps, selector: {matchLabels: {app: reviews}}}
    gateways_managed: true
  register: red

- name: Stop on any problem
  ansible.builtin.assert:
    that: red.mesh.problems | length == 0
    fail_msg: "{{ red.mesh.problems | join('; ') }}"
"""

RETURN = r"""
mesh:
  description: The mesh's facts.
  returned: always
  type: dict
  contains:
    namespace:
      description: The control-plane namespace.
      type: str
      returned: always
      sample: red-mesh-system
    cluster:
      description: How the cluster is named in messages (context and/or API URL).
      type: str
      returned: always
      sample: "'red' (https://127.0.0.70:6443)"
    cluster_version:
      description: The Kubernetes version of the API server.
      type: str
      returned: always
      sample: v1.35.4
    crds:
      description: Whether each federation-related API is served.
      type: dict
      returned: always
      sample: {servicemeshpeers: true, servicemeshcontrolplanes: true}
    smcp:
      description: The ServiceMeshControlPlane, or null when there is none.
      type: dict
      returned: always
      contains:
        name:
          description: Its name.
          type: str
          sample: basic
        version:
          description: Its spec.version (else status.chartVersion).
          type: str
          sample: v2.5
        ready:
          description: Whether its Ready condition is True.
          type: bool
    ca_configmap:
      description: Name of the ConfigMap holding the mesh's root certificate.
      type: str
      returned: always
      sample: istio-ca-root-cert
    ca_configmap_source:
      description: Where that name came from (the istiod Deployment, or the default).
      type: str
      returned: always
      sample: istiod istiod-basic
    root_cert:
      description: The mesh's root certificate, or null when missing or refused.
      type: dict
      returned: always
      contains:
        pem:
          description: The PEM text, byte for byte as published.
          type: str
        sha256:
          description: SHA-256 fingerprint (hex) of the first certificate.
          type: str
        not_after:
          description: Expiry of the first certificate (ISO 8601, UTC).
          type: str
        subject:
          description: Subject of the first certificate (RFC 4514).
          type: str
        count:
          description: Number of certificates in the PEM data.
          type: int
        fingerprint:
          description:
            - SHA-256 fingerprint (lowercase hex) of each certificate, joined by C(,); what the
              CA ConfigMap copies on the peers record in their annotation
              C(federation.servicemesh.io/root-sha256).
          type: str
          version_added: 0.3.0
    root_copies:
      description:
        - Per peer mesh, this mesh's copy of the peer's root (the ConfigMap
          C(<peer>-ca-root-cert)); peers without a copy are left out.
      type: dict
      returned: always
      version_added: 0.3.0
      sample:
        green-mesh:
          configmap: green-mesh-ca-root-cert
          recorded: 3f1c...e9
          content: 3f1c...e9
      contains:
        configmap:
          description: Name of the ConfigMap.
          type: str
        recorded:
          description:
            - The fingerprint recorded in its annotation C(federation.servicemesh.io/root-sha256)
              by the run that copied the root; null for a copy made without it.
          type: str
        content:
          description:
            - The fingerprint of the root it holds; null when it holds no readable certificate.
          type: str
    ingress:
      description:
        - Per ingress gateway Service name, where peers reach it; addresses are empty when
          it has none yet.
      type: dict
      returned: always
      sample:
        ingress-green-mesh:
          addresses: [127.0.70.10]
          discovery_port: 8188
          service_port: 15443
          source: loadbalancer
    members:
      description:
        - Member namespaces of the mesh (C(spec.members) and C(status.configuredMembers) of the
          ServiceMeshMemberRoll C(default)); empty when there is no member roll; null when
          unknown (the API is not served, or not readable and no export needs it).
      type: list
      elements: str
      returned: always
      sample: [red-mesh-apps]
    warnings:
      description: Things that may be intended but share nothing yet, one sentence each.
      type: list
      elements: str
      returned: always
      sample:
        - "label selector app=reviews matches no Service in namespace red-mesh-apps (it exports
          them once they appear)"
    problems:
      description: Everything that stands in the way of federating this mesh, one sentence each.
      type: list
      elements: str
      returned: always
      sample:
        - "no Service red-mesh-system/egress-blue: the egress gateway for peer blue is missing"
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
from ansible_collections.servicemesh.federation.plugins.module_utils.service.mesh_facts import (  # noqa: E402
    gather,
    peer_gateways,
)

PEER_SPEC = dict(
    peer=dict(type="str", required=True),
    ingress_gateway=dict(type="str"),
    egress_gateway=dict(type="str"),
    require_address=dict(type="bool", default=True),
)
EXPORT_SPEC = dict(
    service=dict(type="str"),
    namespace=dict(type="str"),
    selector=dict(type="dict"),
    exported_name=dict(type="str"),
)


def module_options() -> dict:
    """The argument spec and options: AnsibleK8SModule's here, the in-process run's in
    plugins/action/mesh_info.py."""
    return dict(
        argument_spec=argspec(
            namespace=dict(type="str", required=True),
            peers=dict(type="list", elements="dict", default=[], options=PEER_SPEC),
            exports=dict(type="list", elements="dict", default=[], options=EXPORT_SPEC,
                         mutually_exclusive=[("service", "selector")],
                         required_one_of=[("service", "selector")],
                         required_by={"service": "namespace"}),
            gateways_managed=dict(type="bool", default=False),
            root_min_days=dict(type="int", default=30),
            check_access=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )


def execute(module) -> None:
    """The module's work; ends with module.exit_json or module.fail_json."""
    if not HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"))
    params = module.params

    def inspect(cluster):
        mesh = gather(cluster, params["namespace"], peer_gateways(params["peers"]),
                      exports=params["exports"], gateways_managed=params["gateways_managed"],
                      root_min_days=params["root_min_days"],
                      check_access=params["check_access"])
        for warning in mesh["warnings"]:
            module.warn(warning)
        return {"changed": False, "mesh": mesh}

    run(module, inspect)


def main():
    execute(AnsibleK8SModule(**module_options()))


if __name__ == "__main__":
    main()
