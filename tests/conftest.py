"""Shared pytest fixtures: the lab (real kube-apiservers + simulated meshes), started once.

``lab``: the shared 3-mesh lab (red-mesh green-mesh blue-mesh) in ``<repo>/.lab-test``, ip block
40, started on first use and brought down at the end of the session. Tests must leave it as they
found it. ``lab_factory(name, meshes, ip_block, gateways=True)``: a private lab in
``<repo>/.lab-test-<name>`` for tests that break things (faults, up/down); cached per name for the
session (``release_lab(name)`` brings it down earlier). ``gateways``: started ``--with-gateways``
(SMCPs with the federation gateways).

Environment: ``LAB_TEST_DIR`` moves ``<repo>/.lab-test`` (two sessions at once need two),
``LAB_TEST_IP_BLOCK`` changes the shared lab's ip block, ``LAB_TEST_KEEP=1`` leaves the labs
running after the session (the next session reuses them).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LAB_PYTHONPATH = REPO / "tests" / "lab"
DEFAULT_MESHES = "red-mesh green-mesh blue-mesh"
TEST_DIR = Path(os.environ.get("LAB_TEST_DIR") or REPO / ".lab-test").resolve()
# Labs start as fresh installs (no federation gateways): the collection adds them. Tests of the
# simulated mesh itself use `gateway_lab`, whose control planes have their gateways from the start.
LAB_GATEWAYS = False
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection"}
# Lab tests import the lab package (e.g. lab.oauth_server.token_object_name).
if str(LAB_PYTHONPATH) not in sys.path:
    sys.path.insert(0, str(LAB_PYTHONPATH))


class Lab:
    """A running lab, as tests see it."""

    def __init__(self, directory: Path, meshes: str, ip_block: int, gateways: bool = LAB_GATEWAYS,
                 resync_seconds: float | None = None, ossm: str = "2"):
        self.dir = directory
        self.ossm = ossm
        self.resync_seconds = resync_seconds
        self.kubeconfig = str(directory / "kubeconfig")
        self.inventory = str(directory / "inventory.yml")
        self.mesh_spec = meshes
        self.ip_block = ip_block
        self.gateways = gateways
        self._clients: dict = {}

    @property
    def state(self) -> dict:
        """state.json as it is now (re-read on every access)."""
        return json.loads((self.dir / "state.json").read_text())

    @property
    def meshes(self) -> list[str]:
        return list(self.state["meshes"])

    def run(self, *args: str, check: bool = True, timeout: float = 300):
        """``python -m lab <args>`` against this lab; output captured as text."""
        env = {**os.environ, "LAB_DIR": str(self.dir), "PYTHONPATH": str(LAB_PYTHONPATH)}
        proc = subprocess.run([sys.executable, "-m", "lab", *args], env=env, cwd=REPO,
                              capture_output=True, text=True, timeout=timeout, check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"python -m lab {' '.join(args)} failed (rc {proc.returncode}):"
                                 f"\n{proc.stdout}\n{proc.stderr}")
        return proc

    def up(self, check: bool = True):
        """``up`` again with this lab's meshes (restarts whatever died)."""
        return self.run(*_up_args(self), check=check)

    def context(self, mesh: str, admin: bool = True) -> str:
        cluster = self.state["clusters"][self.state["meshes"][mesh]["cluster"]]
        return cluster["admin_context"] if admin else cluster["automation_context"]

    def api_client(self, mesh: str, admin: bool = True):
        """The kubernetes ApiClient of ``mesh``'s cluster (admin or automation identity): the
        tests' one way from the lab kubeconfig to a client, cached per context."""
        context = self.context(mesh, admin)
        if context not in self._clients:
            from kubernetes import config

            self._clients[context] = config.new_client_from_config(
                config_file=self.kubeconfig, context=context)
        return self._clients[context]

    def client(self, mesh: str, admin: bool = True):
        """A kubernetes DynamicClient for ``mesh``'s cluster (admin or automation identity)."""
        from kubernetes import dynamic

        key = ("dynamic", mesh, admin)
        if key not in self._clients:
            self._clients[key] = dynamic.DynamicClient(self.api_client(mesh, admin))
        return self._clients[key]

    def admin(self, mesh: str):
        """``mesh_admin.MeshAdmin`` of ``mesh`` (reads, hand-made objects, waits), cached."""
        from mesh_admin import MeshAdmin

        key = ("admin", mesh)
        if key not in self._clients:
            self._clients[key] = MeshAdmin(self, mesh)
        return self._clients[key]

    def credentials(self, cluster: str) -> dict[str, str]:
        """OAuth passwords of ``cluster``: {username: password}."""
        return json.loads((self.dir / "credentials.json").read_text())[cluster]

    def audit_writes(self, cluster: str, user: str = "federation-automation",
                     since: float | datetime | None = None) -> list[dict]:
        """Audit events of write requests ``user`` sent to ``cluster`` (since a time, optional)."""
        if isinstance(since, datetime):
            since = since.timestamp()
        events = []
        log = self.dir / "audit" / f"{cluster}.log"
        if not log.exists():
            return events
        for line in log.read_text().splitlines():
            event = json.loads(line)
            if (event.get("stage") != "ResponseComplete" or event.get("verb") not in WRITE_VERBS
                    or event.get("user", {}).get("username") != user):
                continue
            received = datetime.fromisoformat(event["requestReceivedTimestamp"]).timestamp()
            if since is None or received >= since:
                events.append(event)
        return events


def _require_binaries() -> None:
    from lab import LabError
    from lab.control_plane import check_binaries

    try:
        check_binaries()
    except LabError as e:
        pytest.fail(f"cannot start the lab: {e}", pytrace=False)


def _start(lab: Lab) -> None:
    _require_binaries()
    proc = lab.up(check=False)
    if proc.returncode != 0 and "a different lab" in proc.stderr:
        lab.run("down")  # left over from an interrupted session, with other meshes
        proc = lab.up(check=False)
    if proc.returncode != 0:
        pytest.fail(f"lab up in {lab.dir} failed:\n{proc.stdout}\n{proc.stderr}", pytrace=False)


def _up_args(lab: Lab) -> list[str]:
    return ["up", "--meshes", lab.mesh_spec, "--ip-block", str(lab.ip_block),
            *(["--with-gateways"] if lab.gateways else []),
            *(["--resync-seconds", str(lab.resync_seconds)] if lab.resync_seconds else []),
            *(["--ossm", lab.ossm] if lab.ossm != "2" else [])]


class _Labs:
    def __init__(self):
        self.started: dict[str, Lab] = {}

    def get(self, name: str, meshes: str, ip_block: int, gateways: bool = LAB_GATEWAYS,
            resync_seconds: float | None = None, ossm: str = "2") -> Lab:
        lab = self.started.get(name)
        if lab is None:
            suffix = "" if name == "shared" else f"-{name}"
            lab = self.started[name] = Lab(Path(f"{TEST_DIR}{suffix}"), meshes, ip_block,
                                           gateways, resync_seconds, ossm)
            _start(lab)  # registered first: a failed start is brought down too
        elif (lab.mesh_spec, lab.ip_block, lab.gateways) != (meshes, ip_block, gateways):
            raise ValueError(f"lab {name!r} already started with other meshes, ip block or "
                             "gateways")
        return lab

    def release(self, name: str) -> None:
        """Bring private lab ``name`` down now, its tests done (no idle lab slowing the rest of
        the session), unless LAB_TEST_KEEP=1."""
        lab = self.started.get(name)
        if lab is not None and os.environ.get("LAB_TEST_KEEP") != "1":
            del self.started[name]
            lab.run("down", check=False)

    def down_all(self) -> None:
        if os.environ.get("LAB_TEST_KEEP") == "1":
            return
        for lab in self.started.values():
            lab.run("down", check=False)


@pytest.fixture(scope="session")
def _labs():
    labs = _Labs()
    yield labs
    labs.down_all()


@pytest.fixture(scope="session")
def lab(_labs) -> Lab:
    """The shared 3-mesh lab (ip block 40); leave it as you found it."""
    return _labs.get("shared", DEFAULT_MESHES, int(os.environ.get("LAB_TEST_IP_BLOCK", "40")))


@pytest.fixture(scope="session")
def gateway_lab(_labs) -> Lab:
    """A 3-mesh lab (east-mesh, west-mesh, north-mesh; ip block 156) started `--with-gateways`,
    shared by the tests of the simulated mesh that federate by hand; leave it as you found it.
    Its meshes resync every 2 s (OSSM: 60 s), so tests can watch the periodic resync."""
    return _labs.get("gateways", "east-mesh west-mesh north-mesh", 156, gateways=True,
                     resync_seconds=2)


@pytest.fixture(scope="session")
def release_lab(_labs):
    """``release_lab(name)``: bring the private lab ``name`` down once its tests are done."""
    return _labs.release


@pytest.fixture(scope="session")
def lab_factory(_labs):
    """``lab_factory(name, meshes, ip_block, gateways=False, resync_seconds=None, ossm="2")``: a
    private lab, started once per session (``resync_seconds``: `lab up --resync-seconds`;
    ``ossm``: `lab up --ossm`)."""
    return _labs.get
