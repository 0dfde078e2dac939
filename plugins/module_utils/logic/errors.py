# Copyright: (c) 2026, servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's errors, in one module without dependencies, so that the pure logic (plan,
reconcile, status) raises and catches them without importing the client or the module wrapper.

- PlanError: the inventory cannot be planned (every problem at once);
- TaskError: a task cannot be done as asked (bad input, or the cluster holds something in the
  way); modules turn it into one fail_json;
- ClusterError and its kinds: an API request failed (raised by the client layer:
  client/api_errors.py).
"""

from __future__ import annotations


class PlanError(Exception):
    """The plan is invalid; ``problems`` lists every problem found."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__(
            f"{len(self.problems)} problem(s) in the federation plan:\n- "
            + "\n- ".join(self.problems)
        )


class TaskError(Exception):
    """The task cannot be done as asked (bad input, or the cluster holds something in the way).

    `result` carries what was already done (e.g. the write count) into the failure.
    """

    def __init__(self, message: str, result: dict | None = None) -> None:
        super().__init__(message)
        self.result = result or {}


# The reason of a Status cause naming a field another manager owns (server-side apply).
FIELD_MANAGER_CONFLICT = "FieldManagerConflict"


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
        status_reason: str | None = None,
        causes: tuple[str, ...] = (),
    ) -> None:
        self.cluster = cluster
        self.reason = reason
        self.action = action
        self.kind = kind
        self.namespace = namespace
        self.name = name
        self.status = status
        # The API's Status answer, machine-readable: its reason (Conflict, AlreadyExists, ...)
        # and the reasons of its causes (FieldManagerConflict, ...). Decisions read these,
        # never the message text.
        self.status_reason = status_reason
        self.causes = tuple(causes)
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

    def stale(self) -> bool:
        """The write was refused because the object changed since it was read (409 Conflict on
        the resourceVersion it carried), not because other field managers own fields it sets
        (also a 409 Conflict, with FieldManagerConflict causes)."""
        return (self.status == 409 and self.status_reason == "Conflict"
                and FIELD_MANAGER_CONFLICT not in self.causes)

    def field_conflict(self) -> bool:
        """A server-side apply was refused: other field managers own fields it sets, with other
        values (409 Conflict, FieldManagerConflict causes)."""
        return self.status == 409 and FIELD_MANAGER_CONFLICT in self.causes

    def retried(self) -> bool:
        """Whether an earlier attempt of the request may have reached the API server."""
        return getattr(self, "attempts", 1) > 1


class ConnectionFailed(ClusterError):
    """The API server could not be reached (refused, DNS, TLS verification, timeout)."""


class AccessDenied(ClusterError):
    """The API server answered 403: this identity may not do that."""


class CredentialsRejected(ClusterError):
    """The API server answered 401: the token is wrong, expired or revoked. Never a fact to note
    and go on with (unlike a 403 on an optional read): every request will fail the same way."""


class NotServed(ClusterError):
    """The API server does not serve the kind (its CRD is not installed)."""
