"""What the Service Mesh operator (and the cloud load balancer) would put into the namespace.

Namespace, root CA (Secret + ``istio-ca-root-cert``), the SMCP ``basic`` with its Ready status,
the istiod Deployment, and one Service + ServiceAccount per enabled additional gateway, ingress
Services of type LoadBalancer getting their own loopback address.
"""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from lab.kubeapi import APPS, CORE, MAISTRA, ApiError, KubeApi, path
from lab.mesh.informer import Informer
from lab.mesh.istiod_ca import MeshCA
from lab.mesh.peer_status_writer import now_rfc3339

log = logging.getLogger("operator")

SMCP_NAME = "basic"
ISTIOD = "istiod-basic"
CA_SECRET = "istio-ca-secret"
ROOT_CONFIGMAP = "istio-ca-root-cert"
ROOT_KEY = "root-cert.pem"
VERSION = "v2.5"
OPERATOR_VERSION = "2.5.0"
DISCOVERY_PORT = 8188
SERVICE_PORT = 15443
# Lab-only Service annotation (set through the SMCP entry's service.metadata.annotations): the
# ingress sits behind a balancer Kubernetes does not manage, at this address. The Service gets
# no status.loadBalancer address; the gateway listens on the annotated address instead.
EXTERNAL_ADDRESS = "lab.servicemesh.federation/external-address"


def operator_labels(namespace: str) -> dict:
    return {
        "app.kubernetes.io/managed-by": "maistra-istio-operator",
        "maistra.io/owner": namespace,
        "maistra.io/owner-name": SMCP_NAME,
    }


def _create_if_missing(api: KubeApi, url: str, obj: dict) -> bool:
    """Create ``obj`` in collection ``url`` unless it exists; True when created."""
    try:
        api.create(url, obj)
        return True
    except ApiError as e:
        if e.status == 409:
            return False
        raise


def ensure_namespace(api: KubeApi, namespace: str) -> None:
    if _create_if_missing(api, path(CORE, "namespaces"), {"metadata": {"name": namespace}}):
        log.info("created namespace %s", namespace)


# -- root CA -------------------------------------------------------------------------------
def load_or_create_ca(api: KubeApi, namespace: str, trust_domain: str, mesh: str) -> MeshCA:
    """The mesh root from Secret ``istio-ca-secret`` (created once), reused across restarts."""
    url = path(CORE, "secrets", namespace, CA_SECRET)
    secret = api.get(url)
    if secret:
        data = secret.get("data") or {}
        return MeshCA(
            base64.b64decode(data["ca-cert.pem"]).decode(),
            base64.b64decode(data["ca-key.pem"]).decode(),
        )
    ca = MeshCA.generate(trust_domain, mesh)
    if not _create_if_missing(api, path(CORE, "secrets", namespace), _ca_secret(namespace, ca)):
        return load_or_create_ca(api, namespace, trust_domain, mesh)  # lost a race: use theirs
    log.info("created root CA %s/%s (serial %x)", namespace, CA_SECRET, ca.serial)
    return ca


def replace_ca(api: KubeApi, namespace: str, ca: MeshCA) -> None:
    api.replace(path(CORE, "secrets", namespace, CA_SECRET), _ca_secret(namespace, ca))


def _ca_secret(namespace: str, ca: MeshCA) -> dict:
    def b64(s: str) -> str:
        return base64.b64encode(s.encode()).decode()

    return {
        "metadata": {
            "name": CA_SECRET,
            "namespace": namespace,
            "labels": {"istio.io/ca-root": "true"},
        },
        "type": "istio.io/ca-root",
        "data": {
            "ca-cert.pem": b64(ca.cert_pem),
            "ca-key.pem": b64(ca.key_pem),
            "cert-chain.pem": "",
            "root-cert.pem": "",
        },
    }


def publish_root(api: KubeApi, namespace: str, ca: MeshCA) -> None:
    """ConfigMap ``istio-ca-root-cert`` with the root certificate (never the key)."""
    url = path(CORE, "configmaps", namespace, ROOT_CONFIGMAP)
    current = api.get(url)
    body = {
        "metadata": {
            "name": ROOT_CONFIGMAP,
            "namespace": namespace,
            "labels": {"istio.io/config": "true"},
        },
        "data": {ROOT_KEY: ca.cert_pem},
    }
    if current is None:
        _create_if_missing(api, path(CORE, "configmaps", namespace), body)
    elif (current.get("data") or {}).get(ROOT_KEY) != ca.cert_pem:
        api.patch(url, {"data": {ROOT_KEY: ca.cert_pem}})
    else:
        return
    log.info("published root certificate in %s/%s", namespace, ROOT_CONFIGMAP)


# -- SMCP ----------------------------------------------------------------------------------
def smcp_manifest(namespace: str, trust_domain: str, peers: list[str]) -> dict:
    """The SMCP ``basic``: with an ingress-/egress-<peer> pair per peer (``lab up
    --with-gateways``), or without ``spec.gateways`` at all (no peers: a fresh install)."""
    ingress, egress = {}, {}
    for peer in peers:
        ingress[f"ingress-{peer}"] = {
            "enabled": True,
            "routerMode": "sni-dnat",
            "service": {
                "type": "LoadBalancer",
                "metadata": {"labels": {"federation.maistra.io/ingress-for": f"ingress-{peer}"}},
                "ports": [
                    {"port": SERVICE_PORT, "name": "tls"},
                    {"port": DISCOVERY_PORT, "name": "https-discovery"},
                ],
            },
        }
        egress[f"egress-{peer}"] = {
            "enabled": True,
            "requestedNetworkView": [f"network-{peer}"],
            "routerMode": "sni-dnat",
            "service": {
                "metadata": {"labels": {"federation.maistra.io/egress-for": f"egress-{peer}"}},
                "ports": [
                    {"port": SERVICE_PORT, "name": "tls"},
                    {"port": DISCOVERY_PORT, "name": "http-discovery"},
                ],
            },
        }
    spec: dict = {"version": VERSION, "security": {"trust": {"domain": trust_domain}}}
    if peers:
        spec["gateways"] = {"additionalIngress": ingress, "additionalEgress": egress}
    return {
        "apiVersion": "maistra.io/v2",
        "kind": "ServiceMeshControlPlane",
        "metadata": {"name": SMCP_NAME, "namespace": namespace},
        "spec": spec,
    }


def ensure_smcp(api: KubeApi, namespace: str, trust_domain: str, peers: list[str]) -> None:
    """Create the SMCP once; later edits (gateways added or removed) are the user's and stay."""
    if _create_if_missing(
        api,
        path(MAISTRA, "servicemeshcontrolplanes", namespace),
        smcp_manifest(namespace, trust_domain, peers),
    ):
        log.info("created ServiceMeshControlPlane %s/%s", namespace, SMCP_NAME)


def write_smcp_status(api: KubeApi, smcp: dict, components: list[str], now: str) -> bool:
    """Installed / Reconciled / Ready and the applied spec, through the status subresource, only
    when it changed (``readiness`` is required by the CRD)."""
    status = smcp.get("status") or {}
    old = {c.get("type"): c for c in status.get("conditions") or []}
    wanted = [
        ("Installed", "InstallSuccessful", "Successfully installed all mesh components"),
        ("Reconciled", "InstallSuccessful", "Successfully installed all mesh components"),
        ("Ready", "ComponentsReady", "All component deployments are Available"),
    ]
    conditions = []
    for kind, reason, message in wanted:
        prev = old.get(kind) or {}
        ltt = prev.get("lastTransitionTime") if prev.get("status") == "True" else None
        conditions.append(
            {
                "type": kind,
                "status": "True",
                "reason": reason,
                "message": message,
                "lastTransitionTime": ltt or now,
            }
        )
    spec = smcp.get("spec") or {}
    desired = {
        "observedGeneration": smcp["metadata"].get("generation", 1),
        # The spec as applied (the operator also expands the profiles' defaults into it).
        "appliedSpec": {**spec, "profiles": spec.get("profiles") or ["default"]},
        "operatorVersion": OPERATOR_VERSION,
        "chartVersion": OPERATOR_VERSION,
        "conditions": conditions,
        "readiness": {"components": {"ready": sorted(components), "pending": [], "unready": []}},
        "annotations": {"readyComponentCount": f"{len(components)}/{len(components)}"},
    }
    if all(status.get(k) == v for k, v in desired.items()):
        return False
    api.patch(
        path(
            MAISTRA, "servicemeshcontrolplanes", smcp["metadata"]["namespace"], SMCP_NAME, "status"
        ),
        {"status": desired},
    )
    return True


def ensure_istiod(api: KubeApi, namespace: str) -> None:
    """The istiod Deployment (no scheduler runs it; it documents the CA ConfigMap name)."""
    labels = {"app": "istiod", "istio.io/rev": SMCP_NAME}
    _create_if_missing(
        api,
        path(CORE, "serviceaccounts", namespace),
        {
            "metadata": {
                "name": f"istiod-{SMCP_NAME}",
                "namespace": namespace,
                "labels": operator_labels(namespace),
            }
        },
    )
    deployment = {
        "metadata": {
            "name": ISTIOD,
            "namespace": namespace,
            "labels": {**labels, **operator_labels(namespace)},
        },
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": {**labels, "maistra-control-plane": namespace}},
                "spec": {
                    "serviceAccountName": f"istiod-{SMCP_NAME}",
                    "containers": [
                        {
                            "name": "discovery",
                            "image": "registry.redhat.io/openshift-service-mesh/pilot-rhel8:2.5",
                            "args": [
                                "discovery",
                                "--monitoringAddr=:15014",
                                "--log_output_level=default:info",
                                "--domain",
                                "cluster.local",
                                "--keepaliveMaxServerConnectionAge",
                                "30m",
                            ],
                            "ports": [
                                {"containerPort": 15012, "name": "grpc-xds"},
                                {"containerPort": DISCOVERY_PORT, "name": "http-discovery"},
                            ],
                            "env": [
                                {"name": "PILOT_CA_CERT_CONFIG_MAP_NAME", "value": ROOT_CONFIGMAP},
                                {"name": "PILOT_ENABLE_FEDERATION", "value": "true"},
                                {"name": "POD_NAMESPACE", "value": namespace},
                            ],
                        }
                    ],
                },
            },
        },
    }
    if _create_if_missing(api, path(APPS, "deployments", namespace), deployment):
        log.info("created Deployment %s/%s", namespace, ISTIOD)


# -- gateways ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Gateway:
    name: str
    kind: str  # "ingress" | "egress"
    service_type: str
    ports: tuple[tuple[str, int], ...]
    labels: tuple[tuple[str, str], ...] = field(default=())
    annotations: tuple[tuple[str, str], ...] = field(default=())

    @property
    def service_account(self) -> str:
        return f"{self.name}-service-account"


def desired_gateways(smcp: dict | None) -> dict[str, Gateway]:
    """Enabled additionalIngress / additionalEgress entries (the operator skips enabled unset)."""
    gateways: dict[str, Gateway] = {}
    spec_gateways = ((smcp or {}).get("spec") or {}).get("gateways") or {}
    for kind, key in (("ingress", "additionalIngress"), ("egress", "additionalEgress")):
        for name, gw in (spec_gateways.get(key) or {}).items():
            if not isinstance(gw, dict) or gw.get("enabled") is not True:
                continue
            service = gw.get("service") or {}
            ports = tuple(
                (p.get("name") or f"port-{p['port']}", int(p["port"]))
                for p in service.get("ports") or []
                if p.get("port")
            ) or (
                ("tls", SERVICE_PORT),
                ("https-discovery" if kind == "ingress" else "http-discovery", DISCOVERY_PORT),
            )
            labels = ((service.get("metadata") or {}).get("labels")) or {}
            annotations = ((service.get("metadata") or {}).get("annotations")) or {}
            gateways[name] = Gateway(
                name,
                kind,
                service.get("type") or "ClusterIP",
                ports,
                tuple(sorted(labels.items())),
                tuple(sorted(annotations.items())),
            )
    return gateways


def _service_manifest(namespace: str, gw: Gateway) -> dict:
    selector = {"app": gw.name, "istio": f"{gw.kind}gateway", **dict(gw.labels)}
    spec: dict = {
        "type": gw.service_type,
        "selector": selector,
        "ports": [{"name": n, "port": p, "targetPort": p, "protocol": "TCP"} for n, p in gw.ports],
    }
    if gw.service_type == "LoadBalancer":
        spec["allocateLoadBalancerNodePorts"] = False
    return {
        "metadata": {
            "name": gw.name,
            "namespace": namespace,
            "labels": {**selector, **operator_labels(namespace), "maistra.io/gateway": gw.kind},
            **({"annotations": dict(gw.annotations)} if gw.annotations else {}),
        },
        "spec": spec,
    }


def _service_differs(current: dict, desired: dict) -> bool:
    cs, ds = current.get("spec") or {}, desired["spec"]
    ports = [(p.get("name"), p.get("port")) for p in cs.get("ports") or []]
    labels = current["metadata"].get("labels") or {}
    annotations = current["metadata"].get("annotations") or {}
    wanted = desired["metadata"].get("annotations") or {}
    return (
        cs.get("type") != ds["type"]
        or cs.get("selector") != ds["selector"]
        or ports != [(p["name"], p["port"]) for p in ds["ports"]]
        or any(labels.get(k) != v for k, v in desired["metadata"]["labels"].items())
        or any(annotations.get(k) != v for k, v in wanted.items())
        or (EXTERNAL_ADDRESS in annotations and EXTERNAL_ADDRESS not in wanted)
    )


class LoadBalancerPool:
    """Hands each LoadBalancer Service its own ``<prefix>.<k>``, stable across restarts."""

    def __init__(self, prefix: str, state_file: Path):
        self.prefix = prefix
        self.state_file = state_file
        try:
            self.assigned: dict[str, int] = json.loads(state_file.read_text())
        except (FileNotFoundError, ValueError):
            self.assigned = {}

    def address(self, name: str, current_ip: str | None) -> str:
        k = self.assigned.get(name)
        if k is None and current_ip and current_ip.startswith(self.prefix + "."):
            k = int(current_ip.rsplit(".", 1)[1])
            if k in self.assigned.values():
                k = None
        if k is None:
            used = set(self.assigned.values())
            k = next(i for i in range(1, 255) if i not in used)
        if self.assigned.get(name) != k:
            self.assigned[name] = k
            self._save()
        return f"{self.prefix}.{k}"

    def release(self, name: str) -> None:
        if self.assigned.pop(name, None) is not None:
            self._save()

    def _save(self) -> None:
        self.state_file.write_text(json.dumps(self.assigned, indent=1, sort_keys=True))


def reconcile_gateways(
    api: KubeApi,
    namespace: str,
    gateways: dict[str, Gateway],
    services: Informer,
    accounts: set[str],
    pool: LoadBalancerPool,
    written: dict,
) -> dict[str, str]:
    """Services + ServiceAccounts for ``gateways``; returns {ingress name: LB address}.

    ``accounts`` caches the ServiceAccounts already ensured (they are not watched), ``written``
    the LB addresses already written ({name: (uid, ip)}).
    """
    addresses: dict[str, str] = {}
    svc_url = path(CORE, "services", namespace)
    for gw in gateways.values():
        desired = _service_manifest(namespace, gw)
        current = services.get(gw.name)
        if current is None:
            try:
                current = api.create(svc_url, desired)
                log.info("created %s gateway Service %s/%s", gw.kind, namespace, gw.name)
            except ApiError as e:
                if e.status != 409:
                    raise
                current = api.get(path(CORE, "services", namespace, gw.name)) or desired
        elif _service_differs(current, desired):
            try:
                current = api.patch(path(CORE, "services", namespace, gw.name), desired)
            except ApiError as e:
                if e.status != 422:
                    raise
                api.delete(path(CORE, "services", namespace, gw.name))
                current = api.create(svc_url, desired)
            log.info("updated gateway Service %s/%s", namespace, gw.name)
        if gw.service_account not in accounts:
            _create_if_missing(
                api,
                path(CORE, "serviceaccounts", namespace),
                {
                    "metadata": {
                        "name": gw.service_account,
                        "namespace": namespace,
                        "labels": operator_labels(namespace),
                    }
                },
            )
            accounts.add(gw.service_account)
        external = dict(gw.annotations).get(EXTERNAL_ADDRESS)
        if gw.service_type == "LoadBalancer" and external:
            # No load balancer address in the Service (the pool's one is given back); the
            # gateway still listens, on the annotated address.
            lb = (current.get("status") or {}).get("loadBalancer") or {}
            if lb.get("ingress"):
                api.patch(
                    path(CORE, "services", namespace, gw.name, "status"),
                    {"status": {"loadBalancer": {"ingress": None}}},
                )
                log.info("load balancer address withheld for %s/%s", namespace, gw.name)
            written.pop(gw.name, None)
            pool.release(gw.name)
            if gw.kind == "ingress":
                addresses[gw.name] = external
        elif gw.service_type == "LoadBalancer":
            ingress = ((current.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
            current_ip = ingress[0].get("ip") if ingress else None
            ip = pool.address(gw.name, current_ip)
            uid = current["metadata"].get("uid")
            if current_ip != ip and written.get(gw.name) != (uid, ip):
                api.patch(
                    path(CORE, "services", namespace, gw.name, "status"),
                    {"status": {"loadBalancer": {"ingress": [{"ip": ip}]}}},
                )
                written[gw.name] = (uid, ip)  # the informer cache catches up a moment later
                log.info("load balancer address %s for %s/%s", ip, namespace, gw.name)
            if gw.kind == "ingress":
                addresses[gw.name] = ip
    # Gateways removed from the SMCP: the operator deletes what it rendered for them.
    for svc in services.items():
        labels = svc["metadata"].get("labels") or {}
        name = svc["metadata"]["name"]
        if (
            labels.get("maistra.io/owner-name") == SMCP_NAME
            and "maistra.io/gateway" in labels
            and name not in gateways
        ):
            api.delete(path(CORE, "services", namespace, name))
            api.delete(path(CORE, "serviceaccounts", namespace, f"{name}-service-account"))
            accounts.discard(f"{name}-service-account")
            pool.release(name)
            log.info("deleted gateway Service %s/%s (no longer in the SMCP)", namespace, name)
    return addresses


# -- workloads to share (the member namespace and its Services) ----------------------------
SMMR_NAME = "default"
MAISTRA_V1 = "/apis/maistra.io/v1"
WORKLOADS = ("ratings", "reviews", "details")
WORKLOAD_PORT = 9080


def apps_namespace(mesh: str) -> str:
    return f"{mesh}-apps"


def ensure_workloads(api: KubeApi, mesh: str, namespace: str) -> None:
    """Member namespace ``<mesh>-apps`` listed in SMMR ``default``, with bookinfo's Services.

    Created if missing only: members and Services that tests add or remove later stay theirs.
    """
    apps = apps_namespace(mesh)
    ensure_namespace(api, apps)
    smmr = {
        "apiVersion": "maistra.io/v1",
        "kind": "ServiceMeshMemberRoll",
        "metadata": {"name": SMMR_NAME, "namespace": namespace},
        "spec": {"members": [apps]},
    }
    if _create_if_missing(api, path(MAISTRA_V1, "servicemeshmemberrolls", namespace), smmr):
        log.info("created ServiceMeshMemberRoll %s/%s (members %s)", namespace, SMMR_NAME, apps)
    for name in WORKLOADS:
        labels = {"app": name, "version": "v1"}
        service = {
            "metadata": {"name": name, "namespace": apps, "labels": labels},
            "spec": {
                "selector": {"app": name},
                "ports": [
                    {
                        "name": "http",
                        "port": WORKLOAD_PORT,
                        "targetPort": WORKLOAD_PORT,
                        "protocol": "TCP",
                    }
                ],
            },
        }
        if _create_if_missing(api, path(CORE, "services", apps), service):
            log.info("created Service %s/%s", apps, name)


def smmr_members(smmr: dict | None, namespaces) -> tuple[list[str], list[str]]:
    """(configured, pending) members: spec.members whose namespace exists, and the others."""
    members = list(dict.fromkeys(((smmr or {}).get("spec") or {}).get("members") or []))
    configured = [m for m in members if namespaces.get(m) is not None]
    return configured, [m for m in members if m not in configured]


def write_smmr_status(api: KubeApi, smmr: dict, namespaces, now: str) -> bool:
    """Status of SMMR ``default`` as the operator reports it; written only when it changed."""
    configured, pending = smmr_members(smmr, namespaces)
    status = smmr.get("status") or {}
    ready = not pending
    reason = "Configured" if ready else "ReconcileFailed"
    message = (
        "All namespaces have been configured successfully"
        if ready
        else f"Could not configure namespaces: {', '.join(pending)} (not found)"
    )
    old = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {})
    keep = old.get("status") == ("True" if ready else "False") and old.get("reason") == reason
    desired = {
        "observedGeneration": smmr["metadata"].get("generation", 1),
        "members": configured + pending,
        "configuredMembers": configured,
        "pendingMembers": pending,
        "annotations": {"configuredMemberCount": f"{len(configured)}/{len(configured + pending)}"},
        "conditions": [
            {
                "type": "Ready",
                "status": "True" if ready else "False",
                "reason": reason,
                "message": message,
                "lastTransitionTime": old.get("lastTransitionTime") if keep else now,
            }
        ],
    }
    if all(status.get(k) == v for k, v in desired.items()):
        return False
    api.patch(
        path(
            MAISTRA_V1, "servicemeshmemberrolls", smmr["metadata"]["namespace"], SMMR_NAME, "status"
        ),
        {"status": desired},
    )
    return True


# -- Deployment readiness (istiod, gateways) -----------------------------------------------
# No scheduler or kubelet runs here, so the Deployment controller's status is written by the
# component itself: ready while its process (or gateway listeners) serve, not ready once
# stopped (istiod's status is written by `lab fault istiod-down`, as its process is gone).
GATEWAY_LABEL = "maistra.io/gateway"


def deployment_status(deployment: dict, ready: bool, now: str) -> dict:
    """The status the Deployment controller shows for one replica that is (not) ready."""
    replicas = (deployment.get("spec") or {}).get("replicas", 1)
    name = deployment["metadata"]["name"]
    if ready:
        available = ("True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
        counts = {"readyReplicas": replicas, "availableReplicas": replicas,
                  "unavailableReplicas": None}
    else:
        available = ("False", "MinimumReplicasUnavailable",
                     "Deployment does not have minimum availability.")
        counts = {"readyReplicas": None, "availableReplicas": None,
                  "unavailableReplicas": replicas}
    progressing = ("True", "NewReplicaSetAvailable",
                   f'ReplicaSet "{name}" has successfully progressed.')
    return {
        "observedGeneration": deployment["metadata"].get("generation", 1),
        "replicas": replicas,
        "updatedReplicas": replicas,
        **counts,
        "conditions": [
            {"type": kind, **dict(zip(("status", "reason", "message"), value, strict=True)),
             "lastUpdateTime": now, "lastTransitionTime": now}
            for kind, value in (("Available", available), ("Progressing", progressing))
        ],
    }


def _shown(status: dict) -> tuple:
    return (status.get("readyReplicas"), status.get("availableReplicas"),
            status.get("observedGeneration"),
            [(c.get("type"), c.get("status")) for c in status.get("conditions") or []])


def write_deployment_status(api: KubeApi, namespace: str, name: str, ready: bool) -> bool:
    """Write ``name``'s readiness through the status subresource when it differs; False when the
    Deployment does not exist or already shows it."""
    deployment = api.get(path(APPS, "deployments", namespace, name))
    if deployment is None:
        return False
    desired = deployment_status(deployment, ready, now_rfc3339())
    if _shown(deployment.get("status") or {}) == _shown(desired):
        return False
    api.patch(path(APPS, "deployments", namespace, name, "status"), {"status": desired})
    log.info("Deployment %s/%s %s", namespace, name, "ready" if ready else "not ready")
    return True


def _gateway_deployment(namespace: str, gw: Gateway) -> dict:
    labels = {"app": gw.name, "istio": f"{gw.kind}gateway"}
    return {
        "metadata": {
            "name": gw.name,
            "namespace": namespace,
            "labels": {**labels, **operator_labels(namespace), GATEWAY_LABEL: gw.kind},
        },
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": {**labels, "service.istio.io/canonical-name": gw.name}},
                "spec": {
                    "serviceAccountName": gw.service_account,
                    "containers": [{"name": "istio-proxy",
                                    "image": "registry.redhat.io/openshift-service-mesh/"
                                             "proxyv2-rhel8:2.5"}],
                },
            },
        },
    }


def reconcile_gateway_deployments(
    api: KubeApi, namespace: str, gateways: dict[str, Gateway], down: set[str], written: dict
) -> None:
    """One Deployment per gateway, ready unless the gateway is down; removed with the gateway.

    ``written``: gateway name -> readiness last written (seeded from the API on first use, so
    a restarted mesh process also removes Deployments of gateways dropped meanwhile).
    """
    url = path(APPS, "deployments", namespace)
    if not written:
        listed = api.list(f"{url}?labelSelector={GATEWAY_LABEL}")
        written.update({d["metadata"]["name"]: None for d in listed.get("items") or []})
    for gw in gateways.values():
        if gw.name not in written:
            _create_if_missing(api, url, _gateway_deployment(namespace, gw))
            written[gw.name] = None
        ready = gw.name not in down
        if written[gw.name] != ready:
            write_deployment_status(api, namespace, gw.name, ready)
            written[gw.name] = ready
    for name in [n for n in written if n not in gateways]:
        api.delete(path(APPS, "deployments", namespace, name))
        del written[name]
