"""A thin client of a real AWX's REST API (/api/v2), as a user's pipeline calls it: basic auth,
launch, wait for a unified job, read its events, stdout and artifacts."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]
STATE = Path(os.environ.get("AWX_STATE") or REPO / ".awx")
URL = os.environ.get("AWX_URL", f"http://127.0.0.1:{os.environ.get('AWX_PORT', '8043')}")
FINISHED = {"successful", "failed", "error", "canceled"}
# The meshes of the private lab the tests configure AWX for.
MESHES = ["blue-mesh", "green-mesh", "red-mesh"]


class AwxError(AssertionError):
    pass


class Awx:
    def __init__(self, url: str = URL, username: str = "admin", password: str | None = None):
        self.url = url.rstrip("/")
        self.username = username
        self.password = password
        self.session = requests.Session()
        if password is not None:
            self.session.auth = (username, password)

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        url = path if path.startswith("http") else self.url + path
        resp = self.session.request(method, url, timeout=60, **kwargs)
        if resp.status_code >= 400:
            raise AwxError(f"{method} {path}: HTTP {resp.status_code}: {resp.text[:2000]}")
        return resp

    def get(self, path: str, **params):
        return self.request("GET", path, params=params or None).json()

    def post(self, path: str, body: dict | None = None):
        resp = self.request("POST", path, json=body or {})
        return resp.json() if resp.content else None

    def all(self, path: str, **params) -> list[dict]:
        """Every result of a list endpoint, following its pages."""
        params.setdefault("page_size", 200)
        page = self.get(path, **params)
        results = list(page["results"])
        while page.get("next"):
            page = self.request("GET", page["next"]).json()
            results.extend(page["results"])
        return results

    def one(self, path: str, name: str) -> dict:
        found = self.get(path, name=name)["results"]
        if len(found) != 1:
            raise AwxError(f"{len(found)} objects named {name!r} at {path}")
        return found[0]

    def wait(self, job_url: str, timeout: float = 900, until=None) -> dict:
        """Poll a unified job (its API url) until it finished, or until ``until(job)``."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.get(job_url)
            if (until or (lambda j: j["status"] in FINISHED))(job):
                return job
            if time.monotonic() > deadline:
                raise AwxError(f"{job_url} still {job['status']} after {timeout:.0f}s")
            time.sleep(1)

    def stdout(self, job_url: str) -> str:
        return self.request("GET", job_url + "stdout/", params={"format": "txt_download"}).text

    def events(self, job: dict) -> list[dict]:
        related = job["related"]
        return self.all(related.get("job_events") or related["events"], order_by="counter")

    def job_text(self, job: dict) -> str:
        """Everything a user can read of a job: stdout and every event, as JSON."""
        return self.stdout(job["url"]) + "\n" + json.dumps(self.events(job))


def ping(url: str = URL) -> dict | None:
    try:
        resp = requests.get(url + "/api/v2/ping/", timeout=5)
        return resp.json() if resp.ok else None
    except (requests.RequestException, ValueError):
        return None
