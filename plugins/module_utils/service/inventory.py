# Copyright: (c) 2026, servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the inventory plugin servicemesh.federation.meshes decides, in plain Python.

From a kubeconfig: which contexts to read, where each context looks for
ServiceMeshControlPlanes, which control planes are the same mesh seen through two contexts,
the default mesh name, the host variables of a mesh, and which names are invalid or taken
twice. Records are plain dicts (they go through the inventory cache): context, cluster (the
context's cluster name in the kubeconfig), server (API URL), namespace and smcp (trimmed).
Nothing here reads or returns credentials.
"""

from __future__ import annotations

from ansible_collections.servicemesh.federation.plugins.module_utils.client.api_errors import (
    api_errors,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.client.cluster import (
    Cluster,
    describe,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.errors import (
    AccessDenied,
    ClusterError,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.kinds import (
    SERVICE_MESH_CONTROL_PLANE,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.plan_values import (
    dns1123_label_error,
)

CONTROL_PLANE_SUFFIX = "-system"
GROUP = "meshes"


class InventoryError(Exception):
    """The inventory cannot be built (bad options, invalid or duplicate mesh names)."""


def kubeconfig_contexts(config) -> list[dict]:
    """The contexts of a loaded kubeconfig, in file order: name, cluster, namespace."""
    if not isinstance(config, dict):
        raise InventoryError("the kubeconfig is not a mapping (is it a kubeconfig file?)")
    found = []
    for entry in config.get("contexts") or []:
        if not isinstance(entry, dict) or not entry.get("name"):
            continue
        context = entry.get("context") or {}
        found.append({"name": str(entry["name"]), "cluster": str(context.get("cluster") or ""),
                      "namespace": str(context.get("namespace") or "")})
    return found


def choose_contexts(available: list[dict], wanted) -> list[dict]:
    """The contexts to read: `wanted` in its order (all of the kubeconfig's when empty)."""
    if not wanted:
        return list(available)
    if not isinstance(wanted, list) or not all(isinstance(w, str) for w in wanted):
        raise InventoryError("contexts: must be a list of context names")
    by_name = {c["name"]: c for c in available}
    unknown = [w for w in wanted if w not in by_name]
    if unknown:
        raise InventoryError(
            "contexts: not in the kubeconfig: {} (it has: {})".format(
                ", ".join(unknown), ", ".join(sorted(by_name)) or "no contexts"))
    return [by_name[w] for w in dict.fromkeys(wanted)]


def connect_context(kubeconfig: str, context: str) -> Cluster:
    """A client for one kubeconfig context, through kubernetes.core's client.

    Only the kubeconfig is read: unlike a module, K8S_AUTH_HOST / K8S_AUTH_API_KEY in the
    environment do not replace the context (an inventory source names its clusters).
    """
    import kubernetes
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import (
        K8SClient,
        create_api_client,
    )

    label = describe({"context": context})
    configuration = kubernetes.client.Configuration()
    try:
        kubernetes.config.load_kube_config(config_file=kubeconfig, context=context,
                                           client_configuration=configuration,
                                           persist_config=False)
    except Exception as exc:  # ConfigException: names the missing key, never its value
        raise ClusterError(label, f"cannot load the context from the kubeconfig: {exc}") from exc
    label = describe({"context": context}, configuration.host)
    with api_errors(label, "connect"):  # discovery: the first request (401, unreachable ...)
        client = create_api_client(configuration)
    return Cluster(K8SClient(configuration=configuration, client=client), label)


def find_control_planes(cluster, context_namespace: str = "") -> tuple[list[dict], str]:
    """The ServiceMeshControlPlanes the identity may read, and a note when it could not look
    everywhere: all namespaces, else (403) the context's namespace. Other errors raise."""
    try:
        return cluster.list(SERVICE_MESH_CONTROL_PLANE, ""), ""
    except AccessDenied as exc:
        if exc.status != 403 or not context_namespace:
            raise
    items = cluster.list(SERVICE_MESH_CONTROL_PLANE, context_namespace)
    return items, (f"may not list ServiceMeshControlPlanes in all namespaces (403), so only "
                   f"the context's namespace {context_namespace} was read")


def trim_control_plane(obj: dict) -> dict:
    """What the mesh name rule may use: apiVersion, kind, metadata (name, namespace, labels,
    annotations) and spec. No status, no managed fields: the cache stays small."""
    meta = obj.get("metadata") or {}
    return {
        "apiVersion": obj.get("apiVersion", SERVICE_MESH_CONTROL_PLANE[0]),
        "kind": obj.get("kind", SERVICE_MESH_CONTROL_PLANE[1]),
        "metadata": {k: meta[k] for k in ("name", "namespace", "labels", "annotations")
                     if meta.get(k) is not None},
        "spec": obj.get("spec") or {},
    }


def records(context: dict, server: str, items: list[dict]) -> list[dict]:
    """One record per control plane found through `context` (sorted by namespace)."""
    found = [{"context": context["name"], "cluster": context.get("cluster") or context["name"],
              "server": server, "namespace": (item.get("metadata") or {}).get("namespace", ""),
              "smcp": trim_control_plane(item)} for item in items]
    return sorted(found, key=lambda r: (r["namespace"], r["smcp"]["metadata"].get("name", "")))


def where(record: dict) -> str:
    """How messages name a control plane: context/namespace."""
    return f"{record['context']}/{record['namespace']}"


def same_mesh_once(found: list[dict]) -> tuple[list[dict], list[tuple[dict, dict]]]:
    """Drop a control plane seen again through a later context of the same API server (an
    admin and an automation context of one cluster); returns (kept, [(dropped, kept one)])."""
    kept: dict[tuple[str, str], dict] = {}
    dropped = []
    for record in found:
        key = (record["server"].rstrip("/"), record["namespace"])
        if key in kept:
            dropped.append((record, kept[key]))
        else:
            kept[key] = record
    return list(kept.values()), dropped


def partial_views(views: list[dict]) -> list[dict]:
    """The views (context, server, note) that read only part of their API server, when no other
    context read all of it: those may miss meshes, so the user is told."""
    complete = {v["server"].rstrip("/") for v in views if not v["note"]}
    return [v for v in views if v["note"] and v["server"].rstrip("/") not in complete]


def default_mesh_name(namespace: str) -> str:
    """The default rule: the control-plane namespace without its `-system` suffix."""
    if namespace.endswith(CONTROL_PLANE_SUFFIX) and namespace != CONTROL_PLANE_SUFFIX:
        return namespace[: -len(CONTROL_PLANE_SUFFIX)]
    return namespace


def rule_variables(record: dict) -> dict:
    """The variables a mesh_name expression sees."""
    return {"namespace": record["namespace"], "smcp": record["smcp"],
            "context": record["context"], "cluster": record["cluster"]}


def trust_domain(record: dict) -> str | None:
    """spec.security.trust.domain when the control plane sets one (else the plan's default)."""
    trust = ((record["smcp"].get("spec") or {}).get("security") or {}).get("trust") or {}
    domain = trust.get("domain")
    return domain if isinstance(domain, str) and domain else None


def mesh_host_vars(record: dict, kubeconfig: str | None = None) -> dict:
    """mesh_namespace, mesh_trust_domain (when the SMCP says it) and mesh_cluster.

    `kubeconfig` only when the inventory source names the file; otherwise the plan finds it as
    kubernetes.core does (K8S_AUTH_KUBECONFIG, ~/.kube/config), so a path that exists only
    during one AWX job is never stored in the inventory.
    """
    cluster = {"context": record["context"], "name": record["cluster"]}
    if kubeconfig:
        cluster = {"kubeconfig": kubeconfig, **cluster}
    hostvars = {"mesh_namespace": record["namespace"], "mesh_cluster": cluster}
    domain = trust_domain(record)
    if domain:
        hostvars["mesh_trust_domain"] = domain
    return hostvars


def check_names(named: list[tuple[object, dict]]) -> list[tuple[str, dict]]:
    """Every mesh name valid (a DNS-1123 label) and used once; all problems in one error."""
    problems = []
    first: dict[str, dict] = {}
    for name, record in named:
        err = dns1123_label_error(name)
        if err:
            problems.append(f"mesh name of {where(record)}: {err} (change the mesh_name rule)")
            continue
        if name in first:
            problems.append(f"mesh name {name!r} is used twice: by {where(first[name])} and by "
                            f"{where(record)} (change the mesh_name rule or limit contexts)")
        else:
            first[name] = record
    if problems:
        raise InventoryError("; ".join(problems))
    return [(str(name), record) for name, record in named]
