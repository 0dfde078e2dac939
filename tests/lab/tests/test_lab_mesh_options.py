"""`lab up --resync-seconds ...`: the options reach every mesh process (no lab needed)."""

from __future__ import annotations

from pathlib import Path

from lab.lifecycle import mesh_args, new_state
from lab.mesh.__main__ import parse_args
from lab.state import LabPaths

REQUIRED = ["--kubeconfig", "k", "--mesh", "a", "--lb-prefix", "127.1.1", "--pod-ip", "127.2.1.1",
            "--state-dir", "/tmp/x"]


def test_mesh_defaults_are_ossm_resync_and_fast_backoff():
    args = parse_args(REQUIRED)
    assert (args.resync_seconds, args.backoff_initial_seconds, args.backoff_max_seconds) == (
        60.0, 0.5, 2.0)


def test_recorded_mesh_options_are_passed_to_each_mesh_process(tmp_path: Path):
    state = new_state({"a": "a", "b": "b"}, 30)
    plain = mesh_args(LabPaths(tmp_path), state, "a")
    assert "--resync-seconds" not in plain  # the mesh's own default (OSSM's 60 s)
    state["mesh_options"] = {"resync_seconds": 2.0, "backoff_max_seconds": 60.0}
    args = mesh_args(LabPaths(tmp_path), state, "a")
    assert args[-4:] == ["--backoff-max-seconds", "60.0", "--resync-seconds", "2.0"]
    parsed = parse_args(args[args.index("--kubeconfig"):])
    assert (parsed.resync_seconds, parsed.backoff_max_seconds) == (2.0, 60.0)
