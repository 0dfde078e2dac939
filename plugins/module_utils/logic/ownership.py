# Copyright: (c) 2026, servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ownership rules, in one place, for everything the collection writes: the labelled objects
(reconcile.py: ownership is the managed-by label) and the SMCP gateway entries (gateway_changes.py:
ownership is server-side apply's field manager).

- ``decide``: what to do with one object or entry as read: create it, leave it, adopt it (someone
  else's, already what the plan gives: no write), update it, or refuse (someone else's and
  different, unless take over);
- ``on_fresh_read``: a write carries the resourceVersion it was decided on; when the API refuses
  it as stale (409 Conflict, ClusterError.stale: by status and reason, never by message text), it
  is decided again on a fresh read, a bounded number of times, so nothing is written on a stale
  decision.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from ansible_collections.servicemesh.federation.plugins.module_utils.logic.errors import (
    ClusterError,
)

# Times a write refused because the object changed since it was read (409) is decided again on
# a fresh read (reconcile's patches, the SMCP's gateway entries): istiod rewrites a peer's status
# every few seconds while it connects, the operator an SMCP's, and another run may write too.
CONFLICT_REREADS = 3

CREATE, UNCHANGED, ADOPT, UPDATE, REFUSE = "create", "unchanged", "adopt", "update", "refuse"

T = TypeVar("T")


@dataclass(frozen=True)
class Decision:
    action: str  # CREATE, UNCHANGED, ADOPT, UPDATE or REFUSE
    # The write takes fields others own (take over): a forced apply.
    force: bool = False


def decide(exists: bool, ours: bool, differs: bool, take_over: bool,
           contested: bool = False) -> Decision:
    """What to do with one object (or gateway entry) as read.

    ``ours``: we own it (our label; our field manager); ``differs``: writing the plan would change
    it; ``contested``: fields we would change are owned by another manager too (an entry we
    co-own). Someone else's that already holds the plan is adopted without a write; one that
    differs, or whose contested fields would change, is refused unless ``take_over``.
    """
    if not exists:
        return Decision(CREATE)
    if not differs:
        return Decision(UNCHANGED if ours else ADOPT)
    if (not ours or contested) and not take_over:
        return Decision(REFUSE)
    return Decision(UPDATE, force=contested or not ours)


def on_fresh_read(attempt: Callable[[ClusterError | None], T]) -> T:
    """``attempt(refused)``: read, decide and write (``refused``: None the first time, else the
    stale refusal that makes it read again). A write refused as stale is attempted again, at most
    CONFLICT_REREADS times; any other error, or the refusal ``attempt`` raises again, ends it."""
    refused = None
    for tries in range(CONFLICT_REREADS + 1):
        try:
            return attempt(refused)
        except ClusterError as exc:
            if exc is refused or not exc.stale() or tries == CONFLICT_REREADS:
                raise
            refused = exc
    raise AssertionError("unreachable")  # the last attempt returns or raises
