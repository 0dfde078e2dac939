# Copyright: (c) 2026, servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A mesh's per-peer federation gateways on its ServiceMeshControlPlane (federation_gateways).

The SMCP belongs to people or GitOps; the collection owns only its
``spec.gateways.additionalIngress.<ingress-peer>`` and ``additionalEgress.<egress-peer>``
entries, and says so with server-side apply under the field manager ``servicemesh.federation``:
one apply configuration per mesh that always holds every entry we should own. The API server
then keeps the ownership: fields we applied before and omit now are removed (that is how an
entry goes), unless another manager also owns them.

What one apply does is decided first (gateway_changes.py, by the ownership rules of ownership.py:
added, unchanged, adopted, updated, refused, removed or released); this file reads the SMCP,
writes the decision, decides again on a fresh read when the write finds the SMCP changed, and
waits for the gateway Services and the ingress addresses.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ansible_collections.servicemesh.federation.plugins.module_utils.client.watch import wait_for
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.errors import (
    ClusterError,
    TaskError,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.gateway_changes import (
    decide,
    deletion_patch,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.gateway_entries import (
    INGRESS,
    Key,
    desired_entries,
    link_gateways,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.kinds import (
    SERVICE,
    SERVICE_MESH_CONTROL_PLANE,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.link import GatewayLink
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.naming import (
    egress_gateway_name,
    ingress_gateway_name,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.ownership import (
    on_fresh_read,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.service.addresses import (
    NO_ADDRESS,
    reachable_address,
    read_node_addresses,
)

# ---------------------------------------------------------------------------------------------
# Desired entries


# ---------------------------------------------------------------------------------------------
# Field ownership (metadata.managedFields, fieldsV1)


# ---------------------------------------------------------------------------------------------
# Comparing


# ---------------------------------------------------------------------------------------------
# The cluster


def control_plane(cluster, namespace: str) -> dict:
    """The one ServiceMeshControlPlane of the mesh namespace."""
    items = cluster.list(SERVICE_MESH_CONTROL_PLANE, namespace)
    where = f"cluster {cluster.name}, namespace {namespace}"
    if not items:
        raise TaskError(f"{where}: no ServiceMeshControlPlane (install the control plane "
                        "first; its federation gateways are added to it)")
    if len(items) > 1:
        raise TaskError("{}: {} ServiceMeshControlPlanes ({}); expected exactly one".format(
            where, len(items), ", ".join(sorted(i["metadata"]["name"] for i in items))))
    return items[0]


def _ingress_types(desired: dict[Key, dict]) -> dict[str, str]:
    return {name: entry["service"].get("type", "LoadBalancer")
            for (kind, name), entry in desired.items() if kind == INGRESS}


def _gateway_state(services: dict, desired: dict[Key, dict], node_addresses,
                   address_optional=()) -> tuple:
    missing, no_address, ingress = [], [], {}
    for kind, name in desired:
        service = services.get(name)
        if service is None:
            missing.append(name)
            continue
        if kind == INGRESS:
            address = reachable_address(service, node_addresses)
            ingress[name] = address or dict(NO_ADDRESS)
            if address is None and name not in address_optional:
                no_address.append(name)
    return missing, no_address, ingress


def wait_for_gateways(cluster, namespace: str, desired: dict[Key, dict], timeout: float,
                      wait: bool = True, clock: Callable[[], float] = time.monotonic,
                      address_optional=()) -> dict:
    """The ingress addresses, after waiting (by watch) for every gateway Service and address.

    ``address_optional``: ingress gateways whose peer reaches them through an address override;
    their Service must exist, their address is not waited for.

    Raises TaskError at the timeout naming what is missing and the likely cause.
    """
    node_addresses = None
    if "NodePort" in _ingress_types(desired).values():
        node_addresses = read_node_addresses(cluster)

    def done(services):
        missing, no_address, _ingress = _gateway_state(services, desired, node_addresses,
                                                       address_optional)
        return not missing and not no_address

    if not wait:
        services = {s["metadata"]["name"]: s for s in cluster.list(SERVICE, namespace)}
        return _gateway_state(services, desired, node_addresses)[2]
    if "NodePort" in _ingress_types(desired).values() and not node_addresses:
        raise TaskError(f"cluster {cluster.name}, namespace {namespace}: a NodePort ingress "
                        "gateway needs the nodes' addresses, which cannot be read (allow "
                        "listing nodes, or set an address override and wait: false)")
    services, ok = wait_for(cluster, SERVICE, namespace, done, timeout, clock=clock)
    missing, no_address, ingress = _gateway_state(services, desired, node_addresses,
                                                  address_optional)
    if not ok:
        problems = []
        if missing:
            problems.append("no Service yet for {} (is the operator reconciling the "
                            "ServiceMeshControlPlane? see its status)".format(", ".join(missing)))
        if no_address:
            problems.append("no address yet for ingress {} (no load balancer in this cluster? "
                            "use ingress_service type NodePort, or an address override for the "
                            "peers)".format(", ".join(no_address)))
        raise TaskError("cluster {}, namespace {}: the federation gateways are not ready after "
                        "{}s: {}".format(cluster.name, namespace, int(timeout),
                                         "; ".join(problems)))
    return ingress


def _peer_filter(links: list[GatewayLink], peers: list | None) -> Callable[[Key], bool]:
    """For state=absent: whether one of our entries belongs to a peer being removed."""
    if not peers:
        return lambda key: True
    names = set()
    for peer in peers:
        link = next((li for li in links if li.get("peer") == peer), {"peer": peer})
        names |= set(link_gateways(link))
    return lambda key: key in names


def _prune_filter(peers: list | None) -> Callable[[Key], bool] | None:
    """For state=present: whether one of our entries the plan no longer gives may go. Only the
    default-named entries of the run's meshes: an entry for a mesh left out of the run (--limit)
    stays, and so does one whose name does not tell its peer."""
    if peers is None:
        return None
    names = {ingress_gateway_name(p) for p in peers} | {egress_gateway_name(p) for p in peers}
    return lambda key: key[1] in names


def desired_from_params(params: dict) -> dict[Key, dict]:
    """The desired entries (none for state=absent); bad input fails before any request."""
    if params.get("state") == "absent":
        return {}
    return desired_entries(params.get("links") or [])


def _decide_and_write(cluster, namespace: str, desired: dict[Key, dict], params: dict,
                      remove, check_mode: bool) -> dict:
    """Read the SMCP, decide its entries and write them.

    The write carries the resourceVersion read, so when the SMCP changes in between (the
    operator's status, another run's entries) the API refuses it; the entries are then decided
    again on a fresh read, a bounded number of times (ownership.on_fresh_read): nothing is
    written on a stale decision.
    """
    progress = {"before": cluster.writes, "deleted": False}
    return on_fresh_read(lambda _refused: _attempt(cluster, namespace, desired, params, remove,
                                                   check_mode, progress))


def _attempt(cluster, namespace: str, desired: dict[Key, dict], params: dict, remove,
             check_mode: bool, progress: dict) -> dict:
    """One read, decision and write; ``progress``: the write count before the first attempt,
    and whether an earlier attempt's deletion patch went through."""
    smcp = control_plane(cluster, namespace)
    plan = decide(smcp, desired, bool(params.get("take_over")), remove)
    changed = plan["write"] or bool(plan["deletions"])
    result = {"changed": changed, "writes": 0, "entries": plan["entries"],
              "diff": [], "ingress": {}}
    name = smcp["metadata"]["name"]
    if plan["refusals"]:
        raise TaskError(
            "cluster {}, mesh namespace {}: ServiceMeshControlPlane {} holds gateway entries "
            "the collection does not own that differ from the plan; nothing was written (set "
            "take_over to replace those fields):\n- {}".format(
                cluster.name, namespace, name, "\n- ".join(plan["refusals"])), result)
    if changed:
        header = f"ServiceMeshControlPlane {namespace}/{name} spec.gateways"
        result["diff"] = [{"before": plan["before"], "after": plan["after"],
                           "before_header": header, "after_header": header}]
    if not changed or check_mode:
        # An earlier attempt's deletion patch may have gone through before its apply failed.
        return dict(result, changed=changed or progress["deleted"],
                    writes=cluster.writes - progress["before"])
    try:
        if plan["deletions"]:
            smcp = cluster.patch(SERVICE_MESH_CONTROL_PLANE, namespace, name,
                                 deletion_patch(smcp, plan["deletions"]))
            progress["deleted"] = True
            if plan["config"]["metadata"].get("resourceVersion"):
                plan["config"]["metadata"]["resourceVersion"] = \
                    smcp["metadata"]["resourceVersion"]
        if plan["write"]:
            cluster.apply(plan["config"], force=plan["force"])
    except ClusterError as exc:  # decided again when stale, else reported with what was done
        exc.result = dict(result, changed=progress["deleted"],
                          writes=cluster.writes - progress["before"])
        raise
    result["writes"] = cluster.writes - progress["before"]
    return result


def converge(cluster, params: dict, check_mode: bool, desired: dict[Key, dict],
             clock: Callable[[], float] = time.monotonic) -> dict:
    namespace = params["namespace"]
    absent = params.get("state") == "absent"
    if absent:
        remove = _peer_filter(params.get("links") or [], params.get("peers"))
    else:
        remove = _prune_filter(params.get("prune_peers"))
    result = _decide_and_write(cluster, namespace, desired, params, remove, check_mode)
    if absent:
        return result
    try:
        # In check mode the gateways may not exist yet: report what is there, do not wait.
        result["ingress"] = wait_for_gateways(
            cluster, namespace, desired, params.get("timeout") or 300,
            wait=params.get("wait", True) and not check_mode, clock=clock,
            address_optional={link.get("ingress_gateway") or ingress_gateway_name(link["peer"])
                              for link in params.get("links") or []
                              if link.get("peer") and link.get("ingress_address_overridden")})
    except TaskError as exc:
        exc.result = {**result, **exc.result}
        raise
    return result
