"""The federation lab: real kube-apiservers plus one simulated mesh control plane per mesh.

Run it as ``PYTHONPATH=tests/lab python -m lab up|down|status|fault``; see tests/lab/README.md.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
LAB_ROOT = Path(__file__).resolve().parents[1]  # tests/lab (what PYTHONPATH must contain)


class LabError(Exception):
    """A lab operation failed; the message says what, where and what to do."""


def lab_dir() -> Path:
    """The state directory: ``$LAB_DIR`` or ``<repo>/.lab``."""
    return Path(os.environ.get("LAB_DIR") or REPO / ".lab").resolve()
