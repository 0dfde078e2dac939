# Copyright: (c) 2026, servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bounded retry with back-off for transient API failures.

Transient: the API server answered 429 (too many requests; its Retry-After is honoured, capped),
500 (e.g. "etcdserver: request timed out"), 502, 503 or 504, or the connection was refused,
reset or broken (an API server restarting). A 401 or 403 is transient only while the API server
says it is not ready (GET /readyz): one that has just started accepts requests before its
authorization caches are filled. Anything else (4xx, TLS, DNS) is final at once.

The bound: at most ATTEMPTS attempts, and no new attempt starts BUDGET seconds after the first.
The environment variable FEDERATION_API_RETRY_SECONDS sets another time bound (then it alone
bounds the attempts; 0 turns retrying off), for API servers that take longer to restart.
`retried` sends one request under the bound, its errors mapped (api_errors.py). Whether a
request may be repeated at all is the caller's concern (cluster.py): every request the collection
sends is a read, an idempotent write (merge patch, server-side apply, delete by uid)
or a create whose 409 AlreadyExists on a repeat is resolved by reading the object back.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.servicemesh.federation.plugins.module_utils.client.api_errors import (
    api_errors,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.errors import (
    ClusterError,
)

try:
    from urllib3.exceptions import (
        MaxRetryError,
        NameResolutionError,
        NewConnectionError,
        ProtocolError,
        SSLError,
    )
    from urllib3.exceptions import TimeoutError as TransportTimeout
except ImportError:  # reported by AnsibleK8SModule (missing_required_lib) before any use

    class _Missing(Exception):
        pass

    MaxRetryError = NameResolutionError = NewConnectionError = _Missing
    ProtocolError = SSLError = TransportTimeout = _Missing

ATTEMPTS = 6
BUDGET = 30.0  # seconds from the first attempt after which no new attempt starts
FIRST_DELAY = 1.0  # then doubled each time, up to MAX_DELAY
MAX_DELAY = 8.0
RETRY_AFTER_CAP = 10.0  # a longer Retry-After is not waited for in full
ENV_SECONDS = "FEDERATION_API_RETRY_SECONDS"
TRANSIENT_STATUS = frozenset((429, 500, 502, 503, 504))


def _transport_cause(exc: BaseException) -> BaseException | None:
    """The socket-level error under a client exception (urllib3 wraps it in MaxRetryError)."""
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    if isinstance(cause, MaxRetryError) and cause.reason is not None:
        cause = cause.reason
    return cause


def transient(exc: BaseException) -> bool:
    """Whether a failed request may succeed when repeated shortly (exc: a ClusterError)."""
    status = getattr(exc, "status", None)
    if status is not None:
        return status in TRANSIENT_STATUS
    cause = _transport_cause(exc)
    if isinstance(cause, (SSLError, NameResolutionError)) or "CERTIFICATE_VERIFY_FAILED" in str(
            cause):
        return False  # a wrong CA or host name does not heal by itself
    return isinstance(cause, (NewConnectionError, ProtocolError, TransportTimeout,
                              ConnectionError, TimeoutError))


def retry_after(exc: BaseException) -> float | None:
    """Seconds from a 429/503 Retry-After header (delta-seconds form), or None."""
    headers = getattr(exc.__cause__, "headers", None) or getattr(exc, "headers", None) or {}
    value = headers.get("Retry-After") if hasattr(headers, "get") else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except (TypeError, ValueError):
        return None  # an HTTP-date: fall back to the back-off


@dataclass
class Policy:
    """The bound and the back-off; `sleep` and `clock` are replaceable for tests."""

    attempts: int = ATTEMPTS
    budget: float = BUDGET
    first_delay: float = FIRST_DELAY
    max_delay: float = MAX_DELAY
    retry_after_cap: float = RETRY_AFTER_CAP
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)

    @classmethod
    def configured(cls) -> Policy:
        """The default bound, or the time bound FEDERATION_API_RETRY_SECONDS sets."""
        value = os.environ.get(ENV_SECONDS, "").strip()
        if not value:
            return cls()
        try:
            seconds = float(value)
        except ValueError:
            raise ValueError(f"{ENV_SECONDS} must be a number of seconds, not {value!r}") from None
        return cls(attempts=1 if seconds <= 0 else 1000, budget=max(0.0, seconds))

    def start(self, starting: Callable[[], bool] | None = None) -> Tries:
        """The tries of one request; `starting()` says whether the API server is not ready yet
        (asked only after a 401 or 403)."""
        return Tries(self, starting)

    def describe(self) -> str:
        if self.attempts >= 1000:
            return f"attempts within {self.budget:g}s ({ENV_SECONDS})"
        return f"{self.attempts} attempts within {self.budget:g}s"


class Tries:
    """The attempts of one request: `failed(exc)` says how long to wait before the next one,
    or None when the request must not (not transient) or may no longer (bound reached) be sent
    again."""

    def __init__(self, policy: Policy, starting: Callable[[], bool] | None = None) -> None:
        self.policy = policy
        self.starting = starting
        self.count = 0
        self.started = policy.clock()
        self.gave_up = False  # the bound, not the kind of error, ended the tries

    def attempt(self) -> None:
        self.count += 1

    def failed(self, exc: BaseException) -> float | None:
        if not transient(exc) and not (getattr(exc, "status", None) in (401, 403)
                                       and self.starting is not None and self.starting()):
            return None
        policy = self.policy
        delay = min(policy.first_delay * 2 ** (self.count - 1), policy.max_delay)
        asked = retry_after(exc)
        if asked is not None:
            delay = min(asked, policy.retry_after_cap)
        spent = policy.clock() - self.started
        if self.count >= policy.attempts or spent + delay > policy.budget:
            self.gave_up = True
            return None
        return delay

    def summary(self) -> str:
        """For the final error: how hard we tried."""
        spent = self.policy.clock() - self.started
        return (f"gave up after {self.count} attempts in {spent:.0f}s (bound: "
                f"{self.policy.describe()}); the API server kept failing, check that it is up "
                "and healthy, then run again")

    def restart(self) -> None:
        """Progress was made (a watch delivered events): the bound starts again from this
        attempt."""
        self.count = 1
        self.started = self.policy.clock()


def retried(policy: Policy, cluster: str, where: dict, send: Callable[[], Any],
            repeats: list | None = None, starting: Callable[[], bool] | None = None) -> Any:
    """`send()` with its client errors mapped, repeated while they are transient and the bound
    allows; each repeat's cause is appended to `repeats`. The final error carries `attempts`;
    when the bound ended the tries it says so."""
    tries = policy.start(starting)
    while True:
        tries.attempt()
        try:
            with api_errors(cluster, **where):
                return send()
        except ClusterError as exc:
            delay = tries.failed(exc)
            if delay is None:
                mark_final(exc, tries)
                raise
            if repeats is not None:
                repeats.append(str(exc))
            policy.sleep(delay)


def mark_final(exc: ClusterError, tries: Tries) -> None:
    """Mark the error that ends the tries: the number of attempts, and the bound when reached."""
    exc.attempts = tries.count
    if tries.gave_up:
        exc.reason = f"{exc.reason}; {tries.summary()}"
        exc.args = (exc._message(),)
