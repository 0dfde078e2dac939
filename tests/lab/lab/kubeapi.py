"""The lab's one Kubernetes REST client: plain JSON requests on urllib3, objects as plain dicts.

Used by the lab's lifecycle (bootstrap: server-side apply of CRDs, RBAC, policies) and by the
simulated mesh processes (their list+watch caches are ``lab.mesh.informer``). The kubernetes
client would cost ~50 MB of memory and a second of import per process, too much with twenty
meshes on one machine and for a handful of bootstrap calls per cluster.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
from pathlib import Path
from urllib.parse import urlencode

import urllib3
import yaml

MERGE_PATCH = "application/merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
# The field manager of the lab's own server-side applies (bootstrap objects).
FIELD_MANAGER = "servicemesh-federation-lab"

CORE = "/api/v1"
APPS = "/apis/apps/v1"
MAISTRA = "/apis/maistra.io/v2"
FEDERATION = "/apis/federation.maistra.io/v1"


# (api prefix, plural, namespaced) of the kinds the lab applies (bootstrap, lab Nodes).
_APPLIED_KINDS = {
    "CustomResourceDefinition": (
        "/apis/apiextensions.k8s.io/v1", "customresourcedefinitions", False),
    "Namespace": (CORE, "namespaces", False),
    "Node": (CORE, "nodes", False),
    "Service": (CORE, "services", True),
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


def path(
    group: str,
    plural: str,
    namespace: str | None = None,
    name: str | None = None,
    sub: str | None = None,
) -> str:
    p = group + (f"/namespaces/{namespace}" if namespace else "") + f"/{plural}"
    if name:
        p += f"/{name}"
    if sub:
        p += f"/{sub}"
    return p


class ApiError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


def _named(items: list[dict], name: str, kind: str, kubeconfig: str) -> dict:
    for item in items or []:
        if item.get("name") == name:
            return item.get(kind) or {}
    raise ValueError(f"kubeconfig {kubeconfig}: no {kind} named {name!r}")


def _pem(entry: dict, key: str, base: Path) -> str | None:
    """``<key>-data`` (base64) or the file ``<key>`` (relative to the kubeconfig) as text."""
    if entry.get(f"{key}-data"):
        return base64.b64decode(entry[f"{key}-data"]).decode()
    if entry.get(key):
        return (base / entry[key]).read_text()
    return None


class KubeApi:
    """One identity on one apiserver. ``from_kubeconfig`` (a context's server, CA, token or
    client certificate) or ``KubeApi(server, ca_file, token)``."""

    def __init__(self, server: str, tls: ssl.SSLContext | Path | str, token: str | None = None):
        self.server = server.rstrip("/")
        if not isinstance(tls, ssl.SSLContext):
            tls = ssl.create_default_context(cafile=str(tls))
        self._headers = {"Accept": "application/json"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        # No retries: callers retry at their own pace (apiserver-down faults).
        self._pool = urllib3.PoolManager(maxsize=8, ssl_context=tls, retries=False)

    @classmethod
    def from_kubeconfig(cls, kubeconfig: str, context: str | None) -> KubeApi:
        config = yaml.safe_load(Path(kubeconfig).read_text())
        base = Path(kubeconfig).resolve().parent
        ctx = _named(
            config.get("contexts"), context or config.get("current-context"), "context", kubeconfig
        )
        cluster = _named(config.get("clusters"), ctx.get("cluster"), "cluster", kubeconfig)
        user = _named(config.get("users"), ctx.get("user"), "user", kubeconfig)
        tls = ssl.create_default_context(cadata=_pem(cluster, "certificate-authority", base))
        cert, key = _pem(user, "client-certificate", base), _pem(user, "client-key", base)
        if cert and key:
            # ssl loads keys from paths only: an anonymous in-memory file keeps it off the disk.
            fd = os.memfd_create("client-cert", os.MFD_CLOEXEC)
            try:
                os.write(fd, (cert + key).encode())
                tls.load_cert_chain(f"/proc/self/fd/{fd}")
            finally:
                os.close(fd)
        token = user.get("token") or (
            Path(user["tokenFile"]).read_text().strip() if user.get("tokenFile") else None
        )
        return cls(cluster["server"], tls, token)

    def request(
        self,
        method: str,
        url: str,
        *,
        body=None,
        query=None,
        content_type=None,
        preload=True,
        timeout: float | tuple = 10.0,
    ):
        headers = dict(self._headers)
        data = None
        if body is not None:
            headers["Content-Type"] = content_type or "application/json"
            data = json.dumps(body).encode()
        full = self.server + url + (f"?{urlencode(query)}" if query else "")
        connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
        try:
            resp = self._pool.request(
                method,
                full,
                body=data,
                headers=headers,
                preload_content=preload,
                timeout=urllib3.Timeout(connect=connect, read=read),
            )
        except urllib3.exceptions.HTTPError as e:  # refused, timeouts: the apiserver is away
            raise ApiError(0, f"{type(e).__name__}: {e}") from None
        if resp.status >= 400:
            raw = resp.data if preload else resp.read()
            message = raw.decode(errors="replace")
            try:
                message = json.loads(raw).get("message", message)
            except ValueError:
                pass
            raise ApiError(resp.status, message)
        if not preload:
            return resp
        return json.loads(resp.data) if resp.data else None

    def get(self, url: str) -> dict | None:
        try:
            return self.request("GET", url)
        except ApiError as e:
            if e.status == 404:
                return None
            raise

    def create(self, url: str, obj: dict) -> dict:
        return self.request("POST", url, body=obj)

    def replace(self, url: str, obj: dict) -> dict:
        return self.request("PUT", url, body=obj)

    def patch(self, url: str, patch: dict) -> dict:
        return self.request("PATCH", url, body=patch, content_type=MERGE_PATCH)

    def delete(self, url: str) -> None:
        try:
            self.request("DELETE", url)
        except ApiError as e:
            if e.status != 404:
                raise

    def list(self, url: str) -> dict:
        return self.request("GET", url)

    def apply(self, obj: dict, subresource: str | None = None) -> dict:
        """Server-side apply (of ``subresource`` if given), forced: the lab owns its bootstrap
        objects and its Nodes."""
        prefix, plural, namespaced = _APPLIED_KINDS[obj["kind"]]
        meta = obj["metadata"]
        url = path(prefix, plural, meta["namespace"] if namespaced else None, meta["name"],
                   subresource)
        return self.request("PATCH", url, body=obj, content_type=APPLY_PATCH,
                            query={"fieldManager": FIELD_MANAGER, "force": "true"})

    def watch(self, url: str, resource_version: str):
        """A streaming watch response (urllib3); the server ends it after a few minutes."""
        return self.request(
            "GET",
            url,
            preload=False,
            timeout=(5, 330),
            query={
                "watch": "true",
                "resourceVersion": resource_version,
                "allowWatchBookmarks": "true",
                "timeoutSeconds": "300",
            },
        )
