"""Which services cross a federation: ExportedServiceSet / ImportedServiceSet rules (fact sheet §3).

Pure functions, no I/O; rule problems go to ``warn`` (istiod only logs them, never in status).

Exports (``export_services``): rules in order, the first matching rule wins. ``NameSelector``
matches namespace/name (``""`` or ``"*"`` = any) and renames with its alias (a ``""`` or ``"*"``
alias field keeps the original). ``LabelSelector`` matches the Service's labels (an empty selector
matches every service) in one namespace or, with ``""``/``"*"``, in every member namespace; its
``aliases`` are tried in order. An unknown type, a rule without its selector object or a broken
selector is skipped. Never exported: imported (federation registry) services, MeshExternal ones,
services without name or namespace, services outside member namespaces, the mesh's gateways.

Imports (``import_services``): only ``NameSelector`` rules, matched on the exported (aliased)
namespace/name, first match wins. ``importAsLocal`` needs an alias namespace that is not ``*``;
a domainSuffix equal to ``svc.cluster.local`` is refused. Every exported service is listed;
unmatched ones with an empty ``localService``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

log = logging.getLogger("federation")

NAME_SELECTOR = "NameSelector"
LABEL_SELECTOR = "LabelSelector"
LOCAL_DOMAIN_SUFFIX = "svc.cluster.local"
ANY = ("", "*")

Warn = Callable[[str], None]


def exported_fqdn(name: str, namespace: str, peer: str) -> str:
    """The name ``peer`` (the ServiceMeshPeer / ExportedServiceSet name) sees the service under."""
    return f"{name}.{namespace}.svc.{peer}-exports.local"


def local_hostname(name: str, namespace: str) -> str:
    return f"{name}.{namespace}.{LOCAL_DOMAIN_SUFFIX}"


def empty_local_service() -> dict:
    return {"name": "", "namespace": "", "hostname": ""}


# -- name mappings (ServiceNameMapping: namespace, name, alias) ---------------------------------
@dataclass(frozen=True)
class NameMapping:
    namespace: str = ""
    name: str = ""
    alias_namespace: str = ""
    alias_name: str = ""

    @classmethod
    def of(cls, m: dict) -> NameMapping:
        alias = m.get("alias") or {}
        return cls(
            m.get("namespace") or "",
            m.get("name") or "",
            alias.get("namespace") or "",
            alias.get("name") or "",
        )

    def matches(self, name: str, namespace: str) -> bool:
        return (self.namespace in ANY or self.namespace == namespace) and (
            self.name in ANY or self.name == name
        )

    def apply(self, name: str, namespace: str) -> tuple[str, str]:
        """(name, namespace) after the alias; an empty or ``*`` alias field keeps the original."""
        return (
            name if self.alias_name in ANY else self.alias_name,
            namespace if self.alias_namespace in ANY else self.alias_namespace,
        )


# -- label selectors (metav1.LabelSelector) ------------------------------------------------------
class SelectorError(ValueError):
    pass


def _selector_matcher(selector: dict) -> Callable[[dict], bool]:
    """A predicate on labels; an empty selector matches everything (as LabelSelectorAsSelector)."""
    match_labels = dict(selector.get("matchLabels") or {})
    expressions = []
    for e in selector.get("matchExpressions") or []:
        key, op, values = e.get("key") or "", e.get("operator") or "", set(e.get("values") or [])
        if op in ("In", "NotIn") and not values:
            raise SelectorError(f"values: must be specified when operator is {op!r} (key {key!r})")
        if op in ("Exists", "DoesNotExist") and values:
            raise SelectorError(f"values: may not be specified when operator is {op!r}")
        if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            raise SelectorError(f"{op!r} is not a valid label selector operator")
        expressions.append((key, op, values))

    def matches(labels: dict) -> bool:
        if any(labels.get(k) != v for k, v in match_labels.items()):
            return False
        for key, op, values in expressions:
            present = key in labels
            if op == "In" and not (present and labels[key] in values):
                return False
            if op == "NotIn" and present and labels[key] in values:
                return False
            if op == "Exists" and not present:
                return False
            if op == "DoesNotExist" and present:
                return False
        return True

    return matches


# -- exports ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class _ExportRule:
    kind: str
    mapping: NameMapping | None = None  # NameSelector
    namespace: str = ""  # LabelSelector
    selector: Callable[[dict], bool] | None = None
    aliases: tuple[NameMapping, ...] = ()

    def export_name(self, svc: dict) -> tuple[str, str] | None:
        """(name, namespace) the service is exported under by this rule, None if no match."""
        name, namespace = svc["name"], svc["namespace"]
        if self.kind == NAME_SELECTOR:
            assert self.mapping is not None
            if not self.mapping.matches(name, namespace):
                return None
            return self.mapping.apply(name, namespace)
        if self.namespace not in ANY and self.namespace != namespace:
            return None
        assert self.selector is not None
        if not self.selector(svc.get("labels") or {}):
            return None
        for alias in self.aliases:
            if alias.matches(name, namespace):
                return alias.apply(name, namespace)
        return name, namespace


def compile_export_rules(rules: list[dict] | None, ess: str, warn: Warn) -> list[_ExportRule]:
    """The usable rules of ExportedServiceSet ``ess``, in order; the others logged and skipped."""
    compiled = []
    for i, rule in enumerate(rules or []):
        kind = rule.get("type") or ""
        where = f"ExportedServiceSet {ess}: exportRules[{i}]"
        if kind == NAME_SELECTOR:
            if rule.get("nameSelector") is None:
                warn(f"{where}: NameSelector selector type specified, but no nameSelector; skipped")
                continue
            compiled.append(_ExportRule(kind, mapping=NameMapping.of(rule["nameSelector"])))
        elif kind == LABEL_SELECTOR:
            label = rule.get("labelSelector")
            if label is None:
                warn(
                    f"{where}: LabelSelector selector type specified, but no labelSelector; skipped"
                )
                continue
            try:
                matcher = _selector_matcher(label.get("selector") or {})
            except SelectorError as e:
                warn(f"{where}: invalid label selector: {e}; skipped")
                continue
            compiled.append(
                _ExportRule(
                    kind,
                    namespace=label.get("namespace") or "",
                    selector=matcher,
                    aliases=tuple(NameMapping.of(a) for a in label.get("aliases") or []),
                )
            )
        else:
            warn(f"{where}: unknown selector type {kind!r}; skipped")
    return compiled


def exportable(svc: dict, members: Iterable[str]) -> bool:
    """May ``svc`` be exported at all, whatever the rules say?"""
    return (
        bool(svc.get("name"))
        and bool(svc.get("namespace"))
        and svc.get("registry", "Kubernetes") == "Kubernetes"  # no re-export of imports
        and not svc.get("meshExternal")
        and not svc.get("gateway")
        and svc["namespace"] in set(members)
    )


def export_services(
    rules: list[dict] | None,
    services: Iterable[dict],
    members: Iterable[str],
    peer: str,
    warn: Warn = log.warning,
) -> list[dict]:
    """ExportedServiceSet ``peer``'s status.exportedServices (plus the exported name/namespace).

    ``services``: ``{"name", "namespace", "labels", ["registry", "meshExternal", "gateway"]}``.
    Returns ``[{"exportedName", "name", "namespace", "localService": {name, namespace,
    hostname}}]`` sorted by exportedName; ``name``/``namespace`` are the exported (aliased) ones.
    """
    compiled = compile_export_rules(rules, peer, warn)
    members = set(members)
    out: dict[str, dict] = {}
    for svc in sorted(services, key=lambda s: (s.get("namespace") or "", s.get("name") or "")):
        if not exportable(svc, members):
            continue
        for rule in compiled:
            exported = rule.export_name(svc)
            if exported is None:
                continue
            name, namespace = exported
            fqdn = exported_fqdn(name, namespace, peer)
            if fqdn in out:
                first = out[fqdn]["localService"]
                warn(
                    f"ExportedServiceSet {peer}: {svc['namespace']}/{svc['name']} and "
                    f"{first['namespace']}/{first['name']} are both exported as {fqdn}; "
                    "keeping the first"
                )
            else:
                out[fqdn] = {
                    "exportedName": fqdn,
                    "name": name,
                    "namespace": namespace,
                    "localService": {
                        "name": svc["name"],
                        "namespace": svc["namespace"],
                        "hostname": local_hostname(svc["name"], svc["namespace"]),
                    },
                }
            break  # first matching rule wins
    return [out[k] for k in sorted(out)]


def status_entries(exports: list[dict]) -> list[dict]:
    """The status form of ``export_services``' result."""
    return [{"exportedName": e["exportedName"], "localService": e["localService"]} for e in exports]


# -- imports ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class _ImportRule:
    mapping: NameMapping
    domain_suffix: str
    as_local: bool


def _suffix(s: str) -> str:
    return s.strip(".")


def compile_import_rules(spec: dict | None, iss: str, warn: Warn) -> list[_ImportRule]:
    """The usable rules of ImportedServiceSet ``iss``, in order; the others logged and skipped."""
    spec = spec or {}
    default_suffix = _suffix(spec.get("domainSuffix") or "") or f"svc.{iss}-imports.local"
    compiled = []
    for i, rule in enumerate(spec.get("importRules") or []):
        kind = rule.get("type") or ""
        where = f"ImportedServiceSet {iss}: importRules[{i}]"
        if kind != NAME_SELECTOR:
            warn(f"{where}: unknown selector type {kind!r}; skipped")
            continue
        if rule.get("nameSelector") is None:
            warn(f"{where}: NameSelector selector type specified, but no nameSelector; skipped")
            continue
        mapping = NameMapping.of(rule["nameSelector"])
        if rule.get("importAsLocal"):
            if mapping.alias_namespace in ANY:
                warn(
                    f"{where}: importAsLocal requires nameSelector.alias.namespace to be set "
                    "and not '*'; skipped"
                )
                continue
            compiled.append(_ImportRule(mapping, LOCAL_DOMAIN_SUFFIX, True))
            continue
        suffix = _suffix(rule.get("domainSuffix") or "") or default_suffix
        if suffix == LOCAL_DOMAIN_SUFFIX:
            warn(
                f"{where}: domainSuffix {suffix} is the local domain suffix; use importAsLocal "
                "instead; skipped"
            )
            continue
        compiled.append(_ImportRule(mapping, suffix, False))
    return compiled


def import_services(
    spec: dict | None, exported: Iterable[dict], iss: str, warn: Warn = log.warning
) -> list[dict]:
    """ImportedServiceSet ``iss``'s status.importedServices for what the peer exports.

    ``exported``: ``{"exportedName" (or "hostname"), "name", "namespace"}`` as the peer exports
    them (after its alias). Every one is listed, sorted by exportedName; the ones no rule imports
    have ``localService`` with empty strings.
    """
    compiled = compile_import_rules(spec, iss, warn)
    out: dict[str, dict] = {}
    for svc in exported:
        fqdn = svc.get("exportedName") or svc.get("hostname") or ""
        if not fqdn or fqdn in out:
            continue
        local = empty_local_service()
        for rule in compiled:
            if rule.mapping.matches(svc.get("name") or "", svc.get("namespace") or ""):
                name, namespace = rule.mapping.apply(svc["name"], svc["namespace"])
                local = {
                    "name": name,
                    "namespace": namespace,
                    "hostname": f"{name}.{namespace}.{rule.domain_suffix}",
                }
                break
        out[fqdn] = {"exportedName": fqdn, "localService": local}
    return [out[k] for k in sorted(out)]


# -- the discovery wire format (Maistra's ServiceListMessage / WatchEvent) --------------------
def _protocol(port_name: str) -> str:
    prefix = (port_name or "").split("-", 1)[0].lower()
    return {"http": "HTTP", "http2": "HTTP2", "https": "HTTPS", "grpc": "GRPC", "tls": "TLS"}.get(
        prefix, "TCP"
    )


def service_message(export: dict, ports: Iterable[dict]) -> dict:
    """One exported service as the exporter's discovery endpoints send it."""
    return {
        "name": export["name"],
        "namespace": export["namespace"],
        "hostname": export["exportedName"],
        "servicePorts": [
            {"name": p.get("name") or "", "port": p["port"], "protocol": _protocol(p.get("name"))}
            for p in ports
            if p.get("port")
        ],
    }


def checksum(messages: Iterable[dict]) -> int:
    """Checksum of a service list, equal on both sides when they hold the same list."""
    raw = json.dumps(sorted(messages, key=lambda m: m["hostname"]), sort_keys=True)
    return int(hashlib.sha256(raw.encode()).hexdigest()[:15], 16)


def watch_events(sent: dict[str, dict], current: dict[str, dict]) -> list[dict]:
    """add / update / delete events turning ``sent`` into ``current`` (both keyed by hostname),
    each carrying the checksum of ``current``."""
    total = checksum(current.values())
    events = []
    for host in sorted(set(sent) | set(current)):
        if host not in current:
            action, svc = "delete", sent[host]
        elif host not in sent:
            action, svc = "add", current[host]
        elif sent[host] != current[host]:
            action, svc = "update", current[host]
        else:
            continue
        events.append({"action": action, "service": svc, "checksum": total})
    return events


def apply_event(services: dict[str, dict], event: dict) -> bool:
    """Apply a watch event to the importer's copy; True when the copy changed."""
    svc = event.get("service") or {}
    host = svc.get("hostname") or ""
    if not host:
        return False
    if event.get("action") == "delete":
        return services.pop(host, None) is not None
    if event.get("action") in ("add", "update"):
        changed = services.get(host) != svc
        services[host] = svc
        return changed
    return False
