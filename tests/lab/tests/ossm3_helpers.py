"""Helpers for the OSSM 3 lab tests: the private labs and waits on objects (no long sleeps)."""

from __future__ import annotations

import os
import time

import kubernetes
from kubernetes.client.exceptions import ApiException

# Private labs of these tests (each block also uses block + 1); LAB_TEST_OSSM3_IP_BLOCK /
# LAB_TEST_OSSM23_IP_BLOCK move them (two sessions at once).
OSSM3_BLOCK = int(os.environ.get("LAB_TEST_OSSM3_IP_BLOCK", "210"))
OSSM23_BLOCK = int(os.environ.get("LAB_TEST_OSSM23_IP_BLOCK", "214"))
SAIL = ("sailoperator.io", "v1")
GATEWAY_API = ("gateway.networking.k8s.io", "v1")


class Cluster:
    """A mesh's cluster as the OSSM 3 tests see it: ``Lab.admin(mesh)`` (its core and custom
    objects APIs) plus apps and CRDs, all through the tests' one admin client
    (``Lab.api_client``)."""

    def __init__(self, lab, mesh: str):
        admin = lab.admin(mesh)
        self.mesh = mesh
        self.mesh_state = admin.info
        self.namespace = admin.namespace
        self.core, self.custom = admin.core, admin.custom
        client = lab.api_client(mesh)
        self.apps = kubernetes.client.AppsV1Api(client)
        self.ext = kubernetes.client.ApiextensionsV1Api(client)

    # -- cluster-scoped Sail objects ---------------------------------------------------------
    def sail(self, plural: str, name: str) -> dict | None:
        try:
            return self.custom.get_cluster_custom_object(*SAIL, plural, name)
        except ApiException as e:
            if e.status == 404:
                return None
            raise

    def create_sail(self, plural: str, body: dict) -> dict:
        return self.custom.create_cluster_custom_object(*SAIL, plural, body)

    def delete_sail(self, plural: str, name: str) -> None:
        try:
            self.custom.delete_cluster_custom_object(*SAIL, plural, name)
        except ApiException as e:
            if e.status != 404:
                raise

    # -- Gateway API ----------------------------------------------------------------------------
    def gateway(self, namespace: str, name: str) -> dict | None:
        try:
            return self.custom.get_namespaced_custom_object(*GATEWAY_API, namespace, "gateways",
                                                            name)
        except ApiException as e:
            if e.status == 404:
                return None
            raise

    def create_gateway(self, namespace: str, body: dict) -> dict:
        return self.custom.create_namespaced_custom_object(*GATEWAY_API, namespace, "gateways",
                                                           body)

    def namespace_with(self, name: str, labels: dict | None = None) -> None:
        body = {"metadata": {"name": name, "labels": labels or {}}}
        try:
            self.core.create_namespace(body)
        except ApiException as e:
            if e.status != 409:
                raise
            self.core.patch_namespace(name, body)

    def delete_namespace(self, name: str) -> None:
        try:
            self.core.delete_namespace(name)
        except ApiException as e:
            if e.status != 404:
                raise


def condition(obj: dict | None, kind: str) -> dict:
    for c in ((obj or {}).get("status") or {}).get("conditions") or []:
        if c.get("type") == kind:
            return c
    return {}


def wait(what: str, check, timeout: float = 30.0, interval: float = 0.2):
    """Poll ``check()`` until truthy; AssertionError naming ``what`` and the last value."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}")


def eastwest_gateway(network: str, revision: str | None = None) -> dict:
    """The guide's east-west Gateway (Gateway API, class istio), with the lab's names."""
    labels = {"topology.istio.io/network": network}
    if revision:
        labels["istio.io/rev"] = revision
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
            "metadata": {"name": "eastwestgateway", "labels": labels},
            "spec": {"gatewayClassName": "istio", "listeners": [{
                "name": "cross-network", "hostname": "fake-hostname-to-block-all-by-default",
                "port": 15443, "protocol": "TLS",
                "tls": {"mode": "Passthrough",
                        "options": {"gateway.istio.io/listener-protocol": "auto-passthrough"}},
                "allowedRoutes": {"namespaces": {"from": "All"}}}]}}
