# Copyright (c) servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Task timing for scripts/bench.py: where a playbook run's wall time goes.

Enabled by bench.py (ANSIBLE_CALLBACK_PLUGINS=scripts/bench/callback_plugins,
ANSIBLE_CALLBACKS_ENABLED=bench_timing, BENCH_TIMING_FILE=<path>). Writes one JSON document:
per task (in run order) its name, role, wall seconds from the task's start to its last host
result, and per host the seconds from that host's start to its result; plus the whole run.
"""

from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: bench_timing
type: aggregate
short_description: per-task and per-host wall time for the benchmark
description: Writes the timing of every task and host to the file named by BENCH_TIMING_FILE.
requirements: [enable in ansible.cfg or ANSIBLE_CALLBACKS_ENABLED]
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_timing"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self.started = time.monotonic()
        self.tasks: list[dict] = []
        self.current: dict | None = None

    def _task_start(self, task) -> None:
        now = time.monotonic()
        role = task._role.get_name() if task._role else ""
        self.current = {"name": task.get_name(), "role": role, "start": now - self.started,
                        "end": now - self.started, "hosts": {}, "_host_start": {}}
        self.tasks.append(self.current)

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._task_start(task)

    def v2_playbook_on_handler_task_start(self, task):
        self._task_start(task)

    def v2_runner_on_start(self, host, task):
        if self.current is not None:
            self.current["_host_start"][host.get_name()] = time.monotonic()

    def _done(self, result, status: str) -> None:
        if self.current is None:
            return
        now = time.monotonic()
        host = result._host.get_name()
        began = self.current["_host_start"].get(host, self.started + self.current["start"])
        self.current["hosts"][host] = {"seconds": round(now - began, 3), "status": status}
        self.current["end"] = now - self.started

    def v2_runner_on_ok(self, result):
        self._done(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._done(result, "failed")

    def v2_runner_on_skipped(self, result):
        self._done(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._done(result, "unreachable")

    def v2_playbook_on_stats(self, stats):
        path = os.environ.get("BENCH_TIMING_FILE")
        if not path:
            return
        tasks = []
        for task in self.tasks:
            task.pop("_host_start", None)
            task["seconds"] = round(task["end"] - task["start"], 3)
            task["start"] = round(task["start"], 3)
            task["end"] = round(task["end"], 3)
            tasks.append(task)
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"seconds": round(time.monotonic() - self.started, 3), "tasks": tasks}, f)
