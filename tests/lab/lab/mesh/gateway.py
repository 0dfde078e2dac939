"""Ingress gateway listeners: discovery (8188) and service traffic (15443) on the LB address.

Sockets are accepted here and handed, one thread each, to the discovery server, which does the
TLS handshake with the trust that is current at that moment. ``drop`` closes a gateway's live
connections (trust changed, CA rotated); ``close`` also stops its listeners (gateway down).
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable

log = logging.getLogger("gateway")

DISCOVERY_PORT = 8188
SERVICE_PORT = 15443
MAX_HEAD = 16384


def hard_close(sock: socket.socket) -> None:
    """Wake any thread blocked on ``sock`` and close it (works for SSL sockets too)."""
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


def read_head(sock: socket.socket) -> tuple[str, dict[str, str], bytes]:
    """Read an HTTP/1.1 request or status line and headers; returns (line, headers, rest)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("connection closed before the HTTP head")
        buf += chunk
        if len(buf) > MAX_HEAD:
            raise ConnectionError("HTTP head too large")
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    return lines[0], headers, rest


class Connection:
    """An accepted connection; the handler swaps in the TLS socket once it wraps it."""

    def __init__(self, sock: socket.socket):
        self.sock = sock


class Listeners:
    def __init__(self, handler: Callable[[str, int, Connection], None]):
        self._handler = handler
        self._lock = threading.Lock()
        self._listeners: dict[str, tuple[str, list[socket.socket]]] = {}
        self._conns: dict[str, set[Connection]] = {}

    def addresses(self) -> dict[str, str]:
        with self._lock:
            return {gw: ip for gw, (ip, _listener) in self._listeners.items()}

    def open(self, gateway: str, ip: str) -> None:
        """Listen on ip:8188 and ip:15443 for ``gateway`` (no-op when already listening there)."""
        with self._lock:
            current = self._listeners.get(gateway)
            if current and current[0] == ip:
                return
        if current:
            self.close(gateway)
        socks = []
        try:
            for port in (DISCOVERY_PORT, SERVICE_PORT):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(s)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((ip, port))
                s.listen(64)
        except OSError:
            for s in socks:
                s.close()
            raise
        with self._lock:
            self._listeners[gateway] = (ip, socks)
            self._conns.setdefault(gateway, set())
        for s, port in zip(socks, (DISCOVERY_PORT, SERVICE_PORT), strict=True):
            threading.Thread(
                target=self._accept,
                args=(gateway, port, s),
                daemon=True,
                name=f"accept {gateway}:{port}",
            ).start()
        log.info(
            "gateway %s listening on %s:%d and %s:%d", gateway, ip, DISCOVERY_PORT, ip, SERVICE_PORT
        )

    def close(self, gateway: str) -> None:
        with self._lock:
            entry = self._listeners.pop(gateway, None)
        if entry:
            for s in entry[1]:
                hard_close(s)  # shutdown() wakes the thread blocked in accept()
            log.info("gateway %s stopped listening on %s", gateway, entry[0])
        self.drop(gateway)

    def close_all(self) -> None:
        for gateway in list(self.addresses()):
            self.close(gateway)

    def drop(self, gateway: str | None = None) -> None:
        """Close live connections of ``gateway`` (all gateways when None)."""
        with self._lock:
            conns = [c for gw, cs in self._conns.items() if gateway in (None, gw) for c in cs]
        for c in conns:
            hard_close(c.sock)

    def _accept(self, gateway: str, port: int, lsock: socket.socket) -> None:
        while True:
            try:
                sock, _addr = lsock.accept()
            except OSError:
                return
            conn = Connection(sock)
            with self._lock:
                if lsock not in self._listeners.get(gateway, (None, []))[1]:
                    sock.close()
                    return
                self._conns[gateway].add(conn)
            threading.Thread(
                target=self._serve,
                args=(gateway, port, conn),
                daemon=True,
                name=f"conn {gateway}:{port}",
            ).start()

    def _serve(self, gateway: str, port: int, conn: Connection) -> None:
        try:
            self._handler(gateway, port, conn)
        except Exception:  # noqa: BLE001 - one bad connection must not take the gateway down
            log.exception("gateway %s: connection handler failed", gateway)
        finally:
            with self._lock:
                self._conns.get(gateway, set()).discard(conn)
            hard_close(conn.sock)
