"""Independent read-back of what the playbooks did, as the lab's admin (not the automation
identity the playbooks use): ``mesh_admin.MeshAdmin`` per mesh, and the status check."""

from __future__ import annotations

from mesh_admin import MeshAdmin


def meshes(lab) -> dict[str, MeshAdmin]:
    """Mesh name -> its admin view (``Lab.admin``)."""
    return {name: lab.admin(name) for name in lab.meshes}


def connected_both_ways(peer: dict) -> bool:
    """Watch connected on some istiod pod and a connected remote from the peer (fact sheet §1.2)."""
    ds = (peer.get("status") or {}).get("discoveryStatus") or {}
    active = ds.get("active") or []
    watch = any(p["watch"]["connected"] for p in active)
    remote = any(r["connected"] for p in active + (ds.get("inactive") or [])
                 for r in p.get("remotes") or [])
    return watch and remote
