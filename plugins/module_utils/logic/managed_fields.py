# Copyright: (c) 2026, servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Who owns which field of the SMCP gateway entries: the server-side apply field ownership
(``metadata.managedFields``, fieldsV1 trees) read as leaf paths per entry and field manager.
Pure Python."""

from __future__ import annotations

import copy
import json

from ansible_collections.servicemesh.federation.plugins.module_utils.logic.gateway_entries import (
    FIELD,
    Key,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.naming import (
    FIELD_MANAGER,
)

Path = tuple  # field path inside one entry; keyed list items as "[port=15443]"


def entries_of(fields: dict) -> dict[Key, dict]:
    """The fieldsV1 subtrees of the gateway entries in one managedFields entry."""
    gateways = ((fields or {}).get("f:spec") or {}).get("f:gateways") or {}
    found = {}
    for kind, field in FIELD.items():
        for key, sub in (gateways.get("f:" + field) or {}).items():
            if key.startswith("f:"):
                found[(kind, key[2:])] = sub or {}
    return found


def _item_key(key: str) -> str:
    """``k:{"port":15443}`` -> ``[port=15443]``; ports are told apart by port alone here even
    if a schema keys them by port and protocol, as the desired entries do."""
    fields = json.loads(key[2:])
    if "port" in fields:
        return f"[port={fields['port']}]"
    return "[{}]".format(",".join(f"{k}={v}" for k, v in sorted(fields.items())))


def field_paths(fields: dict, prefix: Path = ()) -> set[Path]:
    """Leaf paths of a fieldsV1 tree. A list owned whole, or as a set, is one leaf."""
    paths = set()
    children = {k: v for k, v in (fields or {}).items() if k != "."}
    if not children or any(k[:2] in ("v:", "i:") for k in children):
        return {prefix} if prefix else set()
    for key, sub in children.items():
        step = key[2:] if key.startswith("f:") else _item_key(key)
        paths |= field_paths(sub, prefix + (step,))
    return paths


def value_paths(value, prefix: Path = ()) -> set[Path]:
    """Leaf paths of a desired entry, in the form of field_paths."""
    if isinstance(value, dict) and value:
        paths = set()
        for key, sub in value.items():
            paths |= value_paths(sub, prefix + (key,))
        return paths
    if isinstance(value, list) and value and all(isinstance(i, dict) and "port" in i
                                                 for i in value):
        paths = set()
        for item in value:
            paths |= value_paths(dict(item.items()),
                                 prefix + (f"[port={item['port']}]",))
        return paths
    return {prefix}


def owners(smcp: dict) -> dict[Key, dict[str, set[Path]]]:
    """Per entry, per field manager, the leaf paths it owns. Our own Apply entry is named
    FIELD_MANAGER; an Update by the same name (not ours to keep) is named 'FIELD_MANAGER (update)'.
    """
    found: dict[Key, dict[str, set[Path]]] = {}
    for managed in (smcp.get("metadata") or {}).get("managedFields") or []:
        if managed.get("subresource"):
            continue  # status
        manager = managed.get("manager") or "(unnamed)"
        if manager == FIELD_MANAGER and managed.get("operation") != "Apply":
            manager += " (update)"
        for key, fields in entries_of(managed.get("fieldsV1")).items():
            paths = field_paths(fields) or {()}  # the entry itself, nothing in it
            found.setdefault(key, {}).setdefault(manager, set()).update(paths)
    return found


def related(a: Path, b: Path) -> bool:
    n = min(len(a), len(b))
    return a[:n] == b[:n]


def extract(value, fields: dict):
    """The part of ``value`` that a fieldsV1 tree covers (what an owner applied)."""
    children = {k: v for k, v in (fields or {}).items() if k != "."}
    if not children or any(k[:2] in ("v:", "i:") for k in children):
        return copy.deepcopy(value) if children or not isinstance(value, dict) else {}
    if isinstance(value, list):
        out = []
        for key, sub in children.items():
            if key.startswith("k:"):
                want = json.loads(key[2:])
                for item in value:
                    if isinstance(item, dict) and all(item.get(k) == v for k, v in want.items()):
                        out.append({**want, **extract(item, sub)})
        return out
    out = {}
    for key, sub in children.items():
        if key.startswith("f:") and isinstance(value, dict) and key[2:] in value:
            out[key[2:]] = extract(value[key[2:]], sub)
    return out
