# Copyright: (c) 2026, servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What one server-side apply of a mesh's gateway entries would do, decided on the SMCP as read
(the ownership rules are ownership.py's; field owners are managed_fields.py's):
- absent: added;
- ours: unchanged when the apply would change nothing, else updated;
- someone else's and what we would write is already there: adopted without a write (if
  another change makes us apply, the entry is in the configuration and we co-own it);
- someone else's and different (or ours, but a field we would change is owned by another
  manager, which the API server would call a conflict): refused, naming the fields, unless
  ``take_over`` (the apply is then forced);
- ours and no longer planned: removed (released when other managers co-own it).
Pure Python."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field

from ansible_collections.servicemesh.federation.plugins.module_utils.logic.gateway_entries import (
    EGRESS,
    FIELD,
    INGRESS,
    Key,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.kinds import (
    SERVICE_MESH_CONTROL_PLANE,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.managed_fields import (
    Path,
    entries_of,
    extract,
    owners,
    related,
    value_paths,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.naming import (
    FIELD_MANAGER,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.ownership import (
    ADOPT,
    CREATE,
    REFUSE,
    UNCHANGED,
    UPDATE,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.ownership import (
    decide as decide_ownership,
)


def differences(actual, desired, prefix: Path = ()) -> list[tuple[Path, object, object]]:
    """(path, before, after) for what applying ``desired`` would change in ``actual``.

    Fields or port items the entry has beyond ours are not differences: the apply leaves them
    to their owner.
    """
    if isinstance(desired, dict):
        actual = actual if isinstance(actual, dict) else {}
        found = []
        for key, value in desired.items():
            found += differences(actual.get(key), value, prefix + (key,))
        return found
    if isinstance(desired, list) and desired and all(isinstance(i, dict) for i in desired):
        by_port = {i.get("port"): i for i in actual or [] if isinstance(i, dict)}
        found = []
        for item in desired:
            step = prefix + (f"[port={item['port']}]",)
            if item["port"] not in by_port:
                found.append((step, None, item))
            else:
                found += differences(by_port[item["port"]], item, step)
        return found
    return [] if actual == desired else [(prefix, actual, desired)]


def path_text(key: Key, path: Path) -> str:
    return ".".join((FIELD[key[0]], key[1]) + tuple(path))


def _gateway_field(smcp: dict, kind: str) -> dict:
    return ((smcp.get("spec") or {}).get("gateways") or {}).get(FIELD[kind]) or {}


@dataclass
class _Changes:
    """What the entries of one apply come to, gathered entry by entry."""

    entries: list = field(default_factory=list)
    refusals: list = field(default_factory=list)
    config: dict = field(default_factory=dict)  # the entries the apply configuration holds
    deletions: list = field(default_factory=list)
    before: dict = field(default_factory=dict)
    after: dict = field(default_factory=dict)
    write: bool = False
    force: bool = False

    def show(self, key: Key, before, after) -> None:
        self.before.setdefault(FIELD[key[0]], {})[key[1]] = before
        self.after.setdefault(FIELD[key[0]], {})[key[1]] = after

    def configure(self, key: Key, entry: dict) -> None:
        self.config.setdefault(FIELD[key[0]], {})[key[1]] = entry


def decide(smcp: dict, desired: dict[Key, dict], take_over: bool,
           remove: Callable[[Key], bool] | None = None) -> dict:
    """What one apply would do: entries with actions, the apply configuration, refusals.

    ``desired``: the entries to own. ``remove``: for our entries not in ``desired``, whether to
    drop them (default: all of them); those kept are re-applied as they are.
    """
    all_owners = owners(smcp)
    changes = _Changes()
    for key, entry in desired.items():
        _decide_planned(changes, smcp, key, entry, all_owners.get(key, {}), take_over)
    # Our entries the plan no longer gives.
    for key, entry_owners in sorted(all_owners.items()):
        if key not in desired and FIELD_MANAGER in entry_owners:
            _decide_unplanned(changes, smcp, key, entry_owners, remove)
    return {"entries": changes.entries, "refusals": changes.refusals, "write": changes.write,
            "force": changes.force, "config": _apply_config(smcp, changes.config),
            "deletions": changes.deletions, "before": changes.before, "after": changes.after}


def _decide_planned(changes: _Changes, smcp: dict, key: Key, entry: dict,
                    entry_owners: dict[str, set[Path]], take_over: bool) -> None:
    """One entry the plan gives, by the ownership rules (ownership.decide)."""
    kind, name = key
    actual = _gateway_field(smcp, kind).get(name)
    others = {m: p for m, p in entry_owners.items() if m != FIELD_MANAGER}
    ours = FIELD_MANAGER in entry_owners
    changes.configure(key, entry)
    other_kind = EGRESS if kind == INGRESS else INGRESS
    if name in _gateway_field(smcp, other_kind):
        changes.refusals.append(f"{path_text(key, ())}: {FIELD[other_kind]}.{name} already "
                                "exists (gateway names are unique across ingress and egress)")
        return
    found = differences(actual, entry) if actual is not None else []
    wanted = value_paths(entry)
    dropped = [p for p in entry_owners.get(FIELD_MANAGER, set())
               if p and not any(related(p, w) and len(p) <= len(w) for w in wanted)]
    contested = sorted({m for path, _b, _a in found for m, paths in others.items()
                        if any(related(path, p) for p in paths)})
    decision = decide_ownership(actual is not None, ours, bool(found or dropped), take_over,
                                bool(contested))
    if decision.action == REFUSE:
        changes.refusals.append("{} differs from the plan and is {} ({}): {}".format(
            path_text(key, ()),
            "owned by " + ", ".join(contested) if ours else "not the collection's",
            "owners: " + (", ".join(sorted(others)) or "unknown"),
            "; ".join(f"{path_text(key, p)}: {json.dumps(b)} -> {json.dumps(a)}"
                      for p, b, a in found)))
        return
    action = {CREATE: "added", UNCHANGED: "unchanged", ADOPT: "adopted",
              UPDATE: "updated"}[decision.action]
    if decision.action in (CREATE, UPDATE):
        changes.write = True
        changes.force = changes.force or decision.force
        changes.show(key, copy.deepcopy(actual) if actual is not None else None, entry)
    changes.entries.append({"name": name, "kind": kind, "action": action})


def _decide_unplanned(changes: _Changes, smcp: dict, key: Key, entry_owners: dict,
                      remove: Callable[[Key], bool] | None) -> None:
    """One of our entries the plan no longer gives: kept as it is, removed, or released."""
    kind, name = key
    actual = _gateway_field(smcp, kind).get(name)
    if actual is None:
        return
    others = sorted(m for m in entry_owners if m != FIELD_MANAGER)
    if remove is not None and not remove(key):
        # Kept as it is: re-apply exactly what we own of it.
        ours_fields = next(entries_of(m.get("fieldsV1"))[key]
                           for m in smcp["metadata"]["managedFields"]
                           if m.get("manager") == FIELD_MANAGER
                           and m.get("operation") == "Apply" and not m.get("subresource")
                           and key in entries_of(m.get("fieldsV1")))
        changes.configure(key, extract(actual, ours_fields))
        return
    item = {"name": name, "kind": kind, "action": "released" if others else "removed"}
    if others:
        item["owners"] = others  # the entry stays: other managers own fields in it
        changes.write = True
    else:
        changes.deletions.append(key)
    changes.entries.append(item)
    changes.show(key, copy.deepcopy(actual), copy.deepcopy(actual) if others else None)


def _apply_config(smcp: dict, config: dict) -> dict:
    meta = smcp["metadata"]
    apply_config = {
        "apiVersion": SERVICE_MESH_CONTROL_PLANE[0],
        "kind": SERVICE_MESH_CONTROL_PLANE[1],
        # resourceVersion: the apply fails (409) if the SMCP changed since it was read, and
        # never creates an SMCP that was deleted meanwhile.
        "metadata": {"name": meta["name"], "namespace": meta["namespace"],
                     "resourceVersion": meta.get("resourceVersion")},
    }
    if not meta.get("resourceVersion"):
        del apply_config["metadata"]["resourceVersion"]
    if config:  # no entries left: apply no spec at all, which releases everything we owned
        apply_config["spec"] = {"gateways": config}
    return apply_config


def deletion_patch(smcp: dict, deletions: list[Key]) -> dict:
    """A merge patch deleting entries only we own, guarded by the resourceVersion we read.

    Not an apply that omits them: when the last entry of a map goes and another manager owns
    the (then empty) map, the API server turns it into null, which the SMCP schema refuses.
    """
    gateways: dict = {}
    for kind, name in deletions:
        gateways.setdefault(FIELD[kind], {})[name] = None
    return {"metadata": {"resourceVersion": smcp["metadata"].get("resourceVersion")},
            "spec": {"gateways": gateways}}
