# Copyright: (c) 2026, servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One reconcile engine for the labelled objects of a namespace, driven by per-kind descriptions.

Read first (one labelled list per kind, a get by name only for a desired object not listed),
decide every step, then write only the differences. Every decision is taken before the first
write, so an object we may not touch stops the task before anything changes. Check mode runs the
same decisions and skips the writes, so its `objects` and `diff` are exactly what a real run
would do. Writes go through cluster.create / patch, which ask for fieldValidation=Strict for
every kind.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import groupby

from ansible_collections.servicemesh.federation.plugins.module_utils.logic.errors import (
    ClusterError,
    TaskError,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.naming import (
    MANAGED_SELECTOR,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.objects import (
    diff_owned,
    is_managed,
    owned_fields,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.ownership import (
    ADOPT,
    CREATE,
    REFUSE,
    UNCHANGED,
    UPDATE,
    decide,
    on_fresh_read,
)


@dataclass(frozen=True)
class Kind:
    """What the engine needs to know about one kind.

    The order of the kinds given to the engine is the create order; deletes go in reverse.
    """

    kind: str
    gvk: tuple[str, str]
    content: str  # the field we own and istiod reads: "data" or "spec"
    # Own `content` whole: keys we do not set are removed (else they are left to others).
    whole: bool = False
    # state=present deletes our (labelled) objects of this kind that are no longer desired.
    prune: bool = False
    # Its status is what the wait reads: a content change makes the old status stale.
    has_status: bool = False
    # (kind fed, function: fed object -> name of the object of this kind it reads).
    feeds: tuple[str, Callable[[dict], str | None]] | None = None


def ensure_present(cluster, namespace: str, kinds: tuple[Kind, ...], desired: list[dict],
                   take_over: bool, check_mode: bool,
                   prunable: Callable[[str], bool] | None = None) -> dict:
    """Create / patch `desired`, delete our no-longer-desired objects of `prune` kinds (only
    those whose name `prunable` accepts, when given)."""
    writes_before = cluster.writes
    actual, managed = _read(cluster, namespace, kinds, desired)
    by_kind = {k.kind: k for k in kinds}
    steps, refused = [], []
    for obj in _in_order(kinds, desired):
        kind, name = by_kind[obj["kind"]], obj["metadata"]["name"]
        step = _step(kind, obj, actual[(kind.kind, name)], take_over)
        if step is None:
            refused.append(f"{kind.kind} {namespace}/{name}")
        else:
            steps.append(step)
    if refused:
        raise TaskError(
            "cluster {}: refusing to overwrite object(s) not created by servicemesh.federation "
            "(no label {}) that differ from the plan: {}. Set federation_take_over: true (module "
            "option take_over) to adopt them, or remove them.".format(
                cluster.name, MANAGED_SELECTOR, ", ".join(refused)))
    wanted = {(o["kind"], o["metadata"]["name"]) for o in desired}
    steps += _deletions(kinds, {k.kind: [o for o in managed[k.kind]
                                         if (k.kind, o["metadata"]["name"]) not in wanted
                                         and (prunable is None
                                              or prunable(o["metadata"]["name"]))]
                                for k in kinds if k.prune})
    result = _execute(cluster, namespace, steps, check_mode, writes_before, actual)
    result["reconfigured"] = {} if check_mode else _reconfigured(kinds, steps, actual)
    return result


def _step(kind: Kind, obj: dict, current: dict | None, take_over: bool) -> tuple | None:
    """(kind, object, action, diff, object as read) for one desired object; None: refused."""
    diff = diff_owned(current, obj, whole=kind.whole)
    # Ours: it carries our label, or we take it over (our label plus our fields).
    ours = current is not None and (is_managed(current) or take_over)
    differs = diff is not None
    if current is not None and not ours:  # someone else's: is the content what we want?
        differs = diff_owned(_with_our_labels(current, obj), obj, whole=kind.whole) is not None
    decision = decide(current is not None, ours, differs, take_over)
    if decision.action == REFUSE:
        return None
    if decision.action == ADOPT:
        # Same content, created by someone else: nothing to do, and not ours to delete.
        return (kind, obj, "unchanged", None, None)
    action = {CREATE: "created", UNCHANGED: "unchanged", UPDATE: "updated"}[decision.action]
    return (kind, obj, action, diff, current)


def ensure_absent(cluster, namespace: str, kinds: tuple[Kind, ...], check_mode: bool,
                  names: dict[str, set] | None = None) -> dict:
    """Delete our objects, all of them or those in `names` (kind -> names) and what feeds them."""
    writes_before = cluster.writes
    _actual, managed = _read(cluster, namespace, kinds, [])
    if names is not None:
        chosen = {k.kind: [o for o in managed[k.kind] if o["metadata"]["name"] in
                           names.get(k.kind, ())] for k in kinds}
        for k in kinds:  # a fed object going takes what it reads with it (e.g. its CA root)
            if k.feeds:
                fed, reads = k.feeds
                read = {reads(o) for o in chosen.get(fed, [])}
                chosen[k.kind] += [o for o in managed[k.kind] if o["metadata"]["name"] in read
                                   and o not in chosen[k.kind]]
        managed = chosen
    return _execute(cluster, namespace, _deletions(kinds, managed), check_mode, writes_before)


def _read(cluster, namespace: str, kinds, desired: list[dict]) -> tuple[dict, dict]:
    """((kind, name) -> object or None, kind -> our listed objects)."""
    managed = {k.kind: cluster.list(k.gvk, namespace, label_selector=MANAGED_SELECTOR)
               for k in kinds}
    actual = {(kind, o["metadata"]["name"]): o for kind, items in managed.items() for o in items}
    missing: dict[str, list[str]] = {}
    for obj in desired:
        if (obj["kind"], obj["metadata"]["name"]) not in actual:
            missing.setdefault(obj["kind"], []).append(obj["metadata"]["name"])
    # Not ours (yet): does something else by that name exist? One read for one name, else one
    # list of the kind: a first run creates 19 objects of each kind per mesh at N = 20.
    for k in kinds:
        names = missing.get(k.kind, [])
        if len(names) == 1:
            actual[k.kind, names[0]] = cluster.get(k.gvk, namespace, names[0])
        elif names:
            found = {o["metadata"]["name"]: o for o in cluster.list(k.gvk, namespace)}
            actual.update({(k.kind, name): found.get(name) for name in names})
    return actual, managed


def _in_order(kinds, objects: list[dict]) -> list[dict]:
    rank = {k.kind: i for i, k in enumerate(kinds)}
    return sorted(objects, key=lambda o: rank[o["kind"]])  # stable: the caller's order per kind


def _deletions(kinds, objects: dict[str, list]) -> list[tuple]:
    return [(k, obj, "deleted", None, obj) for k in reversed(kinds)
            for obj in sorted(objects.get(k.kind, []), key=lambda o: o["metadata"]["name"])]


def _with_our_labels(actual: dict, desired: dict) -> dict:
    merged = dict(actual, metadata=dict(actual["metadata"]))
    merged["metadata"]["labels"] = dict(actual["metadata"].get("labels") or {},
                                        **desired["metadata"]["labels"])
    return merged


def _replacing(actual, desired):
    """A merge patch turning `actual` into exactly `desired` (keys only in `actual` -> null)."""
    if not isinstance(desired, dict) or not isinstance(actual, dict):
        return desired
    patch = {k: None for k in actual if k not in desired}
    patch.update({k: _replacing(actual.get(k), v) for k, v in desired.items()})
    return patch


def _merge_patch(kind: Kind, actual: dict, desired: dict) -> dict:
    """Only the fields we own (a list in them is replaced whole, as merge patches do).
    resourceVersion makes the API refuse if the object changed since we read it, instead of
    overwriting someone else's edit."""
    content = desired[kind.content]
    if kind.whole:
        content = _replacing(actual.get(kind.content), content)
    metadata = {"labels": desired["metadata"]["labels"],
                "resourceVersion": actual["metadata"]["resourceVersion"]}
    if desired["metadata"].get("annotations"):  # ours only; others' annotations stay
        metadata["annotations"] = desired["metadata"]["annotations"]
    return {"metadata": metadata, kind.content: content}


def _deleted_diff(obj: dict, namespace: str) -> dict:
    where = "{} {}/{}".format(obj["kind"], namespace, obj["metadata"]["name"])
    return {"before": owned_fields(obj), "after": {}, "before_header": where,
            "after_header": f"{where} (deleted)"}


def _execute(cluster, namespace: str, steps: list, check_mode: bool, writes_before: int,
             actual: dict | None = None) -> dict:
    """The steps' writes. Those of one kind go out side by side, as many at once as the client
    allows (`parallel_writes`): independent objects, each a round trip to the API server (a mesh
    of 20 writes 76 objects on its first run). The kinds keep their order (a CA ConfigMap before
    the ServiceMeshPeer that reads it; deletions last). A failed write stops the run after its
    kind's other writes, with what was written in the result."""
    objects, diffs = [], []
    writers = getattr(cluster, "parallel_writes", 1)
    for _key, group in groupby(steps, key=lambda step: (step[0].kind, step[2] == "deleted")):
        group = list(group)
        if check_mode or writers == 1 or len(group) == 1:
            outcomes = [_outcome(cluster, namespace, step, check_mode, actual) for step in group]
        else:
            with ThreadPoolExecutor(max_workers=min(writers, len(group))) as pool:
                outcomes = list(pool.map(
                    lambda step: _outcome(cluster, namespace, step, check_mode, actual), group))
        failed = None
        for done, diff, error in outcomes:  # in the steps' order, whichever finished first
            if error is not None:
                failed = failed or error
                continue
            objects.append(done)
            if diff:
                diffs.append(diff)
        if failed is not None:
            failed.result = _result(cluster.writes - writes_before, objects, diffs)
            raise failed
    return _result(cluster.writes - writes_before, objects, diffs)


def _outcome(cluster, namespace: str, step: tuple, check_mode: bool, actual: dict | None) -> tuple:
    """(object entry, diff, None), or (None, None, the ClusterError) when the write failed."""
    try:
        return (*_execute_step(cluster, namespace, step, check_mode, actual), None)
    except ClusterError as exc:
        return None, None, exc


def _execute_step(cluster, namespace: str, step: tuple, check_mode: bool,
                  actual: dict | None) -> tuple[dict, dict | None]:
    """One step written (or, in check mode, not): its entry in `objects` and its diff."""
    kind, obj, action, diff, current = step
    name = obj["metadata"]["name"]
    if action == "deleted":
        if not check_mode and not cluster.delete(
                kind.gvk, namespace, name, uid=obj["metadata"].get("uid", "")):
            return {"kind": kind.kind, "name": name, "action": "absent"}, None  # deleted since
        return {"kind": kind.kind, "name": name, "action": action}, _deleted_diff(obj, namespace)
    if action != "unchanged":
        if not check_mode and action == "created":
            cluster.create(obj)
        elif not check_mode:
            current = _patch(cluster, kind, namespace, obj, current)
            if actual is not None:  # the status _reconfigured reports is this one's
                actual[(kind.kind, name)] = current
            diff = diff_owned(current, obj, whole=kind.whole)
            action = "updated" if diff else "unchanged"
    # Ansible's diff callback renders dicts; an absent side is shown as empty.
    shown = dict(diff, before=diff["before"] or {}, after=diff["after"] or {}) if diff else None
    return {"kind": kind.kind, "name": name, "action": action}, shown


def _patch(cluster, kind: Kind, namespace: str, desired: dict, current: dict) -> dict:
    """Patch `current` into `desired`; returns the object as read just before the patch that
    went through (or the object already holding `desired`).

    The patch carries the resourceVersion we read, so the API refuses it (409) when the object
    changed in between. When only its status (or server-set metadata) changed, typically istiod
    writing a peer's status, the patch is sent again on a fresh read, a bounded number of times.
    When its content changed, someone else edited it: that edit is not overwritten (the 409 is
    raised, naming the object), unless it already is what we want.
    """
    name = desired["metadata"]["name"]
    read = [current]  # the object the patch is built on: as read, then each fresh read

    def attempt(refused: ClusterError | None) -> dict:
        if refused is not None:
            again = cluster.get(kind.gvk, namespace, name)
            if again is not None and diff_owned(again, desired, whole=kind.whole) is None:
                return again  # someone else wrote what we wanted: nothing left to send
            if again is None or owned_fields(again) != owned_fields(read[-1]):
                raise refused
            read.append(again)
        cluster.patch(kind.gvk, namespace, name, _merge_patch(kind, read[-1], desired))
        return read[-1]

    return on_fresh_read(attempt)


def _result(writes: int, objects: list, diffs: list) -> dict:
    changed = any(o["action"] in ("created", "updated", "deleted") for o in objects)
    return {"changed": changed, "objects": objects, "writes": writes, "diff": diffs}


def _reconfigured(kinds, steps: list, actual: dict) -> dict:
    """Existing objects with a status whose content, or the content of an object feeding them,
    this run changes -> their status before the change.

    That status describes the old configuration until the controller reacts, so a wait must not
    take it as the answer. The status as read is also the status at the write: the patch carries
    the resourceVersion we read, so a status write in between makes the API refuse the patch,
    and the patch that goes through was built on a fresh read, which `actual` then holds.
    """
    desired = {}
    for _kind, obj, action, _diff, _current in steps:
        if action != "deleted":
            desired.setdefault(obj["kind"], []).append(obj)
    changed = set()
    for kind, obj, action, diff, _current in steps:
        if action != "updated" or diff["before"].get(kind.content) == diff["after"].get(
                kind.content):
            continue  # created (no status yet), unchanged, deleted, or only our label added
        if kind.has_status:
            changed.add((kind.kind, obj["metadata"]["name"]))
        if kind.feeds:
            fed, reads = kind.feeds
            changed.update((fed, o["metadata"]["name"]) for o in desired.get(fed, [])
                           if reads(o) == obj["metadata"]["name"])
    with_status = {k.kind for k in kinds if k.has_status}
    return {name: actual[(kind, name)].get("status") for kind, name in sorted(changed)
            if kind in with_status and actual.get((kind, name))}
