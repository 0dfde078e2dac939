# Copyright (c) servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What one link shares: the ExportedServiceSet and ImportedServiceSet rules (API form) and the
exported names, from the valid ``mesh_exports`` / ``mesh_imports`` rules (sharing.py; fact
sheet §3). Pure Python (stdlib only).
"""

from __future__ import annotations

from collections.abc import Mapping

from ansible_collections.servicemesh.federation.plugins.module_utils.logic.naming import (
    exported_name,
)

ANY = "*"  # "any namespace" in an ExportRule (fact sheet §3.1)


def exports_to(rules: list[dict], peer: str) -> list[dict]:
    """The export rules that export to `peer`."""
    return [r for r in rules if r["to"] is None or peer in r["to"]]


def exported_as(rule: dict) -> tuple[str | None, str | None]:
    """(name, namespace) the importer sees; None for a selector's name or any namespace."""
    alias = rule["alias"] or {}
    return alias.get("name", rule["service"]), alias.get("namespace", rule["namespace"])


def _alias_api(alias: dict) -> dict:
    return {key: alias[key] for key in ("namespace", "name") if key in alias}


def export_rule(rule: dict) -> dict:
    """One ExportedServiceSet exportRule (API form) for a valid export rule."""
    if rule["service"] is not None:
        selector = {"namespace": rule["namespace"], "name": rule["service"]}
        if rule["alias"]:
            selector["alias"] = _alias_api(rule["alias"])
        return {"type": "NameSelector", "nameSelector": selector}
    selector = {"namespace": rule["namespace"] or ANY, "selector": _copy(rule["selector"])}
    if rule["alias"]:
        selector["aliases"] = [{"namespace": ANY, "name": ANY,
                                "alias": _alias_api(rule["alias"])}]
    return {"type": "LabelSelector", "labelSelector": selector}


def import_rule(rule: dict) -> dict:
    """One ImportedServiceSet importRule (API form) for a valid import rule."""
    selector = {"namespace": rule["namespace"], "name": rule["service"]}
    if rule["alias"]:
        selector["alias"] = _alias_api(rule["alias"])
    api = {"type": "NameSelector", "importAsLocal": rule["as_local"], "nameSelector": selector}
    if rule["domain_suffix"] is not None:
        api["domainSuffix"] = rule["domain_suffix"]
    return api


def link_sharing(own: str, peer: str, exports: list[dict], imports: list[dict]) -> dict:
    """The sharing part of the link ``own`` -> ``peer`` (plan shape, see CONTRACT)."""
    offered = exports_to(exports, peer)
    taken = [r for r in imports if r["from"] == peer]
    return {
        "export_rules": [export_rule(r) for r in offered],
        "import_rules": [import_rule(r) for r in taken],
        "exports": [{"service": r["service"], "namespace": r["namespace"],
                     "exported_name": exported_name(*exported_as(r), peer)}
                    for r in offered if r["service"] is not None],
        # The importer's ServiceMeshPeer for us is named after this mesh.
        "imports": [{"service": r["service"], "namespace": r["namespace"],
                     "exported_name": exported_name(r["service"], r["namespace"], own)}
                    for r in taken],
        "export_selectors": [{"namespace": r["namespace"] or ANY,
                              "selector": _copy(r["selector"])}
                             for r in offered if r["selector"] is not None],
    }


def _copy(value):
    """A plain copy of YAML data (mappings and lists), so the plan never aliases the input."""
    if isinstance(value, Mapping):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value
