"""Shared helpers of the playbook integration tests: write counting and lab clean-up."""

from __future__ import annotations

import time
from pathlib import Path

from ansible_run import run_playbook  # noqa: F401  (re-exported for the tests)

AUTOMATION_USER = "federation-automation"


def lab_dir(lab) -> Path:
    return Path(lab.kubeconfig).parent


def now() -> float:
    # Audit timestamps have microsecond precision; step back a little for clock granularity.
    return time.time() - 0.01


def writes(lab, clusters, since, user: str = AUTOMATION_USER) -> int:
    """Write requests the automation identity sent to these clusters since ``since``."""
    total = 0
    for cluster in clusters:
        found = lab.audit_writes(cluster, user, since)
        # A lab started before its audit policy left access reviews out still logs them; they
        # are creates that store nothing (pre-flight's access check), not writes.
        total += found if isinstance(found, int) else len(
            [e for e in found if (e.get("objectRef") or {}).get("apiGroup")
             != "authorization.k8s.io"])
    return total


def unfederate(lab) -> None:
    run = run_playbook("unfederate.yml", lab.inventory)
    assert run.rc == 0, run.explain()
