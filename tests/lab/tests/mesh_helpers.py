"""Helpers for the mesh tests: admin access to one lab mesh, hand-made federation objects,
and waits on ServiceMeshPeer status driven by watch events (with deadlines, no long sleeps).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import kubernetes
from kubernetes.client.exceptions import ApiException

GROUP, VERSION, PLURAL = "federation.maistra.io", "v1", "servicemeshpeers"
TEST_LABEL = {"lab-test": "mesh"}


class MeshAdmin:
    """One lab mesh seen through its cluster's admin context."""

    def __init__(self, lab, mesh: str):
        """``lab``: the conftest ``Lab`` (shared or from ``lab_factory``)."""
        self.lab_dir = Path(lab.dir)
        state = lab.state
        self.state = state["meshes"][mesh]
        self.name = mesh
        self.namespace = self.state["namespace"]
        self.trust_domain = self.state["trust_domain"]
        cluster = state["clusters"][self.state["cluster"]]
        client = kubernetes.config.new_client_from_config(
            config_file=str(self.lab_dir / "kubeconfig"), context=cluster["admin_context"]
        )
        self.core = kubernetes.client.CoreV1Api(client)
        self.custom = kubernetes.client.CustomObjectsApi(client)

    # -- what the mesh publishes --------------------------------------------------------------
    def root_pem(self) -> str:
        cm = self.core.read_namespaced_config_map("istio-ca-root-cert", self.namespace)
        return cm.data["root-cert.pem"]

    def ingress_ip(self, gateway: str) -> str:
        svc = self.core.read_namespaced_service(gateway, self.namespace)
        return svc.status.load_balancer.ingress[0].ip

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
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "ServiceMeshPeer",
            "metadata": {"name": name, "labels": TEST_LABEL},
            "spec": spec,
        }
        try:
            return self.custom.create_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, body
            )
        except ApiException as e:
            if e.status != 409:
                raise
            # Merge patch: no resourceVersion to race with the mesh's status writes.
            return self.custom.patch_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, name, {"spec": spec}
            )

    def peer(self, name: str) -> dict | None:
        try:
            return self.custom.get_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, name
            )
        except ApiException as e:
            if e.status == 404:
                return None
            raise

    def cleanup(self) -> None:
        """Delete every SMP and ConfigMap the tests created in this mesh."""
        selector = ",".join(f"{k}={v}" for k, v in TEST_LABEL.items())
        for smp in self.custom.list_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, label_selector=selector
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
                GROUP, VERSION, self.namespace, PLURAL, name
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
            GROUP,
            VERSION,
            self.namespace,
            PLURAL,
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
                GROUP, VERSION, self.namespace, PLURAL, field_selector=f"metadata.name={name}"
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


# -- the seed's defaults for a direction local -> peer ------------------------------------------
def peer_spec(local: MeshAdmin, remote: MeshAdmin, **overrides) -> dict:
    """SMP spec in ``local`` describing ``remote`` (names and ports as the architecture's table)."""
    spec = {
        "remote": {
            "addresses": [remote.ingress_ip(f"ingress-{local.name}")],
            "discoveryPort": 8188,
            "servicePort": 15443,
        },
        "gateways": {
            "ingress": {"name": f"ingress-{remote.name}"},
            "egress": {"name": f"egress-{remote.name}"},
        },
        "security": {
            "trustDomain": remote.trust_domain,
            "clientID": f"{remote.trust_domain}/ns/{remote.namespace}/sa/"
            f"egress-{local.name}-service-account",
            "certificateChain": {"kind": "ConfigMap", "name": f"{remote.name}-ca-root-cert"},
        },
    }
    for path, value in overrides.items():  # e.g. security__clientID="x"
        node = spec
        *parents, leaf = path.split("__")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return spec


def federate(local: MeshAdmin, remote: MeshAdmin, **overrides) -> None:
    """CA ConfigMap first, then the SMP (the documented order) for direction local -> remote."""
    local.put_ca(f"{remote.name}-ca-root-cert", remote.root_pem())
    local.put_peer(remote.name, peer_spec(local, remote, **overrides))


# -- status predicates (fact sheet section 1.2) -------------------------------------------------
def entries(smp: dict, key: str) -> list[dict]:
    return ((smp.get("status") or {}).get("discoveryStatus") or {}).get(key) or []


def connected(smp: dict) -> bool:
    """Both directions: active watch connected, no inactive entry, an inbound remote connected."""
    active = entries(smp, "active")
    return (
        bool(active)
        and not entries(smp, "inactive")
        and all(e["watch"]["connected"] for e in active)
        and any(r["connected"] for e in active for r in e.get("remotes") or [])
    )


def inactive_with(status: str) -> Callable[[dict], bool]:
    def check(smp: dict) -> bool:
        inactive = entries(smp, "inactive")
        return (
            not entries(smp, "active")
            and bool(inactive)
            and all(
                not e["watch"]["connected"]
                and status in (e["watch"].get("lastDisconnectStatus") or "")
                for e in inactive
            )
        )

    return check


def no_status(smp: dict) -> bool:
    return not (smp.get("status") or {}).get("discoveryStatus")
