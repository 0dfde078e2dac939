"""The simulated OSSM 3 operator, one process per lab cluster (``python -m lab.sail``; labs
started ``--ossm 2+3`` or ``3``, see ``lab.ossm3``): how `up` starts and waits for it, what
`status` shows of it, and its faults (``istiod3-down|up``, ``eastwest-down|up``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from lab import LAB_ROOT, REPO, LabError
from lab.kubeapi import KubeApi
from lab.ossm3 import SAIL, crd_objects, has_ossm2, has_ossm3, istio_name
from lab.state import LabPaths, alive, spawn, stop, wait_for

SAIL_TIMEOUT = 90.0


def sail_dir(paths: LabPaths, cluster: str) -> Path:
    return paths.dir / "sail" / cluster


def sail_args(paths: LabPaths, state: dict, cluster: str) -> list[str]:
    c = state["clusters"][cluster]
    meshes = ",".join(f"{m}={state['meshes'][m]['namespace']}={state['meshes'][m]['lb_prefix']}"
                      for m in c["meshes"])
    wanted = ",".join(istio_name(state, m) for m in c["meshes"]) if not has_ossm2(state) else ""
    return [sys.executable, "-m", "lab.sail", "--kubeconfig", str(paths.kubeconfig),
            "--context", c["admin_context"], "--cluster", cluster, "--meshes", meshes,
            "--wait-istios", wanted, "--state-dir", str(sail_dir(paths, cluster))]


def start(paths: LabPaths, state: dict, cluster: str) -> None:
    d = sail_dir(paths, cluster)
    d.mkdir(parents=True, exist_ok=True)
    (d / "ready").unlink(missing_ok=True)
    state["clusters"][cluster]["sail_pid"] = spawn(
        sail_args(paths, state, cluster), paths.log(f"sail-{cluster}"),
        env={"PYTHONPATH": str(LAB_ROOT)}, cwd=REPO)


def to_start(paths: LabPaths, state: dict, restarted: list[str]) -> list[str]:
    """`up`: the clusters whose operator must be (re)started. What the OSSM 3 faults took down
    comes back: they are forgotten and the operators concerned stopped (restarted, they write
    istiod and gateways ready again). Reads the CRDs once before `up`'s per-cluster threads."""
    if not has_ossm3(state):
        return []
    mark = f"{paths.dir}/"
    for name, c in state["clusters"].items():
        down = sail_dir(paths, name) / "down.json"
        if down.exists():
            down.unlink()
            stop(c.get("sail_pid"), mark)
    if restarted:
        crd_objects()
    return [n for n, c in state["clusters"].items() if not alive(c.get("sail_pid"), mark)]


def wait_ready(paths: LabPaths, state: dict, clusters: list[str]) -> None:
    """Until each operator has reconciled once (with `3`: every mesh's Istio Ready)."""
    pending = set(clusters)
    mark = f"{paths.dir}/"

    def ready():
        for cluster in sorted(pending):
            if (sail_dir(paths, cluster) / "ready").exists():
                pending.discard(cluster)
            elif not alive(state["clusters"][cluster].get("sail_pid"), mark):
                raise LabError(f"the OSSM 3 operator of cluster {cluster} exited; see "
                               f"{paths.log(f'sail-{cluster}')}")
        return not pending

    wait_for("the OSSM 3 operators ready", ready, SAIL_TIMEOUT)


def cluster_status(paths: LabPaths, state: dict, cluster: str, proc) -> dict:
    """`status`: the cluster's operator process (nothing without the OSSM 3 side)."""
    if not has_ossm3(state):
        return {}
    ready = (sail_dir(paths, cluster) / "ready").exists()
    return {"ossm3_operator": {**proc(state["clusters"][cluster].get("sail_pid")), "ready": ready}}


def mesh_status(paths: LabPaths, state: dict, mesh: str) -> dict:
    """`status`: whether the mesh is ready: its 2.6 mesh process, or with `--ossm 3` its
    cluster's operator (every Istio Ready), and then its Istio's name."""
    m = state["meshes"][mesh]
    if has_ossm2(state):
        return {"ready": (Path(m["state_dir"]) / "ready").exists()}
    return {"istio": istio_name(state, mesh),
            "ready": (sail_dir(paths, m["cluster"]) / "ready").exists()}


# --- faults (python -m lab fault istiod3-down|istiod3-up|eastwest-down|eastwest-up <mesh>) ------

FAULTS = ("istiod3-down", "istiod3-up", "eastwest-down", "eastwest-up")
FAULT_TIMEOUT = 60.0


def fault(paths: LabPaths, state: dict, kind: str, mesh: str) -> str:
    """Take the mesh's OSSM 3 istiod, or its east-west gateway, down or up.

    As for `istiod-down`, the fault writes what the Deployment controller would show once the
    pods are gone (or back) and records it in the operator's ``down.json`` so that the operator
    keeps showing it; it returns once the operator reports the effect (IstioRevision Ready)."""
    from lab.mesh.operator import write_deployment_status

    if not has_ossm3(state):
        raise LabError(f"fault {kind}: this lab runs no OSSM 3 (start it with --ossm 2+3 or 3)")
    m = state["meshes"][mesh]
    namespace, part, down = m["namespace"], kind.rsplit("-", 1)[0], kind.endswith("-down")
    api = KubeApi.from_kubeconfig(str(paths.kubeconfig),
                                  state["clusters"][m["cluster"]]["admin_context"])
    revisions = [r for r in (api.list(f"{SAIL}/istiorevisions").get("items") or [])
                 if (r.get("spec") or {}).get("namespace") == namespace]
    if not revisions:
        raise LabError(f"fault {kind}: mesh {mesh} has no OSSM 3 control plane (no IstioRevision "
                       f"for namespace {namespace})")
    if part == "istiod3":
        targets = [(namespace, _istiod_name(r)) for r in revisions]
    else:
        targets = _eastwest_deployments(api, {r["metadata"]["name"] for r in revisions})
        if not targets:
            raise LabError(f"fault {kind}: mesh {mesh} has no east-west gateway (a Gateway of "
                           "class istio with a 15443 listener, served by its istiod)")
    _record_down(sail_dir(paths, m["cluster"]), "istiod" if part == "istiod3" else "eastwest",
                 namespace, down)
    for ns, name in targets:
        write_deployment_status(api, ns, name, not down)
    if part == "istiod3":
        def shown():
            rev = api.get(f"{SAIL}/istiorevisions/{revisions[0]['metadata']['name']}") or {}
            ready = {c["type"]: c["status"] for c in (rev.get("status") or {})
                     .get("conditions", [])}.get("Ready")
            return ready == ("False" if down else "True")

        wait_for(f"IstioRevision {revisions[0]['metadata']['name']} Ready="
                 f"{'False' if down else 'True'}", shown, FAULT_TIMEOUT)
    names = ", ".join(f"{ns}/{n}" for ns, n in targets)
    return f"{'istiod' if part == 'istiod3' else 'east-west gateway'} of {mesh} (OSSM 3: " \
           f"{names}) {'down' if down else 'up'}"


def _istiod_name(rev: dict) -> str:
    revision = (((rev.get("spec") or {}).get("values") or {}).get("revision")) or ""
    return f"istiod-{revision}" if revision else "istiod"


def _eastwest_deployments(api, revisions: set[str]) -> list[tuple[str, str]]:
    """The ``<gateway>-istio`` Deployments of class istio Gateways with a 15443 listener that one
    of ``revisions`` renders (their ``istio.io/rev`` label; none for the default revision)."""
    found = []
    for gateway in api.list("/apis/gateway.networking.k8s.io/v1/gateways").get("items") or []:
        spec, meta = gateway.get("spec") or {}, gateway["metadata"]
        if spec.get("gatewayClassName") != "istio" or all(
                lst.get("port") != 15443 for lst in spec.get("listeners") or []):
            continue
        deployment = api.get(f"/apis/apps/v1/namespaces/{meta['namespace']}/deployments/"
                             f"{meta['name']}-istio")
        rev = ((deployment or {}).get("metadata", {}).get("labels") or {}).get(
            "istio.io/rev", "default")
        if deployment is not None and rev in revisions:
            found.append((meta["namespace"], deployment["metadata"]["name"]))
    return found


def _record_down(directory: Path, part: str, namespace: str, down: bool) -> None:
    path = directory / "down.json"
    try:
        current = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        current = {}
    names = set(current.get(part, []))
    names = names | {namespace} if down else names - {namespace}
    current[part] = sorted(names)
    directory.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(current, indent=1))
    tmp.replace(path)
