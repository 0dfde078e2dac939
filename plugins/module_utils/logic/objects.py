# Copyright (c) servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Desired objects for one direction (CA ConfigMap, ServiceMeshPeer, ExportedServiceSet,
ImportedServiceSet) and owned-field diffing.

Pure Python: objects are plain dicts in the shape the Kubernetes API returns.
"""

from __future__ import annotations

import copy

from ansible_collections.servicemesh.federation.plugins.module_utils.logic.kinds import (
    FEDERATION_API_VERSION,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.link import Link
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.naming import (
    DEFAULT_DISCOVERY_PORT,
    DEFAULT_SERVICE_PORT,
    MANAGED_BY,
    ROOT_CERT_KEY,
)


class ObjectError(ValueError):
    """Facts needed to build a desired object are missing."""


def _root_pem(root_cert) -> str | None:
    # mesh_info returns {"pem": ...}; the contract's peer_facts carry the PEM string itself.
    if isinstance(root_cert, dict):
        return root_cert.get("pem")
    return root_cert


def desired_objects(link: Link, peer_facts: dict) -> tuple[dict, dict]:
    """Return (CA ConfigMap, ServiceMeshPeer) for the direction link['mesh'] -> link['peer'].

    ``peer_facts``: {"root_cert": PEM, "ingress": {gateway: {"addresses", "discovery_port",
    "service_port"}}} from the peer's mesh_info. Overrides in ``link`` win over the facts.
    """
    where = f"mesh {link['mesh']!r}, peer {link['peer']!r}"
    pem = _root_pem(peer_facts.get("root_cert"))
    if not pem:
        raise ObjectError(f"{where}: the peer's root certificate is unknown")
    ingress = (peer_facts.get("ingress") or {}).get(link["peer_ingress_gateway"]) or {}
    addresses = link.get("addresses") or ingress.get("addresses")
    if not addresses:
        raise ObjectError(
            f"{where}: no address for the peer's ingress gateway "
            f"{link['peer_ingress_gateway']!r} in namespace {link['peer_namespace']!r} "
            "(no load balancer address yet; set mesh_peers.<peer>.addresses to override)")

    def port(key, default):
        for value in (link.get(key), ingress.get(key)):
            if value is not None:
                return value
        return default

    metadata = {"name": link["ca_configmap"], "namespace": link["namespace"],
                "labels": dict(MANAGED_BY)}
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata,
        "data": {ROOT_CERT_KEY: pem},
    }
    peer = {
        "apiVersion": FEDERATION_API_VERSION,
        "kind": "ServiceMeshPeer",
        "metadata": {**metadata, "name": link["peer"], "labels": dict(MANAGED_BY)},
        "spec": {
            "remote": {
                "addresses": list(addresses),
                "discoveryPort": port("discovery_port", DEFAULT_DISCOVERY_PORT),
                "servicePort": port("service_port", DEFAULT_SERVICE_PORT),
            },
            "gateways": {
                "ingress": {"name": link["ingress_gateway"]},
                "egress": {"name": link["egress_gateway"]},
            },
            "security": {
                "trustDomain": link["peer_trust_domain"],
                "clientID": link["client_id"],
                "certificateChain": {"kind": "ConfigMap", "name": link["ca_configmap"]},
            },
        },
    }
    return configmap, peer


# Rules field of each set kind, and the link key (plan, API form) that holds them (fact sheet §3).
_SET_RULES = (("ExportedServiceSet", "exportRules", "export_rules"),
              ("ImportedServiceSet", "importRules", "import_rules"))


def service_sets(link: Link) -> list[dict]:
    """The ExportedServiceSet and ImportedServiceSet of the direction, each only when the plan
    gives it rules (no rules: no set). Both are named after the ServiceMeshPeer (fact sheet §3:
    that name is how istiod pairs them)."""
    sets = []
    for kind, field, key in _SET_RULES:
        rules = link.get(key) or []
        if not isinstance(rules, list) or not all(
                isinstance(r, dict) and r.get("type") for r in rules):
            raise ObjectError(f"mesh {link['mesh']!r}, peer {link['peer']!r}: {key} must be a "
                              "list of rules in API form, each with a type")
        if rules:
            sets.append({
                "apiVersion": FEDERATION_API_VERSION,
                "kind": kind,
                "metadata": {"name": link["peer"], "namespace": link["namespace"],
                             "labels": dict(MANAGED_BY)},
                "spec": {field: copy.deepcopy(rules)},
            })
    return sets


def is_managed(obj: dict | None) -> bool:
    labels = ((obj or {}).get("metadata") or {}).get("labels") or {}
    return all(labels.get(k) == v for k, v in MANAGED_BY.items())


def _project(actual, desired):
    """The part of ``actual`` shaped like ``desired``: mapping keys we set, other values whole."""
    if isinstance(desired, dict):
        actual = actual if isinstance(actual, dict) else {}
        return {k: _project(actual.get(k), v) for k, v in desired.items() if k in actual}
    return copy.deepcopy(actual)


def owned_fields(obj: dict) -> dict:
    """The fields of a desired object that the collection owns."""
    owned = {k: obj[k] for k in ("apiVersion", "kind", "data", "spec") if k in obj}
    meta = obj["metadata"]
    owned["metadata"] = {"name": meta["name"], "namespace": meta["namespace"],
                         "labels": dict(meta.get("labels") or {})}
    if meta.get("annotations"):  # ours only (the CA ConfigMap's root fingerprint)
        owned["metadata"]["annotations"] = dict(meta["annotations"])
    return copy.deepcopy(owned)


def diff_owned(actual: dict | None, desired: dict, whole: bool = False) -> dict | None:
    """Before / after of the fields we own, or None when they already match.

    Server-set metadata, status, and labels / annotations / data keys / spec fields we do not
    set are ignored, so a re-run against an unchanged cluster finds no difference. With
    ``whole``, ``data`` / ``spec`` are compared whole: a key we do not set is a difference.
    """
    after = owned_fields(desired)
    meta = desired["metadata"]
    header = f"{desired['kind']} {meta['namespace']}/{meta['name']}"
    if actual is None:
        return {"before": None, "after": after, "before_header": f"{header} (absent)",
                "after_header": header}
    before = _project(actual, after)
    for field in ("data", "spec") if whole else ():
        if field in after and field in actual:
            before[field] = copy.deepcopy(actual[field])
    if before == after:
        return None
    return {"before": before, "after": after, "before_header": header, "after_header": header}
