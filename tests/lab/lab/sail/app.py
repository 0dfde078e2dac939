"""One lab cluster's OSSM 3 operator side in one process: the Sail operator and, per ready
IstioRevision, istiod's Gateway deployment controller.

Threads: one informer per watched collection (Istios, IstioRevisions, IstioCNIs, namespaces,
Deployments and Gateways of all namespaces, GatewayClasses) and the reconcile loop. Everything
blocks on watches; the loop wakes on a change, or when an inactive revision's grace period ends.

No pod runs (the lab kubelet only serves exec): the process writes the status the Deployment /
DaemonSet controllers would show for istiod, istio-cni-node and gateway Deployments (ready unless
a fault took them down, see ``down.json``, written by ``python -m lab fault
istiod3-down|eastwest-down``).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from pathlib import Path

from lab.kubeapi import APPS, CORE, ApiError, KubeApi, path
from lab.mesh.informer import Informer, namespaced_key
from lab.mesh.operator import deployment_status
from lab.sail import gateways as gw
from lab.sail import operator as op

log = logging.getLogger("sail")

SAIL = "/apis/sailoperator.io/v1"
GATEWAY_API = "/apis/gateway.networking.k8s.io/v1"
IDLE_WAKE = 600.0  # nothing is polled; this only bounds a missed wake-up


def read_down(state_dir: Path) -> dict[str, list[str]]:
    try:
        return json.loads((state_dir / "down.json").read_text())
    except (FileNotFoundError, ValueError):
        return {}


class Sail:
    def __init__(self, args):
        self.cluster = args.cluster
        self.state_dir = Path(args.state_dir).resolve()
        self.wait_istios = [n for n in args.wait_istios.split(",") if n]
        self.meshes: dict[str, tuple[str, str]] = {}  # namespace -> (mesh, lb prefix)
        for entry in filter(None, args.meshes.split(",")):
            mesh, namespace, prefix = entry.split("=")
            self.meshes[namespace] = (mesh, prefix)
        self.api = KubeApi.from_kubeconfig(args.kubeconfig, args.context)
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.pools: dict[str, gw.AddressPool] = {}
        self._written: dict[str, tuple] = {}  # Deployment -> (uid, generation, ready) written
        self._rendered: set[str] = set()  # uids of revisions whose istiod objects were created
        self._pending_istio_status: list[tuple[dict, str | None]] = []

        def informer(url, key=None):
            return Informer(self.api, url, self._changed, key)

        self.istios = informer(path(SAIL, "istios"))
        self.revisions = informer(path(SAIL, "istiorevisions"))
        self.cnis = informer(path(SAIL, "istiocnis"))
        self.namespaces = informer(path(CORE, "namespaces"))
        self.deployments = informer(path(APPS, "deployments"), namespaced_key)
        self.gateways = informer(path(GATEWAY_API, "gateways"), namespaced_key)
        self.classes = informer(path(GATEWAY_API, "gatewayclasses"))
        self.informers = [self.istios, self.revisions, self.cnis, self.namespaces,
                          self.deployments, self.gateways, self.classes]

    def _changed(self, _kind, _obj, _old) -> None:
        self.wake.set()

    # -- main ------------------------------------------------------------------------------
    def run(self) -> int:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        ready = self.state_dir / "ready"
        ready.unlink(missing_ok=True)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: (self.stopping.set(), self.wake.set()))
        log.info("OSSM 3 operator of cluster %s starting (meshes %s)", self.cluster,
                 ", ".join(f"{m}:{ns}" for ns, (m, _p) in self.meshes.items()))
        for informer in self.informers:
            informer.start()
        for informer in self.informers:
            while not informer.synced.wait(0.5):
                if self.stopping.is_set():
                    return self._exit()
        timeout, retry, last = 0.0, 0.5, ""
        while not self.stopping.is_set():
            self.wake.wait(timeout)
            self.wake.clear()
            if self.stopping.is_set():
                break
            try:
                timeout, retry = self.reconcile(), 0.5
            except Exception as e:  # noqa: BLE001 - keep serving; retried with back-off
                if str(e) != last:
                    log.warning("reconcile: %s", e, exc_info=not isinstance(e, ApiError))
                last, retry = str(e), min(retry * 2, 8.0)  # an apiserver back soon is seen soon
                timeout = retry
            if not ready.exists() and self._istios_ready():
                ready.write_text(json.dumps({"pid": os.getpid()}) + "\n")
                log.info("OSSM 3 operator of cluster %s ready", self.cluster)
        return self._exit()

    def _exit(self) -> int:
        (self.state_dir / "ready").unlink(missing_ok=True)
        logging.shutdown()
        os._exit(0)

    def _istios_ready(self) -> bool:
        return all(op.get_condition(self.istios.get(n), "Ready")["status"] == "True"
                   for n in self.wait_istios)

    def reconcile(self) -> float:
        """One pass over everything; returns how long to sleep at most (pruning deadlines)."""
        now = op.now_rfc3339()
        down = read_down(self.state_dir)
        self._gateway_classes(now)
        self._cnis(now)
        revisions, next_prune = self._istios(now)
        self._revisions(revisions, down, now)
        self._gateways(down, now)
        return max(0.5, min(next_prune - time.time(), IDLE_WAKE)) if next_prune else IDLE_WAKE

    # -- helpers -----------------------------------------------------------------------------
    def _create(self, url: str, obj: dict) -> dict | None:
        try:
            return self.api.create(url, obj)
        except ApiError as e:
            if e.status != 409:
                raise
            return None

    def _status(self, url: str, current: dict | None, desired: dict) -> None:
        if (current or {}) != desired:
            self.api.patch(f"{url}/status", {"status": desired})

    def _deployment_ready(self, namespace: str, name: str, ready: bool) -> dict | None:
        """Write the status the Deployment controller would show when it differs (the caller
        creates the Deployment). The informer may lag behind a write: what was written last is
        remembered so it is not written twice."""
        deployment = self.deployments.get(f"{namespace}/{name}") or self.api.get(
            path(APPS, "deployments", namespace, name))
        if deployment is None:
            return None
        desired = deployment_status(deployment, ready, op.now_rfc3339())
        shown = deployment.get("status") or {}
        key = f"{namespace}/{name}"
        seen = (deployment["metadata"]["uid"], desired["observedGeneration"], ready)
        counts = ("readyReplicas", "replicas", "observedGeneration")
        if [shown.get(k) for k in counts] == [desired.get(k) for k in counts] \
                or self._written.get(key) == seen:
            counted = {k: v for k, v in desired.items() if k != "conditions"}
            return {**deployment, "status": {**shown, **counted}}
        deployment = self.api.patch(path(APPS, "deployments", namespace, name, "status"),
                                    {"status": desired})
        self._written[key] = seen
        log.info("Deployment %s/%s %s", namespace, name, "ready" if ready else "not ready")
        return deployment

    # -- GatewayClasses (istiod's class controller) ------------------------------------------
    def _gateway_classes(self, now: str) -> None:
        for gc in self.classes.items():
            if gc["spec"].get("controllerName") not in gw.CLASSES.values():
                continue
            desired = gw.class_status(gc, now)
            if not gw.same(gc.get("status"), desired):
                self.api.patch(path(GATEWAY_API, "gatewayclasses", name=gc["metadata"]["name"],
                                    sub="status"), {"status": desired})

    # -- IstioCNI ------------------------------------------------------------------------------
    def _cnis(self, now: str) -> None:
        for cni in self.cnis.items():
            spec, error, daemonset = cni.get("spec") or {}, None, None
            try:
                op.versions.resolve(spec.get("version", ""), cni["metadata"]["name"])
                if self.namespaces.get(spec.get("namespace", "")) is None:
                    raise ValueError(f'namespace "{spec.get("namespace")}" doesn\'t exist')
            except ValueError as e:
                error = str(e)
            if error is None:
                url, obj = op.cni_daemonset(cni)
                daemonset = self.api.get(f"{url}/{op.CNI_DAEMONSET}") or self._create(url, obj)
                if daemonset and not (daemonset.get("status") or {}).get("numberReady"):
                    daemonset = self.api.patch(f"{url}/{op.CNI_DAEMONSET}/status",
                                               {"status": op.daemonset_ready_status(daemonset)})
            desired = op.cni_status(cni, error=error, daemonset=daemonset, now=now)
            self._status(path(SAIL, "istiocnis", name=cni["metadata"]["name"]),
                         cni.get("status"), desired)

    # -- Istio -> IstioRevision ---------------------------------------------------------------
    def _istios(self, now: str) -> tuple[dict[str, tuple[dict, dict]], float | None]:
        """Create / update each Istio's active revision; prune inactive ones. Returns the
        revisions to reconcile ({name: (revision, its Istio)}) and the next prune time."""
        wanted: dict[str, tuple[dict, dict]] = {}
        next_prune = None
        self._pending_istio_status = []
        for istio in self.istios.items():
            error, active = None, None
            try:
                desired = op.desired_revision(istio)
            except ValueError as e:
                error, desired = str(e), None
            if desired is not None:
                name = desired["metadata"]["name"]
                current = self.revisions.get(name)
                if current is None:
                    active = self._create(path(SAIL, "istiorevisions"), desired) \
                        or self.api.get(path(SAIL, "istiorevisions", name=name))
                    log.info("created IstioRevision %s (%s)", name, desired["spec"]["version"])
                elif current["spec"] != desired["spec"]:
                    active = self.api.replace(path(SAIL, "istiorevisions", name=name),
                                              {**current, "spec": desired["spec"]})
                else:
                    active = current
                wanted[name] = (active, istio)
            uid = istio["metadata"]["uid"]
            owned = [r for r in self.revisions.items() if op.owned_by(r, uid)]
            for rev in owned:
                if rev["metadata"]["name"] != op.revision_name(istio):
                    wanted.setdefault(rev["metadata"]["name"], (rev, istio))
                    due = op.prune_due(rev, op.grace_seconds(istio))
                    if due is not None and due <= time.time():
                        self.api.delete(path(SAIL, "istiorevisions", name=rev["metadata"]["name"]))
                        wanted.pop(rev["metadata"]["name"], None)
                        log.info("deleted inactive IstioRevision %s", rev["metadata"]["name"])
                    elif due is not None:
                        next_prune = min(next_prune or due, due)
            self._pending_istio_status.append((istio, error))
        return wanted, next_prune

    def _revisions(self, revisions: dict[str, tuple[dict, dict]], down: dict, now: str) -> None:
        namespaces = self.namespaces.items()
        cni = self.cnis.get(op.CNI_NAME)
        computed: dict[str, dict] = {}
        for name, (rev, _istio) in revisions.items():
            spec = rev.get("spec") or {}
            ns, error, istiod = spec.get("namespace", ""), None, None
            try:
                op.versions.resolve(spec.get("version", ""), name)
                if self.namespaces.get(ns) is None:
                    raise ValueError(f'namespace "{ns}" doesn\'t exist')
            except ValueError as e:
                error = str(e)
            if error is None:
                for url, obj in op.istiod_objects(rev):
                    if obj["metadata"]["name"] and "deployments" in url:
                        if self.deployments.get(f"{ns}/{obj['metadata']['name']}") is None:
                            self._create(url, obj)
                    elif rev["metadata"]["uid"] not in self._rendered:
                        self._create(url, obj)
                self._rendered.add(rev["metadata"]["uid"])
                istiod = self._deployment_ready(ns, op.istiod_name(rev),
                                                ns not in down.get("istiod", []))
            desired = op.revision_status(rev, error=error, istiod=istiod, cni=cni,
                                         in_use=op.referenced(name, namespaces), now=now)
            self._status(path(SAIL, "istiorevisions", name=name), rev.get("status"), desired)
            computed[name] = {**rev, "status": desired}
        for istio, error in self._pending_istio_status:
            uid = istio["metadata"]["uid"]
            owned = [computed.get(r["metadata"]["name"], r) for r in self.revisions.items()
                     if op.owned_by(r, uid)]
            active = computed.get(op.revision_name(istio))
            desired = op.istio_status(istio, error=error, active=active, owned=owned, now=now)
            self._status(path(SAIL, "istios", name=istio["metadata"]["name"]),
                         istio.get("status"), desired)
        self._pending_istio_status = []

    # -- Gateways (istiod's deployment controller, per revision) -------------------------------
    def _serving_revisions(self, down: dict) -> dict[str, str]:
        """Revision name -> namespace, for each revision whose istiod runs."""
        return {r["metadata"]["name"]: r["spec"]["namespace"] for r in self.revisions.items()
                if r["spec"].get("namespace") not in down.get("istiod", [])
                and op.get_condition(r, "Reconciled")["status"] == "True"}

    def _gateways(self, down: dict, now: str) -> None:
        """Each Gateway on its own: one that fails (e.g. its namespace is being deleted) does not
        hold back the others; the failures are raised at the end, so the pass is retried."""
        serving = self._serving_revisions(down)
        kept: dict[str, set[str]] = {}
        failed: list[str] = []
        for gateway in self.gateways.items():
            try:
                self._gateway(gateway, serving, kept, down, now)
            except ApiError as e:
                failed.append(f"Gateway {namespaced_key(gateway)}: {e}")
        for mesh_ns, pool in self.pools.items():
            pool.release_except(kept.get(mesh_ns, set()))
        if failed:
            raise ApiError(0, "; ".join(failed))

    def _gateway(self, gateway: dict, serving: dict[str, str], kept: dict[str, set[str]],
                 down: dict, now: str) -> None:
        meta, spec = gateway["metadata"], gateway.get("spec") or {}
        namespace = self.namespaces.get(meta["namespace"])
        if spec.get("gatewayClassName") not in gw.CLASSES or namespace is None:
            return  # not Istio's, or left over in a deleted namespace
        tag = gw.selected_tag(gateway, namespace)
        revision = next((r for r in serving if gw.manages(r, tag)), None)
        if revision is None:
            return  # no running istiod manages it: status stays as it is
        mesh_ns = serving[revision]
        address = None
        if spec["gatewayClassName"] == "istio":
            pool = self._pool(mesh_ns)
            key = f"{meta['namespace']}/{meta['name']}"
            kept.setdefault(mesh_ns, set()).add(key)
            address = self._render(gateway, revision, pool.address(key), down, mesh_ns)
        desired = gw.status(gateway, address, gateway.get("status"), now)
        if not gw.same(gateway.get("status"), desired):
            self.api.patch(path(GATEWAY_API, "gateways", meta["namespace"], meta["name"],
                                "status"), {"status": desired})

    def _pool(self, mesh_ns: str) -> gw.AddressPool:
        if mesh_ns not in self.pools:
            mesh, prefix = self.meshes.get(mesh_ns) or next(iter(self.meshes.values()))
            self.pools[mesh_ns] = gw.AddressPool(prefix, self.state_dir / f"lb-{mesh}.json")
        return self.pools[mesh_ns]

    def _render(self, gateway: dict, revision: str, ip: str, down: dict, mesh_ns: str) -> str:
        """Service, Deployment, ServiceAccount for a class ``istio`` Gateway; its LB address."""
        meta = gateway["metadata"]
        owner = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
                 "name": meta["name"], "uid": meta["uid"], "controller": True}
        ns, name = meta["namespace"], gw.service_name(gateway)
        service = None
        for url, obj in gw.rendered(gateway, revision, owner):
            current = self.api.get(f"{url}/{name}")
            if current is None:
                current = self._create(url, obj)
            elif "services" in url and (
                    _ports(current) != _ports(obj)
                    or any((current["metadata"].get("labels") or {}).get(k) != v
                           for k, v in obj["metadata"]["labels"].items())):
                current = self.api.patch(f"{url}/{name}", {
                    "metadata": {"labels": obj["metadata"]["labels"]},
                    "spec": {"ports": obj["spec"]["ports"]}})
            if "services" in url:
                service = current
        ingress = (((service or {}).get("status") or {}).get("loadBalancer") or {}).get("ingress")
        if service is not None and (ingress or [{}])[0].get("ip") != ip:
            self.api.patch(path(CORE, "services", ns, name, "status"),
                           {"status": {"loadBalancer": {"ingress": [{"ip": ip}]}}})
            log.info("load balancer address %s for %s/%s", ip, ns, name)
        listeners = gateway["spec"].get("listeners") or []
        has_eastwest = any(lst.get("port") == 15443 for lst in listeners)
        self._deployment_ready(ns, name, not (has_eastwest and mesh_ns in down.get("eastwest", [])))
        return ip


def _ports(service: dict) -> list[tuple]:
    return [(p.get("name"), p.get("port"), p.get("protocol", "TCP"))
            for p in (service.get("spec") or {}).get("ports") or []]
