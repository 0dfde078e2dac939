"""The ownership rules (module_utils/logic/ownership.py); stale writes told by status and reason."""

import pytest

from ansible_collections.servicemesh.federation.plugins.module_utils.logic.errors import (
    ClusterError,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.ownership import (
    ADOPT,
    CONFLICT_REREADS,
    CREATE,
    REFUSE,
    UNCHANGED,
    UPDATE,
    decide,
    on_fresh_read,
)


def conflict(message, status_reason="Conflict", causes=()):
    return ClusterError("'red'", message, "apply", "ServiceMeshControlPlane", "red-system",
                        "basic", status=409, status_reason=status_reason, causes=causes)


@pytest.mark.parametrize("exists, ours, differs, take_over, contested, action, force", [
    (False, False, True, False, False, CREATE, False),
    (True, True, False, False, False, UNCHANGED, False),
    (True, False, False, False, False, ADOPT, False),
    (True, True, True, False, False, UPDATE, False),
    (True, False, True, False, False, REFUSE, False),
    (True, False, True, True, False, UPDATE, True),
    (True, True, True, False, True, REFUSE, False),
    (True, True, True, True, True, UPDATE, True),
])
def test_decide(exists, ours, differs, take_over, contested, action, force):
    decision = decide(exists, ours, differs, take_over, contested)
    assert (decision.action, decision.force) == (action, force)


def test_a_stale_write_is_told_by_status_and_reason_not_by_the_message():
    assert conflict("whatever the message says").stale()
    assert not conflict("the object has been modified", status_reason=None).stale()
    assert not conflict("the object has been modified", status_reason="AlreadyExists").stale()


def test_a_field_manager_conflict_is_not_a_stale_write():
    error = conflict("Apply failed with 1 conflict", causes=("FieldManagerConflict",))
    assert error.field_conflict() and not error.stale()


def test_a_stale_write_is_decided_again_a_bounded_number_of_times():
    calls = []

    def attempt(refused):
        calls.append(refused)
        raise conflict(f"attempt {len(calls)}")

    with pytest.raises(ClusterError, match=f"attempt {CONFLICT_REREADS + 1}"):
        on_fresh_read(attempt)
    assert calls[0] is None and all(isinstance(c, ClusterError) for c in calls[1:])


def test_other_errors_and_a_refusal_raised_again_end_the_attempts():
    calls = []

    def attempt(refused):
        calls.append(refused)
        if refused is not None:
            raise refused  # the fresh read shows someone else's change: not retried
        raise conflict("stale")

    with pytest.raises(ClusterError, match="stale"):
        on_fresh_read(attempt)
    assert len(calls) == 2

    def field_conflict(_refused):
        calls.append("field conflict")
        raise conflict("conflict", causes=("FieldManagerConflict",))

    with pytest.raises(ClusterError, match="conflict"):
        on_fresh_read(field_conflict)
    assert calls[2:] == ["field conflict"]  # not attempted again
