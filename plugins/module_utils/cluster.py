# Copyright: (c) 2026, servicemesh.federation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The thin client layer: one mesh's cluster, reached through kubernetes.core's client.

Authentication (task options, K8S_AUTH_* variables, kubeconfig / context) is resolved by
kubernetes.core's get_api_client; this file only adds what the federation modules need on
top of it: typed errors that name the cluster, namespace and object, strict field validation
with a fixed field manager on every write, and a count of the write requests sent.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

try:
    from kubernetes.client.rest import ApiException
    from kubernetes.dynamic.exceptions import (
        DynamicApiError,
        ResourceNotFoundError,
        ResourceNotUniqueError,
    )
    from kubernetes.watch import Watch
    from urllib3.exceptions import HTTPError as TransportError
except ImportError:  # reported by AnsibleK8SModule (missing_required_lib) before any use

    class _Missing(Exception):
        pass

    ApiException = DynamicApiError = TransportError = _Missing
    ResourceNotFoundError = ResourceNotUniqueError = _Missing

FIELD_MANAGER = "servicemesh.federation"
MERGE_PATCH = "application/merge-patch+json"

CONFIGMAP = ("v1", "ConfigMap")
SERVICE = ("v1", "Service")
POD = ("v1", "Pod")
EVENT = ("v1", "Event")
NAMESPACE = ("v1", "Namespace")
DEPLOYMENT = ("apps/v1", "Deployment")
SERVICE_MESH_PEER = ("federation.maistra.io/v1", "ServiceMeshPeer")
SERVICE_MESH_CONTROL_PLANE = ("maistra.io/v2", "ServiceMeshControlPlane")


class ClusterError(Exception):
    """An API request failed. The message names the cluster, the object and the API's reason."""

    def __init__(
        self,
        cluster: str,
        reason: str,
        action: str = "",
        kind: str = "",
        namespace: str = "",
        name: str = "",
        status: int | None = None,
    ) -> None:
        self.cluster = cluster
        self.reason = reason
        self.action = action
        self.kind = kind
        self.namespace = namespace
        self.name = name
        self.status = status
        self.result: dict = {}  # what the task already did, reported with the failure
        super().__init__(self._message())

    def _message(self) -> str:
        where = f"cluster {self.cluster}"
        if self.namespace:
            where += f", namespace {self.namespace}"
        what = self.action
        if self.kind:
            obj = self.kind + ("/" + self.name if self.name else "")
            what = f"{what} {obj}".strip()
        return f"{where}: {what}: {self.reason}" if what else f"{where}: {self.reason}"


class ConnectionFailed(ClusterError):
    """The API server could not be reached (refused, DNS, TLS verification, timeout)."""


class AccessDenied(ClusterError):
    """The API server answered 401 (credentials rejected) or 403 (not authorized)."""


class NotServed(ClusterError):
    """The API server does not serve the kind (its CRD is not installed)."""


def describe(params: dict, host: str | None = None) -> str:
    """How errors name a cluster: the kubeconfig context when one is used, and the API URL."""
    context = params.get("context") or os.environ.get("K8S_AUTH_CONTEXT")
    host = host or params.get("host") or os.environ.get("K8S_AUTH_HOST")
    if context and host:
        return f"'{context}' ({host})"
    return "'{}'".format(context or host or "from the default kubeconfig")


def api_reason(exc: BaseException) -> str:
    """The API server's own message (never headers or request data, which could hold secrets)."""
    if isinstance(exc, DynamicApiError):
        return f"{exc.summary()} ({exc.status})"
    if isinstance(exc, ApiException):
        return f"{exc.reason} ({exc.status})"
    reason = getattr(exc, "reason", None)  # urllib3 MaxRetryError wraps the socket / TLS error
    return str(reason or exc) or type(exc).__name__


def connect(module) -> Cluster:
    """Build the client from the module's auth options (kubernetes.core resolves them)."""
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import (
        get_api_client,
    )

    label = describe(module.params)
    try:
        with _mapped(label, "connect"):
            client = get_api_client(module=module)
    except ClusterError:
        raise
    except Exception as exc:  # kubeconfig problems surface as CoreException / ConfigException
        raise ClusterError(label, f"cannot load connection settings: {exc}") from exc
    return Cluster(client, describe(module.params, client.configuration.host))


@contextmanager
def _mapped(cluster: str, action: str, kind: str = "", namespace: str = "", name: str = ""):
    """Turn client exceptions into ClusterError subclasses that say where and why."""
    where = dict(action=action, kind=kind, namespace=namespace, name=name)
    try:
        yield
    except (ResourceNotFoundError, ResourceNotUniqueError) as exc:
        raise NotServed(cluster, "the API server does not serve this kind", **where) from exc
    except (DynamicApiError, ApiException) as exc:
        status = getattr(exc, "status", None)
        reason = api_reason(exc)
        if status == 401:
            reason = f"the API server rejected the credentials: {reason}"
        error = AccessDenied if status in (401, 403) else ClusterError
        raise error(cluster, reason, status=status, **where) from exc
    except (TransportError, OSError) as exc:
        reason = api_reason(exc)
        if "CERTIFICATE_VERIFY_FAILED" in reason:
            reason = f"TLS verification failed (ca_cert names the CA of the API server): {reason}"
        else:
            reason = f"cannot reach the API server: {reason}"
        raise ConnectionFailed(cluster, reason, **where) from exc


def _strict() -> list:
    # A fresh list per call: the dynamic client appends its own query parameters to it.
    # Strict field validation makes the API server reject unknown fields instead of
    # silently pruning them (the federation CRDs are structural).
    return [("fieldValidation", "Strict")]


class Cluster:
    """One cluster as the federation modules use it; every method returns plain dicts."""

    def __init__(self, client, name: str) -> None:
        self.client = client  # kubernetes.core K8SClient
        self.name = name
        self.writes = 0
        self._resources: dict[tuple[str, str], Any] = {}

    def resource(self, api_version: str, kind: str):
        key = (api_version, kind)
        if key not in self._resources:
            with _mapped(self.name, "discover", kind=kind + "." + api_version):
                self._resources[key] = self.client.resource(kind, api_version)
        return self._resources[key]

    def version(self) -> str | None:
        """The API server's Kubernetes version (from discovery, which the client already did)."""
        return ((self.client.client.version or {}).get("kubernetes") or {}).get("gitVersion")

    def serves(self, api_version: str, kind: str) -> bool:
        try:
            self.resource(api_version, kind)
        except NotServed:
            return False
        return True

    def get(self, gvk: tuple[str, str], namespace: str, name: str) -> dict | None:
        resource = self.resource(*gvk)
        try:
            with _mapped(self.name, "read", gvk[1], namespace, name):
                return resource.get(name=name, namespace=namespace).to_dict()
        except ClusterError as exc:
            if exc.status == 404:
                return None
            raise

    def list(
        self,
        gvk: tuple[str, str],
        namespace: str,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[dict]:
        return self.list_versioned(gvk, namespace, label_selector, field_selector)[0]

    def list_versioned(
        self,
        gvk: tuple[str, str],
        namespace: str,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> tuple[list[dict], str]:
        """Items and the list's resourceVersion (where a watch can start)."""
        resource = self.resource(*gvk)
        with _mapped(self.name, "list", gvk[1], namespace):
            result = resource.get(
                namespace=namespace, label_selector=label_selector, field_selector=field_selector
            ).to_dict()
        return result.get("items") or [], result["metadata"].get("resourceVersion", "")

    def create(self, obj: dict) -> dict:
        gvk = (obj["apiVersion"], obj["kind"])
        meta = obj["metadata"]
        resource = self.resource(*gvk)
        self.writes += 1
        with _mapped(self.name, "create", gvk[1], meta.get("namespace", ""), meta["name"]):
            return resource.create(
                body=obj,
                namespace=meta.get("namespace"),
                field_manager=FIELD_MANAGER,
                query_params=_strict(),
            ).to_dict()

    def patch(self, gvk: tuple[str, str], namespace: str, name: str, patch: dict) -> dict:
        """JSON merge patch: only the fields in `patch` change; other fields are left alone."""
        resource = self.resource(*gvk)
        self.writes += 1
        with _mapped(self.name, "update", gvk[1], namespace, name):
            return resource.patch(
                body=patch,
                name=name,
                namespace=namespace,
                content_type=MERGE_PATCH,
                field_manager=FIELD_MANAGER,
                query_params=_strict(),
            ).to_dict()

    def apply(self, obj: dict, force: bool = False) -> dict:
        """Server-side apply of the apply configuration `obj` under our field manager.

        The API server records which fields we own: fields we applied before and omit now
        are removed unless another manager owns them too. A field another manager owns with
        a different value is a conflict (409) unless `force` (then it becomes ours).
        """
        gvk = (obj["apiVersion"], obj["kind"])
        meta = obj["metadata"]
        namespace, name = meta.get("namespace", ""), meta["name"]
        resource = self.resource(*gvk)
        self.writes += 1
        try:
            with _mapped(self.name, "apply", gvk[1], namespace, name):
                return resource.server_side_apply(
                    body=obj,
                    name=name,
                    namespace=namespace or None,
                    field_manager=FIELD_MANAGER,
                    force_conflicts=True if force else None,  # None: no force parameter sent
                    query_params=_strict(),
                ).to_dict()
        except ClusterError as exc:
            if exc.status != 409:
                raise  # e.g. 422 from strict validation or an admission policy: its message
            if "Apply failed" in exc.reason:
                reason = ("other field managers own these fields with other values (forcing "
                          f"the apply, e.g. take_over, makes them ours): {exc.reason}")
            elif "has been modified" in exc.reason:
                reason = f"the object changed since it was read (run again): {exc.reason}"
            else:
                raise
            raise ClusterError(self.name, reason, "apply", gvk[1], namespace, name,
                               status=409) from exc

    def delete(self, gvk: tuple[str, str], namespace: str, name: str, uid: str = "") -> bool:
        """Delete; False when it was already gone. `uid` guards against a re-created object."""
        resource = self.resource(*gvk)
        body = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if uid:
            body["preconditions"] = {"uid": uid}
        self.writes += 1
        try:
            with _mapped(self.name, "delete", gvk[1], namespace, name):
                resource.delete(name=name, namespace=namespace, body=body)
        except ClusterError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def watch(
        self, gvk: tuple[str, str], namespace: str, resource_version: str, timeout: int
    ) -> Iterator[tuple[str, dict]]:
        """(event type, object) from a watch that the API server ends after `timeout` seconds.

        A 410 Gone (the resourceVersion is too old) raises ClusterError with status 410; the
        caller re-lists.
        """
        resource = self.resource(*gvk)
        watcher = Watch()
        with _mapped(self.name, "watch", gvk[1], namespace):
            stream = watcher.stream(
                resource.get,
                namespace=namespace,
                resource_version=resource_version,
                timeout_seconds=timeout,
                # client-side bound too, in case the server never ends the stream
                _request_timeout=(10, timeout + 10),
                serialize=False,
            )
            try:
                for event in stream:
                    yield event["type"], event["raw_object"]
            finally:
                watcher.stop()

    def pod_log(self, namespace: str, pod: str, container: str = "", tail_lines: int = 50) -> str:
        """The last lines of a pod's log, through the API server's pods/log subresource."""
        resource = self.resource(*POD)
        query = [("tailLines", str(tail_lines))]
        if container:
            query.append(("container", container))
        path = resource.path(name=pod, namespace=namespace) + "/log"
        with _mapped(self.name, "read log of", "Pod", namespace, pod):
            response = self.client.client.request(
                "get", path, query_params=query, serialize=False, _request_timeout=20
            )
        return response.data.decode("utf-8", errors="replace")
