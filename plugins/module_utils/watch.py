# Copyright: (c) 2026, servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Wait for a condition on the objects of one kind in a namespace, driven by watch events.

List once, then watch from the list's resourceVersion and keep a name -> object cache up to
date; re-list only when the API server says the resourceVersion has expired (410 Gone). The
API server ends each watch at the deadline, so there is no polling and no fixed sleep.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from ansible_collections.servicemesh.federation.plugins.module_utils.cluster import ClusterError

Objects = dict  # name -> object, as the API returns it


def _relist(cluster, gvk, namespace) -> tuple[Objects, str]:
    items, resource_version = cluster.list_versioned(gvk, namespace)
    return {item["metadata"]["name"]: item for item in items}, resource_version


def wait_for(
    cluster,
    gvk: tuple[str, str],
    namespace: str,
    done: Callable[[Objects], bool],
    timeout: float,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[Objects, bool]:
    """Return (objects by name, whether `done(objects)` became true before `timeout` seconds).

    `done` is evaluated on the listed state and after every watch event.
    """
    deadline = clock() + timeout
    objects, resource_version = _relist(cluster, gvk, namespace)
    while not done(objects):
        remaining = deadline - clock()
        if remaining <= 0:
            return objects, False
        try:
            for event_type, obj in cluster.watch(
                gvk, namespace, resource_version, max(1, math.ceil(remaining))
            ):
                if event_type == "ERROR":  # the client raises for these; be defensive
                    raise ClusterError(cluster.name, obj.get("message", "watch error"),
                                       status=obj.get("code"))
                meta = obj["metadata"]
                resource_version = meta.get("resourceVersion", resource_version)
                if event_type == "DELETED":
                    objects.pop(meta["name"], None)
                elif event_type in ("ADDED", "MODIFIED"):
                    objects[meta["name"]] = obj
                if done(objects):
                    return objects, True
        except ClusterError as exc:
            if exc.status != 410:
                raise
            objects, resource_version = _relist(cluster, gvk, namespace)
        # The stream ended (server-side timeout or 410): loop re-checks the deadline.
    return objects, True
