# Copyright: (c) 2026, servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pre-flight facts of one mesh (mesh_info): read-only, and never reads a Secret.

Missing things are returned as `problems` (clear sentences) rather than failures, so the
caller can report every mesh's problems at once before anything is written. Only errors that
make the cluster unusable (unreachable, credentials rejected, not allowed to read the mesh
namespace) raise.
"""

from __future__ import annotations

import datetime
import re

from ansible_collections.servicemesh.federation.plugins.module_utils.client.access import (
    access_problem,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.certs import (
    CertError,
    parse_root_cert,
    root_cert_problems,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.errors import (
    AccessDenied,
    ClusterError,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.kinds import (
    CONFIGMAP,
    DEPLOYMENT,
    MEMBER_ROLL,
    NAMESPACE,
    SERVICE,
    SERVICE_MESH_CONTROL_PLANE,
    SERVICE_MESH_PEER,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.naming import (
    ISTIOD_SELECTOR,
    MANAGED_BY,
    ROOT_CERT_KEY,
    ROOT_FINGERPRINT_ANNOTATION,
    ca_configmap_name,
    egress_gateway_name,
    ingress_gateway_name,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.service.addresses import (
    NO_ADDRESS,
    reachable_address,
    read_node_addresses,
)

MIN_VERSION = (2, 1)  # federation appeared in OpenShift Service Mesh 2.1
DEFAULT_CA_CONFIGMAP = "istio-ca-root-cert"
CA_CONFIGMAP_ENV = "PILOT_CA_CERT_CONFIG_MAP_NAME"
MEMBER_ROLL_NAME = "default"  # the operator reads only the member roll named "default"
ANY = "*"
DEFAULT_ROOT_MIN_DAYS = 30


def _version(text) -> tuple[int, ...] | None:
    match = re.match(r"^v?(\d+)\.(\d+)", str(text or ""))
    return (int(match.group(1)), int(match.group(2))) if match else None


def _condition(obj: dict, kind: str) -> dict:
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind:
            return condition
    return {}


def _crds(cluster, problems: list) -> dict:
    served = {}
    for plural, (gvk, product) in {
        "servicemeshpeers": (SERVICE_MESH_PEER, "federation"),
        "servicemeshcontrolplanes": (SERVICE_MESH_CONTROL_PLANE, "control plane"),
    }.items():
        served[plural] = cluster.serves(*gvk)
        if not served[plural]:
            group = gvk[0].split("/", maxsplit=1)[0]
            problems.append(f"the {product} API {plural}.{group} ({gvk[0]}) is not served: is "
                            "OpenShift Service Mesh 2.1 or later installed?")
    return served


def _namespace_exists(cluster, namespace: str) -> bool | None:
    """None when we may not read Namespaces (a least-privilege identity with only a Role)."""
    try:
        return cluster.get(NAMESPACE, "", namespace) is not None
    except AccessDenied:
        return None


def _control_plane(cluster, namespace: str, problems: list) -> dict | None:
    items = cluster.list(SERVICE_MESH_CONTROL_PLANE, namespace)
    if not items:
        problems.append(f"no ServiceMeshControlPlane in namespace {namespace}")
        return None
    smcp = items[0]
    name = smcp["metadata"]["name"]
    status = smcp.get("status") or {}
    version_text = (smcp.get("spec") or {}).get("version") or status.get("chartVersion")
    version = _version(version_text)
    ready = _condition(smcp, "Ready")
    facts = {"name": name, "version": version_text, "ready": ready.get("status") == "True"}
    if version is None:
        problems.append(f"ServiceMeshControlPlane {namespace}/{name}: version unknown "
                        "(no spec.version or status.chartVersion)")
    elif version < MIN_VERSION:
        problems.append(f"ServiceMeshControlPlane {namespace}/{name} is version "
                        f"{version_text}; federation needs v2.1 or later")
    if not facts["ready"]:
        detail = ready.get("message") or ready.get("reason") or "no Ready condition"
        problems.append(f"ServiceMeshControlPlane {namespace}/{name} is not Ready: {detail}")
    return facts


def _ca_configmap(cluster, namespace: str) -> tuple[str, str]:
    """(ConfigMap name, where it came from): istiod's PILOT_CA_CERT_CONFIG_MAP_NAME, else the
    default. Reading Deployments is optional: no permission or no istiod means the default."""
    try:
        deployments = cluster.list(DEPLOYMENT, namespace, label_selector=ISTIOD_SELECTOR)
    except ClusterError:
        return DEFAULT_CA_CONFIGMAP, "default"
    for deployment in deployments:
        containers = (((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}) \
            .get("containers") or []
        for container in containers:
            for env in container.get("env") or []:
                if env.get("name") == CA_CONFIGMAP_ENV and env.get("value"):
                    return env["value"], "istiod {}".format(deployment["metadata"]["name"])
    return DEFAULT_CA_CONFIGMAP, "default"


def _root_cert(cluster, namespace: str, name: str, problems: list,
               min_days: int = DEFAULT_ROOT_MIN_DAYS, now=None) -> dict | None:
    configmap = cluster.get(CONFIGMAP, namespace, name)
    if configmap is None:
        problems.append(f"root certificate ConfigMap {namespace}/{name} does not exist "
                        "(istiod has not published the mesh's root yet?)")
        return None
    pem = (configmap.get("data") or {}).get(ROOT_CERT_KEY)
    if not pem:
        problems.append(f"ConfigMap {namespace}/{name} has no key {ROOT_CERT_KEY}")
        return None
    try:
        described = parse_root_cert(pem)
    except CertError as exc:
        problems.append(f"ConfigMap {namespace}/{name} key {ROOT_CERT_KEY}: {exc}")
        return None
    now = now or datetime.datetime.now(datetime.UTC)
    problems.extend(f"ConfigMap {namespace}/{name} key {ROOT_CERT_KEY}: {problem}"
                    for problem in root_cert_problems(described, min_days, now))
    return {"pem": pem, "sha256": described["sha256"], "not_after": described["not_after"],
            "subject": described["subject"], "count": described["count"],
            "fingerprint": described["fingerprint"]}


def _root_copies(cluster, namespace: str, peers: list) -> dict:
    """Peer -> what this mesh holds of the peer's root: its CA ConfigMap copy (one list of the
    namespace's ConfigMaps, whoever made them) with the fingerprint recorded on it by an earlier
    run (None for copies made before the annotation existed) and the fingerprint of its content
    (None when it holds no readable certificate). Peers without a copy are left out, and so are
    copies the collection did not make: those are foreign objects, which the apply refuses (or
    takes over when asked) and names as such, rather than a root change."""
    wanted = {ca_configmap_name(p["peer"]): p["peer"] for p in peers}
    copies = {}
    for configmap in cluster.list(CONFIGMAP, namespace):
        meta = configmap.get("metadata") or {}
        peer = wanted.get(meta.get("name"))
        labels = meta.get("labels") or {}
        if peer is None or any(labels.get(k) != v for k, v in MANAGED_BY.items()):
            continue
        try:
            content = parse_root_cert((configmap.get("data") or {}).get(ROOT_CERT_KEY))
        except CertError:
            content = None
        copies[peer] = {
            "configmap": meta["name"],
            "recorded": (meta.get("annotations") or {}).get(ROOT_FINGERPRINT_ANNOTATION),
            "content": content and content["fingerprint"],
        }
    return copies


def _gateways(cluster, namespace: str, peers: list, problems: list,
              managed: bool = False) -> dict:
    services = cluster.list(SERVICE, namespace)
    by_name = {s["metadata"]["name"]: s for s in services}
    node_addresses = None
    if any((by_name.get(p["ingress_gateway"]) or {}).get("spec", {}).get("type") == "NodePort"
           for p in peers):
        node_addresses = read_node_addresses(cluster)
    ingress = {}
    for peer in peers:
        for role in ("ingress", "egress"):
            gateway = peer[role + "_gateway"]
            # Managed gateways are added by the gateways step after this pre-flight.
            if gateway not in by_name and not managed:
                problems.append("no Service {}/{}: the {} gateway for peer {} is "
                                "missing".format(namespace, gateway, role, peer["peer"]))
        gateway = peer["ingress_gateway"]
        if gateway not in by_name:
            continue
        address = reachable_address(by_name[gateway], node_addresses)
        if address is None:
            ingress[gateway] = dict(NO_ADDRESS)
            if peer.get("require_address", True) and not managed:
                problems.append(
                    "ingress gateway Service {}/{} (for peer {}) has no address yet: no "
                    "load balancer address{}; if peer {} reaches it another way, set that "
                    "address override on mesh {}: mesh_peers.<this mesh>.addresses".format(
                        namespace, gateway, peer["peer"],
                        "" if node_addresses else " and no readable node addresses",
                        peer["peer"], peer["peer"]))
        else:
            ingress[gateway] = address
    return ingress


def _members(cluster, namespace: str, needed: bool, problems: list) -> list | None:
    """Member namespaces from the ServiceMeshMemberRoll ``default`` ([] when there is none).

    None when unknown: the API is not served, or the identity may not read it and no export
    needs it (a problem or an error otherwise).
    """
    if not cluster.serves(*MEMBER_ROLL):
        if needed:
            problems.append("the member roll API servicemeshmemberrolls.maistra.io "
                            f"({MEMBER_ROLL[0]}) is not served: cannot check that exported "
                            "Services are in member namespaces")
        return None
    try:
        roll = cluster.get(MEMBER_ROLL, namespace, MEMBER_ROLL_NAME)
    except AccessDenied:
        if needed:
            raise
        return None
    if roll is None:
        return []
    members = set((roll.get("spec") or {}).get("members") or [])
    members.update((roll.get("status") or {}).get("configuredMembers") or [])
    return sorted(members)


def _labels_match(selector: dict, labels: dict) -> bool:
    """Kubernetes LabelSelector semantics (matchLabels AND every matchExpression)."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, operator, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def _selector_text(selector: dict) -> str:
    terms = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        values = ",".join(expr.get("values") or [])
        terms.append(f"{expr.get('key')} {expr.get('operator')}" + (f" ({values})" if values
                                                                    else ""))
    return ", ".join(terms) or "(empty)"


class _Services:
    """Services per namespace, listed once each; a namespace we may not read is a problem."""

    def __init__(self, cluster, problems: list):
        self.cluster, self.problems, self.by_ns = cluster, problems, {}

    def in_namespace(self, namespace: str) -> list | None:
        if namespace not in self.by_ns:
            try:
                self.by_ns[namespace] = self.cluster.list(SERVICE, namespace)
            except AccessDenied:
                self.problems.append(f"not allowed to list Services in namespace {namespace}: "
                                     "the identity needs list on services there to check "
                                     "this mesh's exports")
                self.by_ns[namespace] = None
        return self.by_ns[namespace]


def _exports(cluster, namespace: str, exports: list, members: list | None, problems: list,
             warnings: list) -> None:
    """Named exports must exist in member namespaces; a selector matching nothing is a warning.

    The control-plane namespace always belongs to its mesh, listed or not.
    """
    services = _Services(cluster, problems)
    member = None if members is None else set(members) | {namespace}
    roll = f"the ServiceMeshMemberRoll {MEMBER_ROLL_NAME} in {namespace}"
    seen = set()
    for export in exports:
        ns, selector = export.get("namespace") or ANY, export.get("selector")
        key = (export.get("service"), ns, repr(selector))
        if key in seen:
            continue  # the plan lists an export once per peer it goes to
        seen.add(key)
        if selector is None:
            name = export["service"]
            found = services.in_namespace(ns)
            if found is not None and not any(s["metadata"]["name"] == name for s in found):
                problems.append(f"exported Service {ns}/{name} does not exist")
            if member is not None and ns not in member:
                problems.append(f"exported Service {ns}/{name} is in namespace {ns}, which is "
                                f"not a member of this mesh: add it to {roll}")
            continue
        text = f"label selector {_selector_text(selector)}"
        if ns == ANY:
            spaces, where = sorted(member or ()), "any member namespace"
        elif member is not None and ns not in member:
            warnings.append(f"{text} exports nothing: namespace {ns} is not a member of this "
                            f"mesh (add it to {roll})")
            continue
        else:
            spaces, where = [ns], f"namespace {ns}"
        matched = [s for space in spaces for s in services.in_namespace(space) or ()
                   if _labels_match(selector, s["metadata"].get("labels") or {})]
        if not matched:
            warnings.append(f"{text} matches no Service in {where} (it exports them once they "
                            "appear)")


def peer_gateways(peers: list) -> list:
    """The peers with this mesh's default gateway names filled in (ingress-/egress-<peer>)."""
    return [dict(p, ingress_gateway=p.get("ingress_gateway") or ingress_gateway_name(p["peer"]),
                 egress_gateway=p.get("egress_gateway") or egress_gateway_name(p["peer"]))
            for p in peers]


def gather(cluster, namespace: str, peers: list, exports: list | None = None,
           gateways_managed: bool = False, root_min_days: int = DEFAULT_ROOT_MIN_DAYS,
           now=None, check_access: bool = False) -> dict:
    """The mesh facts in the shape of mesh_info's `mesh` return value.

    ``exports`` are this mesh's exports ({service, namespace} or {namespace, selector}).
    With ``gateways_managed`` missing gateway Services and addresses are not problems (the
    gateways step creates them); the control plane must still be there, 2.1+ and Ready.
    The root must be a CA certificate valid for ``root_min_days`` more days (from ``now``,
    default: the current time); ``root_copies`` are this mesh's copies of its peers' roots.
    With ``check_access`` every verb a federate run needs in the namespace and may not use is a
    problem (one SelfSubjectRulesReview).
    """
    exports = exports or []
    problems: list[str] = []
    warnings: list[str] = []
    mesh = {
        "namespace": namespace,
        "cluster": cluster.name,
        "cluster_version": cluster.version(),
        "crds": _crds(cluster, problems),
        "smcp": None,
        "ca_configmap": None,
        "ca_configmap_source": None,
        "root_cert": None,
        "root_copies": {},
        "ingress": {},
        "members": None,
        "problems": problems,
        "warnings": warnings,
    }
    if _namespace_exists(cluster, namespace) is False:
        problems.append(f"namespace {namespace} does not exist")
        return mesh
    if check_access:
        problems.extend(filter(None, [access_problem(cluster, namespace, gateways_managed)]))
    if mesh["crds"]["servicemeshcontrolplanes"]:
        # The first read in the mesh namespace: AccessDenied here fails the task (by design).
        mesh["smcp"] = _control_plane(cluster, namespace, problems)
    mesh["ingress"] = _gateways(cluster, namespace, peers, problems, gateways_managed)
    mesh["members"] = _members(cluster, namespace, bool(exports), problems)
    if exports:
        _exports(cluster, namespace, exports, mesh["members"], problems, warnings)
    mesh["ca_configmap"], mesh["ca_configmap_source"] = _ca_configmap(cluster, namespace)
    mesh["root_cert"] = _root_cert(cluster, namespace, mesh["ca_configmap"], problems,
                                   root_min_days, now)
    if peers:
        mesh["root_copies"] = _root_copies(cluster, namespace, peers)
    return mesh
