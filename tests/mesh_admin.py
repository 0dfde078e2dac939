"""The tests' one admin view of a lab mesh: reads, hand-made objects and watch-driven waits
through its cluster's admin context (``Lab.admin(mesh)`` in tests/conftest.py builds and caches
it; ``Lab.api_client`` is the one place a kubernetes client is made from the lab kubeconfig).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import kubernetes
from kubernetes.client.exceptions import ApiException

MANAGED = "app.kubernetes.io/managed-by=servicemesh.federation"
SMP = ("federation.maistra.io", "v1", "servicemeshpeers")
ESS = ("federation.maistra.io", "v1", "exportedservicesets")
ISS = ("federation.maistra.io", "v1", "importedservicesets")
SMCP = ("maistra.io", "v2", "servicemeshcontrolplanes")
# Objects the lab tests make by hand carry this label (``cleanup`` deletes them).
TEST_LABEL = {"lab-test": "mesh"}


class MeshAdmin:
    """One lab mesh seen through its cluster's admin context."""

    def __init__(self, lab, mesh: str):
        """``lab``: the conftest ``Lab`` (shared or from ``lab_factory``)."""
        self.name = mesh
        self.info = lab.state["meshes"][mesh]  # its entry of state.json
        self.cluster = self.info["cluster"]
        self.namespace = self.info["namespace"]
        self.trust_domain = self.info["trust_domain"]
        api = lab.api_client(mesh)
        self.core = kubernetes.client.CoreV1Api(api)
        self.custom = kubernetes.client.CustomObjectsApi(api)

    # -- what the mesh publishes --------------------------------------------------------------
    def root_pem(self) -> str:
        cm = self.core.read_namespaced_config_map("istio-ca-root-cert", self.namespace)
        return cm.data["root-cert.pem"]

    def ingress_ip(self, gateway: str) -> str:
        svc = self.core.read_namespaced_service(gateway, self.namespace)
        return svc.status.load_balancer.ingress[0].ip

    def configmap(self, name: str):
        return self.core.read_namespaced_config_map(name, self.namespace)

    def configmaps(self, selector: str | None = None) -> dict:
        items = self.core.list_namespaced_config_map(self.namespace, label_selector=selector).items
        return {cm.metadata.name: cm for cm in items}

    def peers(self, selector: str | None = None) -> dict:
        return self.objects(SMP, selector)

    def objects(self, kind: tuple, selector: str | None = None) -> dict:
        """name -> object of a federation kind (SMP, ESS, ISS) in the mesh namespace."""
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

    def snapshot(self) -> set[tuple[str, str, str]]:
        """(kind, name, uid) of every ConfigMap, ServiceMeshPeer, ExportedServiceSet and
        ImportedServiceSet in the namespace."""
        cms = {("ConfigMap", n, c.metadata.uid) for n, c in self.configmaps().items()}
        return cms | {(kind, n, o["metadata"]["uid"])
                      for kind, plural in (("ServiceMeshPeer", SMP), ("ExportedServiceSet", ESS),
                                           ("ImportedServiceSet", ISS))
                      for n, o in self.objects(plural).items()}

    # -- objects the tests create -------------------------------------------------------------
    def put_ca(self, name: str, pem: str | None, key: str = "root-cert.pem") -> None:
        body = {
            "metadata": {"name": name, "labels": TEST_LABEL},
            "data": {key: pem} if pem is not None else {},
        }
        try:
            self.core.create_namespaced_config_map(self.namespace, body)
        except ApiException as e:
            if e.status != 409:
                raise
            self.core.replace_namespaced_config_map(name, self.namespace, body)

    def put_peer(self, name: str, spec: dict) -> dict:
        body = {
            "apiVersion": f"{SMP[0]}/{SMP[1]}",
            "kind": "ServiceMeshPeer",
            "metadata": {"name": name, "labels": TEST_LABEL},
            "spec": spec,
        }
        try:
            return self.custom.create_namespaced_custom_object(
                *SMP[:2], self.namespace, SMP[2], body
            )
        except ApiException as e:
            if e.status != 409:
                raise
            # Merge patch: no resourceVersion to race with the mesh's status writes.
            return self.custom.patch_namespaced_custom_object(
                *SMP[:2], self.namespace, SMP[2], name, {"spec": spec}
            )

    def peer(self, name: str) -> dict | None:
        try:
            return self.custom.get_namespaced_custom_object(
                *SMP[:2], self.namespace, SMP[2], name
            )
        except ApiException as e:
            if e.status == 404:
                return None
            raise

    def cleanup(self) -> None:
        """Delete every SMP and ConfigMap the tests created in this mesh."""
        selector = ",".join(f"{k}={v}" for k, v in TEST_LABEL.items())
        for smp in self.custom.list_namespaced_custom_object(
            *SMP[:2], self.namespace, SMP[2], label_selector=selector
        )["items"]:
            self._delete_peer(smp["metadata"]["name"])
        for cm in self.core.list_namespaced_config_map(
            self.namespace, label_selector=selector
        ).items:
            try:
                self.core.delete_namespaced_config_map(cm.metadata.name, self.namespace)
            except ApiException as e:
                if e.status != 404:
                    raise

    def _delete_peer(self, name: str) -> None:
        try:
            self.custom.delete_namespaced_custom_object(
                *SMP[:2], self.namespace, SMP[2], name
            )
        except ApiException as e:
            if e.status != 404:
                raise

    def warning_events(self, peer: str) -> list[str]:
        """Messages of Warning events about the current SMP ``peer`` (not earlier ones)."""
        smp = self.peer(peer)
        if smp is None:
            return []
        events = self.core.list_namespaced_event(
            self.namespace, field_selector=f"involvedObject.uid={smp['metadata']['uid']}"
        )
        return [e.message for e in events.items if e.type == "Warning"]

    # -- waiting --------------------------------------------------------------------------------
    def wait_warning(self, peer: str, text: str, timeout: float = 30.0) -> str:
        """Wait (on watch events) for a Warning Event about SMP ``peer`` containing ``text``."""
        uid = self.peer(peer)["metadata"]["uid"]
        selector = f"involvedObject.uid={uid}"
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            events = self.core.list_namespaced_event(self.namespace, field_selector=selector)
            for e in events.items:
                if e.type == "Warning" and text in e.message:
                    return e.message
            for event in kubernetes.watch.Watch().stream(
                self.core.list_namespaced_event,
                self.namespace,
                field_selector=selector,
                resource_version=events.metadata.resource_version,
                timeout_seconds=max(1, int(left)),
            ):
                e = event["object"]
                if e.type == "Warning" and text in e.message:
                    return e.message
        raise AssertionError(
            f"{self.name}: no Warning event containing {text!r} for SMP {peer} within "
            f"{timeout:.0f}s; got {self.warning_events(peer)}"
        )

    def _watch_peer(self, name: str, resource_version: str, timeout: int):
        """Watch events of SMP ``name`` after ``resource_version``, for ``timeout`` seconds."""
        return kubernetes.watch.Watch().stream(
            self.custom.list_namespaced_custom_object,
            *SMP[:2],
            self.namespace,
            SMP[2],
            field_selector=f"metadata.name={name}",
            resource_version=resource_version,
            timeout_seconds=timeout,
        )

    def wait_peer(
        self, name: str, predicate: Callable[[dict], bool], what: str, timeout: float = 30.0
    ) -> dict:
        """Wait (on watch events) until SMP ``name`` satisfies ``predicate``; fail naming it."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            objs = self.custom.list_namespaced_custom_object(
                *SMP[:2], self.namespace, SMP[2], field_selector=f"metadata.name={name}"
            )
            for obj in objs["items"]:
                last = obj
                if predicate(obj):
                    return obj
            left = max(1, int(deadline - time.monotonic()))
            stream = self._watch_peer(name, objs["metadata"]["resourceVersion"], left)
            for event in stream:
                obj = event["object"]
                last = obj
                if event["type"] != "DELETED" and predicate(obj):
                    return obj
        status = json.dumps((last or {}).get("status"), indent=1)
        raise AssertionError(
            f"{self.name}: SMP {name} never {what} within {timeout:.0f}s; last status: {status}"
        )

    def assert_peer_stays(
        self, name: str, predicate: Callable[[dict], bool], what: str, seconds: float
    ) -> dict:
        """``predicate`` holds for SMP ``name`` on every change during ``seconds``."""
        deadline = time.monotonic() + seconds
        obj = self.peer(name)
        assert obj is not None and predicate(obj), f"{self.name}: SMP {name} not {what}: {obj}"
        while (left := deadline - time.monotonic()) > 0:
            stream = self._watch_peer(name, obj["metadata"]["resourceVersion"], max(1, int(left)))
            for event in stream:
                obj = event["object"]
                assert predicate(obj), f"{self.name}: SMP {name} stopped being {what}: {obj}"
                if time.monotonic() > deadline:
                    break
        return obj
