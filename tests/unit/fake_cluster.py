"""An in-memory stand-in for module_utils.cluster.Cluster, for unit tests of pure logic.

It keeps objects per (kind, namespace, name), applies JSON merge patches (RFC 7386) the way
the API server does, bumps resourceVersion on every write, and records every request so tests
can assert what was (not) sent. Integration tests use the real lab instead.
"""

import copy
import itertools
import json

from ansible_collections.servicemesh.federation.plugins.module_utils.logic.errors import (
    ClusterError,
)


def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _field(obj, path):
    for key in path.split("."):
        obj = (obj or {}).get(key)
    return obj


def _selected(obj, label_selector, field_selector):
    labels = obj["metadata"].get("labels") or {}
    for term in (label_selector or "").split(",") if label_selector else ():
        key, value = term.split("=", 1)
        if labels.get(key) != value:
            return False
    for term in (field_selector or "").split(",") if field_selector else ():
        path, value = term.split("=", 1)
        if _field(obj, path) != value:
            return False
    return True

# --- server-side apply, as far as the SMCP gateway entries need it -----------------------------
# Field sets are sets of paths of fieldsV1 keys ("f:spec", ..., 'k:{"port":15443}', "f:name").
# Lists of mappings with a "port" are list-maps keyed by port; other lists are atomic.


def _is_port_list(value):
    return isinstance(value, list) and value and all(
        isinstance(i, dict) and "port" in i for i in value)


def _port_key(item):
    return "k:" + json.dumps({"port": item["port"]}, separators=(",", ":"))


def field_paths(value, prefix=()):
    """Leaf paths of a value (what applying it would own)."""
    if isinstance(value, dict) and value:
        paths = set()
        for key, sub in value.items():
            paths |= field_paths(sub, prefix + ("f:" + key,))
        return paths
    if _is_port_list(value):
        paths = set()
        for item in value:
            paths |= field_paths(item, prefix + (_port_key(item),))
        return paths
    return {prefix}


def fields_v1(paths):
    """A fieldsV1 tree from leaf paths (list items carry "." like the API server writes)."""
    tree = {}
    for path in sorted(paths):
        node = tree
        for step in path:
            node = node.setdefault(step, {})
            if step.startswith("k:"):
                node.setdefault(".", {})
    return tree


def paths_of(tree, prefix=()):
    children = {k: v for k, v in (tree or {}).items() if k != "."}
    if not children:
        return {prefix}
    paths = set()
    for key, sub in children.items():
        paths |= paths_of(sub, prefix + (key,))
    return paths


_MISSING = object()


def _child(value, step):
    if step.startswith("f:"):
        return value.get(step[2:], _MISSING) if isinstance(value, dict) else _MISSING
    want = json.loads(step[2:])
    for item in value if isinstance(value, list) else ():
        if all(item.get(k) == v for k, v in want.items()):
            return item
    return _MISSING


def value_at(value, path):
    for step in path:
        value = _child(value, step)
        if value is _MISSING:
            return _MISSING
    return value


def _set_at(value, path, leaf):
    for i, step in enumerate(path):
        last = i == len(path) - 1
        if step.startswith("f:"):
            if last:
                value[step[2:]] = copy.deepcopy(leaf)
                return
            nxt = path[i + 1]
            value = value.setdefault(step[2:], [] if nxt.startswith("k:") else {})
        else:
            item = _child(value, step)
            if item is _MISSING:
                item = json.loads(step[2:])
                value.append(item)
            value = item


def _remove_at(value, path, others=()):
    """Remove the leaf, then every parent left empty that no other manager owns a field in."""
    parents = []
    for step in path[:-1]:
        parents.append((value, step))
        value = _child(value, step)
        if value is _MISSING:
            return
    keys = json.loads(path[-2][2:]) if len(path) > 1 and path[-2].startswith("k:") else {}
    if isinstance(value, dict) and path[-1][2:] not in keys:  # an item goes with its last field
        value.pop(path[-1][2:], None)
    for depth, (parent, step) in reversed(list(enumerate(parents))):
        child = _child(parent, step)
        if any(p[:depth + 1] == path[:depth + 1] for p in others):
            break
        if child in ({}, []) or (step.startswith("k:") and set(child) <= set(
                json.loads(step[2:]))):
            if step.startswith("f:"):
                parent.pop(step[2:])
            else:
                parent.remove(child)
        else:
            break


def _related(a, b):
    n = min(len(a), len(b))
    return a[:n] == b[:n]


class FakeCluster:
    name = "'fake' (https://127.0.0.1:6443)"

    def __init__(self, objects=(), served=None):
        self.store = {}
        self.requests = []
        self.writes = 0
        self.served = served  # None: every kind served
        self.fail_on = {}  # (verb, kind, name) -> ClusterError to raise
        self.logs = {}  # pod name -> log text
        self._rv = itertools.count(100)
        self._uid = itertools.count(1)
        for obj in objects:
            self.put(obj)

    def put(self, obj):
        obj = copy.deepcopy(obj)
        meta = obj["metadata"]
        meta.setdefault("resourceVersion", str(next(self._rv)))
        meta.setdefault("uid", f"uid-{next(self._uid)}")
        self.store[(obj["kind"], meta.get("namespace", ""), meta["name"])] = obj
        return obj

    def object(self, kind, namespace, name):
        return self.store.get((kind, namespace, name))

    def _check(self, verb, kind, name=""):
        self.requests.append((verb, kind, name))
        error = self.fail_on.get((verb, kind, name))
        if error:
            raise error

    def version(self):
        return "v1.35.4"

    def serves(self, api_version, kind):
        return self.served is None or kind in self.served

    def get(self, gvk, namespace, name):
        self._check("get", gvk[1], name)
        return copy.deepcopy(self.object(gvk[1], namespace, name))

    def list(self, gvk, namespace, label_selector=None, field_selector=None):
        self._check("list", gvk[1])
        return [copy.deepcopy(o) for key, o in sorted(self.store.items())
                if key[0] == gvk[1] and (not namespace or key[1] == namespace)
                and _selected(o, label_selector, field_selector)]

    def list_versioned(self, gvk, namespace, label_selector=None, field_selector=None):
        return self.list(gvk, namespace, label_selector, field_selector), str(next(self._rv))

    def watch(self, gvk, namespace, resource_version, timeout):
        self._check("watch", gvk[1])
        yield from ()

    def pod_log(self, namespace, pod, container="", tail_lines=50):
        self._check("log", "Pod", pod)
        return self.logs[pod]

    def create(self, obj):
        meta = obj["metadata"]
        self._check("create", obj["kind"], meta["name"])
        self.writes += 1
        if self.object(obj["kind"], meta["namespace"], meta["name"]):
            raise ClusterError(self.name, "already exists (409)", "create", obj["kind"],
                               meta["namespace"], meta["name"], status=409,
                               status_reason="AlreadyExists")
        return self.put(obj)

    def patch(self, gvk, namespace, name, patch):
        self._check("patch", gvk[1], name)
        self.writes += 1
        current = self.object(gvk[1], namespace, name)
        wanted_rv = (patch.get("metadata") or {}).get("resourceVersion")
        if wanted_rv and wanted_rv != current["metadata"]["resourceVersion"]:
            raise ClusterError(self.name, "the object has been modified (409)", "update",
                               gvk[1], namespace, name, status=409, status_reason="Conflict")
        updated = merge_patch(current, patch)
        updated["metadata"]["resourceVersion"] = str(next(self._rv))
        self.store[(gvk[1], namespace, name)] = updated
        return copy.deepcopy(updated)

    def apply(self, obj, force=False, manager="servicemesh.federation"):
        """Server-side apply of `obj`'s spec (the SSA rules the gateway entries rely on):
        conflicts with other managers' differing fields (409 unless `force`), co-ownership of
        equal values, and removal of fields `manager` applied before, omits now, and nobody
        else owns. An existing object only; metadata.resourceVersion, when given, must match."""
        meta = obj["metadata"]
        kind, namespace, name = obj["kind"], meta.get("namespace", ""), meta["name"]
        self._check("apply", kind, name)
        self.requests[-1] += (copy.deepcopy(obj), force)
        self.writes += 1
        current = copy.deepcopy(self.object(kind, namespace, name))
        if current is None or (meta.get("resourceVersion") and meta["resourceVersion"]
                               != current["metadata"]["resourceVersion"]):
            raise ClusterError(self.name, "the object has been modified (409)", "apply", kind,
                               namespace, name, status=409, status_reason="Conflict")
        managed = current["metadata"].setdefault("managedFields", [])
        owned = {}
        for entry in managed:
            who = (entry["manager"], entry.get("operation"))
            owned[who] = paths_of(entry.get("fieldsV1")) - {()}
        ours = (manager, "Apply")
        config = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
        new = field_paths(config) - {()}
        conflicts = sorted(
            (who[0], path) for who, paths in owned.items() if who != ours for path in new
            if any(_related(path, p) for p in paths)
            and value_at(current, path) != value_at(config, path))
        if conflicts and not force:
            raise ClusterError(
                self.name, "Apply failed with {} conflicts: {} (409)".format(
                    len(conflicts), "; ".join(
                        'conflict with "{}": .{}'.format(m, ".".join(s[2:] for s in p))
                        for m, p in conflicts)), "apply", kind, namespace, name, status=409,
                status_reason="Conflict", causes=["FieldManagerConflict"] * len(conflicts))
        for who, path in conflicts:
            for key in list(owned):
                if key[0] == who:
                    owned[key] = {p for p in owned[key] if not _related(p, path)}
        for path in sorted(new):
            _set_at(current, path, value_at(config, path))
        others = {p for who, ps in owned.items() if who != ours for p in ps}
        for path in sorted(owned.get(ours, set()) - new, key=len, reverse=True):
            if not any(_related(path, p) for p in others):
                _remove_at(current, path, others)
        owned[ours] = new
        current["metadata"]["managedFields"] = [
            {"manager": who[0], "operation": who[1], "apiVersion": obj["apiVersion"],
             "fieldsType": "FieldsV1", "fieldsV1": fields_v1(paths)}
            for who, paths in owned.items() if paths]
        current["metadata"]["resourceVersion"] = str(next(self._rv))
        self.store[(kind, namespace, name)] = current
        return copy.deepcopy(current)

    def delete(self, gvk, namespace, name, uid=""):
        self._check("delete", gvk[1], name)
        self.writes += 1
        current = self.object(gvk[1], namespace, name)
        if current is None:
            return False
        if uid and current["metadata"]["uid"] != uid:
            raise ClusterError(self.name, "precondition failed: UID (409)", "delete", gvk[1],
                               namespace, name, status=409, status_reason="Conflict")
        del self.store[(gvk[1], namespace, name)]
        return True

    def writes_sent(self):
        return [r for r in self.requests if r[0] in ("create", "patch", "delete")]


class ScriptedCluster:
    """list() answers come from `lists`; each watch() call plays the next stream of `streams`:
    (events, seconds until the server ends it), or an exception to raise."""

    name = "'fake'"

    def __init__(self, lists, streams, clock):
        self.lists = list(lists)
        self.streams = list(streams)
        self.clock = clock
        self.calls = []

    def list_versioned(self, gvk, namespace):
        self.calls.append(("list",))
        items, rv = self.lists.pop(0)
        return items, rv

    def watch(self, gvk, namespace, resource_version, timeout):
        self.calls.append(("watch", resource_version, timeout))
        stream = self.streams.pop(0)
        if isinstance(stream, Exception):
            raise stream
        events, lasted = stream
        yield from events
        self.clock.now += lasted


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now
