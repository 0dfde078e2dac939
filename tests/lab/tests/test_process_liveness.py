"""Liveness of lab processes right after they are started (no lab needed).

`lab up` checks that etcd and each kube-apiserver are still alive while it waits for them. Right
after Popen returns, the child can still be inside execve with an empty /proc/<pid>/cmdline
(measured here: more than half of 300 starts); `alive` must not take that for "exited".
"""

from __future__ import annotations

import sys

from lab.state import alive, spawn, stop


def test_a_process_just_started_is_alive(tmp_path):
    marker = f"{tmp_path}/"
    for i in range(40):
        # The marker is in the command line, as the lab dir is in every lab process's arguments.
        pid = spawn([sys.executable, "-c", "import time; time.sleep(30)", f"{tmp_path}/{i}"],
                    tmp_path / "log")
        try:
            assert alive(pid, marker), f"start {i}: pid {pid} taken for dead"
        finally:
            stop(pid, marker)
        assert not alive(pid, marker)


def test_a_process_that_exits_is_dead(tmp_path):
    marker = f"{tmp_path}/"
    pid = spawn([sys.executable, "-c", "pass", f"{tmp_path}/x"], tmp_path / "log")
    stop(pid, marker)  # waits until it is gone (or a zombie)
    assert not alive(pid, marker)


def test_another_programs_pid_is_not_ours(tmp_path):
    pid = spawn([sys.executable, "-c", "import time; time.sleep(30)"], tmp_path / "log")
    try:
        assert not alive(pid, f"{tmp_path}/")  # no marker in its command line
    finally:
        stop(pid, "import time")
