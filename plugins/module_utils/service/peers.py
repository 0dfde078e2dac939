# Copyright: (c) 2026, servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bring one mesh namespace's CA ConfigMaps, ServiceMeshPeers and service sets to the plan
(federation_peers): the desired objects of its links, and the four kinds for the engine
(module_utils/service/reconcile.py), which reads, decides, refuses or takes over, and writes.
"""

from __future__ import annotations

from ansible_collections.servicemesh.federation.plugins.module_utils.logic.certs import (
    CertError,
    root_fingerprint,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.errors import (
    TaskError,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.kinds import (
    CONFIGMAP,
    EXPORTED_SERVICE_SET,
    IMPORTED_SERVICE_SET,
    SERVICE_MESH_PEER,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.link import Link
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.naming import (
    ROOT_CERT_KEY,
    ROOT_FINGERPRINT_ANNOTATION,
    ca_configmap_name,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.objects import (
    ObjectError,
    desired_objects,
    service_sets,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.service.reconcile import (
    Kind,
    ensure_absent,
    ensure_present,
)


def _ca_root_of(smp: dict) -> str | None:
    return (((smp.get("spec") or {}).get("security") or {}).get("certificateChain")
            or {}).get("name")


# Create order. CA ConfigMaps first: istiod reads a peer's root when the ServiceMeshPeer
# appears. Sets last: istiod picks up a set whenever its peer appears (fact sheet §3), so the
# order is free; after the peers, a refused or failed peer write leaves no set for a peer that
# does not exist, and deletes (reverse order) stop the exports before the peer goes.
KINDS = (
    Kind("ConfigMap", CONFIGMAP, "data", feeds=("ServiceMeshPeer", _ca_root_of)),
    Kind("ServiceMeshPeer", SERVICE_MESH_PEER, "spec", has_status=True),
    # The plan says exactly which rules cross: the spec is ours whole, rules (and any other spec
    # key) it does not give are removed, and a set the plan no longer gives is deleted.
    Kind("ExportedServiceSet", EXPORTED_SERVICE_SET, "spec", whole=True, prune=True),
    Kind("ImportedServiceSet", IMPORTED_SERVICE_SET, "spec", whole=True, prune=True),
)


def desired_state(namespace: str, links: list[Link], peer_facts: dict) -> list[dict]:
    """Every link's CA ConfigMap, ServiceMeshPeer and sets; checked before any request."""
    problems, desired = [], []
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
            desired += [_with_fingerprint(configmap), smp, *service_sets(link)]
        except (ObjectError, KeyError, CertError) as exc:
            problems.append(f"link to peer {peer!r}: {exc}")
    if problems:
        raise TaskError("namespace {}: cannot build the desired objects:\n- {}".format(
            namespace, "\n- ".join(problems)))
    return desired


def _with_fingerprint(configmap: dict) -> dict:
    """The CA ConfigMap annotated with the fingerprint of the root it holds: what this mesh
    trusts for the peer, compared with the peer's current root by the root-change gate."""
    fingerprint = root_fingerprint(configmap["data"][ROOT_CERT_KEY])
    configmap["metadata"]["annotations"] = {ROOT_FINGERPRINT_ANNOTATION: fingerprint}
    return configmap


def remove(cluster, namespace: str, peers: list | None, check_mode: bool) -> dict:
    """Delete our objects: all, or those of `peers` (named after the peer, plus the CA
    ConfigMaps their peers read). A listed peer we have no ServiceMeshPeer for is `absent`."""
    names = None
    if peers:
        names = {k.kind: set(peers) for k in KINDS}
        names["ConfigMap"] = {ca_configmap_name(p) for p in peers}
    result = ensure_absent(cluster, namespace, KINDS, check_mode, names)
    found = {o["name"] for o in result["objects"] if o["kind"] == "ServiceMeshPeer"}
    result["objects"] += [{"kind": "ServiceMeshPeer", "name": p, "action": "absent"}
                          for p in sorted(set(peers or ()) - found)]
    return result


def desired_from_params(params: dict) -> list[dict]:
    """The desired objects for state=present (built and checked before any request)."""
    if params["state"] != "present":
        return []
    return desired_state(params["namespace"], params["links"], params["peer_facts"])


def converge(cluster, params: dict, check_mode: bool, desired: list[dict]) -> dict:
    if params["state"] == "present":
        scope = params.get("prune_peers")
        # A set is named after its peer: those of peers outside this run (--limit) stay.
        prunable = None if scope is None else set(scope).__contains__
        return ensure_present(cluster, params["namespace"], KINDS, desired,
                              params["take_over"], check_mode, prunable)
    return remove(cluster, params["namespace"], params["peers"], check_mode)
