# Copyright: (c) 2026, servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Wait for conditions on the objects of one or more kinds in a namespace, driven by watch events.

List once, then watch from the list's resourceVersion and keep a name -> object cache up to
date; re-list only when the API server says the resourceVersion has expired (410 Gone). The
API server ends each watch at the deadline, so there is no polling and no fixed sleep.

Several kinds (wait_for_all) are waited for in turn, one watch per kind, each only while its
own condition is false: the wait is over once every kind's condition held with no watch (no
time) in between, so a kind that was satisfied earlier is listed again after another kind
needed a watch.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from ansible_collections.servicemesh.federation.plugins.module_utils.logic.errors import (
    ClusterError,
)

Objects = dict  # name -> object, as the API returns it
GVK = tuple  # (apiVersion, kind)


def _relist(cluster, gvk, namespace) -> tuple[Objects, str]:
    items, resource_version = cluster.list_versioned(gvk, namespace)
    return {item["metadata"]["name"]: item for item in items}, resource_version


def _wait(cluster, gvk, namespace, done, deadline, clock) -> tuple[Objects, bool, bool]:
    """(objects, whether done, whether a watch was needed): the list, then watch until done."""
    objects, resource_version = _relist(cluster, gvk, namespace)
    watched = False
    while not done(objects):
        remaining = deadline - clock()
        if remaining <= 0:
            return objects, False, watched
        watched = True
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
                    return objects, True, watched
        except ClusterError as exc:
            if exc.status != 410:
                raise
            objects, resource_version = _relist(cluster, gvk, namespace)
        # The stream ended (server-side timeout or 410): loop re-checks the deadline.
    return objects, True, watched


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
    objects, done_in_time, _version = _wait(cluster, gvk, namespace, done, clock() + timeout, clock)
    return objects, done_in_time


def wait_for_all(
    cluster,
    namespace: str,
    conditions: dict[GVK, Callable[[Objects], bool]],
    timeout: float,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[dict[GVK, Objects], bool]:
    """Return (gvk -> objects by name, whether every kind's condition held before `timeout`).

    `conditions` maps each kind to the condition on its objects; kinds are waited for in the
    given order. On a timeout the other kinds are listed again, so every kind's objects are
    current for the caller's evaluation.
    """
    deadline = clock() + timeout
    seen: dict[GVK, Objects] = {}
    held: set = set()  # kinds whose condition held, with no watch since
    while len(held) < len(conditions):
        for gvk, done in conditions.items():
            if gvk in held:
                continue
            objects, ok, watched = _wait(cluster, gvk, namespace, done, deadline, clock)
            seen[gvk] = objects
            if not ok:
                for other in conditions:
                    if other != gvk:
                        seen[other] = _relist(cluster, other, namespace)[0]
                return seen, False
            held = {gvk} | (set() if watched else held)
    return seen, True
