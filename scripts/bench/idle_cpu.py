"""CPU used by every process of one lab over a window: `python scripts/bench/idle_cpu.py`.

Method: the lab's processes (etcd, kube-apiservers, kube-controller-managers, OAuth, mesh
processes: every lab program whose arguments name the lab dir) are found in /proc; their
utime + stime (/proc/<pid>/stat, children excluded) are read at the start and at the end of the
window; the difference divided by the window is the share of one core they used. Other work on
the machine does not count, but it does slow the lab down, so the figure is an upper bound.

    LAB_DIR=.lab-x PYTHONPATH=tests/lab .venv/bin/python scripts/bench/idle_cpu.py [--seconds 60]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "lab"))

from lab import lab_dir  # noqa: E402
from lab.lifecycle import lab_processes  # noqa: E402
from lab.state import LabPaths  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def kind(pid: int) -> str:
    args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    program = Path(args[0].decode()).name
    if program.endswith("python") or program.startswith("python"):
        module = args[2].decode() if len(args) > 2 else ""
        return {"lab.mesh": "meshes", "lab.oauth_server": "oauth",
                "lab.sail": "ossm3 operators"}.get(module, module)
    return {"kube-apiserver": "apiservers",
            "kube-controller-manager": "controller-managers"}.get(program, program)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def measure(paths: LabPaths, seconds: float) -> dict:
    pids = lab_processes(paths)
    if not pids:
        raise SystemExit(f"no lab processes for {paths.dir}")
    kinds = {pid: kind(pid) for pid in pids}
    start = {pid: cpu_seconds(pid) for pid in pids}
    load_start = os.getloadavg()
    began = time.monotonic()
    time.sleep(seconds)
    window = time.monotonic() - began
    by_kind: dict[str, float] = {}
    for pid in pids:
        try:
            used = cpu_seconds(pid) - start[pid]
        except OSError:
            raise SystemExit(f"lab process {pid} ({kinds[pid]}) exited during the window") from None
        by_kind[kinds[pid]] = by_kind.get(kinds[pid], 0.0) + used
    return {
        "seconds": round(window, 1),
        "processes": len(pids),
        "percent_of_one_core": {k: round(100 * v / window, 1) for k, v in sorted(by_kind.items())},
        "total_percent_of_one_core": round(100 * sum(by_kind.values()) / window, 1),
        "load_average_start": [round(x, 1) for x in load_start],
        "load_average_end": [round(x, 1) for x in os.getloadavg()],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    print(json.dumps(measure(LabPaths(lab_dir()), args.seconds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
