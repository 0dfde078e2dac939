"""A minimal REST client for the lab's bootstrap calls (server-side apply and get).

A handful of calls per cluster during `up` do not justify the kubernetes client's import time
and discovery round trips.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path

FIELD_MANAGER = "servicemesh-federation-lab"

# (api prefix, plural, namespaced) for the kinds the lab applies.
_RESOURCES = {
    "CustomResourceDefinition": (
        "/apis/apiextensions.k8s.io/v1", "customresourcedefinitions", False),
    "Namespace": ("/api/v1", "namespaces", False),
    "Service": ("/api/v1", "services", True),
    "APIService": ("/apis/apiregistration.k8s.io/v1", "apiservices", False),
    "ClusterRole": ("/apis/rbac.authorization.k8s.io/v1", "clusterroles", False),
    "ClusterRoleBinding": ("/apis/rbac.authorization.k8s.io/v1", "clusterrolebindings", False),
    "Role": ("/apis/rbac.authorization.k8s.io/v1", "roles", True),
    "RoleBinding": ("/apis/rbac.authorization.k8s.io/v1", "rolebindings", True),
    "ValidatingAdmissionPolicy": (
        "/apis/admissionregistration.k8s.io/v1", "validatingadmissionpolicies", False),
    "ValidatingAdmissionPolicyBinding": (
        "/apis/admissionregistration.k8s.io/v1", "validatingadmissionpolicybindings", False),
}


class ApiError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


class Kube:
    def __init__(self, server: str, token: str, ca_file: Path, timeout: float = 10.0):
        self.server = server.rstrip("/")
        self._token = token
        self._ctx = ssl.create_default_context(cafile=str(ca_file))
        self.timeout = timeout

    def request(self, method: str, path: str, body=None, content_type="application/json"):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.server + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self._token}")
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, context=self._ctx, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as e:
            detail = e.read().decode(errors="replace")
            try:
                detail = json.loads(detail).get("message", detail)
            except ValueError:
                pass
            raise ApiError(e.code, detail) from None
        return json.loads(raw) if raw else None

    def get(self, path: str):
        """The object at ``path``, or None when it does not exist."""
        try:
            return self.request("GET", path)
        except ApiError as e:
            if e.status == 404:
                return None
            raise

    def apply(self, obj: dict) -> dict:
        """Server-side apply (forced: the lab owns these objects)."""
        prefix, plural, namespaced = _RESOURCES[obj["kind"]]
        meta = obj["metadata"]
        ns = f"/namespaces/{meta['namespace']}" if namespaced else ""
        path = f"{prefix}{ns}/{plural}/{meta['name']}?fieldManager={FIELD_MANAGER}&force=true"
        return self.request("PATCH", path, obj, "application/apply-patch+yaml")
