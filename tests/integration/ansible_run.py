"""Run the collection's playbooks with ansible-playbook (a subprocess, as a user would) and read
back what each task returned, through the test-only record_results callback."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = REPO / ".venv" / "bin" / "ansible-playbook"
CALLBACKS = Path(__file__).resolve().parent / "callback_plugins"
REPORT_TASK = "Print the failure report"


@dataclass
class Run:
    rc: int
    stdout: str
    stderr: str
    seconds: float
    records: list[dict] = field(default_factory=list)

    @property
    def stats(self) -> dict:
        return next((r["stats"] for r in reversed(self.records) if "stats" in r), {})

    @property
    def custom_stats(self) -> dict:
        return next((r["custom_stats"] for r in reversed(self.records) if "stats" in r), {})

    @property
    def changed(self) -> int:
        return sum(s.get("changed", 0) for s in self.stats.values())

    def results(self, task: str, status: str | None = None) -> dict[str, dict]:
        """host -> result of the (last) task whose name ends with ``task``."""
        out = {}
        for r in self.records:
            if "task" not in r or not r["task"].endswith(task):
                continue
            if status is None or r["status"] == status:
                out[r["host"]] = r["result"]
        return out

    def failures(self) -> list[dict]:
        return [r for r in self.records if r.get("status") == "failed"]

    def failure_text(self) -> str:
        """Every failure message and the failure report printed before them (report role), one
        string (lists joined by newlines)."""
        parts = []
        messages = [r["result"].get("msg", "") for r in self.failures()]
        messages += [r.get("msg", "") for r in self.results(REPORT_TASK, "ok").values()]
        for msg in messages:
            parts.append("\n".join(map(str, msg)) if isinstance(msg, list) else str(msg))
        return "\n".join(parts)

    def report(self) -> list[str]:
        """The failure report as the report role printed it (once), line by line."""
        return [line for r in self.results(REPORT_TASK, "ok").values() for line in r["msg"]]

    def explain(self) -> str:
        failed = "\n".join(f"[{r['host']}] {r['task']}: {r['result'].get('msg', '')}"
                           for r in self.failures())
        return (f"rc={self.rc}\n--- failed tasks\n{failed}\n--- stdout (tail)\n"
                f"{self.stdout[-4000:]}\n--- stderr\n{self.stderr[-2000:]}")


def write_inventory(path: Path, inventory: dict) -> Path:
    path.write_text(yaml.safe_dump(inventory, sort_keys=False))
    return path


def load_inventory(path: Path | str) -> dict:
    return yaml.safe_load(Path(path).read_text())


def mesh_hosts(inventory: dict) -> dict:
    return inventory["all"]["children"]["meshes"]["hosts"]


def run_playbook(playbook: str, inventory: Path | str, *, extra_vars: dict | None = None,
                 check: bool = False, diff: bool = False, limit: str | None = None,
                 forks: int | None = None, verbosity: int = 0, timeout: float = 600) -> Run:
    """``playbook``: a file under playbooks/ ("federate.yml") or a collection playbook FQCN;
    ``limit``: ``--limit``; ``forks``: ``--forks`` (default: ansible.cfg's)."""
    target = playbook if "." in playbook and "/" not in playbook and not playbook.endswith(".yml") \
        else str(REPO / "playbooks" / playbook)
    cmd = [str(ANSIBLE_PLAYBOOK), "-i", str(inventory), target]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    if check:
        cmd.append("--check")
    if diff:
        cmd.append("--diff")
    if limit:
        cmd += ["--limit", limit]
    if forks:
        cmd += ["--forks", str(forks)]
    if verbosity:
        cmd.append("-" + "v" * verbosity)
    with tempfile.NamedTemporaryFile("r", suffix=".jsonl", delete=False) as rec:
        record_file = rec.name
    env = dict(os.environ,
               ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
               ANSIBLE_CALLBACK_PLUGINS=str(CALLBACKS),
               ANSIBLE_CALLBACKS_ENABLED="record_results",
               RECORD_RESULTS_FILE=record_file,
               ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1")
    start = time.monotonic()
    try:
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True,
                              timeout=timeout, check=False)
        with open(record_file, encoding="utf-8") as f:
            records = [json.loads(line) for line in f if line.strip()]
    finally:
        os.unlink(record_file)
    return Run(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start, records)
