"""Helpers for the mesh tests: the seed's ServiceMeshPeer defaults, federating two meshes by hand,
and ServiceMeshPeer status predicates (the admin access and waits are ``mesh_admin.MeshAdmin``).
"""

from __future__ import annotations

from collections.abc import Callable

from mesh_admin import MeshAdmin


# -- the seed's defaults for a direction local -> peer ------------------------------------------
def peer_spec(local: MeshAdmin, remote: MeshAdmin, **overrides) -> dict:
    """SMP spec in ``local`` describing ``remote`` (names and ports as the architecture's table)."""
    spec = {
        "remote": {
            "addresses": [remote.ingress_ip(f"ingress-{local.name}")],
            "discoveryPort": 8188,
            "servicePort": 15443,
        },
        "gateways": {
            "ingress": {"name": f"ingress-{remote.name}"},
            "egress": {"name": f"egress-{remote.name}"},
        },
        "security": {
            "trustDomain": remote.trust_domain,
            "clientID": f"{remote.trust_domain}/ns/{remote.namespace}/sa/"
            f"egress-{local.name}-service-account",
            "certificateChain": {"kind": "ConfigMap", "name": f"{remote.name}-ca-root-cert"},
        },
    }
    for path, value in overrides.items():  # e.g. security__clientID="x"
        node = spec
        *parents, leaf = path.split("__")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return spec


def federate(local: MeshAdmin, remote: MeshAdmin, **overrides) -> None:
    """CA ConfigMap first, then the SMP (the documented order) for direction local -> remote."""
    local.put_ca(f"{remote.name}-ca-root-cert", remote.root_pem())
    local.put_peer(remote.name, peer_spec(local, remote, **overrides))


# -- status predicates (fact sheet section 1.2) -------------------------------------------------
def entries(smp: dict, key: str) -> list[dict]:
    return ((smp.get("status") or {}).get("discoveryStatus") or {}).get(key) or []


def connected(smp: dict) -> bool:
    """Both directions: active watch connected, no inactive entry, an inbound remote connected."""
    active = entries(smp, "active")
    return (
        bool(active)
        and not entries(smp, "inactive")
        and all(e["watch"]["connected"] for e in active)
        and any(r["connected"] for e in active for r in e.get("remotes") or [])
    )


def inactive_with(status: str) -> Callable[[dict], bool]:
    def check(smp: dict) -> bool:
        inactive = entries(smp, "inactive")
        return (
            not entries(smp, "active")
            and bool(inactive)
            and all(
                not e["watch"]["connected"]
                and status in (e["watch"].get("lastDisconnectStatus") or "")
                for e in inactive
            )
        )

    return check


def no_status(smp: dict) -> bool:
    return not (smp.get("status") or {}).get("discoveryStatus")
