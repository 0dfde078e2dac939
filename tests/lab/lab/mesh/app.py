"""One simulated mesh control plane: operator + istiod + federation gateways in one process.

Threads: one informer per watched collection (SMCP, ServiceMeshPeers, ConfigMaps, Services;
ExportedServiceSets, ImportedServiceSets, the member roll, namespaces, Services of all namespaces),
the reconcile loop (this module), the status writer, one outbound watcher per peer, accept
threads per ingress listener and one thread per inbound connection, and the control channel.
Everything blocks on sockets or events, so an idle mesh costs (almost) no CPU.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import ssl
import threading
import time
from pathlib import Path

from lab import kubeapi
from lab.kubeapi import CORE, FEDERATION, MAISTRA, ApiError, KubeApi
from lab.mesh import operator
from lab.mesh.control import ControlServer
from lab.mesh.discovery import (
    NO_PEER,
    DiscoveryServer,
    GatewayPolicy,
    PeerConfig,
    PeerWatcher,
    RootCertError,
    peer_config,
)
from lab.mesh.gateway import Listeners
from lab.mesh.informer import Informer
from lab.mesh.istiod_ca import MeshCA, WorkloadCert, client_context, server_context, spiffe_id
from lab.mesh.peer_status_writer import StatusWriter, now_rfc3339
from lab.mesh.service_sharing import ServiceSharing

log = logging.getLogger("mesh")


class Mesh:
    def __init__(self, args):
        self.mesh: str = args.mesh
        self.namespace: str = args.namespace
        self.trust_domain: str = args.trust_domain
        self.peers: list[str] = [p for p in (args.peers or "").split(",") if p]
        self.lb_prefix: str = args.lb_prefix
        self.pod_ip: str = args.pod_ip
        self.state_dir = Path(args.state_dir).resolve()
        self.resync_seconds: float = args.resync_seconds
        self.backoff_initial: float = args.backoff_initial_seconds
        self.backoff_max: float = args.backoff_max_seconds
        nonce = f"{self.mesh}:{os.getpid()}:{time.time_ns()}"
        # A restarted istiod is a new pod, as after a rollout; its entry replaces the old one.
        self.pod = f"istiod-{self.mesh}-{hashlib.sha256(nonce.encode()).hexdigest()[:10]}"

        self.api = KubeApi.from_kubeconfig(args.kubeconfig, args.context)
        self.writer = StatusWriter(self.api, self.namespace, self.pod)
        self.listeners = Listeners(DiscoveryServer(self).handle)
        self.lock = threading.RLock()  # reconcile loop vs control channel
        self.wake = threading.Event()
        self.stopping = threading.Event()

        self.ca: MeshCA | None = None
        self.ingress_ips: dict[str, str] = {}
        self.watchers: dict[str, PeerWatcher] = {}
        self.configs: dict[str, PeerConfig] = {}
        self.policies: dict[str, GatewayPolicy] = {}
        # Peer -> ((uid, generation) of its ServiceMeshPeer, {CA ConfigMap name: object as read}).
        self._roots: dict[str, tuple[tuple, dict]] = {}
        self._roots_read = 0.0  # monotonic time of the last periodic re-read of the peer roots
        self._egress_seen: dict[str, bool] = {}
        self._accounts: set[str] = set()
        self._smcp_status_written: tuple = ()
        self._lb_written: dict[str, tuple] = {}
        self._istiod_ready_written = False
        self._gateway_ready_written: dict[str, bool | None] = {}
        self._contexts: dict[tuple, ssl.SSLContext] = {}
        self._workloads: dict[str, WorkloadCert] = {}
        self._down_file = self.state_dir / "gateways-down.json"
        self.gateways_down: set[str] = set(self._read_json(self._down_file, []))
        self.lb_pool = operator.LoadBalancerPool(self.lb_prefix, self.state_dir / "lb.json")

        ns = self.namespace
        self.smcps = Informer(
            self.api, kubeapi.path(MAISTRA, "servicemeshcontrolplanes", ns), self._changed
        )
        self.smps = Informer(
            self.api, kubeapi.path(FEDERATION, "servicemeshpeers", ns), self._smp_changed
        )
        self.configmaps = Informer(self.api, kubeapi.path(CORE, "configmaps", ns), self._changed)
        self.services = Informer(self.api, kubeapi.path(CORE, "services", ns), self._changed)
        self.sharing = ServiceSharing(self)

    @staticmethod
    def _read_json(path: Path, default):
        try:
            return json.loads(path.read_text())
        except (FileNotFoundError, ValueError):
            return default

    # -- informer callbacks (must not block) ---------------------------------------------------
    def _changed(self, _kind: str, _obj: dict, _old: dict | None) -> None:
        self.wake.set()

    def _smp_changed(self, kind: str, obj: dict, old: dict | None) -> None:
        # Our own status writes come back as MODIFIED without a new generation: nothing to do.
        if (
            kind != "MODIFIED"
            or not old
            or (obj["metadata"].get("generation") != old["metadata"].get("generation"))
        ):
            self.wake.set()

    # -- main ----------------------------------------------------------------------------------
    def run(self) -> int:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        ready = self.state_dir / "ready"
        ready.unlink(missing_ok=True)
        signal.signal(signal.SIGTERM, self._terminate)
        signal.signal(signal.SIGINT, self._terminate)
        log.info(
            "mesh %s starting as %s (namespace %s, trust domain %s, peers %s)",
            self.mesh,
            self.pod,
            self.namespace,
            self.trust_domain,
            ",".join(self.peers) or "-",
        )
        control = ControlServer(self)
        control.start()
        if not self._retry("bootstrap", self._bootstrap):
            return self._exit()
        self.writer.start()
        informers = (self.smcps, self.smps, self.configmaps, self.services, *self.sharing.informers)
        for informer in informers:
            informer.start()
        for informer in informers:
            while not informer.synced.wait(0.5):
                if self.stopping.is_set():
                    return self._exit()
        if not self._retry("initial reconcile", self._initial_reconcile):
            return self._exit()
        ready.write_text(
            json.dumps({"pod": self.pod, "pid": os.getpid(), "gateways": self.ingress_ips}) + "\n"
        )
        log.info(
            "mesh %s ready: %s",
            self.mesh,
            ", ".join(f"{g}={ip}" for g, ip in sorted(self.ingress_ips.items())) or "no ingress",
        )
        while not self.stopping.is_set():
            self.wake.wait(self.resync_seconds)
            self.wake.clear()
            if self.stopping.is_set():
                break
            try:
                with self.lock:
                    self.reconcile()
            except ApiError as e:
                log.warning("reconcile: %s", e)
            except Exception:  # noqa: BLE001 - keep serving; the next resync retries
                log.exception("reconcile failed")
        return self._exit()

    def _terminate(self, signum, _frame) -> None:
        log.info("mesh %s: signal %d, shutting down", self.mesh, signum)
        self.stopping.set()
        self.wake.set()

    def _exit(self) -> int:
        self.listeners.close_all()
        (self.state_dir / "ready").unlink(missing_ok=True)
        logging.shutdown()
        # Daemon threads may sit in blocking reads (apiserver watches): leave without joining.
        os._exit(0)

    def _retry(self, what: str, step) -> bool:
        last = ""
        while not self.stopping.is_set():
            try:
                step()
                return True
            except (ApiError, OSError) as e:
                if str(e) != last:
                    log.warning("%s: %s (retrying)", what, e)
                    last = str(e)
            self.stopping.wait(1.0)
        return False

    def _bootstrap(self) -> None:
        operator.ensure_namespace(self.api, self.namespace)
        self.ca = operator.load_or_create_ca(self.api, self.namespace, self.trust_domain, self.mesh)
        operator.publish_root(self.api, self.namespace, self.ca)
        operator.ensure_smcp(self.api, self.namespace, self.trust_domain, self.peers)
        operator.ensure_istiod(self.api, self.namespace)
        operator.ensure_workloads(self.api, self.mesh, self.namespace)

    def _initial_reconcile(self) -> None:
        with self.lock:
            self.reconcile()
        missing = [g for g in self._ingress_gateways() if g not in self.ingress_ips]
        if missing:
            raise ApiError(0, f"no load balancer address yet for {', '.join(missing)}")
        closed = set(self.ingress_ips) - self.gateways_down - set(self.listeners.addresses())
        if closed:
            raise OSError(f"listeners not up for {', '.join(sorted(closed))}")

    def _ingress_gateways(self) -> list[str]:
        gateways = operator.desired_gateways(self.smcps.get(operator.SMCP_NAME))
        return [
            g.name
            for g in gateways.values()
            if g.kind == "ingress" and g.service_type == "LoadBalancer"
        ]

    # -- reconcile -----------------------------------------------------------------------------
    def reconcile(self) -> None:
        smcp = self.smcps.get(operator.SMCP_NAME)
        gateways = operator.desired_gateways(smcp)
        published = (self.configmaps.get(operator.ROOT_CONFIGMAP) or {}).get("data") or {}
        if self.ca is not None and published.get(operator.ROOT_KEY) != self.ca.cert_pem:
            operator.publish_root(self.api, self.namespace, self.ca)  # someone changed it
        self.ingress_ips = operator.reconcile_gateways(
            self.api,
            self.namespace,
            gateways,
            self.services,
            self._accounts,
            self.lb_pool,
            self._lb_written,
        )
        if smcp is not None:
            seen = (smcp["metadata"]["uid"], smcp["metadata"].get("generation"))
            if seen != self._smcp_status_written and operator.write_smcp_status(
                self.api, smcp, ["istiod", *gateways], now_rfc3339()
            ):
                self._smcp_status_written = seen
        operator.reconcile_gateway_deployments(
            self.api, self.namespace, gateways, self.gateways_down, self._gateway_ready_written
        )
        if not self._istiod_ready_written:  # this process is istiod: its Deployment is ready
            operator.write_deployment_status(self.api, self.namespace, operator.ISTIOD, True)
            self._istiod_ready_written = True
        for name, ip in self.ingress_ips.items():
            if name not in self.gateways_down:
                try:
                    self.listeners.open(name, ip)
                except OSError as e:
                    log.warning("gateway %s cannot listen on %s: %s", name, ip, e)
        for name in self.listeners.addresses():
            if name not in self.ingress_ips or name in self.gateways_down:
                self.listeners.close(name)
        self.reconcile_peers()
        self.sharing.reconcile({o["metadata"]["name"]: o for o in self.smps.items()})
        self.writer.prune()

    def reconcile_peers(self) -> None:
        smps = {o["metadata"]["name"]: o for o in self.smps.items()}
        resync = time.monotonic() - self._roots_read >= self.resync_seconds
        if resync:
            self._roots_read = time.monotonic()
        for name, smp in sorted(smps.items()):
            uid = smp["metadata"]["uid"]
            watcher = self.watchers.get(name)
            if watcher and watcher.config.uid != uid:  # deleted and recreated
                self._forget(name)
                watcher = None
            try:
                config = peer_config(
                    smp, self.namespace, self._root_source(name, smp, resync), self.trust_domain
                )
            except RootCertError as e:
                # As istiod: reconcile stops here; a peer never loaded gets no status at all.
                self.writer.event(smp, "Warning", "RootCertError", str(e))
                continue
            status = self.writer.add_peer(smp)
            self.configs[name] = config
            if watcher is None:
                log.info(
                    "peer %s added: %s via %s",
                    name,
                    ",".join(config.addresses) or "-",
                    config.egress or "-",
                )
                watcher = PeerWatcher(self, smp, config, status)
                self.watchers[name] = watcher
                self._egress_seen[name] = self.has_egress(config.egress)
                watcher.start()
            else:
                watcher.update(smp, config)
                present = self.has_egress(config.egress)
                if self._egress_seen.get(name) != present:
                    self._egress_seen[name] = present
                    watcher.restart()
        for name in set(self.watchers) - set(smps):
            log.info("peer %s removed", name)
            self._forget(name)
        policies = {g: self._policy(g, smps) for g in self.ingress_ips}
        for gateway in set(policies) | set(self.policies):
            if policies.get(gateway) != self.policies.get(gateway):
                self.listeners.drop(gateway)
        self.policies = policies

    def _root_source(self, name: str, smp: dict, resync: bool) -> dict:
        """The peer's CA ConfigMap as istiod last read it (fact sheet §8): istiod does not watch
        ConfigMaps; it reads a peer's root when the ServiceMeshPeer is added or changed and at
        each resync, so a changed root takes effect at the next resync, not at once. A read
        that found no usable root is not kept (istiod retries a failed peer soon)."""
        key = (smp["metadata"]["uid"], smp["metadata"].get("generation"))
        held = self._roots.get(name)
        if resync or held is None or held[0] != key:
            chain = ((smp.get("spec") or {}).get("security") or {}).get("certificateChain") or {}
            cm_name = chain.get("name") or f"{name}-ca-root-cert"
            configmap = self.configmaps.get(cm_name)
            held = (key, {cm_name: configmap})
            if ((configmap or {}).get("data") or {}).get(operator.ROOT_KEY):
                self._roots[name] = held
            else:
                self._roots.pop(name, None)
        return held[1]

    def _forget(self, name: str) -> None:
        self._roots.pop(name, None)
        watcher = self.watchers.pop(name, None)
        if watcher:
            watcher.stop()
        self.configs.pop(name, None)
        self._egress_seen.pop(name, None)
        self.writer.remove_peer(name)

    def _policy(self, gateway: str, smps: dict[str, dict]) -> GatewayPolicy:
        users = [
            n
            for n, s in sorted(smps.items())
            if (((s.get("spec") or {}).get("gateways") or {}).get("ingress") or {}).get("name")
            == gateway
        ]
        if not users:
            return NO_PEER
        config = self.configs.get(users[0])
        if config is None:
            return GatewayPolicy("closed", peer=users[0])
        assert self.ca is not None
        return GatewayPolicy(
            "mtls",
            peer=config.name,
            roots=config.peer_root or self.ca.cert_pem,
            trust_domain=config.trust_domain if config.peer_root else self.trust_domain,
            client_id=config.client_id,
        )

    # -- used by discovery threads -------------------------------------------------------------
    def has_egress(self, name: str) -> bool:
        """Would ``<name>.<ns>.svc.cluster.local`` resolve? (a Service of that name exists)"""
        return bool(name) and self.services.get(name) is not None

    def gateway_policy(self, gateway: str) -> GatewayPolicy:
        return self.policies.get(gateway, NO_PEER)

    def ingress_address(self, gateway: str) -> str:
        return self.ingress_ips.get(gateway, "")

    def _workload(self, service_account: str) -> WorkloadCert:
        with self.lock:
            assert self.ca is not None
            key = f"{self.ca.serial}/{service_account}"
            if key not in self._workloads:
                self._workloads[key] = self.ca.issue(
                    spiffe_id(self.trust_domain, self.namespace, service_account)
                )
            return self._workloads[key]

    def ingress_context(self, gateway: str, policy: GatewayPolicy) -> ssl.SSLContext:
        with self.lock:
            key = (
                "ingress",
                gateway,
                self.ca.serial,
                policy.roots if policy.mode == "mtls" else "",
            )
            if key not in self._contexts:
                self._contexts[key] = server_context(
                    self._workload(f"{gateway}-service-account"),
                    policy.roots if policy.mode == "mtls" else None,
                )
            return self._contexts[key]

    def egress_context(self, config: PeerConfig) -> ssl.SSLContext:
        with self.lock:
            roots = config.peer_root or self.ca.cert_pem
            key = ("egress", config.egress, self.ca.serial, roots)
            if key not in self._contexts:
                self._contexts[key] = client_context(
                    self._workload(f"{config.egress}-service-account"), roots
                )
            return self._contexts[key]

    # -- faults (called by the control channel) ------------------------------------------------
    def rotate_ca(self) -> str:
        with self.lock:
            ca = MeshCA.generate(self.trust_domain, self.mesh)
            operator.replace_ca(self.api, self.namespace, ca)
            operator.publish_root(self.api, self.namespace, ca)
            self.ca = ca
            self._contexts.clear()
            self._workloads.clear()
            self.reconcile_peers()
            # Gateways and istiod restart with certificates from the new root.
            self.listeners.drop()
            for watcher in self.watchers.values():
                watcher.restart()
        log.info("mesh %s: root CA rotated (serial %x)", self.mesh, ca.serial)
        return f"new root CA serial {ca.serial:x}"

    def gateway_down(self, gateway: str) -> str:
        with self.lock:
            self._known_ingress(gateway)
            self.gateways_down.add(gateway)
            self._down_file.write_text(json.dumps(sorted(self.gateways_down)))
            self.listeners.close(gateway)
            self._write_gateway_ready(gateway, False)
        return f"gateway {gateway} down"

    def gateway_up(self, gateway: str) -> str:
        with self.lock:
            self._known_ingress(gateway)
            self.gateways_down.discard(gateway)
            self._down_file.write_text(json.dumps(sorted(self.gateways_down)))
            self.listeners.open(gateway, self.ingress_ips[gateway])
            self._write_gateway_ready(gateway, True)
        return f"gateway {gateway} up on {self.ingress_ips[gateway]}"

    def _write_gateway_ready(self, gateway: str, ready: bool) -> None:
        operator.write_deployment_status(self.api, self.namespace, gateway, ready)
        self._gateway_ready_written[gateway] = ready

    def _known_ingress(self, gateway: str) -> None:
        if gateway not in self.ingress_ips:
            known = ", ".join(sorted(self.ingress_ips)) or "none"
            raise ValueError(
                f"mesh {self.mesh} has no ingress gateway {gateway!r} (known: {known})"
            )
