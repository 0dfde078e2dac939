# Copyright: (c) 2026, servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A mesh's per-peer federation gateways on its ServiceMeshControlPlane (federation_gateways).

The SMCP belongs to people or GitOps; the collection owns only its
``spec.gateways.additionalIngress.<ingress-peer>`` and ``additionalEgress.<egress-peer>``
entries, and says so with server-side apply under the field manager ``servicemesh.federation``:
one apply configuration per mesh that always holds every entry we should own. The API server
then keeps the ownership: fields we applied before and omit now are removed (that is how an
entry goes), unless another manager also owns them.

Before writing, the entries are compared with the SMCP as read (fact sheet §4.2, §8):
- absent: added;
- ours: unchanged when the apply would change nothing, else updated;
- someone else's and what we would write is already there: adopted without a write (if
  another change makes us apply, the entry is in the configuration and we co-own it);
- someone else's and different (or ours, but a field we would change is owned by another
  manager, which the API server would call a conflict): refused, naming the fields, unless
  ``take_over`` (the apply is then forced).
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable

from ansible_collections.servicemesh.federation.plugins.module_utils.cluster import (
    CONFLICT_REREADS,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.errors import (
    ClusterError,
    TaskError,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.ingress_addresses import (
    NO_ADDRESS,
    reachable_address,
    read_node_addresses,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.kinds import (
    SERVICE,
    SERVICE_MESH_CONTROL_PLANE,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.naming import (
    DEFAULT_DISCOVERY_PORT,
    DEFAULT_SERVICE_PORT,
    FIELD_MANAGER,
    RESERVED_GATEWAYS,
    egress_gateway_name,
    ingress_gateway_name,
    network_name,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.watch import wait_for

INGRESS, EGRESS = "ingress", "egress"
FIELD = {INGRESS: "additionalIngress", EGRESS: "additionalEgress"}
SERVICE_TYPES = ("LoadBalancer", "NodePort")

Key = tuple  # (INGRESS | EGRESS, gateway name)
Path = tuple  # field path inside one entry; keyed list items as "[port=15443]"


# ---------------------------------------------------------------------------------------------
# Desired entries


def _ports(discovery_name: str, node_ports: dict | None) -> list[dict]:
    ports = [{"port": DEFAULT_SERVICE_PORT, "name": "tls"},
             {"port": DEFAULT_DISCOVERY_PORT, "name": discovery_name}]
    if node_ports:
        ports[0]["nodePort"] = node_ports["service"]
        ports[1]["nodePort"] = node_ports["discovery"]
    return ports


def ingress_entry(name: str, ingress_service: dict | None = None) -> dict:
    """``additionalIngress.<name>``: the documented form (no routerMode: obsolete after 2.1)."""
    override = ingress_service or {}
    metadata = {"labels": {"federation.maistra.io/ingress-for": name}}
    if override.get("annotations"):
        metadata["annotations"] = dict(override["annotations"])
    return {
        "enabled": True,
        "service": {
            "type": override.get("type") or "LoadBalancer",
            "metadata": metadata,
            "ports": _ports("https-discovery", override.get("node_ports")),
        },
    }


def egress_entry(name: str, network: str) -> dict:
    """``additionalEgress.<name>``: sees only the peer's network (fact sheet §4.2)."""
    return {
        "enabled": True,
        "requestedNetworkView": [network],
        "service": {
            "metadata": {"labels": {"federation.maistra.io/egress-for": name}},
            "ports": _ports("http-discovery", None),
        },
    }


def link_gateways(link: dict) -> dict[Key, str]:
    """The entries of one link -> the peer they are for."""
    peer = link["peer"]
    return {(INGRESS, link.get("ingress_gateway") or ingress_gateway_name(peer)): peer,
            (EGRESS, link.get("egress_gateway") or egress_gateway_name(peer)): peer}


def desired_entries(links: list) -> dict[Key, dict]:
    """Every entry the links ask for, checked before any request (all problems at once)."""
    problems, desired, peer_of = [], {}, {}
    for link in links:
        peer = link.get("peer")
        if not peer:
            problems.append(f"a link has no peer: {link!r}")
            continue
        service = link.get("ingress_service") or {}
        if (service.get("type") or "LoadBalancer") not in SERVICE_TYPES:
            problems.append("peer {!r}: ingress_service.type {!r} is not one of {}".format(
                peer, service.get("type"), ", ".join(SERVICE_TYPES)))
        node_ports = service.get("node_ports")
        if node_ports and not all(isinstance(node_ports.get(k), int)
                                  for k in ("discovery", "service")):
            problems.append(f"peer {peer!r}: ingress_service.node_ports needs integer "
                            "'discovery' and 'service' ports")
            node_ports = None
        for key in link_gateways(link):
            kind, name = key
            if name in RESERVED_GATEWAYS:
                problems.append(f"peer {peer!r}: gateway name {name!r} is reserved by the "
                                "operator")
            other = peer_of.get(name)
            if other is not None:
                problems.append(f"gateway name {name!r} is used for both peer {other!r} and "
                                f"peer {peer!r} (names are unique across ingress and egress)")
                continue
            peer_of[name] = peer
            if kind == INGRESS:
                desired[key] = ingress_entry(name, dict(service, node_ports=node_ports))
            else:
                desired[key] = egress_entry(name, link.get("network") or network_name(peer))
    if problems:
        raise TaskError("cannot build the gateway entries:\n- " + "\n- ".join(problems))
    return desired


# ---------------------------------------------------------------------------------------------
# Field ownership (metadata.managedFields, fieldsV1)


def _entries_of(fields: dict) -> dict[Key, dict]:
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
        for key, fields in _entries_of(managed.get("fieldsV1")).items():
            paths = field_paths(fields) or {()}  # the entry itself, nothing in it
            found.setdefault(key, {}).setdefault(manager, set()).update(paths)
    return found


def _related(a: Path, b: Path) -> bool:
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


# ---------------------------------------------------------------------------------------------
# Comparing


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


def decide(smcp: dict, desired: dict[Key, dict], take_over: bool,
           remove: Callable[[Key], bool] | None = None) -> dict:
    """What one apply would do: entries with actions, the apply configuration, refusals.

    ``desired``: the entries to own. ``remove``: for our entries not in ``desired``, whether to
    drop them (default: all of them); those kept are re-applied as they are.
    """
    all_owners = owners(smcp)
    entries, refusals, config, deletions = [], [], {}, []
    diff_before, diff_after = {}, {}
    write = force = False

    def show(key, before, after):
        diff_before.setdefault(FIELD[key[0]], {})[key[1]] = before
        diff_after.setdefault(FIELD[key[0]], {})[key[1]] = after

    for key, entry in desired.items():
        kind, name = key
        actual = _gateway_field(smcp, kind).get(name)
        entry_owners = all_owners.get(key, {})
        others = {m: p for m, p in entry_owners.items() if m != FIELD_MANAGER}
        ours = FIELD_MANAGER in entry_owners
        config.setdefault(FIELD[kind], {})[name] = entry
        other_kind = EGRESS if kind == INGRESS else INGRESS
        if name in _gateway_field(smcp, other_kind):
            refusals.append(f"{path_text(key, ())}: {FIELD[other_kind]}.{name} already exists "
                            "(gateway names are unique across ingress and egress)")
            continue
        if actual is None:
            entries.append({"name": name, "kind": kind, "action": "added"})
            show(key, None, entry)
            write = True
            continue
        changes = differences(actual, entry)
        ours_paths = entry_owners.get(FIELD_MANAGER, set())
        wanted = value_paths(entry)
        dropped = [p for p in ours_paths if p and not any(_related(p, w) and len(p) <= len(w)
                                                          for w in wanted)]
        contested = sorted({m for path, _b, _a in changes for m, paths in others.items()
                            if any(_related(path, p) for p in paths)})
        if not changes and not dropped:
            action = "unchanged" if ours else "adopted"
        elif (not ours or contested) and not take_over:
            refusals.append("{} differs from the plan and is {} ({}): {}".format(
                path_text(key, ()),
                "owned by " + ", ".join(contested) if ours else "not the collection's",
                "owners: " + (", ".join(sorted(others)) or "unknown"),
                "; ".join(f"{path_text(key, p)}: {json.dumps(b)} -> {json.dumps(a)}"
                          for p, b, a in changes)))
            continue
        else:
            action = "updated"
            force = force or bool(contested) or not ours
            write = True
            show(key, copy.deepcopy(actual), entry)
        entries.append({"name": name, "kind": kind, "action": action})

    # Our entries the plan no longer gives.
    for key, entry_owners in sorted(all_owners.items()):
        if key in desired or FIELD_MANAGER not in entry_owners:
            continue
        kind, name = key
        actual = _gateway_field(smcp, kind).get(name)
        if actual is None:
            continue
        others = sorted(m for m in entry_owners if m != FIELD_MANAGER)
        if remove is not None and not remove(key):
            # Kept as it is: re-apply exactly what we own of it.
            ours_fields = next(_entries_of(m.get("fieldsV1"))[key]
                               for m in smcp["metadata"]["managedFields"]
                               if m.get("manager") == FIELD_MANAGER
                               and m.get("operation") == "Apply" and not m.get("subresource")
                               and key in _entries_of(m.get("fieldsV1")))
            config.setdefault(FIELD[kind], {})[name] = extract(actual, ours_fields)
            continue
        item = {"name": name, "kind": kind, "action": "released" if others else "removed"}
        if others:
            item["owners"] = others  # the entry stays: other managers own fields in it
            write = True
        else:
            deletions.append(key)
        entries.append(item)
        show(key, copy.deepcopy(actual), copy.deepcopy(actual) if others else None)

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
    return {"entries": entries, "refusals": refusals, "write": write, "force": force,
            "config": apply_config, "deletions": deletions,
            "before": diff_before, "after": diff_after}


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


def _peer_filter(links: list, peers: list | None) -> Callable[[Key], bool]:
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


def _stale(exc: ClusterError) -> bool:
    """The write was refused because the SMCP changed since it was read (not a field conflict
    with another manager, which is also a 409)."""
    return exc.status == 409 and "has been modified" in exc.reason


def _decide_and_write(cluster, namespace: str, desired: dict[Key, dict], params: dict,
                      remove, check_mode: bool) -> dict:
    """Read the SMCP, decide its entries and write them.

    The write carries the resourceVersion read, so when the SMCP changes in between (the
    operator's status, another run's entries) the API refuses it; the entries are then decided
    again on a fresh read, a bounded number of times: nothing is written on a stale decision.
    """
    before, deleted = cluster.writes, False
    for attempt in range(CONFLICT_REREADS + 1):
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
            return dict(result, changed=changed or deleted, writes=cluster.writes - before)
        try:
            if plan["deletions"]:
                smcp = cluster.patch(SERVICE_MESH_CONTROL_PLANE, namespace, name,
                                     deletion_patch(smcp, plan["deletions"]))
                deleted = True
                if plan["config"]["metadata"].get("resourceVersion"):
                    plan["config"]["metadata"]["resourceVersion"] = \
                        smcp["metadata"]["resourceVersion"]
            if plan["write"]:
                cluster.apply(plan["config"], force=plan["force"])
        except ClusterError as exc:
            if _stale(exc) and attempt < CONFLICT_REREADS:
                continue
            exc.result = dict(result, changed=deleted, writes=cluster.writes - before)
            raise
        result["writes"] = cluster.writes - before
        return result
    raise AssertionError("unreachable")  # the last attempt returns or raises


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
