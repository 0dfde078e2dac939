"""Service sharing of one mesh: what it exports to each peer, what it imports, and the status of
its ExportedServiceSets / ImportedServiceSets (this single istiod is the leader).

Informers: ExportedServiceSets, ImportedServiceSets and the ServiceMeshMemberRoll ``default`` in
the control plane namespace, namespaces and Services (all namespaces; only member namespaces
count). The reconcile loop calls ``reconcile``: it computes each peer's exports
(``services.export_services``), publishes them on the peer's ``ExportFeed`` (served by the
discovery endpoints and pushed on open watch streams) and writes the sets' status through the
status subresource when it differs. Rule problems are logged once per distinct message.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import TYPE_CHECKING

from lab import kubeapi
from lab.kubeapi import CORE, FEDERATION, ApiError
from lab.mesh import operator, services
from lab.mesh.informer import Informer, namespaced_key
from lab.mesh.operator import MAISTRA_V1, SMMR_NAME
from lab.mesh.peer_status_writer import now_rfc3339

if TYPE_CHECKING:
    from lab.mesh.app import Mesh

log = logging.getLogger("federation")

GATEWAY_LABEL = "maistra.io/gateway"


class ExportFeed:
    """What one peer may import (discovery messages keyed by hostname) and who listens for it.

    Each open watch stream subscribes a pipe; ``publish`` writes a byte to every pipe when the
    list changed, and the stream's thread sends the difference.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._services: dict[str, dict] = {}
        self._pipes: set[int] = set()

    def snapshot(self) -> dict[str, dict]:
        with self._lock:
            return dict(self._services)

    def publish(self, messages: dict[str, dict]) -> bool:
        with self._lock:
            if messages == self._services:
                return False
            self._services = dict(messages)
            pipes = list(self._pipes)
        for fd in pipes:
            try:
                os.write(fd, b"x")
            except OSError:  # full (a wake-up is pending anyway) or closed
                pass
        return True

    def subscribe(self) -> tuple[int, int]:
        r, w = os.pipe()
        os.set_blocking(w, False)
        with self._lock:
            self._pipes.add(w)
        return r, w

    def unsubscribe(self, pipe: tuple[int, int]) -> None:
        with self._lock:
            self._pipes.discard(pipe[1])
        for fd in pipe:
            os.close(fd)


class ServiceSharing:
    def __init__(self, mesh: Mesh):
        self.mesh = mesh
        api, ns = mesh.api, mesh.namespace
        self.ess = Informer(
            api, kubeapi.path(FEDERATION, "exportedservicesets", ns), self._set_changed
        )
        self.iss = Informer(
            api, kubeapi.path(FEDERATION, "importedservicesets", ns), self._set_changed
        )
        self.smmrs = Informer(
            api, kubeapi.path(MAISTRA_V1, "servicemeshmemberrolls", ns), self._wake
        )
        self.namespaces = Informer(api, kubeapi.path(CORE, "namespaces"), self._namespace_changed)
        self.services = Informer(
            api, kubeapi.path(CORE, "services"), self._service_changed, key=namespaced_key
        )
        self.informers = (self.ess, self.iss, self.smmrs, self.namespaces, self.services)
        self.members: list[str] = []
        self._feeds: dict[str, ExportFeed] = {}
        self._feeds_lock = threading.Lock()
        self._written: dict[tuple[str, str], tuple[str, list, int]] = {}
        self._smmr_seen: tuple = ()
        self._logged: set[str] = set()
        self._write_error = ""

    # -- informer callbacks (must not block) ---------------------------------------------------
    def _wake(self, _kind: str, _obj: dict, _old: dict | None) -> None:
        self.mesh.wake.set()

    def _set_changed(self, kind: str, obj: dict, old: dict | None) -> None:
        # Our own status writes come back as MODIFIED without a new generation.
        if (
            kind != "MODIFIED"
            or not old
            or obj["metadata"].get("generation") != old["metadata"].get("generation")
        ):
            self.mesh.wake.set()

    def _namespace_changed(self, _kind: str, obj: dict, _old: dict | None) -> None:
        smmr = self.smmrs.get(SMMR_NAME) or {}
        if obj["metadata"]["name"] in ((smmr.get("spec") or {}).get("members") or []):
            self.mesh.wake.set()

    def _service_changed(self, _kind: str, obj: dict, _old: dict | None) -> None:
        if obj["metadata"].get("namespace") in self.members:
            self.mesh.wake.set()

    # -- used by the discovery server ----------------------------------------------------------
    def feed(self, peer: str) -> ExportFeed:
        with self._feeds_lock:
            return self._feeds.setdefault(peer, ExportFeed())

    # -- reconcile -----------------------------------------------------------------------------
    def reconcile(self, smps: dict[str, dict]) -> None:
        smmr = self.smmrs.get(SMMR_NAME)
        configured, pending = operator.smmr_members(smmr, self.namespaces)
        self.members = configured
        if smmr is not None:
            seen = (
                smmr["metadata"]["uid"],
                smmr["metadata"].get("generation"),
                configured,
                pending,
            )
            if seen != self._smmr_seen:
                try:
                    operator.write_smmr_status(self.mesh.api, smmr, self.namespaces, now_rfc3339())
                    self._smmr_seen = seen
                except ApiError as e:
                    self._log_once(f"error updating status for ServiceMeshMemberRoll: {e}")
        local = self._local_services()
        for name in sorted(smps):
            ess = self.ess.get(name)
            exports = (
                services.export_services(
                    (ess.get("spec") or {}).get("exportRules"),
                    local.values(),
                    configured,
                    name,
                    self._log_once,
                )
                if ess
                else []
            )
            messages = {
                e["exportedName"]: services.service_message(
                    e, local[(e["localService"]["namespace"], e["localService"]["name"])]["ports"]
                )
                for e in exports
            }
            if self.feed(name).publish(messages):
                log.info("exports to %s: %s", name, ", ".join(sorted(messages)) or "none")
            if ess:
                self._write(ess, "exportedServices", services.status_entries(exports))
            iss = self.iss.get(name)
            if iss:
                watcher = self.mesh.watchers.get(name)
                offered = watcher.offered() if watcher else []
                spec = iss.get("spec") or {}
                imported = services.import_services(spec, offered, name, self._log_once)
                self._write(iss, "importedServices", imported)
        with self._feeds_lock:
            gone = [p for p in self._feeds if p not in smps]
        for name in gone:
            self.feed(name).publish({})
        # A removed peer's sets keep existing (istiod does not delete them) but lose their status.
        for informer, key in ((self.ess, "exportedServices"), (self.iss, "importedServices")):
            for obj in informer.items():
                if obj["metadata"]["name"] not in smps and (obj.get("status") or {}).get(key):
                    self._write(obj, key, [])

    def _local_services(self) -> dict[tuple[str, str], dict]:
        """Kubernetes Services of member namespaces, as the export rules see them."""
        out = {}
        for svc in self.services.items():
            meta = svc["metadata"]
            if meta.get("namespace") not in self.members:
                continue
            labels = meta.get("labels") or {}
            out[(meta["namespace"], meta["name"])] = {
                "name": meta["name"],
                "namespace": meta["namespace"],
                "labels": labels,
                "gateway": GATEWAY_LABEL in labels,
                "meshExternal": (svc.get("spec") or {}).get("type") == "ExternalName",
                "ports": (svc.get("spec") or {}).get("ports") or [],
            }
        return out

    def _write(self, obj: dict, key: str, entries: list[dict]) -> None:
        """status.<key> = entries through the status subresource, unless it is so already."""
        meta = obj["metadata"]
        plural = "exportedservicesets" if key == "exportedServices" else "importedservicesets"
        ident = (plural, meta["name"])
        status = obj.get("status") or {}
        if key in status and status[key] == entries:
            return
        last = self._written.get(ident)
        if (
            last
            and last[0] == meta["uid"]
            and last[1] == entries
            and int(meta["resourceVersion"]) <= last[2]
        ):
            return  # written already; the informer has not seen our write yet
        url = kubeapi.path(FEDERATION, plural, self.mesh.namespace, meta["name"], "status")
        try:
            result = self.mesh.api.patch(url, {"status": {key: entries}})
        except ApiError as e:
            if e.status != 404 and str(e) != self._write_error:
                log.warning("error updating status for %s %s: %s", plural, meta["name"], e)
                self._write_error = str(e)
            return  # retried on the next reconcile
        self._write_error = ""
        self._written[ident] = (meta["uid"], entries, int(result["metadata"]["resourceVersion"]))
        log.info(
            "%s/%s status.%s: %s",
            plural,
            meta["name"],
            key,
            ", ".join(
                f"{e['exportedName']}->{e['localService']['hostname'] or '-'}" for e in entries
            )
            or "[]",
        )

    def _log_once(self, message: str) -> None:
        """Rules are evaluated on every reconcile: log each distinct problem once."""
        if message not in self._logged:
            self._logged.add(message)
            log.warning("%s", message)
