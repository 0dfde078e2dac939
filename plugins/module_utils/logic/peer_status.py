# Copyright (c) servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read ServiceMeshPeer discovery status and build the federation matrix.

Semantics (fact sheet §1.2): each istiod pod has one entry, in ``active`` when its outbound
``watch`` is connected, else in ``inactive``. ``watch`` proves this mesh reaches the peer;
``remotes`` (on any entry, active or inactive) prove the peer's istiod reaches this mesh.
``lastDisconnectStatus`` is never cleared, so it is only evidence while not connected.

Services (fact sheet §3): the importing mesh's ImportedServiceSet ``<peer>`` lists in
``status.importedServices`` EVERY service the peer exports to it, those that no import rule
matched with an empty ``localService``; so a planned import is done only with a non-empty
``localService.hostname``. The exporter's ExportedServiceSet ``<peer>`` lists in
``status.exportedServices`` what it actually exports. Both are written by the leader istiod only.
"""

from __future__ import annotations

import re

NO_STATUS_MEANING = ("no discovery status: the CA ConfigMap is missing or lacks the key "
                     "root-cert.pem (or certificateChain names a wrong kind), or federation is "
                     "disabled in istiod")
MISSING_MEANING = "the ServiceMeshPeer does not exist"
# Why a planned import is not imported (fact sheet §3.2, §6.2 rows 4 and 5).
NOT_EXPORTED_CAUSE = (
    "not exported by the peer (the peer's ExportedServiceSet has no rule for it, the rule was "
    "skipped by istiod, the Service does not exist or is not in a member namespace of the peer, "
    "or a name typo)")
NOT_MATCHED_CAUSE = (
    "exported by the peer but no import rule of this mesh matched it (or istiod skipped the "
    "rule: importAsLocal without an alias namespace, a domainSuffix equal to svc.cluster.local)")
NO_ISS_CAUSE = "the ImportedServiceSet does not exist"
NO_ISS_STATUS_CAUSE = ("the ImportedServiceSet has no status yet (the leader istiod writes it "
                       "once the ServiceMeshPeer exists)")
NOT_CONNECTED_CAUSE = "the direction is not connected yet"
# Why a planned export is not listed in this mesh's ExportedServiceSet status (§3.1).
NO_ESS_CAUSE = "the ExportedServiceSet does not exist"
NO_ESS_STATUS_CAUSE = ("the ExportedServiceSet has no status yet (the leader istiod writes it "
                       "once the ServiceMeshPeer exists)")
NOT_LISTED_CAUSE = (
    "not exported: the Service does not exist or is not in a member namespace, no export rule "
    "matches it (rules match the Service's labels, first match wins), or istiod skipped the rule")
# (match, short state, meaning): fact sheet §1.2 (status values) and §5 (mismatch table).
_MEANINGS = (
    ("503", "503",
     "the local egress gateway got no usable answer from the peer: the peer's ServiceMeshPeer "
     "for this mesh is missing, remote addresses/ports are wrong, the load balancer is not L4 or "
     "a firewall blocks it, or TLS fails (wrong or missing peer root, wrong trust domain). "
     "A 503 is also normal for a short time after creation"),
    ("403", "403",
     "the peer's ingress gateway rejected this mesh's egress identity: the clientID in the "
     "peer's ServiceMeshPeer for this mesh does not match this mesh's egress gateway service "
     "account (trust domain, namespace or gateway name)"),
    ("404", "404",
     "the local egress gateway has no discovery route for the peer yet: egress gateway "
     "name or labels do not match, or its configuration is out of date with spec.remote"),
    ("400", "400",
     "the peer's istiod has no ServiceMeshPeer with the name its ingress gateway rewrites to "
     "(the peer's ServiceMeshPeer for this mesh is missing or named differently)"),
    ("no such host", "no-such-host",
     "the local egress gateway Service does not resolve: wrong spec.gateways.egress.name, "
     "gateway not enabled in the control plane, or its Service is missing"),
    ("connection refused", "refused",
     "nothing listens behind the local egress gateway Service on port 8188: gateway pods not "
     "running, or the Service lacks port 8188"),
    ("200", "closed",
     "an established watch ended; istiod reconnects by itself (normal around restarts)"),
    ("context canceled", "canceled",
     "the watch was cancelled (istiod restarting or the ServiceMeshPeer changing)"),
)
_EMPTY_MEANING = ("no connection attempt has finished yet: istiod is still connecting (an "
                  "unreachable address can take a while to time out) or has just started")
_UNKNOWN_MEANING = "unrecognised status; read the logs named in the diagnostic pointers"


def classify(last_disconnect_status: str | None) -> tuple[str, str]:
    text = (last_disconnect_status or "").strip()
    if not text:
        return "inactive", _EMPTY_MEANING
    for match, state, meaning in _MEANINGS:
        if match.isdigit() and re.match(match + r"\b", text):
            return state, meaning
        if not match.isdigit() and match in text:
            return state, meaning
    return "inactive", _UNKNOWN_MEANING


def explain(last_disconnect_status: str | None) -> str:
    """What a watch's lastDisconnectStatus usually means (fact sheet §5 / §6)."""
    return classify(last_disconnect_status)[1]


def _entries(discovery: dict, key: str) -> list[dict]:
    return [e for e in (discovery.get(key) or []) if isinstance(e, dict)]


def evaluate_peer(smp: dict | None) -> dict:
    """Evaluate one ServiceMeshPeer's status as seen in its own cluster."""
    if smp is None:
        return {
            "exists": False, "has_status": False,
            "watch": {"connected": False, "state": "missing", "pods": [],
                      "last_disconnect_status": None, "meaning": MISSING_MEANING},
            "remote": {"connected": False, "sources": []},
            "connected": False,
        }
    discovery = (smp.get("status") or {}).get("discoveryStatus") or {}
    active, inactive = _entries(discovery, "active"), _entries(discovery, "inactive")
    pods, sources = [], []
    for group, entries in (("active", active), ("inactive", inactive)):
        for entry in entries:
            watch = entry.get("watch") or {}
            pods.append({
                "pod": entry.get("pod"),
                "list": group,
                "connected": watch.get("connected") is True,
                "last_disconnect_status": watch.get("lastDisconnectStatus") or None,
                "last_connected": watch.get("lastConnected"),
                "last_full_sync": watch.get("lastFullSync"),
            })
            for remote in entry.get("remotes") or []:
                sources.append({"pod": entry.get("pod"), "source": remote.get("source"),
                                "connected": remote.get("connected") is True})
    has_status = bool(pods)
    watch_connected = bool(active) and not inactive and all(p["connected"] for p in pods)
    if not has_status:
        state, last, meaning = "no-status", None, NO_STATUS_MEANING
    elif watch_connected:
        # A leftover lastDisconnectStatus (e.g. 503 from start-up) is not an error here.
        state, meaning = "connected", None
        last = next((p["last_disconnect_status"] for p in pods if p["last_disconnect_status"]),
                    None)
    else:
        state = "inactive"
        failing = [p for p in pods if not p["connected"]]
        last = next((p["last_disconnect_status"] for p in failing if p["last_disconnect_status"]),
                    None)
        meaning = explain(last)
    remote_connected = any(s["connected"] for s in sources)
    return {
        "exists": True,
        "has_status": has_status,
        "watch": {"connected": watch_connected, "state": state, "pods": pods,
                  "last_disconnect_status": last, "meaning": meaning},
        "remote": {"connected": remote_connected, "sources": sources},
        "connected": watch_connected and remote_connected,
    }


def unique_names(names) -> list[str]:
    return list(dict.fromkeys(n for n in names or () if n))


def _listed(service_set: dict | None, key: str) -> dict | None:
    """exportedName -> localService.hostname ("" when unmatched) from an ESS / ISS status, or
    None when the set has no status yet."""
    status = (service_set or {}).get("status")
    if not isinstance(status, dict):
        return None
    return {e.get("exportedName"): ((e.get("localService") or {}).get("hostname") or "")
            for e in status.get(key) or [] if isinstance(e, dict)}


def evaluate_services(watch_connected: bool, imported_set: dict | None,
                      exported_set: dict | None, imports=(), exports=()) -> dict:
    """The planned services of one peer, as this mesh's ImportedServiceSet and ExportedServiceSet
    named after the peer show them (``None``: the set does not exist).

    ``imports``: exported names this mesh should import from the peer; ``exports``: exported
    names this mesh should export to it. A missing one carries its likely cause.
    """
    imports, exports = unique_names(imports), unique_names(exports)
    listed = _listed(imported_set, "importedServices")
    imported, missing = [], []
    for name in imports:
        hostname = (listed or {}).get(name)
        if hostname:
            imported.append({"exported_name": name, "hostname": hostname})
            continue
        if imported_set is None:
            cause = NO_ISS_CAUSE
        elif listed is not None and name in listed:
            cause = NOT_MATCHED_CAUSE  # a rule problem, whatever the connection does
        elif not watch_connected:
            cause = NOT_CONNECTED_CAUSE
        elif listed is None:
            cause = NO_ISS_STATUS_CAUSE
        else:
            cause = NOT_EXPORTED_CAUSE
        missing.append({"exported_name": name, "cause": cause})
    exported = _listed(exported_set, "exportedServices")
    exported_services, exports_missing = [], []
    for name in exports:
        if exported is not None and name in exported:
            exported_services.append(name)
            continue
        cause = (NO_ESS_CAUSE if exported_set is None
                 else NO_ESS_STATUS_CAUSE if exported is None else NOT_LISTED_CAUSE)
        exports_missing.append({"exported_name": name, "cause": cause})
    return {
        "expected": len(imports),
        "imported": len(imported),
        "imported_services": imported,
        "missing": missing,
        "exports_expected": len(exports),
        "exported": len(exported_services),
        "exported_services": exported_services,
        "exports_missing": exports_missing,
        "done": not missing and not exports_missing,
    }
