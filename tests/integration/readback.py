"""Independent read-back of what the playbooks did, as the lab's admin (not the automation
identity the playbooks use), through the kubernetes client."""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path

from kubernetes import client, config

MANAGED = "app.kubernetes.io/managed-by=servicemesh.federation"
SMP = ("federation.maistra.io", "v1", "servicemeshpeers")
ESS = ("federation.maistra.io", "v1", "exportedservicesets")
ISS = ("federation.maistra.io", "v1", "importedservicesets")
SMCP = ("maistra.io", "v2", "servicemeshcontrolplanes")


class Mesh:
    def __init__(self, lab_dir: Path, name: str):
        state = json.loads((lab_dir / "state.json").read_text())
        self.name = name
        self.info = state["meshes"][name]
        self.cluster = self.info["cluster"]
        self.namespace = self.info["namespace"]
        self.trust_domain = self.info["trust_domain"]
        api = config.new_client_from_config(
            config_file=str(lab_dir / "kubeconfig"),
            context=state["clusters"][self.cluster]["admin_context"])
        self.core = client.CoreV1Api(api)
        self.custom = client.CustomObjectsApi(api)

    @cached_property
    def root_cert(self) -> str:
        return self.configmap("istio-ca-root-cert").data["root-cert.pem"]

    def configmap(self, name: str):
        return self.core.read_namespaced_config_map(name, self.namespace)

    def configmaps(self, selector: str | None = None) -> dict:
        items = self.core.list_namespaced_config_map(self.namespace, label_selector=selector).items
        return {cm.metadata.name: cm for cm in items}

    def peers(self, selector: str | None = None) -> dict:
        items = self.custom.list_namespaced_custom_object(
            *SMP[:2], self.namespace, SMP[2], label_selector=selector)["items"]
        return {p["metadata"]["name"]: p for p in items}

    def peer(self, name: str) -> dict:
        return self.custom.get_namespaced_custom_object(*SMP[:2], self.namespace, SMP[2], name)

    def objects(self, kind: tuple, selector: str | None = None) -> dict:
        """name -> object of a federation kind (ESS, ISS) in the mesh namespace."""
        items = self.custom.list_namespaced_custom_object(
            *kind[:2], self.namespace, kind[2], label_selector=selector)["items"]
        return {o["metadata"]["name"]: o for o in items}

    def smcp(self) -> dict:
        (smcp,) = self.custom.list_namespaced_custom_object(
            *SMCP[:2], self.namespace, SMCP[2])["items"]
        return smcp

    def gateways(self) -> dict:
        """The SMCP's additional gateway entries: {"ingress": {...}, "egress": {...}}."""
        spec = (self.smcp().get("spec") or {}).get("gateways") or {}
        return {"ingress": spec.get("additionalIngress") or {},
                "egress": spec.get("additionalEgress") or {}}

    def ingress_address(self, gateway: str) -> str:
        svc = self.core.read_namespaced_service(gateway, self.namespace)
        return svc.status.load_balancer.ingress[0].ip

    def snapshot(self) -> set[tuple[str, str, str]]:
        """(kind, name, uid) of every ConfigMap, ServiceMeshPeer, ExportedServiceSet and
        ImportedServiceSet in the namespace."""
        cms = {("ConfigMap", n, c.metadata.uid) for n, c in self.configmaps().items()}
        smps = {("ServiceMeshPeer", n, p["metadata"]["uid"]) for n, p in self.peers().items()}
        sets = {(kind, n, o["metadata"]["uid"])
                for kind, plural in (("ExportedServiceSet", ESS), ("ImportedServiceSet", ISS))
                for n, o in self.objects(plural).items()}
        return cms | smps | sets


def meshes(lab_dir: Path) -> dict[str, Mesh]:
    state = json.loads((lab_dir / "state.json").read_text())
    return {name: Mesh(lab_dir, name) for name in state["meshes"]}


def connected_both_ways(peer: dict) -> bool:
    """Watch connected on some istiod pod and a connected remote from the peer (fact sheet §1.2)."""
    ds = (peer.get("status") or {}).get("discoveryStatus") or {}
    active = ds.get("active") or []
    watch = any(p["watch"]["connected"] for p in active)
    remote = any(r["connected"] for p in active + (ds.get("inactive") or [])
                 for r in p.get("remotes") or [])
    return watch and remote
