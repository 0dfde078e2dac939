"""Fault injection into a running mesh process: rotate its root CA, take an ingress gateway down/up.

The CLI (``python -m lab fault rotate-ca|gateway-down|gateway-up ...``) calls ``rotate_ca``,
``gateway_down`` and ``gateway_up`` with the mesh's entry of state.json. Each sends one JSON
request over the mesh's control socket (an abstract unix socket named after its state dir, so
no path length limit and nothing to clean up) and returns once the mesh acknowledged that the
effect is in place; failures raise ``LabError``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import socket
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from lab import LabError

if TYPE_CHECKING:
    from lab.mesh.app import Mesh

log = logging.getLogger("control")

TIMEOUT = 30.0


def socket_address(state_dir: str | Path) -> str:
    digest = hashlib.sha256(str(Path(state_dir).resolve()).encode()).hexdigest()[:24]
    return f"\0servicemesh-federation-lab-mesh-{digest}"


def rotate_ca(mesh_state: dict) -> str:
    """New root CA, Secret, istio-ca-root-cert and gateway certificates for the mesh."""
    return _call(mesh_state, {"op": "rotate-ca"})


def gateway_down(mesh_state: dict, gateway: str) -> str:
    """Stop one ingress gateway's listeners (8188 and 15443) and drop its connections."""
    return _call(mesh_state, {"op": "gateway-down", "gateway": gateway})


def gateway_up(mesh_state: dict, gateway: str) -> str:
    """Start the ingress gateway's listeners again."""
    return _call(mesh_state, {"op": "gateway-up", "gateway": gateway})


def _call(mesh_state: dict, request: dict) -> str:
    where = (
        f"mesh process for {mesh_state.get('namespace', '?')} (state dir {mesh_state['state_dir']})"
    )
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(TIMEOUT)
            s.connect(socket_address(mesh_state["state_dir"]))
            s.sendall(json.dumps(request).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
    except OSError as e:
        raise LabError(
            f"{request['op']}: cannot reach the {where}: {e}; is it running (python -m lab status)?"
        ) from None
    try:
        reply = json.loads(data)
    except ValueError:
        raise LabError(f"{request['op']}: no acknowledgement from the {where}") from None
    if not reply.get("ok"):
        raise LabError(f"{request['op']} failed: {reply.get('error')}")
    return reply.get("message", "")


class ControlServer(threading.Thread):
    """The mesh side of the control channel."""

    def __init__(self, mesh: Mesh):
        super().__init__(name="control", daemon=True)
        self.mesh = mesh
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        deadline = time.monotonic() + 5
        while True:  # a previous instance may still be exiting
            try:
                self._sock.bind(socket_address(mesh.state_dir))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        self._sock.listen(8)

    def run(self) -> None:
        while True:
            conn, _addr = self._sock.accept()
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.settimeout(TIMEOUT)
                data = b""
                while not data.endswith(b"\n"):
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    data += chunk
                request = json.loads(data)
                reply = {"ok": True, "message": self._dispatch(request)}
            except Exception as e:  # noqa: BLE001 - report any failure to the caller
                log.warning("control request failed: %s", e)
                reply = {"ok": False, "error": str(e)}
            log.info("control: %s", reply)
            conn.sendall(json.dumps(reply).encode() + b"\n")

    def _dispatch(self, request: dict) -> str:
        op = request.get("op")
        if self.mesh.ca is None:
            raise RuntimeError(f"mesh {self.mesh.mesh} is still starting")
        if op == "rotate-ca":
            return self.mesh.rotate_ca()
        if op == "gateway-down":
            return self.mesh.gateway_down(request["gateway"])
        if op == "gateway-up":
            return self.mesh.gateway_up(request["gateway"])
        raise ValueError(f"unknown control operation {op!r}")
