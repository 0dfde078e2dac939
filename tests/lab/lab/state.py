"""The lab's state directory, state.json, and the detached processes it records."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from lab import LabError


@dataclass(frozen=True)
class LabPaths:
    """Every file the lab writes lives under one directory (``$LAB_DIR`` or ``<repo>/.lab``)."""

    dir: Path

    @property
    def state(self) -> Path:
        return self.dir / "state.json"

    @property
    def kubeconfig(self) -> Path:
        return self.dir / "kubeconfig"

    @property
    def inventory(self) -> Path:
        return self.dir / "inventory.yml"

    @property
    def credentials(self) -> Path:
        return self.dir / "credentials.json"

    @property
    def pki(self) -> Path:
        return self.dir / "pki"

    @property
    def logs(self) -> Path:
        return self.dir / "logs"

    @property
    def audit(self) -> Path:
        return self.dir / "audit"

    @property
    def etcd_data(self) -> Path:
        return self.dir / "etcd"

    @property
    def oauth_config(self) -> Path:
        return self.dir / "oauth.json"

    def cluster(self, name: str) -> Path:
        return self.dir / "clusters" / name

    def mesh(self, name: str) -> Path:
        return self.dir / "meshes" / name

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"


def load_state(paths: LabPaths) -> dict | None:
    try:
        return json.loads(paths.state.read_text())
    except FileNotFoundError:
        return None


def save_state(paths: LabPaths, state: dict) -> None:
    # Written after every process start, so `down` can clean up after a failed `up`.
    tmp = paths.state.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    tmp.replace(paths.state)


def write_private(path: Path, text: str) -> None:
    """Write a file only the owner can read (tokens, passwords, kubeconfig)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)


_handed_out: set[int] = set()


def free_port() -> int:
    """A free loopback port, never the same twice in one process (a lab picks all at once)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def listening_in_block(ip_block: int) -> str | None:
    """A listening TCP address in 127.<block>.* or 127.<block+1>.*, if any (from /proc/net/tcp)."""
    try:
        lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return None
    for line in lines:
        local, state = line.split()[1], line.split()[3]
        addr_hex, port_hex = local.split(":")
        octets = [int(addr_hex[i:i + 2], 16) for i in (6, 4, 2, 0)]  # little-endian
        if state == "0A" and octets[0] == 127 and octets[1] in (ip_block, ip_block + 1):
            return f"{'.'.join(map(str, octets))}:{int(port_hex, 16)}"
    return None


def spawn(args: list[str], log: Path, env: dict | None = None, cwd: Path | None = None) -> int:
    """Start a detached process (own session, output to ``log``) that outlives the CLI."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **(env or {})},
            cwd=cwd,
        )
    return proc.pid


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def alive(pid: int | None, marker: str) -> bool:
    """True while ``pid`` runs and is ours: its command line names the lab dir (``marker``).

    The marker check keeps a recycled pid from being mistaken for (or killed as) a lab process.
    """
    if not pid:
        return False
    deadline = time.monotonic() + 2.0
    while True:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
        cmdline = _cmdline(pid)
        # An empty command line is a passing state: a process that has just been started is
        # still inside execve (the kernel sets the new argv only after Popen has returned), or
        # one that is exiting has already dropped its memory. Taking it as "dead" made `lab up`
        # report a healthy kube-apiserver or etcd as "exited during start-up" with an empty
        # log. Look again until it has a command line, or is gone.
        if cmdline or time.monotonic() > deadline:
            return marker in cmdline
        time.sleep(0.005)


def stop(pid: int | None, marker: str, timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after ``timeout``; returns once the process is gone."""
    if not alive(pid, marker):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while alive(pid, marker):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 5
        _reap(pid)
        time.sleep(0.05)
    # An exiting process loses its command line before it closes its files (listening sockets):
    # wait until it is gone or a zombie, so a restart on the same port does not race it.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _exiting(pid):
        _reap(pid)
        time.sleep(0.05)


def _exiting(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z" and not _cmdline(pid)


def _reap(pid: int) -> None:
    # Only a child started by this very process can be reaped; others are reaped by init.
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def wait_for(what: str, check, timeout: float, interval: float = 0.2, log: Path | None = None):
    """Poll ``check()`` until it returns something truthy; LabError naming ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            result = check()
        except LabError:
            raise
        except Exception as e:  # noqa: BLE001 - any failure just means "not yet"
            last_error, result = e, None
        if result:
            return result
        time.sleep(interval)
    hint = f" (last error: {last_error})" if last_error else ""
    where = f"; see {log}" if log else ""
    raise LabError(f"timed out after {timeout:.0f}s waiting for {what}{hint}{where}")


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0
