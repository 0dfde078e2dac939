# Copyright: (c) 2026, servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: meshes
short_description: The service meshes the clusters of a kubeconfig run, one host per mesh
version_added: 0.2.0
author:
  - servicemesh.federation maintainers (@servicemesh)
description:
  - Reads each context of a kubeconfig, lists the ServiceMeshControlPlanes
    (C(maistra.io/v2)) it may read, and yields one inventory host per mesh in the group
    C(meshes), with the host variables the federation playbooks need, so that nobody types
    the inventory.
  - Each context first lists control planes in all namespaces; when that is forbidden (403, an
    identity with only a Role in the mesh namespace) it lists the namespace the context names,
    with a warning, since meshes in other namespaces are then not seen.
  - Host variables of a mesh - C(mesh_namespace) (the control plane's namespace);
    C(mesh_trust_domain) (the control plane's C(spec.security.trust.domain), only when set; the
    plan's default is C(<mesh>.local)); C(mesh_cluster) with C(context), C(name) (the context's
    cluster name in the kubeconfig) and C(kubeconfig) (only when O(kubeconfig) is set in the
    inventory source, so a file path injected by AWX for one job is never stored; otherwise
    the playbooks find the kubeconfig as kubernetes.core does, through C(K8S_AUTH_KUBECONFIG)
    or C(~/.kube/config)).
  - Several meshes on one cluster are all yielded. A control plane seen again through another
    context of the same API server (for example an admin and an automation context of one
    cluster) is the same mesh; the first context in O(contexts) order is kept.
  - A context that cannot be read (unreachable, credentials rejected, not allowed, control
    plane API not served) is skipped with a warning naming the context and the reason; the
    other contexts are still read. An invalid or duplicate mesh name fails the inventory with
    an error naming every control plane involved (C(context/namespace)).
  - Never prints or caches credentials; warnings and errors carry the API server's reason only.
requirements:
  - kubernetes.core collection (its client) and the Python C(kubernetes) package.
extends_documentation_fragment:
  - constructed
  - inventory_cache
options:
  plugin:
    description: Marks the file as an inventory source of this plugin.
    type: str
    required: true
    choices: [servicemesh.federation.meshes]
  kubeconfig:
    description:
      - Path of the kubeconfig whose contexts are read.
      - When set here it is also stored in each mesh's C(mesh_cluster.kubeconfig); when taken
        from C(K8S_AUTH_KUBECONFIG) (as the credential type "Service Mesh federation clusters"
        injects it in AWX) or the default, it is not.
      - Only the kubeconfig is read; other C(K8S_AUTH_*) variables do not change the contexts.
    type: path
    default: ~/.kube/config
    env:
      - name: K8S_AUTH_KUBECONFIG
  contexts:
    description:
      - Names of the contexts to read, in this order (the first context that sees a control
        plane wins). Default - every context of the kubeconfig, in file order.
      - A name the kubeconfig does not have is an error.
    type: list
    elements: str
    default: []
  mesh_name:
    description:
      - The rule that names each mesh (its inventory host and the name its peers know it by),
        a Jinja2 expression as in O(compose) over C(namespace) (the control-plane namespace),
        C(smcp) (the ServiceMeshControlPlane - apiVersion, kind, metadata with name, namespace,
        labels and annotations, and spec), C(context) and C(cluster) (the context's cluster
        name).
      - Default (unset) - the control-plane namespace without its C(-system) suffix, like
        V(namespace | regex_replace('-system$', ''\)), so C(red-mesh-system) is C(red-mesh) and
        C(istio-system) is C(istio).
      - The name must be a DNS-1123 label and unique over all contexts.
    type: str
"""

EXAMPLES = r"""
# meshes.yml: every mesh of every context of $K8S_AUTH_KUBECONFIG (or ~/.kube/config)
plugin: servicemesh.federation.meshes

---
# federation.yml: chosen contexts of a named kubeconfig, meshes named by an SMCP label
plugin: servicemesh.federation.meshes
kubeconfig: ~/.kube/federation
contexts: [east-automation, west-automation]
mesh_name: smcp.metadata.labels['mesh.example.com/name'] | default(cluster)
compose:
  federation_wait_timeout: "600"   # compose values are expressions
keyed_groups:
  - key: mesh_cluster.name
    prefix: cluster
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/servicemesh-federation-inventory
"""

import yaml  # noqa: E402
from ansible.errors import AnsibleParserError  # noqa: E402
from ansible.module_utils.common.text.converters import to_native  # noqa: E402
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable  # noqa: E402

try:  # noqa: E402
    from ansible.template import trust_as_template
except ImportError:  # ansible-core < 2.19 prints plain strings as they are

    def trust_as_template(value):
        return value


from ansible_collections.servicemesh.federation.plugins.module_utils.logic.errors import (  # noqa: E402
    ClusterError,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.service.inventory import (  # noqa: E402
    GROUP,
    InventoryError,
    check_names,
    choose_contexts,
    connect_context,
    default_mesh_name,
    find_control_planes,
    kubeconfig_contexts,
    mesh_host_vars,
    partial_views,
    records,
    rule_variables,
    same_mesh_once,
    where,
)

TEMPLATE_MARKERS = ("{{", "{%", "{#")
SOURCE_NAMES = ("meshes.yml", "meshes.yaml", "federation.yml", "federation.yaml")


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    NAME = "servicemesh.federation.meshes"

    def verify_file(self, path):
        return super().verify_file(path) and path.endswith(SOURCE_NAMES)

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache)
        config = self._read_config_data(path)
        kubeconfig = self.get_option("kubeconfig")

        key = self.get_cache_key(path)
        read_cache = self.get_option("cache") and cache
        update_cache = self.get_option("cache") and not cache
        found = None
        if read_cache:
            try:
                found = self._cache[key]
            except KeyError:
                update_cache = True
        if found is None:
            found = self._discover(kubeconfig)
        if update_cache:
            self._cache[key] = found
        self._populate(found, kubeconfig if config.get("kubeconfig") else None)

    def _discover(self, kubeconfig):
        try:
            with open(kubeconfig, encoding="utf-8") as stream:
                data = yaml.safe_load(stream)
        except OSError as exc:
            raise AnsibleParserError(f"kubeconfig {kubeconfig}: cannot read it: "
                                     f"{exc.strerror}") from exc
        except yaml.YAMLError as exc:  # its message would quote the file: tokens
            mark = getattr(exc, "problem_mark", None)
            at = f" (line {mark.line + 1})" if mark else ""
            raise AnsibleParserError(f"kubeconfig {kubeconfig}: not valid YAML{at}") from None
        try:
            contexts = choose_contexts(kubeconfig_contexts(data), self.get_option("contexts"))
        except InventoryError as exc:
            raise AnsibleParserError(f"kubeconfig {kubeconfig}: {exc}") from exc

        found, views = [], []
        for context in contexts:
            try:
                cluster = connect_context(kubeconfig, context["name"])
                items, note = find_control_planes(cluster, context["namespace"])
            except ClusterError as exc:
                self.display.warning(f"{self.NAME}: context {context['name']!r} skipped (its "
                                     f"meshes are not in the inventory): {exc}")
                continue
            server = cluster.client.configuration.host
            views.append({"context": context["name"], "server": server, "note": note})
            found += records(context, server, items)
            self.display.vvv(f"{self.NAME}: context {context['name']!r}: "
                             f"{len(items)} control plane(s)")

        for view in partial_views(views):
            self.display.warning(f"{self.NAME}: context {view['context']!r} {view['note']}")
        kept, dropped = same_mesh_once(found)
        for again, first in dropped:
            self.display.vvv(f"{self.NAME}: {where(again)} is the control plane already found "
                             f"as {where(first)} (same API server): kept once")
        return kept

    def _mesh_name(self, rule, record):
        if not rule:
            return default_mesh_name(record["namespace"])
        try:
            return self._compose(rule, rule_variables(record))
        except Exception as exc:
            raise AnsibleParserError(f"mesh_name rule {rule!r} for {where(record)}: "
                                     f"{to_native(exc)}") from exc

    def _populate(self, found, kubeconfig):
        rule = self.get_option("mesh_name")
        try:
            named = check_names([(self._mesh_name(rule, r), r) for r in found])
        except InventoryError as exc:
            raise AnsibleParserError(str(exc)) from exc

        strict = self.get_option("strict")
        self.inventory.add_group(GROUP)
        for name, record in named:
            self.inventory.add_host(name, group=GROUP)
            hostvars = mesh_host_vars(record, kubeconfig)
            for var, value in hostvars.items():
                self.inventory.set_variable(name, var, _plain(value))
            variables = {**rule_variables(record), **hostvars}
            self._set_composite_vars(self.get_option("compose"), variables, name, strict)
            self._add_host_to_composed_groups(self.get_option("groups"), variables, name, strict)
            self._add_host_to_keyed_groups(self.get_option("keyed_groups"), variables, name,
                                           strict)


def _plain(value):
    """Strings read from the clusters are untrusted, so ansible-inventory prints them as
    {"__ansible_unsafe": ...}, which AWX would store as such. A string without template markers
    renders as itself either way: mark it trusted so it is printed plain; others stay unsafe."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, str) and not any(m in value for m in TEMPLATE_MARKERS):
        return trust_as_template(value)
    return value
