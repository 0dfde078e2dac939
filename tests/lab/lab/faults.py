"""Fault injection, one command each: `python -m lab fault <kind> <target> [arg]`."""

from __future__ import annotations

import importlib

from lab import LabError, bootstrap, control_plane, ossm3
from lab import ossm3_operator as sail
from lab.lifecycle import marker, start_mesh, wait_meshes
from lab.state import LabPaths, alive, load_state, save_state, stop

USAGE = {
    "apiserver-down": "<cluster>",
    "apiserver-up": "<cluster>",
    "istiod-down": "<mesh>",
    "istiod-up": "<mesh>",
    "rotate-ca": "<mesh>",
    "gateway-down": "<mesh> <ingress gateway name>",
    "gateway-up": "<mesh> <ingress gateway name>",
    # OSSM 3 (labs started --ossm 2+3 or 3; lab/ossm3_operator.py)
    "istiod3-down": "<mesh>",
    "istiod3-up": "<mesh>",
    "eastwest-down": "<mesh>",
    "eastwest-up": "<mesh>",
}


def _state(paths: LabPaths) -> dict:
    state = load_state(paths)
    if state is None:
        raise LabError(f"no lab in {paths.dir} (start one with `python -m lab up`)")
    return state


def _pick(state: dict, section: str, name: str) -> dict:
    if name not in state[section]:
        kind = section.rstrip("s")
        raise LabError(f"unknown {kind} {name!r}; this lab has: {', '.join(state[section])}")
    return state[section][name]


def _istiod_not_ready(paths: LabPaths, state: dict, mesh: dict) -> None:
    """What the Deployment controller would show once istiod's pod is gone (the process that
    keeps the status true while it runs is stopped); istiod-up's new process writes it ready."""
    from lab.kubeapi import ApiError, KubeApi
    from lab.mesh import operator

    context = state["clusters"][mesh["cluster"]]["admin_context"]
    try:
        operator.write_deployment_status(KubeApi.from_kubeconfig(str(paths.kubeconfig), context),
                                         mesh["namespace"], operator.ISTIOD, False)
    except ApiError as e:
        raise LabError(f"istiod stopped, but its Deployment status was not written: {e}") from e


def inject(paths: LabPaths, kind: str, target: str, arg: str | None = None) -> str:
    """Apply one fault and return a one-line description; returns once the effect is in place."""
    if kind not in USAGE:
        raise LabError(f"unknown fault {kind!r}; one of: {', '.join(USAGE)}")
    if (arg is None) != ("<ingress gateway name>" not in USAGE[kind]):
        raise LabError(f"usage: fault {kind} {USAGE[kind]}")
    state = _state(paths)
    mark = marker(paths)
    if kind.startswith("apiserver-"):
        c = _pick(state, "clusters", target)
        if kind == "apiserver-down":
            stop(c["pid"], mark)
            return f"kube-apiserver of cluster {target} stopped (port {c['port']})"
        if not alive(c["pid"], mark):
            control_plane.start_apiserver(paths, state, target)  # same port, same arguments
            save_state(paths, state)
            control_plane.wait_apiservers(paths, state, [target], timeout=180)
            if ossm3.has_ossm2(state):  # the 2.6 CRDs (an --ossm 3 lab has none)
                bootstrap.wait_crds_served(paths, state, target, timeout=60)
            if ossm3.has_ossm3(state):
                ossm3.wait_crds_served(paths, state, target, timeout=60)
        return f"kube-apiserver of cluster {target} running on port {c['port']}"
    mesh = _pick(state, "meshes", target)
    if kind in sail.FAULTS:
        return sail.fault(paths, state, kind, target)
    if not ossm3.has_ossm2(state):
        raise LabError(f"fault {kind}: this lab runs no OSSM 2.6 (--ossm 3); the OSSM 3 faults "
                       f"are {', '.join(sail.FAULTS)}")
    if kind == "istiod-down":
        stop(mesh["pid"], mark)
        _istiod_not_ready(paths, state, mesh)
        return f"mesh control plane (istiod) of {target} stopped"
    if kind == "istiod-up":
        if not alive(mesh["pid"], mark):
            start_mesh(paths, state, target)
            save_state(paths, state)
            wait_meshes(paths, state, [target])
        return f"mesh control plane (istiod) of {target} running"
    control = importlib.import_module("lab.mesh.control")
    if kind == "rotate-ca":
        control.rotate_ca(mesh)
        return f"root CA of {target} rotated"
    getattr(control, kind.replace("-", "_"))(mesh, arg)
    return f"ingress gateway {arg} of {target} {'down' if kind == 'gateway-down' else 'up'}"
