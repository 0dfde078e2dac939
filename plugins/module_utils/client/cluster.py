# Copyright: (c) 2026, servicemesh.federation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The thin client layer: one mesh's cluster, reached through kubernetes.core's client.

Authentication (task options, K8S_AUTH_* variables, kubeconfig / context) is resolved by
kubernetes.core's get_api_client; this file only adds what the federation modules need on
top of it: typed errors that name the cluster, namespace and object (api_errors.py), strict
field validation with a fixed field manager on every write, a count of the write requests sent,
and a bounded retry of requests that failed transiently (retry.py), made safe per request: reads
and idempotent writes are repeated as they are; a create that finds the object (409) or a
repeated guarded write that finds it changed (409) reads it back and succeeds when it already
holds what was sent.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

from ansible_collections.servicemesh.federation.plugins.module_utils.client.api_errors import (
    ApiException,
    TransportError,
    api_errors,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.client.retry import (
    Policy,
    mark_final,
    retried,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.errors import (
    ClusterError,
    NotServed,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.kinds import POD
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.naming import (
    FIELD_MANAGER,
)

try:
    from kubernetes.watch import Watch
except ImportError:  # reported by AnsibleK8SModule (missing_required_lib) before any use
    Watch = None

MERGE_PATCH = "application/merge-patch+json"


def describe(params: dict, host: str | None = None) -> str:
    """How errors name a cluster: the kubeconfig context when one is used, and the API URL."""
    context = params.get("context") or os.environ.get("K8S_AUTH_CONTEXT")
    host = host or params.get("host") or os.environ.get("K8S_AUTH_HOST")
    if context and host:
        return f"'{context}' ({host})"
    return "'{}'".format(context or host or "from the default kubeconfig")


def connect(module) -> Cluster:
    """Build the client from the module's auth options (kubernetes.core resolves them)."""
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import (
        get_api_client,
    )

    label = describe(module.params)
    # The client reads the API's discovery (GET /version, /api, /apis) unless it is cached.
    where = dict(action="get", kind="the API discovery", namespace=module.params.get("namespace")
                 or "", resource="/version, /api, /apis")
    try:
        policy, repeats = Policy.configured(), []
    except ValueError as exc:
        raise ClusterError(label, str(exc)) from exc
    try:
        client = retried(policy, label, where, lambda: get_api_client(module=module), repeats)
    except ClusterError:
        raise
    except Exception as exc:  # kubeconfig problems surface as CoreException / ConfigException
        raise ClusterError(label, f"cannot load connection settings: {exc}") from exc
    cluster = Cluster(client, describe(module.params, client.configuration.host), policy)
    cluster.repeats = repeats
    return cluster


def _strict() -> list:
    # A fresh list per call: the dynamic client appends its own query parameters to it.
    # Strict field validation makes the API server reject unknown fields instead of
    # silently pruning them (the federation CRDs are structural).
    return [("fieldValidation", "Strict")]


def _holds(actual, sent, lists_whole: bool = True) -> bool:
    """Whether `actual` already holds every field `sent` sets (a merge patch's null: absent).

    With `lists_whole` a list must be equal (merge patch, create); else each sent item must be
    held by some actual item (server-side apply's list-maps, which the server may default).
    """
    if isinstance(sent, dict):
        if not isinstance(actual, dict):
            return False
        return all((key not in actual) if value is None else
                   key in actual and _holds(actual[key], value, lists_whole)
                   for key, value in sent.items() if key != "resourceVersion")
    if isinstance(sent, list) and not lists_whole:
        return isinstance(actual, list) and all(
            any(_holds(have, item, lists_whole) for have in actual) for item in sent)
    return actual == sent


def _as_sent(_client, obj: dict) -> dict:
    """The dynamic client's serializer for our requests: the JSON object as the API server sent
    it. Its default wraps every object in ResourceInstance / ResourceField objects, which we
    turned back into dicts at once: that round trip cost more CPU than the request."""
    return obj


PLAIN = {"serializer": _as_sent}


class Cluster:
    """One cluster as the federation modules use it; every method returns plain dicts.

    Every request is retried under `policy` when it fails transiently (retry.py).
    """

    def __init__(self, client, name: str, policy: Policy | None = None) -> None:
        self.client = client  # kubernetes.core K8SClient
        self.name = name
        self.writes = 0
        # Writes reconcile may send at once (the client's connection pool holds 10 per host).
        self.parallel_writes = 8
        self._writes_lock = threading.Lock()
        self.policy = policy or Policy()
        self.repeats: list[str] = []  # why each repeated request failed before (for a warning)
        self._resources: dict[tuple[str, str], Any] = {}

    def _count_write(self) -> None:
        with self._writes_lock:
            self.writes += 1

    def send(self, send: Callable[[], Any], action: str, gvk: tuple[str, str] = ("", ""),
             namespace: str = "", name: str = "", resource=None) -> Any:
        """One request `send()`, its errors naming `action` on the object, under the retry."""
        where = dict(action=action, kind=gvk[1], namespace=namespace or "", name=name,
                     resource=resource if isinstance(resource, str) else resource_label(resource))
        return retried(self.policy, self.name, where, send, self.repeats, self.starting)

    def starting(self) -> bool:
        """Whether the API server says it is not ready (/readyz, readable by anyone): then its
        401 / 403 answers may come from authorization caches not filled yet after a start."""
        try:
            self.client.client.request("get", "/readyz", serialize=False, _request_timeout=5)
        except (ApiException, TransportError, OSError):  # not 200, or not reachable
            return True
        return False

    def resource(self, api_version: str, kind: str):
        key = (api_version, kind)
        if key not in self._resources:
            self._resources[key] = self.send(lambda: self.client.resource(kind, api_version),
                                             "discover", ("", kind + "." + api_version))
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
            return self.send(lambda: resource.get(name=name, namespace=namespace, **PLAIN),
                             "read", gvk, namespace, name, resource)
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
        result = self.send(lambda: resource.get(
            namespace=namespace, label_selector=label_selector, field_selector=field_selector,
            **PLAIN), "list", gvk, namespace, resource=resource)
        items = result.get("items") or []
        for item in items:  # a list's items come without them; objects read alone have them
            item.setdefault("apiVersion", gvk[0])
            item.setdefault("kind", gvk[1])
        return items, result["metadata"].get("resourceVersion", "")

    def create(self, obj: dict) -> dict:
        """Create; when the object is found (409: an earlier attempt created it before its
        answer was lost, or another run of the same plan created it since our read), the object
        read back is the result if it holds `obj`; one that differs is never overwritten."""
        gvk = (obj["apiVersion"], obj["kind"])
        meta = obj["metadata"]
        namespace = meta.get("namespace", "")
        resource = self.resource(*gvk)
        self._count_write()
        try:
            return self.send(lambda: resource.create(
                body=obj,
                namespace=meta.get("namespace"),
                field_manager=FIELD_MANAGER,
                query_params=_strict(),
                **PLAIN,
            ), "create", gvk, namespace, meta["name"], resource)
        except ClusterError as exc:
            if exc.status != 409:
                raise
            current = self.get(gvk, namespace, meta["name"])
            if current is not None and _holds(current, obj):
                return current
            raise ClusterError(self.name, "an object of that name appeared since it was read "
                               f"and differs from the plan (run again): {exc.reason}",
                               "create", gvk[1], namespace, meta["name"], status=409,
                               status_reason=exc.status_reason, causes=exc.causes) from exc

    def _already_written(self, exc: ClusterError, gvk, namespace: str, name: str, sent: dict,
                         lists_whole: bool = True) -> dict | None:
        """After a repeated write guarded by resourceVersion failed with 409: the object read
        back when an earlier attempt of ours already wrote `sent` (else None)."""
        if exc.status != 409 or not exc.retried():
            return None
        current = self.get(gvk, namespace, name)
        return current if current is not None and _holds(current, sent, lists_whole) else None

    def patch(self, gvk: tuple[str, str], namespace: str, name: str, patch: dict) -> dict:
        """JSON merge patch: only the fields in `patch` change; other fields are left alone."""
        resource = self.resource(*gvk)
        self._count_write()
        try:
            return self.send(lambda: resource.patch(
                body=patch,
                name=name,
                namespace=namespace,
                content_type=MERGE_PATCH,
                field_manager=FIELD_MANAGER,
                query_params=_strict(),
                **PLAIN,
            ), "update", gvk, namespace, name, resource)
        except ClusterError as exc:
            current = self._already_written(exc, gvk, namespace, name, patch)
            if current is None:
                raise
            return current

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
        self._count_write()
        try:
            return self.send(lambda: resource.server_side_apply(
                body=obj,
                name=name,
                namespace=namespace or None,
                field_manager=FIELD_MANAGER,
                force_conflicts=True if force else None,  # None: no force parameter sent
                query_params=_strict(),
                **PLAIN,
            ), "apply", gvk, namespace, name, resource)
        except ClusterError as exc:
            current = self._already_written(exc, gvk, namespace, name, obj, lists_whole=False)
            if current is not None:
                return current
            if exc.status != 409:
                raise  # e.g. 422 from strict validation or an admission policy: its message
            if exc.field_conflict():
                reason = ("other field managers own these fields with other values (forcing "
                          f"the apply, e.g. take_over, makes them ours): {exc.reason}")
            elif exc.stale():
                reason = f"the object changed since it was read (run again): {exc.reason}"
            else:
                raise
            raise ClusterError(self.name, reason, "apply", gvk[1], namespace, name,
                               status=409, status_reason=exc.status_reason,
                               causes=exc.causes) from exc

    def delete(self, gvk: tuple[str, str], namespace: str, name: str, uid: str = "") -> bool:
        """Delete; False when it was already gone. `uid` guards against a re-created object."""
        resource = self.resource(*gvk)
        body = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if uid:
            body["preconditions"] = {"uid": uid}
        self._count_write()
        try:
            self.send(lambda: resource.delete(name=name, namespace=namespace, body=body),
                      "delete", gvk, namespace, name, resource)
        except ClusterError as exc:
            if exc.status == 404:
                return exc.retried()  # gone after a repeat: most likely our earlier attempt
            raise
        return True

    def watch(
        self, gvk: tuple[str, str], namespace: str, resource_version: str, timeout: int
    ) -> Iterator[tuple[str, dict]]:
        """(event type, object) from a watch that the API server ends after `timeout` seconds.

        A 410 Gone (the resourceVersion is too old) raises ClusterError with status 410; the
        caller re-lists. A stream broken by a transient failure (an API server restarting) is
        opened again from the last event's resourceVersion, within the retry bound.
        """
        resource = self.resource(*gvk)
        where = dict(action="watch", kind=gvk[1], namespace=namespace,
                     resource=resource_label(resource))
        clock = self.policy.clock
        deadline = clock() + timeout
        tries = self.policy.start(self.starting)
        while True:
            tries.attempt()
            watcher = Watch()
            try:
                with api_errors(self.name, **where):
                    remaining = max(1, math.ceil(deadline - clock()))
                    stream = watcher.stream(
                        resource.get,
                        namespace=namespace,
                        resource_version=resource_version,
                        timeout_seconds=remaining,
                        # client-side bound too, in case the server never ends the stream
                        _request_timeout=(10, remaining + 10),
                        serialize=False,
                    )
                    for event in stream:
                        if event["type"] != "ERROR":
                            resource_version = (event["raw_object"].get("metadata") or {}).get(
                                "resourceVersion", resource_version)
                            tries.restart()
                        yield event["type"], event["raw_object"]
                return
            except ClusterError as exc:
                delay = tries.failed(exc)
                if delay is None:
                    mark_final(exc, tries)
                    raise
                if clock() + delay >= deadline:
                    return  # the watch would have ended by now: the caller re-checks
                self.repeats.append(str(exc))
                self.policy.sleep(delay)
            finally:
                watcher.stop()

    def repeated(self) -> str | None:
        """A warning when requests had to be repeated (the run went on), or None."""
        if not self.repeats:
            return None
        return (f"{len(self.repeats)} request(s) to cluster {self.name} failed transiently and "
                f"were repeated (bound: {self.policy.describe()}); the last failure: "
                f"{self.repeats[-1]}")

    def pod_log(self, namespace: str, pod: str, container: str = "", tail_lines: int = 50) -> str:
        """The last lines of a pod's log, through the API server's pods/log subresource."""
        resource = self.resource(*POD)
        query = [("tailLines", str(tail_lines))]
        if container:
            query.append(("container", container))
        path = resource.path(name=pod, namespace=namespace) + "/log"
        response = self.send(lambda: self.client.client.request(
            "get", path, query_params=query, serialize=False, _request_timeout=20
        ), "read log of", ("v1", "Pod"), namespace, pod, "pods/log")
        return response.data.decode("utf-8", errors="replace")


def resource_label(resource) -> str:
    """A resource as RBAC names it: plural, or plural.group."""
    plural = getattr(resource, "name", "") or ""
    group = getattr(resource, "group", "") or ""
    return f"{plural}.{group}" if plural and group else plural
