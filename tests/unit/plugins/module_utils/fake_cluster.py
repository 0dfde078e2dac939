"""An in-memory stand-in for module_utils.cluster.Cluster, for unit tests of pure logic.

It keeps objects per (kind, namespace, name), applies JSON merge patches (RFC 7386) the way
the API server does, bumps resourceVersion on every write, and records every request so tests
can assert what was (not) sent. Integration tests use the real lab instead.
"""

import copy
import itertools

from ansible_collections.servicemesh.federation.plugins.module_utils.cluster import ClusterError


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
                               meta["namespace"], meta["name"], status=409)
        return self.put(obj)

    def patch(self, gvk, namespace, name, patch):
        self._check("patch", gvk[1], name)
        self.writes += 1
        current = self.object(gvk[1], namespace, name)
        wanted_rv = (patch.get("metadata") or {}).get("resourceVersion")
        if wanted_rv and wanted_rv != current["metadata"]["resourceVersion"]:
            raise ClusterError(self.name, "the object has been modified (409)", "update",
                               gvk[1], namespace, name, status=409)
        updated = merge_patch(current, patch)
        updated["metadata"]["resourceVersion"] = str(next(self._rv))
        self.store[(gvk[1], namespace, name)] = updated
        return copy.deepcopy(updated)

    def delete(self, gvk, namespace, name, uid=""):
        self._check("delete", gvk[1], name)
        self.writes += 1
        current = self.object(gvk[1], namespace, name)
        if current is None:
            return False
        if uid and current["metadata"]["uid"] != uid:
            raise ClusterError(self.name, "precondition failed: UID (409)", "delete", gvk[1],
                               namespace, name, status=409)
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
