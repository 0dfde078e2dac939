"""One lab kubelet per cluster, so that `kubectl exec` goes through the real kube-apiserver.

Each cluster gets a Node ``lab-node-<cluster>`` whose InternalIP and kubelet port are served by
a ``lab-kubelet`` process (tests/lab/go/kubelet: the kubelet's own streaming server, built from
the Go module proxy). The apiserver dials it with its kubelet client certificate, as it dials a
real kubelet; every exec runs ``python -m lab exec <namespace> <pod> <container> -- <command>``
(lab/exec.py). A pod is exec-able once it is bound to the Node (``spec.nodeName``) and running
(``running_status``): the lab has no scheduler and no container runtime.
"""

from __future__ import annotations

import ssl
import sys
import urllib.request
from datetime import UTC, datetime

from lab import LAB_ROOT, REPO, LabError
from lab.ca import KUBELET_CLIENT_CN, ensure_kubelet_certs
from lab.control_plane import CONTROL_PLANE_ENV, binary
from lab.kubeapi import CORE, KubeApi, path
from lab.state import LabPaths, alive, spawn, wait_for

# The real kubelet's port; each lab kubelet has an address of its own.
PORT = 10250
READY_TIMEOUT = 30.0


def node_name(cluster: str) -> str:
    return f"lab-node-{cluster}"


def address(state: dict, cluster: str) -> str:
    """127.<block>.0.<n> for the n-th cluster: mesh addresses start at 127.<block>.1.*, so
    127.<block>.0.* is free, and inside the block `lab up` checks is unused."""
    return f"127.{state['ip_block']}.0.{list(state['clusters']).index(cluster) + 1}"


def ensure_certs(paths: LabPaths, state: dict) -> None:
    """Before an apiserver starts: it names the kubelet client certificate in its flags."""
    ensure_kubelet_certs(paths.pki, {node_name(c): address(state, c) for c in state["clusters"]})


def kubelet_args(paths: LabPaths, state: dict, cluster: str) -> list[str]:
    node = node_name(cluster)
    return [
        binary("lab-kubelet"),
        f"--listen={address(state, cluster)}:{PORT}",
        f"--cert={paths.pki / f'kubelet-{node}.crt'}",
        f"--key={paths.pki / f'kubelet-{node}.key'}",
        f"--client-ca={paths.pki / 'ca.crt'}",
        f"--client-cn={KUBELET_CLIENT_CN}",
        f"--handler={sys.executable}", "--", "-m", "lab", "exec",
    ]


def start(paths: LabPaths, state: dict, cluster: str) -> None:
    state["clusters"][cluster]["kubelet_pid"] = spawn(
        kubelet_args(paths, state, cluster), paths.log(f"kubelet-{cluster}"),
        env={**CONTROL_PLANE_ENV, "PYTHONPATH": str(LAB_ROOT), "LAB_DIR": str(paths.dir)},
        cwd=REPO)


def wait_ready(paths: LabPaths, state: dict, cluster: str) -> None:
    ctx = ssl.create_default_context(cafile=str(paths.pki / "ca.crt"))
    url = f"https://{address(state, cluster)}:{PORT}/healthz"
    log = paths.log(f"kubelet-{cluster}")

    def ready():
        if not alive(state["clusters"][cluster].get("kubelet_pid"), f"{paths.dir}/"):
            raise LabError(f"the lab kubelet of cluster {cluster} exited; see {log}")
        with urllib.request.urlopen(url, context=ctx, timeout=2) as r:
            return r.status == 200

    wait_for(f"the lab kubelet of cluster {cluster} ({url})", ready, READY_TIMEOUT, log=log)


def node(cluster: str) -> dict:
    name = node_name(cluster)
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name,
                                                  "kubernetes.io/os": "linux"}}}


def node_status(state: dict, cluster: str, kube_version: str) -> dict:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    conditions = [("Ready", "True", "KubeletReady", "kubelet is posting ready status")] + [
        (t, "False", f"KubeletHas{r}", f"kubelet has {m}") for t, r, m in (
            ("MemoryPressure", "SufficientMemory", "sufficient memory available"),
            ("DiskPressure", "NoDiskPressure", "no disk pressure"),
            ("PIDPressure", "SufficientPID", "sufficient PID available"))]
    capacity = {"cpu": "2", "memory": "8Gi", "pods": "110"}
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": node_name(cluster)},
            "status": {
                # The apiserver dials InternalIP (--kubelet-preferred-address-types).
                "addresses": [{"type": "InternalIP", "address": address(state, cluster)},
                              {"type": "Hostname", "address": node_name(cluster)}],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": PORT}},
                "conditions": [{"type": t, "status": s, "reason": r, "message": m,
                                "lastHeartbeatTime": now, "lastTransitionTime": now}
                               for t, s, r, m in conditions],
                "capacity": capacity, "allocatable": capacity,
                "nodeInfo": {"kubeletVersion": kube_version, "operatingSystem": "linux",
                             "architecture": "amd64", "containerRuntimeVersion": "lab://1",
                             "kernelVersion": "", "osImage": "servicemesh-federation lab",
                             "machineID": "", "systemUUID": "", "bootID": "",
                             "kubeProxyVersion": ""}}}


def register_node(kube: KubeApi, state: dict, cluster: str) -> None:
    """The Node and its status (no node lifecycle controller runs: it stays Ready). The kubelet
    is of the apiserver's release, so it reports the apiserver's version."""
    have = kube.get(path(CORE, "nodes", name=node_name(cluster)))
    if have and _registered(have, state, cluster):
        return  # `up` on a running lab writes nothing
    kube.apply(node(cluster))
    version = kube.request("GET", "/version")["gitVersion"]
    kube.apply(node_status(state, cluster, version), "status")


def _registered(have: dict, state: dict, cluster: str) -> bool:
    status = have.get("status", {})
    ready = {c["type"]: c["status"] for c in status.get("conditions", [])}.get("Ready")
    return (ready == "True"
            and {"type": "InternalIP", "address": address(state, cluster)}
            in status.get("addresses", [])
            and status.get("daemonEndpoints", {}).get("kubeletEndpoint", {}).get("Port") == PORT)


def ensure(paths: LabPaths, state: dict, cluster: str, kube: KubeApi) -> None:
    """Start the cluster's lab kubelet if it is not running, register its Node, wait until the
    kubelet answers."""
    if not alive(state["clusters"][cluster].get("kubelet_pid"), f"{paths.dir}/"):
        start(paths, state, cluster)
    register_node(kube, state, cluster)
    wait_ready(paths, state, cluster)


def running_status(pod: dict, started: datetime | None = None) -> dict:
    """The status a kubelet reports for ``pod`` (bound to a lab Node) once its containers run:
    phase Running, Ready, every container running. Exec needs a running container."""
    at = (started or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    containers = pod["spec"]["containers"]
    return {"phase": "Running", "startTime": at,
            "conditions": [{"type": t, "status": "True", "lastTransitionTime": at}
                           for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")],
            "containerStatuses": [{
                "name": c["name"], "image": c["image"], "imageID": c["image"],
                "containerID": f"lab://{pod['metadata']['namespace']}/{pod['metadata']['name']}/"
                               f"{c['name']}",
                "ready": True, "started": True, "restartCount": 0,
                "state": {"running": {"startedAt": at}}} for c in containers]}
