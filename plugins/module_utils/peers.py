# Copyright: (c) 2026, servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bring one mesh namespace's CA ConfigMaps and ServiceMeshPeers to the plan (federation_peers).

Read first, decide everything, then write only the differences: a re-run reads two lists and
sends no write. Every decision is taken before the first write, so an object we may not touch
stops the task before anything changes. Check mode runs the same decisions and skips the
writes, so its `objects` and `diff` are exactly what a real run would do.
"""

from __future__ import annotations

from ansible_collections.servicemesh.federation.plugins.module_utils.cluster import (
    CONFIGMAP,
    SERVICE_MESH_PEER,
    ClusterError,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.common import TaskError
from ansible_collections.servicemesh.federation.plugins.module_utils.naming import (
    MANAGED_SELECTOR,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.objects import (
    ObjectError,
    desired_objects,
    diff_owned,
    is_managed,
    owned_fields,
)

GVK = {"ConfigMap": CONFIGMAP, "ServiceMeshPeer": SERVICE_MESH_PEER}
_CONTENT = {"ConfigMap": "data", "ServiceMeshPeer": "spec"}  # what istiod reads of each kind


def desired_state(namespace: str, links: list, peer_facts: dict) -> list[dict]:
    """The CA ConfigMaps, then the ServiceMeshPeers, for every link; checked before any request."""
    problems, configmaps, peers = [], [], []
    for link in links:
        peer = link.get("peer")
        if link.get("namespace") != namespace:
            problems.append("link to peer {!r} is for namespace {!r}, not {!r}".format(
                peer, link.get("namespace"), namespace))
            continue
        if peer not in peer_facts:
            problems.append(f"no peer_facts for peer {peer!r} (its mesh_info result)")
            continue
        try:
            configmap, smp = desired_objects(link, peer_facts[peer])
        except (ObjectError, KeyError) as exc:
            problems.append(f"link to peer {peer!r}: {exc}")
            continue
        configmaps.append(configmap)
        peers.append(smp)
    if problems:
        raise TaskError("namespace {}: cannot build the desired objects:\n- {}".format(
            namespace, "\n- ".join(problems)))
    # CA ConfigMaps first: istiod reads a peer's root when the ServiceMeshPeer appears.
    return configmaps + peers


def _read_actual(cluster, namespace: str, desired: list[dict]) -> dict:
    """(kind, name) -> object or None: one labelled list per kind, a get only for the rest."""
    actual = {}
    for kind, gvk in GVK.items():
        items = cluster.list(gvk, namespace, label_selector=MANAGED_SELECTOR)
        actual.update({(kind, item["metadata"]["name"]): item for item in items})
    for obj in desired:
        key = (obj["kind"], obj["metadata"]["name"])
        if key not in actual:  # not ours (yet): does something else by that name exist?
            actual[key] = cluster.get(GVK[obj["kind"]], namespace, key[1])
    return actual


def _with_our_labels(actual: dict, desired: dict) -> dict:
    merged = dict(actual, metadata=dict(actual["metadata"]))
    merged["metadata"]["labels"] = dict(actual["metadata"].get("labels") or {},
                                        **desired["metadata"]["labels"])
    return merged


def _merge_patch(actual: dict, desired: dict) -> dict:
    """Only the fields we own. resourceVersion makes the API refuse if the object changed since
    we read it, instead of overwriting someone else's edit."""
    patch = {"metadata": {"labels": desired["metadata"]["labels"],
                          "resourceVersion": actual["metadata"]["resourceVersion"]}}
    for field in ("data", "spec"):
        if field in desired:
            patch[field] = desired[field]
    return patch


def _for_display(diff: dict) -> dict:
    # Ansible's diff callback renders dicts; an absent side is shown as empty.
    return dict(diff, before=diff["before"] or {}, after=diff["after"] or {})


def ensure_present(cluster, namespace: str, desired: list[dict], take_over: bool,
                   check_mode: bool) -> dict:
    writes_before = cluster.writes
    actual = _read_actual(cluster, namespace, desired)
    steps, refused = [], []
    for obj in desired:
        kind, name = obj["kind"], obj["metadata"]["name"]
        current = actual[(kind, name)]
        diff = diff_owned(current, obj)
        if current is None:
            steps.append((obj, "created", diff, None))
        elif is_managed(current):
            steps.append((obj, "unchanged" if diff is None else "updated", diff, current))
        elif take_over:  # adopt: our label plus our fields
            steps.append((obj, "updated", diff, current))
        elif diff_owned(_with_our_labels(current, obj), obj) is None:
            # Same content, created by someone else: nothing to do, and not ours to delete.
            steps.append((obj, "unchanged", None, None))
        else:
            refused.append(f"{kind} {namespace}/{name}")
    if refused:
        raise TaskError(
            "cluster {}: refusing to overwrite object(s) not created by servicemesh.federation "
            "(no label {}) that differ from the plan: {}. Set take_over to adopt them, or "
            "remove them.".format(cluster.name, MANAGED_SELECTOR, ", ".join(refused)))

    reconfigured = _reconfigured(steps, actual)
    objects, diffs = [], []
    try:
        for obj, action, diff, current in steps:
            meta = obj["metadata"]
            if action != "unchanged":
                diffs.append(_for_display(diff))
                if not check_mode:
                    if action == "created":
                        cluster.create(obj)
                    else:
                        cluster.patch(GVK[obj["kind"]], namespace, meta["name"],
                                      _merge_patch(current, obj))
            objects.append({"kind": obj["kind"], "name": meta["name"], "action": action})
    except ClusterError as exc:
        exc.result = _result(cluster.writes - writes_before, objects, diffs)
        raise
    return dict(_result(cluster.writes - writes_before, objects, diffs),
                reconfigured={} if check_mode else reconfigured)


def _reconfigured(steps: list, actual: dict) -> dict:
    """Existing peers whose spec or CA root this run changes -> their status before the change.

    That status describes the old configuration until istiod reacts (at once for a spec change,
    at its next resync for a ConfigMap), so the wait must not take it as the answer. The status
    as read is also the status at the write: the patch carries the resourceVersion we read, so
    a status write in between makes the API refuse the patch.
    """
    changed = set()
    for obj, action, diff, _current in steps:
        content = _CONTENT[obj["kind"]]
        if action != "updated" or diff["before"].get(content) == diff["after"].get(content):
            continue  # created (no status yet), unchanged, or only our label added
        if obj["kind"] == "ServiceMeshPeer":
            changed.add(obj["metadata"]["name"])
        else:
            changed.update(smp["metadata"]["name"] for smp, *_rest in steps
                           if smp["kind"] == "ServiceMeshPeer"
                           and smp["spec"]["security"]["certificateChain"]["name"]
                           == obj["metadata"]["name"])
    return {name: (actual.get(("ServiceMeshPeer", name)) or {}).get("status")
            for name in sorted(changed) if actual.get(("ServiceMeshPeer", name))}


def ensure_absent(cluster, namespace: str, peers: list | None, check_mode: bool) -> dict:
    """Delete our objects (those with our label), ServiceMeshPeers before their ConfigMaps."""
    writes_before = cluster.writes
    managed = {}
    for kind, gvk in GVK.items():
        managed[kind] = cluster.list(gvk, namespace, label_selector=MANAGED_SELECTOR)
    smps = managed["ServiceMeshPeer"]
    configmaps = managed["ConfigMap"]
    absent = []
    if peers:
        smps = [s for s in smps if s["metadata"]["name"] in peers]
        chains = {((s.get("spec") or {}).get("security") or {}).get("certificateChain", {})
                  .get("name") for s in smps}
        wanted = chains | {f"{p}-ca-root-cert" for p in peers}
        configmaps = [c for c in configmaps if c["metadata"]["name"] in wanted]
        found = {s["metadata"]["name"] for s in smps}
        absent = [{"kind": "ServiceMeshPeer", "name": p, "action": "absent"}
                  for p in sorted(set(peers) - found)]

    objects, diffs = [], []
    try:
        for obj in sorted(smps, key=_name) + sorted(configmaps, key=_name):
            meta = obj["metadata"]
            action = "deleted"
            if not check_mode and not cluster.delete(
                GVK[obj["kind"]], namespace, meta["name"], uid=meta.get("uid", "")
            ):
                action = "absent"  # someone deleted it between our list and our delete
            if action == "deleted":
                diffs.append({"before": owned_fields(obj), "after": {},
                              "before_header": "{} {}/{}".format(
                                  obj["kind"], namespace, meta["name"]),
                              "after_header": "{} {}/{} (deleted)".format(
                                  obj["kind"], namespace, meta["name"])})
            objects.append({"kind": obj["kind"], "name": meta["name"], "action": action})
    except ClusterError as exc:
        exc.result = _result(cluster.writes - writes_before, objects + absent, diffs)
        raise
    return _result(cluster.writes - writes_before, objects + absent, diffs)


def _name(obj: dict) -> str:
    return obj["metadata"]["name"]


def _result(writes: int, objects: list, diffs: list) -> dict:
    changed = any(o["action"] in ("created", "updated", "deleted") for o in objects)
    return {"changed": changed, "objects": objects, "writes": writes, "diff": diffs}


def check_input(params: dict) -> list[dict]:
    """The desired objects for state=present (built and checked before any request)."""
    if params["state"] != "present":
        return []
    return desired_state(params["namespace"], params["links"], params["peer_facts"])


def apply_state(cluster, params: dict, check_mode: bool, desired: list[dict]) -> dict:
    if params["state"] == "present":
        return ensure_present(cluster, params["namespace"], desired, params["take_over"],
                              check_mode)
    return ensure_absent(cluster, params["namespace"], params["peers"], check_mode)
