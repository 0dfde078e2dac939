# Copyright (c) servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The root-change gate: a mesh's root that differs from what its peers trust is a decision.

Copying a peer's root into a mesh extends that mesh's trust to whoever holds the root, so a run
does not silently replace a copy with a different root. Each copy (the CA ConfigMap
``<mesh>-ca-root-cert`` in a peer's namespace) records the fingerprint of the root copied
(naming.ROOT_FINGERPRINT_ANNOTATION); a copy made before that annotation existed counts with the
fingerprint of its content (equal to the current root: the run only records it). A mesh whose
current root differs from what any of its peers holds stops the run before any write, unless
the user accepts that mesh's new root (``federation_accept_root_change``). A mesh without copies
yet (first federation) has nothing to compare: federating it is the decision.

Pure Python: inputs are the plan (module_utils/logic/plan.py) and each mesh's mesh_info facts.
"""

from __future__ import annotations

from collections.abc import Mapping

from ansible_collections.servicemesh.federation.plugins.module_utils.logic.naming import (
    ROOT_FINGERPRINT_ANNOTATION,
)

ACCEPT_VARIABLE = "federation_accept_root_change"
TRUE_STRINGS = ("true", "yes", "on")
UNREADABLE = "<no readable certificate>"


def accepted_meshes(value, names) -> set[str]:
    """``federation_accept_root_change`` (checked by the plan) -> the meshes whose new root the
    user accepts: every mesh for true, the listed ones for a list, none otherwise."""
    if value is True or (isinstance(value, str) and value.strip().lower() in TRUE_STRINGS):
        return set(names)
    if isinstance(value, (list, tuple)):
        return {m for m in value if isinstance(m, str)}
    return set()


def held_fingerprint(copy: Mapping) -> str:
    """What a copy holds for the gate: the fingerprint recorded on it, else its content's."""
    return copy.get("recorded") or copy.get("content") or UNREADABLE


def root_changes(meshes: Mapping, facts: Mapping) -> list[dict]:
    """Every mesh whose current root differs from what a peer's copy holds.

    ``meshes``: the plan's meshes (name -> {namespace, cluster, links}); ``facts``: mesh name ->
    its mesh_info facts (``root_cert.fingerprint``, ``root_copies``). A mesh whose root is
    unknown (a pre-flight problem of its own) or that no peer holds a copy of is left out.
    Returns [{"mesh", "cluster", "new", "holders": [{"mesh", "namespace", "configmap", "old",
    "recorded"}]}], sorted by mesh; ``recorded``: whether the copy carries the annotation.
    """
    changes = []
    for name in sorted(meshes):
        current = (((facts.get(name) or {}).get("root_cert") or {}).get("fingerprint"))
        if not current:
            continue
        holders = []
        for holder in sorted(meshes):
            if not any(link.get("peer") == name for link in meshes[holder].get("links") or ()):
                continue
            copy = ((facts.get(holder) or {}).get("root_copies") or {}).get(name)
            if copy is None or held_fingerprint(copy) == current:
                continue
            holders.append({"mesh": holder, "namespace": meshes[holder].get("namespace"),
                            "configmap": copy.get("configmap"), "old": held_fingerprint(copy),
                            "recorded": bool(copy.get("recorded"))})
        if holders:
            changes.append({"mesh": name, "cluster": meshes[name].get("cluster"),
                            "new": current, "holders": holders})
    return changes


def describe(change: Mapping) -> list[str]:
    """Old -> new fingerprint lines of one mesh, one line per distinct old root."""
    by_old: dict[str, list[str]] = {}
    for holder in change["holders"]:
        where = "{} ({}/{}{})".format(holder["mesh"], holder["namespace"], holder["configmap"],
                                      "" if holder["recorded"] else ", no recorded fingerprint")
        by_old.setdefault(holder["old"], []).append(where)
    lines = [f"mesh {change['mesh']} (cluster {change['cluster']}): root certificate changed"]
    for old, holders in by_old.items():
        lines.append(f"  old sha256 {old}")
        lines.append(f"  new sha256 {change['new']}")
        lines.append(f"  trusted (old) by: {', '.join(holders)}")
    return lines


def gate(meshes: Mapping, facts: Mapping, accept, check_mode: bool = False) -> dict:
    """The gate's decision for one run.

    Returns ``changes`` (root_changes), ``refused`` (meshes whose change is not accepted: a
    real run must stop before any write), ``accepted`` (meshes whose copies the run updates)
    and ``lines``, the message: every change with its old and new fingerprints, then what to
    do (check mode: what a real run would do; it writes nothing either way); ``text``: the
    lines as one string.
    """
    changes = root_changes(meshes, facts)
    allowed = accepted_meshes(accept, meshes)
    refused = [c["mesh"] for c in changes if c["mesh"] not in allowed]
    accepted = [c["mesh"] for c in changes if c["mesh"] in allowed]
    lines = []
    if refused:
        head = ("check mode: a real run would stop before any write" if check_mode
                else "stopped before any write on any mesh")
        lines.append(
            f"{head}: the root certificate of {len(refused)} mesh(es) differs from the root "
            f"their peers trust ({', '.join(refused)}). Trusting a new root trusts whoever "
            "holds it: confirm the new fingerprint with the mesh's owners, then run again with "
            f"{ACCEPT_VARIABLE}: [{', '.join(refused)}] (or true for every mesh)")
        for change in changes:
            if change["mesh"] in refused:
                lines.extend(describe(change))
    if accepted:
        verb = "would copy" if check_mode else "copies"
        lines.append(f"accepted by {ACCEPT_VARIABLE}: the run {verb} the new root of "
                     f"{', '.join(accepted)} to its peers (annotation "
                     f"{ROOT_FINGERPRINT_ANNOTATION}); directions reconnect once each istiod "
                     "re-reads the root (OSSM: at its resync, about 60 s)")
        for change in changes:
            if change["mesh"] in accepted:
                lines.extend(describe(change))
    return {"changes": changes, "refused": refused, "accepted": accepted, "lines": lines,
            "text": "\n".join(lines)}


def gate_from_hostvars(plan: Mapping, hosts, hostvars: Mapping, accept,
                       check_mode: bool = False) -> dict:
    """``gate`` with each mesh's facts taken from its host's ``federation_inspect_mesh``."""
    facts = {}
    for host in hosts or ():
        host_vars = hostvars.get(host) or {}
        mesh = (host_vars.get("federation_plan_mesh") or {}).get("name")
        if mesh and host_vars.get("federation_inspect_mesh") is not None:
            facts[mesh] = host_vars["federation_inspect_mesh"]
    return gate(plan["meshes"], facts, accept, check_mode)
