# Copyright (c) servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-only notification callback: appends every task result to $RECORD_RESULTS_FILE as JSON lines.

ansible-core has no JSON stdout callback; the integration tests read results (objects, writes,
diff, failure messages) from this file while the normal screen output stays on stdout.
"""

from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: record_results
type: notification
short_description: append task results to a JSON lines file (tests only)
description: Writes one line per task result to the file named by RECORD_RESULTS_FILE.
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "notification"
    CALLBACK_NAME = "record_results"
    CALLBACK_NEEDS_ENABLED = True

    def _write(self, record: dict) -> None:
        path = os.environ.get("RECORD_RESULTS_FILE")
        if path:
            with open(path, "a", encoding="utf-8") as out:
                out.write(json.dumps(record, default=str) + "\n")

    def _result(self, status: str, result) -> None:
        self._write({
            "status": status,
            "host": result._host.get_name(),
            "task": result._task.get_name(),
            "time": time.time(),
            "result": result._result,
        })

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._write({"task_start": task.get_name(), "time": time.time()})

    def v2_runner_on_ok(self, result):
        self._result("ok", result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._result("failed", result)

    def v2_runner_on_skipped(self, result):
        self._result("skipped", result)

    def v2_runner_on_unreachable(self, result):
        self._result("unreachable", result)

    def v2_playbook_on_stats(self, stats):
        hosts = sorted(stats.processed)
        self._write({"stats": {h: stats.summarize(h) for h in hosts},
                     "custom_stats": stats.custom})
