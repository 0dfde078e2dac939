#!/usr/bin/python
# Copyright: (c) 2026, servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# This file only documents the action plugin plugins/action/federation_plan.py.

DOCUMENTATION = r"""
module: federation_plan
short_description: Validate a Service Mesh federation plan and expand it into directions
version_added: 0.1.0
author:
  - servicemesh.federation maintainers (@servicemesh)
description:
  - Runs on the controller and contacts no cluster.
  - Applies the defaults (namespace C(<mesh>-system), trust domain C(<mesh>.local), gateways
    C(ingress-<peer>) / C(egress-<peer>), client ID, CA ConfigMap C(<peer>-ca-root-cert)) to the
    variables of every mesh and expands the topology into directions (every ordered pair, or
    both directions of each explicit link).
  - Validates the whole plan and fails listing B(every) problem at once, each naming the mesh
    (and inventory host), the field and the reason. Credential values never appear in messages.
  - "Checks: mesh names are unique DNS-1123 labels (and not C(istio) or C(ossm), whose CA
    ConfigMap name would be a mesh's own root ConfigMap); namespaces are DNS-1123 labels and not
    shared by two meshes on the same cluster; trust domains are unique, without scheme or C(/);
    gateway names are valid Service names, not reserved, and one per peer and direction; links
    name two distinct known meshes and are not repeated; C(mesh_peers) overrides name linked
    peers and known keys (addresses without ports, ports 1-65535, C(ingress_service) with a
    known type, string annotations and node ports 30000-32767 only with C(NodePort), only with
    managed gateways); C(mesh_cluster) has only known keys and complete connection data;
    unknown C(mesh_*) variables are reported."
  - "Service sharing checks: every C(mesh_exports) rule gives either C(service) or
    C(selector) (a label selector with C(matchLabels) and/or C(matchExpressions)), DNS-1123
    names, an alias with only C(name) / C(namespace), and C(to) naming linked peers; every
    C(mesh_imports) rule names a linked mesh in C(from), the C(service) and C(namespace) as
    exported, C(as_local) only with C(alias.namespace), and a C(domain_suffix) other than
    C(svc.cluster.local). An import of something the exporter does not export to the importing
    mesh is refused (the typo guard), naming what the exporter does export to it; a selector
    export in the import's namespace (after its alias), or in any namespace, makes a named
    import plausible. Imports from and exports to meshes outside the run are ignored."
options:
  meshes:
    description:
      - Inventory hostname -> that host's variables C(mesh_name), C(mesh_namespace),
        C(mesh_trust_domain), C(mesh_cluster), C(mesh_peers), C(mesh_exports),
        C(mesh_imports) (all optional; other keys are ignored).
      - C(mesh_peers) maps a peer mesh name to overrides C(addresses), C(discovery_port),
        C(service_port), C(ingress_gateway), C(egress_gateway) and C(ingress_service)
        (C(type) V(LoadBalancer) or V(NodePort), C(annotations), C(node_ports) with
        C(discovery) and C(service)).
      - C(mesh_exports) is a list of rules, kept in order, each with C(service) (a Service
        name) or C(selector) (a label selector), C(namespace) (required with C(service);
        default any namespace with C(selector)), optional C(alias) (C(name), C(namespace)) and
        C(to) (peer mesh names; default every peer).
      - C(mesh_imports) is a list of rules, kept in order, each with C(from) (the exporting
        mesh), C(service) and C(namespace) as exported (after the exporter's alias), optional
        C(as_local) (default V(false)), C(alias) and C(domain_suffix).
      - C(mesh_cluster) holds kubernetes.core auth option names (C(host), C(api_key),
        C(kubeconfig), C(context), C(username), C(password), C(ca_cert), C(validate_certs)) plus
        C(name) and C(oauth_host). Connection data is complete with C(kubeconfig) (C(context)
        optional), C(host) + C(api_key), or C(host) + C(username) + C(password). Secret values
        are only checked for presence, so callers may pass them masked.
      - With C(K8S_AUTH_KUBECONFIG) set (see O(env_auth)), C(context) alone is complete; the
        context is looked up in that kubeconfig.
      - With C(FEDERATION_CLUSTER_PASSWORDS) naming a YAML file of passwords by cluster name
        (as the AWX credential type C(Service Mesh federation cluster passwords) injects it),
        C(host) + C(username) without C(password) is complete when the file has a password
        for the mesh's cluster name (C(name), else C(context), else C(host)); a missing entry
        or an unreadable file is a plan problem. The plan uses only the file's cluster names;
        no password is returned.
    type: dict
    required: true
  links:
    description:
      - List of two-mesh lists (mesh names); each link means both directions.
      - Omitted or null means every ordered pair; an empty list plans no direction (the
        meshes are still validated).
    type: raw
  outside_meshes:
    description:
      - Names of inventory meshes that are not part of this run (left out by C(--limit)).
        C(mesh_peers) entries for them are ignored instead of reported as unknown peers.
    type: list
    elements: str
    default: []
  gateways:
    description:
      - C(federation_gateways) as given. V(managed) means the collection adds each mesh's
        per-peer gateways to its ServiceMeshControlPlane; V(external) means they are expected
        to exist already (C(ingress_service) overrides are then refused).
      - Any other value is reported as a plan problem. Null means V(managed).
    type: raw
    default: managed
  settings:
    description:
      - Raw values of the other C(federation_*) group variables the user set, keyed by variable
        name - C(federation_wait_timeout) (whole seconds, 1 or more), C(federation_take_over)
        (true or false), C(federation_unfederate_mesh) (a mesh of this run),
        C(federation_report_dir) (an absolute path), C(federation_accept_root_change) (true,
        false, or a list of meshes of this run; since 0.3.0) and C(federation_root_min_days)
        (whole days, 0 or more; since 0.3.0). Leave out (or null) what is unset.
      - Each bad value is a plan problem naming the variable, so nothing is refused later,
        after writes, under a role variable name.
    type: dict
    default: {}
  variables:
    description:
      - Names of every C(federation_*) variable of the inventory. A name that is neither a
        user variable nor a role variable or fact of this collection
        (C(federation_<role>_*)), or that is a near miss of a user variable
        (C(federation_wait_timout)), is reported as an unknown variable.
    type: list
    elements: str
    default: []
  env_auth:
    description:
      - Whether C(K8S_AUTH_*) environment variables supply the connection, so that an empty
        C(mesh_cluster) is accepted.
      - Default is to detect it on the controller (C(K8S_AUTH_KUBECONFIG), C(K8S_AUTH_CONTEXT),
        or C(K8S_AUTH_HOST) with C(K8S_AUTH_API_KEY) or C(K8S_AUTH_USERNAME) +
        C(K8S_AUTH_PASSWORD)).
    type: bool
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
attributes:
  action:
    support: full
  async:
    support: none
  bypass_host_loop:
    support: none
  check_mode:
    support: full
    details: Read-only; behaves the same in check mode.
  diff_mode:
    support: N/A
    details: Read-only.
  platform:
    platforms: all
    details: Runs on the controller and contacts no cluster.
notes:
  - "Use it with C(run_once: true): the plan is the same for every mesh."
seealso:
  - name: Architecture (inventory model and defaults)
    description: docs/architecture.md in the collection.
    link: https://github.com/servicemesh/federation/blob/main/docs/architecture.md
"""

EXAMPLES = r"""
- name: Validate the plan before contacting any cluster
  servicemesh.federation.federation_plan:
    meshes:
      green:
        mesh_namespace: istio-system
        mesh_cluster: {host: "https://api.green.example.com:6443", api_key: "{{ green_token }}"}
        mesh_peers:
          red: {addresses: [gw.green-for-red.example.com], discovery_port: 30188}
        mesh_exports:
          - {service: ratings, namespace: green-apps, alias: {namespace: shared}, to: [red]}
      red:
        mesh_cluster: {kubeconfig: /etc/federation/kubeconfig, context: red}
        mesh_imports:
          - {from: green, service: ratings, namespace: shared}
    links: "{{ federation_links | default(omit) }}"
    gateways: "{{ federation_gateways | default('managed') }}"
  run_once: true
  register: federation
"""

RETURN = r"""
plan:
  description: The validated plan.
  returned: success
  type: dict
  contains:
    meshes:
      description:
        - Mesh name -> C(name), C(host) (inventory hostname), C(namespace), C(trust_domain),
          C(cluster) (display name), C(auth) (C(token), C(password), C(kubeconfig) or
          C(environment)) and C(links).
        - Each link (sorted by peer) describes the direction mesh -> peer with C(mesh), C(peer),
          C(peer_host), C(namespace), C(peer_namespace), C(peer_trust_domain),
          C(ingress_gateway) / C(egress_gateway) (this mesh's gateways for the peer),
          C(peer_ingress_gateway) / C(peer_egress_gateway) (the peer's gateways for this mesh),
          C(client_id), C(ca_configmap) and the overrides C(addresses), C(discovery_port),
          C(service_port) (null when not set), and C(ingress_address_overridden) (the peer
          reaches this mesh's C(ingress_gateway) through its own C(addresses) override, so
          that gateway needs no address of its own).
        - Each mesh also has C(gateways) (V(managed) or V(external)), and each link
          C(network) (C(network-<peer>), the egress gateway's requested network view),
          C(ingress_service) (the ingress gateway Service for the peer, C(type), and
          C(annotations) and C(node_ports) when given; by default only type V(LoadBalancer)),
          C(export_rules) and C(import_rules) (the ExportedServiceSet and ImportedServiceSet
          rules for the peer in API form, in inventory order; empty means no set),
          C(exports) and C(imports) (named services exported to and imported from the peer,
          each C(service), C(namespace) and C(exported_name), the FQDN the peer sees) and
          C(export_selectors) (label selector exports to the peer, C(namespace) and
          C(selector); C(namespace) V(*) means any).
      type: dict
      returned: success
    directions:
      description: Sorted list of C([mesh, peer]) pairs.
      type: list
      elements: list
      returned: success
      sample: [[green, red], [red, green]]
problems:
  description: Every problem found, one sentence each.
  returned: failure
  type: list
  elements: str
  sample: ["mesh 'red': mesh_peers.green.discovery_port: must be an integer from 1 to 65535, got 0"]
"""
