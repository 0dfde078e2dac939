"""Federation discovery: the outbound watch per ServiceMeshPeer and the inbound discovery server.

Outbound (what istiod + the local egress gateway do for SMP ``<peer>``): dial
spec.remote.addresses on the discovery port with mutual TLS as the egress gateway's SPIFFE
identity, check the peer's certificate against the peer root and trust domain, ``GET /v1/watch``
and keep it open; every resync period fetch ``/v1/services/``. Failures are reported the way the
egress gateway would answer istiod: a connection or TLS failure is ``503 Service Unavailable``,
an HTTP answer is its status line, a missing local egress Service is Go's DNS error text.

Inbound (the ingress gateway + istiod): see ``DiscoveryServer``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import select
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lab.mesh import gateway as gw
from lab.mesh import services
from lab.mesh.istiod_ca import peer_spiffe_id, trust_domain_of
from lab.mesh.peer_status_writer import PeerStatus

if TYPE_CHECKING:
    from lab.mesh.app import Mesh

log = logging.getLogger("federation")

ROOT_CERT_KEY = "root-cert.pem"
UNAVAILABLE = "503 Service Unavailable"
STREAM_ENDED = "200 OK"
CONNECT_TIMEOUT = 2.0


class RootCertError(Exception):
    """The peer's CA ConfigMap could not be used; Maistra stops reconciling the peer here."""


@dataclass(frozen=True)
class PeerConfig:
    """What istiod derives from one ServiceMeshPeer and its CA ConfigMap."""

    name: str
    uid: str
    addresses: tuple[str, ...]
    discovery_port: int
    service_port: int
    ingress: str
    egress: str
    trust_domain: str
    client_id: str
    peer_root: str | None  # None: trustDomain empty or the local one, so the root is not loaded

    @property
    def remote_hash(self) -> str:
        raw = json.dumps([self.addresses, self.discovery_port, self.service_port])
        return hashlib.sha256(raw.encode()).hexdigest()[:16]


def root_cert_for_mesh(smp: dict, namespace: str, configmaps) -> str:
    """The peer root PEM from the SMP's certificate chain ConfigMap (Maistra's error texts)."""
    name = smp["metadata"]["name"]
    chain = ((smp.get("spec") or {}).get("security") or {}).get("certificateChain") or {}
    kind = chain.get("kind") or ""
    try:
        if kind not in ("", "ConfigMap"):
            raise RootCertError(f"unknown Kind for CertificateChain object reference: {kind}")
        cm_name = chain.get("name") or f"{name}-ca-root-cert"
        cm = configmaps.get(cm_name)
        if cm is None:
            raise RootCertError(
                f"error getting configmap {cm_name} in namespace {namespace}: "
                f'configmaps "{cm_name}" not found'
            )
        pem = (cm.get("data") or {}).get(ROOT_CERT_KEY)
        if not pem:
            raise RootCertError(f"missing entry {ROOT_CERT_KEY} in ConfigMap {namespace}/{cm_name}")
        return pem
    except RootCertError as e:
        raise RootCertError(f"could not get root cert for mesh {name}: {e}") from None


def peer_config(smp: dict, namespace: str, configmaps, local_trust_domain: str) -> PeerConfig:
    spec = smp.get("spec") or {}
    remote = spec.get("remote") or {}
    gateways = spec.get("gateways") or {}
    security = spec.get("security") or {}
    root = root_cert_for_mesh(smp, namespace, configmaps)
    trust_domain = security.get("trustDomain") or ""
    return PeerConfig(
        name=smp["metadata"]["name"],
        uid=smp["metadata"]["uid"],
        addresses=tuple(remote.get("addresses") or ()),
        discovery_port=int(remote.get("discoveryPort") or gw.DISCOVERY_PORT),
        service_port=int(remote.get("servicePort") or gw.SERVICE_PORT),
        ingress=(gateways.get("ingress") or {}).get("name") or "",
        egress=(gateways.get("egress") or {}).get("name") or "",
        trust_domain=trust_domain,
        client_id=security.get("clientID") or "",
        peer_root=root if trust_domain and trust_domain != local_trust_domain else None,
    )


# istiod's registry polls /v1/services/ with 1 s retries for up to 2 min (fact sheet §1), then
# waits for the next resync.
FULL_SYNC_RETRY_SECONDS = 1.0
FULL_SYNC_RETRY_FOR = 120.0


class Backoff:
    """Exponential back-off as cenkalti/backoff: x1.5, randomised +-50 %, capped, never gives up."""

    def __init__(
        self, initial: float, maximum: float, multiplier: float = 1.5, jitter: float = 0.5
    ):
        self.initial, self.maximum, self.multiplier, self.jitter = (
            initial,
            maximum,
            multiplier,
            jitter,
        )
        self.current = initial

    def reset(self) -> None:
        self.current = self.initial

    def next(self) -> float:
        delay = self.current * random.uniform(1 - self.jitter, 1 + self.jitter)
        self.current = min(self.current * self.multiplier, self.maximum)
        return min(delay, self.maximum)


def _service_list(body: bytes) -> dict[str, dict] | None:
    """The services of a ``/v1/services/`` answer keyed by hostname; None if unreadable."""
    try:
        return {s["hostname"]: s for s in json.loads(body).get("services") or []}
    except (ValueError, KeyError, TypeError, AttributeError):
        log.warning("unreadable service list: %r", body[:200])
        return None


class Unavailable(Exception):
    """No HTTP answer came back through the egress gateway: it would answer 503."""


class PeerWatcher(threading.Thread):
    """The outbound discovery watch for one ServiceMeshPeer (restarted on config changes)."""

    def __init__(self, mesh: Mesh, smp: dict, config: PeerConfig, status: PeerStatus):
        super().__init__(name=f"watch {config.name}", daemon=True)
        self.mesh = mesh
        self.smp = smp
        self.config = config
        self.status = status
        self._kick = threading.Event()
        self._stopped = False
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._resync_error = ""
        self._sync_failing_since: float | None = None
        self._watch_error = ""
        # What the peer exports to us, keyed by hostname (kept across reconnects, as the registry).
        self._offered: dict[str, dict] = {}

    def offered(self) -> list[dict]:
        """The peer's exported services: ``{"exportedName", "name", "namespace"}``."""
        with self._lock:
            return [
                {"exportedName": h, "name": s.get("name", ""), "namespace": s.get("namespace", "")}
                for h, s in sorted(self._offered.items())
            ]

    def _offered_changed(self, config: PeerConfig, how: str) -> None:
        log.info(
            "imports from %s (%s): %s", config.name, how, ", ".join(sorted(self._offered)) or "none"
        )
        self.mesh.wake.set()  # the reconcile loop recomputes the ImportedServiceSet status

    # -- control from the reconcile loop ----------------------------------------------------
    def update(self, smp: dict, config: PeerConfig) -> None:
        self.smp = smp
        if config != self.config:
            self.config = config
            self.restart()

    def restart(self) -> None:
        """Drop the current connection and dial again at once (trust or config changed)."""
        self._kick.set()
        with self._lock:
            if self._sock is not None:
                gw.hard_close(self._sock)

    def stop(self) -> None:
        self._stopped = True
        self.restart()

    # -- the loop -----------------------------------------------------------------------------
    def run(self) -> None:
        backoff = Backoff(self.mesh.backoff_initial, self.mesh.backoff_max)
        while not self._stopped:
            self._kick.clear()
            config = self.config
            with self.mesh.writer.lock:
                self.status.watch_initiated()
            try:
                result, was_connected = self._watch(config)
            except Exception:  # noqa: BLE001 - never lose the watcher; report and retry
                log.exception("watch %s failed unexpectedly", config.name)
                result, was_connected = UNAVAILABLE, False
            if self._stopped:
                return
            with self.mesh.writer.lock:
                self.status.terminated(result)
            self.mesh.writer.flush(config.name)
            if result != STREAM_ENDED:
                self.mesh.writer.event(
                    self.smp, "Warning", "WatchFailed", f"watch failed: {result}"
                )
            if was_connected:
                backoff.reset()
            if not self._kick.is_set():
                self._kick.wait(backoff.next())

    def _watch(self, config: PeerConfig) -> tuple[str, bool]:
        """One watch attempt: (lastDisconnectStatus, whether the stream had been established)."""
        if not self.mesh.has_egress(config.egress):
            host = f"{config.egress}.{self.mesh.namespace}.svc.cluster.local"
            return (
                f'Get "http://{host}:8188/v1/watch": dial tcp: lookup {host} on '
                f"172.30.0.10:53: no such host"
            ), False
        try:
            sock, status, rest = self._request(config, "/v1/watch")
        except Unavailable as e:
            if str(e) != self._watch_error:
                log.info("watch %s: no answer through %s: %s", config.name, config.egress, e)
                self._watch_error = str(e)
            return UNAVAILABLE, False
        self._watch_error = ""
        if status != "200 OK":
            gw.hard_close(sock)
            return status, False
        with self._lock:
            self._sock = sock
        try:
            with self.mesh.writer.lock:
                self.status.watching()
            self.mesh.writer.flush(config.name)
            self.mesh.writer.event(
                self.smp,
                "Normal",
                "WatchEstablished",
                f"watch established to {sock.getpeername()[0]}:"
                f"{config.discovery_port} (mesh {config.name})",
            )
            self._follow(config, sock, rest)
        except (OSError, ssl.SSLError):
            pass  # closed under us: restart or shutdown
        finally:
            with self._lock:
                self._sock = None
            gw.hard_close(sock)
        return STREAM_ENDED, True

    def _follow(self, config: PeerConfig, sock: ssl.SSLSocket, buf: bytes) -> None:
        """Read watch events until the stream ends; fetch the service list every resync period
        (a failed fetch is retried every second for up to 2 min first, as istiod does)."""
        next_sync = self._next_sync(self._full_sync(config))
        while not self._kick.is_set():
            resync = False
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                if line.strip():
                    with self.mesh.writer.lock:
                        self.status.event_received()
                    resync |= self._event(config, line)
            if resync:  # our copy differs from the exporter's: fetch the whole list now
                next_sync = self._next_sync(self._full_sync(config))
            sock.settimeout(max(0.05, next_sync - time.monotonic()))
            try:
                data = sock.recv(65536)
                if not data:
                    return
                buf += data
            except TimeoutError:
                pass
            except (OSError, ssl.SSLError):
                return
            if time.monotonic() >= next_sync:
                next_sync = self._next_sync(self._full_sync(config))

    def _next_sync(self, synced: bool) -> float:
        """When to fetch the service list again: after a resync period, or after a failed fetch
        in FULL_SYNC_RETRY_SECONDS while failures last less than FULL_SYNC_RETRY_FOR."""
        now = time.monotonic()
        if synced:
            self._sync_failing_since = None
        elif self._sync_failing_since is None:
            self._sync_failing_since = now
        if synced or now - self._sync_failing_since >= FULL_SYNC_RETRY_FOR:
            self._sync_failing_since = None
            return now + self.mesh.resync_seconds
        return now + FULL_SYNC_RETRY_SECONDS

    def _event(self, config: PeerConfig, line: bytes) -> bool:
        """Apply one watch event; True when a full sync is needed (checksum mismatch)."""
        try:
            event = json.loads(line)
        except ValueError:
            log.warning("watch %s: unreadable event %r", config.name, line[:200])
            return True
        with self._lock:
            changed = services.apply_event(self._offered, event)
            mine = services.checksum(self._offered.values())
        if changed:
            self._offered_changed(config, f"{event.get('action')} event")
        return event.get("checksum") != mine

    def _full_sync(self, config: PeerConfig) -> bool:
        """Fetch the peer's whole service list; whether it was fetched."""
        offered = None
        try:
            sock, status, body = self._request(config, "/v1/services/")
            try:
                if status == "200 OK":
                    sock.settimeout(CONNECT_TIMEOUT)
                    while data := sock.recv(65536):
                        body += data
                    offered = _service_list(body)
            finally:
                gw.hard_close(sock)
        except (Unavailable, OSError, ssl.SSLError):
            status = UNAVAILABLE
        if status != "200 OK" or offered is None:
            if status != self._resync_error:
                log.warning("resync failed: %s: %s", config.name, status)
            self._resync_error = status
            return False
        self._resync_error = ""
        with self._lock:
            changed, self._offered = offered != self._offered, offered
        if changed:
            self._offered_changed(config, "full sync")
        with self.mesh.writer.lock:
            self.status.full_sync()
        self.mesh.writer.flush(config.name)
        return True

    def _request(self, config: PeerConfig, target: str):
        """GET ``target`` from the peer's ingress gateway; (socket, status, body start)."""
        ctx = self.mesh.egress_context(config)
        errors = []
        for address in config.addresses or ():
            raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                raw.settimeout(CONNECT_TIMEOUT)
                raw.bind((self.mesh.pod_ip, 0))  # the peer sees our "istiod pod IP" as source
                raw.connect((address, config.discovery_port))
                sock = ctx.wrap_socket(raw)
            except (OSError, ssl.SSLError) as e:
                raw.close()
                errors.append(f"{address}:{config.discovery_port}: {e}")
                continue
            try:
                spiffe = peer_spiffe_id(sock.getpeercert(binary_form=True))
                if trust_domain_of(spiffe) != config.trust_domain:
                    raise Unavailable(
                        f"peer identity {spiffe} is not in trust domain {config.trust_domain!r}"
                    )
                host = f"discovery.{self.mesh.namespace}.svc.{config.name}.local"
                sock.sendall(
                    f"GET {target} HTTP/1.1\r\nHost: {host}\r\ndiscovery-service: {host}\r\n"
                    f"remote: {config.remote_hash}\r\nAccept: application/json\r\n"
                    f"Connection: close\r\n\r\n".encode()
                )
                line, _headers, rest = gw.read_head(sock)
                return sock, line.split(" ", 1)[1], rest
            except (Unavailable, OSError, ssl.SSLError, IndexError) as e:
                gw.hard_close(sock)
                errors.append(f"{address}:{config.discovery_port}: {e}")
        raise Unavailable("; ".join(errors) or "no remote addresses")


@dataclass(frozen=True)
class GatewayPolicy:
    """How an ingress gateway treats discovery callers right now.

    mode ``none``: no ServiceMeshPeer uses the gateway (answers 400);
    ``closed``: the peer using it has no loaded root (no route: the connection is dropped);
    ``mtls``: clients must chain to ``roots`` in ``trust_domain``, and be ``client_id`` (else 403).
    """

    mode: str
    peer: str = ""
    roots: str = ""
    trust_domain: str = ""
    client_id: str = ""


NO_PEER = GatewayPolicy("none")


class DiscoveryServer:
    """Inbound: mutual TLS on the ingress gateway, then istiod's /v1/watch and /v1/services/."""

    def __init__(self, mesh: Mesh):
        self.mesh = mesh
        self._rejections: dict[tuple[str, str], str] = {}

    def _rejected(self, gateway: str, source: str, reason: str) -> None:
        """Log a refused caller once per distinct reason (callers retry every few seconds)."""
        if self._rejections.get((gateway, source)) != reason:
            self._rejections[(gateway, source)] = reason
            log.info("gateway %s: refused %s: %s", gateway, source, reason)

    def handle(self, gateway: str, port: int, conn: gw.Connection) -> None:
        policy = self.mesh.gateway_policy(gateway)
        if policy.mode == "closed" or (policy.mode == "none" and port == gw.SERVICE_PORT):
            return
        source = conn.sock.getpeername()[0]
        conn.sock.settimeout(10)
        try:
            tls = self.mesh.ingress_context(gateway, policy).wrap_socket(
                conn.sock, server_side=True
            )
        except (OSError, ssl.SSLError) as e:
            self._rejected(gateway, source, f"TLS handshake failed: {e}")
            return
        conn.sock = tls
        if self.mesh.gateway_policy(gateway) != policy:
            return  # trust changed while we were handshaking
        authorized = False
        if policy.mode == "mtls":
            spiffe = peer_spiffe_id(tls.getpeercert(binary_form=True))
            if trust_domain_of(spiffe) != policy.trust_domain:
                # Envoy's SPIFFE validator picks the bundle by the caller's trust domain.
                self._rejected(
                    gateway, source, f"{spiffe} is not in trust domain {policy.trust_domain}"
                )
                return
            authorized = spiffe == f"spiffe://{policy.client_id}"
        if port == gw.SERVICE_PORT:
            if authorized:
                self._echo(tls)
            return
        try:
            line, headers, _rest = gw.read_head(tls)
        except (OSError, ssl.SSLError, ConnectionError):
            return
        parts = line.split(" ")
        target = parts[1].split("?", 1)[0] if len(parts) > 1 else ""
        source = headers.get("x-forwarded-for", "").split(",")[0].strip() or source
        if policy.mode == "none":
            self._respond(tls, "400 Bad Request", f"no ServiceMeshPeer uses gateway {gateway}\n")
        elif not authorized:
            self._rejected(gateway, source, f"not {policy.client_id}: 403")
            self._respond(tls, "403 Forbidden", "RBAC: access denied")
        elif target == "/v1/watch":
            self._rejections.pop((gateway, source), None)
            self._watch(tls, policy, source)
        elif target in ("/v1/services/", "/v1/services"):
            self._services(tls, gateway, policy, source)
        else:
            self._respond(tls, "404 Not Found", "404 page not found\n")

    @staticmethod
    def _respond(
        sock: ssl.SSLSocket, status: str, body: str, content_type: str = "text/plain; charset=utf-8"
    ) -> None:
        data = body.encode()
        try:
            sock.sendall(
                f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode()
                + data
            )
        except (OSError, ssl.SSLError):
            pass

    def _watch(self, sock: ssl.SSLSocket, policy: GatewayPolicy, source: str) -> None:
        status = self.mesh.writer.peers.get(policy.peer)
        try:
            sock.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Cache-Control: no-cache\r\nConnection: close\r\n\r\n"
            )
        except (OSError, ssl.SSLError):
            return
        if status is None:
            return
        with self.mesh.writer.lock:
            status.remote_accepted(source)
        self.mesh.writer.flush(policy.peer)
        log.info("remote watch from %s accepted (mesh %s)", source, policy.peer)
        feed = self.mesh.sharing.feed(policy.peer)
        pipe = feed.subscribe()
        # The caller fetches /v1/services/ right after connecting: send changes from here on.
        sent = feed.snapshot()
        try:
            sock.settimeout(5)
            while True:
                readable = select.select([sock, pipe[0]], [], [])[0]
                if sock in readable:
                    try:
                        if not sock.recv(4096):
                            return  # the caller closed the stream
                    except TimeoutError:
                        pass
                if pipe[0] in readable:
                    os.read(pipe[0], 4096)
                    current = feed.snapshot()
                    events = services.watch_events(sent, current)
                    sock.sendall(b"".join(json.dumps(e).encode() + b"\n" for e in events))
                    sent = current
                    if events:
                        with self.mesh.writer.lock:
                            status.remote_event(source)
                        self.mesh.writer.flush(policy.peer)
        except (OSError, ssl.SSLError, ValueError):
            pass  # closed under us (trust changed, gateway down, shutdown)
        finally:
            feed.unsubscribe(pipe)
            with self.mesh.writer.lock:
                status.remote_closed(source)
            self.mesh.writer.flush(policy.peer)
            log.info("remote watch from %s closed (mesh %s)", source, policy.peer)

    def _services(
        self, sock: ssl.SSLSocket, gateway: str, policy: GatewayPolicy, source: str
    ) -> None:
        exports = self.mesh.sharing.feed(policy.peer).snapshot()
        body = json.dumps(
            {
                "networkGatewayEndpoints": [
                    {"address": self.mesh.ingress_address(gateway), "port": gw.SERVICE_PORT}
                ],
                "services": [s for _h, s in sorted(exports.items())],
                "checksum": services.checksum(exports.values()),
            }
        )
        self._respond(sock, "200 OK", body, "application/json")
        status = self.mesh.writer.peers.get(policy.peer)
        if status is not None:
            with self.mesh.writer.lock:
                status.remote_full_sync(source)
            self.mesh.writer.flush(policy.peer)

    @staticmethod
    def _echo(sock: ssl.SSLSocket) -> None:
        """Service traffic: echo what the caller sends (a stand-in for an exported service)."""
        try:
            sock.settimeout(None)
            while data := sock.recv(65536):
                sock.sendall(data)
        except (OSError, ssl.SSLError):
            pass
