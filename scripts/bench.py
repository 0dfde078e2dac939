"""Benchmark federate.yml on private labs of N = 3 and N = 6 meshes (`make bench`).

For each N: start a lab in its own directory and loopback block, run federate.yml on the
unfederated lab (first run) and again (re-run), and count the API write requests the automation
identity sent (from the apiservers' audit logs). Writes the figures into docs/benchmark.md.
The lab's inventory shares a service in every direction, so a first run writes per mesh one
server-side apply of its gateway entries, and per direction a CA ConfigMap, a ServiceMeshPeer, an
ExportedServiceSet and an ImportedServiceSet.
Aim: 6 meshes federated in < 60 s; exactly N + 4*N*(N-1) writes on a first run, 0 on a re-run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PY = REPO / ".venv" / "bin" / "python"
PLAYBOOK = REPO / ".venv" / "bin" / "ansible-playbook"
AUTOMATION_USER = "federation-automation"
COLOURS = ["red", "green", "blue", "amber", "cyan", "violet", "indigo", "olive"]
IP_BLOCKS = {3: 90, 6: 100}
RECAP = re.compile(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def lab(lab_dir: Path, *args: str, check: bool = True) -> None:
    env = dict(os.environ, LAB_DIR=str(lab_dir), PYTHONPATH=str(REPO / "tests" / "lab"))
    subprocess.run([str(PY), "-m", "lab", *args], cwd=REPO, env=env, check=check,
                   stdout=subprocess.DEVNULL)


def audit_writes(lab_dir: Path, since: float) -> int:
    """Write requests (the audit policy logs only writes) by the automation identity."""
    count = 0
    for log in (lab_dir / "audit").glob("*.log"):
        for line in log.read_text().splitlines():
            event = json.loads(line)
            stamp = datetime.fromisoformat(event["requestReceivedTimestamp"].replace("Z", "+00:00"))
            if event["user"]["username"] == AUTOMATION_USER and stamp.timestamp() >= since:
                count += 1
    return count


def federate(lab_dir: Path) -> dict:
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    since = time.time()
    start = time.monotonic()
    proc = subprocess.run([str(PLAYBOOK), "-i", str(lab_dir / "inventory.yml"),
                           str(REPO / "playbooks" / "federate.yml")],
                          cwd=REPO, env=env, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - start
    if proc.returncode != 0:
        sys.exit(f"federate.yml failed (rc={proc.returncode}):\n{proc.stdout[-4000:]}")
    time.sleep(1)  # the audit backend flushes asynchronously
    changed = sum(int(m.group(2)) for m in RECAP.finditer(proc.stdout))
    return {"seconds": round(seconds, 1), "writes": audit_writes(lab_dir, since),
            "changed_tasks": changed}


def bench(n: int) -> dict:
    meshes = " ".join(f"{c}-mesh" for c in COLOURS[:n])
    lab_dir = REPO / f".lab-bench-{n}"
    try:
        start = time.monotonic()
        lab(lab_dir, "up", "--meshes", meshes, "--ip-block", str(IP_BLOCKS[n]))
        up = time.monotonic() - start
        first = federate(lab_dir)
        rerun = federate(lab_dir)
    finally:
        lab(lab_dir, "down", check=False)
    result = {"meshes": n, "peers": n * (n - 1), "expected_writes": n + 4 * n * (n - 1),
              "lab_up_seconds": round(up, 1), "first": first, "rerun": rerun}
    print(json.dumps(result), flush=True)
    return result


def write_doc(results: list[dict], path: Path) -> None:
    load = os.getloadavg()
    header = ("| meshes | peers | first run (s) | first-run writes | re-run (s) | re-run writes "
              "| re-run changed tasks | lab up (s) |")
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine = (f"{os.cpu_count()} CPUs, Python {platform.python_version()}, "
               f"{platform.system()} {platform.release()}")
    rows = "\n".join(
        f"| {r['meshes']} | {r['peers']} | {r['first']['seconds']} | {r['first']['writes']} "
        f"(expected {r['expected_writes']}) | {r['rerun']['seconds']} | {r['rerun']['writes']} "
        f"| {r['rerun']['changed_tasks']} | {r['lab_up_seconds']} |" for r in results)
    path.write_text(f"""# Benchmark

`make bench` (scripts/bench.py): for each N, a private lab of N meshes (one cluster each) is
started, `playbooks/federate.yml` runs on the unfederated lab (first run) and again (re-run).
The lab's inventory shares `ratings` in every direction. Wall time is the whole
`ansible-playbook` run (plan, login, pre-flight, gateways added and their addresses awaited,
write, wait until every direction is connected on both ends and every import is imported,
report). Writes are the API write requests of the automation
identity counted in the apiservers' audit logs (the audit policy records every create / update /
patch / delete).

Aim: 6 meshes (30 peers) federated in under 60 s once the lab is up; exactly N + 4 x N x (N - 1)
writes on a first run (per mesh one server-side apply of its 2 x (N - 1) gateway entries; per
direction a CA ConfigMap, a ServiceMeshPeer, an ExportedServiceSet and an ImportedServiceSet),
0 on a re-run.

{header}
|---|---|---|---|---|---|---|---|
{rows}

Measured {when} ({machine});
load average at the end of the run {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (other work on the
machine inflates the wall times; the write counts do not depend on it). The wall-time aim can
only be judged on an otherwise idle machine: run `make bench` there to refresh this page.

Where the time goes: every mesh runs its steps in parallel (forks >= N), one batched module call
per step and mesh (plan once, then `mesh_info`, `federation_gateways` (a check, then the apply and
its wait), `federation_peers`, `federation_status`), so the
number of tasks does not grow with the number of peers. Each module call is a Python process
that imports the kubernetes client; with N meshes on 2 cores, N of them compete for the CPU at
every step, next to the Ansible controller's own per-host work. The runs are CPU-bound here, so
a re-run (reads only) is not much faster than a first run, and other load on the machine shows
directly in the wall times.
""")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meshes", type=int, nargs="*", default=[3, 6])
    parser.add_argument("--output", type=Path, default=REPO / "docs" / "benchmark.md")
    args = parser.parse_args()
    results = [bench(n) for n in args.meshes]
    write_doc(results, args.output)
    print(f"wrote {args.output}")
    ok = all(r["first"]["writes"] == r["expected_writes"] and r["rerun"]["writes"] == 0
             for r in results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
