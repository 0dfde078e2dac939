"""A scripted cluster with lists and watch streams per kind, for waits over several kinds.

Like fake_cluster.ScriptedCluster, but ``lists`` and ``streams`` map a kind to its own script,
and every call records the kind. Event, Pod and Deployment lists (the diagnostics) are empty.
"""


class KindScriptedCluster:
    name = "'fake'"

    def __init__(self, lists, streams, clock):
        self.lists = {kind: list(script) for kind, script in lists.items()}
        self.streams = {kind: list(script) for kind, script in streams.items()}
        self.clock = clock
        self.calls = []

    def list_versioned(self, gvk, namespace):
        self.calls.append(("list", gvk[1]))
        return self.lists[gvk[1]].pop(0)

    def list(self, gvk, namespace, **selectors):
        if gvk[1] in ("Event", "Pod", "Deployment"):
            return []
        return self.list_versioned(gvk, namespace)[0]

    def watch(self, gvk, namespace, resource_version, timeout):
        self.calls.append(("watch", gvk[1], resource_version, timeout))
        stream = self.streams[gvk[1]].pop(0)
        if isinstance(stream, Exception):
            raise stream
        events, lasted = stream
        yield from events
        self.clock.now += lasted
