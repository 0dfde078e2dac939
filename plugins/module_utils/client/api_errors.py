# Copyright: (c) 2026, servicemesh.federation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The client's exceptions as typed errors (logic/errors.py) that name the cluster, namespace and
object, and say why: the API server's own message and Status reason, what a 401 / 403 means and
what to do, an unreachable server or a failed TLS verification. Never headers or request data,
which could hold secrets.
"""

from __future__ import annotations

import json
from contextlib import contextmanager

from ansible_collections.servicemesh.federation.plugins.module_utils.logic.errors import (
    AccessDenied,
    ClusterError,
    ConnectionFailed,
    CredentialsRejected,
    NotServed,
)

try:
    from kubernetes.client.rest import ApiException
    from kubernetes.dynamic.exceptions import (
        DynamicApiError,
        ResourceNotFoundError,
        ResourceNotUniqueError,
    )
    from urllib3.exceptions import HTTPError as TransportError
except ImportError:  # reported by AnsibleK8SModule (missing_required_lib) before any use

    class _Missing(Exception):
        pass

    ApiException = DynamicApiError = TransportError = _Missing
    ResourceNotFoundError = ResourceNotUniqueError = _Missing


def api_reason(exc: BaseException) -> str:
    """The API server's own message (never headers or request data, which could hold secrets)."""
    if isinstance(exc, DynamicApiError):
        return f"{exc.summary()} ({exc.status})"
    if isinstance(exc, ApiException):
        return f"{exc.reason} ({exc.status})"
    reason = getattr(exc, "reason", None)  # urllib3 MaxRetryError wraps the socket / TLS error
    return str(reason or exc) or type(exc).__name__


def api_status(exc: BaseException) -> tuple[str | None, tuple[str, ...]]:
    """The reason of the API's Status answer (Conflict, AlreadyExists, ...) and the reasons of
    its causes (FieldManagerConflict, ...): (None, ()) when the body is not a Status."""
    body = getattr(exc, "body", None)
    try:
        answer = json.loads(body) if isinstance(body, (str, bytes)) else None
    except ValueError:
        return None, ()
    if not isinstance(answer, dict):
        return None, ()
    causes = (answer.get("details") or {}).get("causes") or []
    reasons = tuple(c["reason"] for c in causes if isinstance(c, dict) and c.get("reason"))
    return answer.get("reason"), reasons


# The Kubernetes verb of each action the errors name (RBAC grants verbs, not actions).
VERBS = {"read": "get", "read log of": "get", "update": "patch", "apply": "patch",
         "discover": "get"}


def _denied(status: int, reason: str, action: str, resource: str, namespace: str) -> str:
    """What a 401 / 403 means for the user, and what to do (never the credentials)."""
    if status == 401:
        return ("the API server rejected the credentials (401 Unauthorized): the token is wrong, "
                "expired or revoked; log in again (a new token in the kubeconfig or api_key, or "
                f"username and password) and run again; the API said: {reason}")
    where = f"in namespace {namespace}" if namespace else "at cluster scope"
    return (f"not allowed (403 Forbidden): this identity may not {VERBS.get(action, action)} "
            f"{resource or 'this resource'} {where}; grant that verb in its Role (see the "
            f"least-privilege Role in the README); the API said: {reason}")


@contextmanager
def api_errors(cluster: str, action: str, kind: str = "", namespace: str = "", name: str = "",
               resource: str = ""):
    """Turn client exceptions into ClusterError subclasses that say where and why.

    `resource`: the resource as RBAC names it (plural.group), for 403 messages."""
    where = dict(action=action, kind=kind, namespace=namespace, name=name)
    try:
        yield
    except (ResourceNotFoundError, ResourceNotUniqueError) as exc:
        raise NotServed(cluster, "the API server does not serve this kind", **where) from exc
    except (DynamicApiError, ApiException) as exc:
        status = getattr(exc, "status", None)
        reason = api_reason(exc)
        if status in (401, 403):
            reason = _denied(status, reason, action, resource, namespace)
        error = {401: CredentialsRejected, 403: AccessDenied}.get(status, ClusterError)
        status_reason, causes = api_status(exc)
        raise error(cluster, reason, status=status, status_reason=status_reason, causes=causes,
                    **where) from exc
    except (TransportError, OSError) as exc:
        reason = api_reason(exc)
        if "CERTIFICATE_VERIFY_FAILED" in reason:
            reason = f"TLS verification failed (ca_cert names the CA of the API server): {reason}"
        else:
            reason = f"cannot reach the API server: {reason}"
        raise ConnectionFailed(cluster, reason, **where) from exc
