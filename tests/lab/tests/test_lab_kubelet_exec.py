"""`kubectl exec` into lab pods through the real kube-apiserver's exec path and the lab kubelet.

A private one-mesh lab (ip block 80). The pod is created as a kubelet would see it: bound to the
lab Node (spec.nodeName: no scheduler) and reported running through the status subresource.
kubectl (built with the lab, tests/lab/scripts/build.sh) speaks WebSocket v5 to the apiserver,
which translates it to SPDY toward the kubelet; the Python client's `stream` (what
kubernetes.core.k8s_exec uses) speaks WebSocket v4, which the apiserver passes through.
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.request

import pytest
from kubernetes import client
from kubernetes.client import AppsV1Api
from kubernetes.stream import stream

from lab import kubelet
from lab.control_plane import binary

MESH = "exec-mesh"
NAMESPACE = f"{MESH}-apps"
POD = "exec-client"
CONTAINER = "client"


@pytest.fixture(scope="module")
def exec_lab(lab_factory):
    return lab_factory("kubelet-exec", MESH, 80)


@pytest.fixture(scope="module")
def core(exec_lab):
    return client.CoreV1Api(exec_lab.api_client(MESH))


@pytest.fixture(scope="module")
def pod(exec_lab, core):
    """A running pod on the lab Node; deleted at once at the end (no kubelet confirms a graceful
    delete: without grace period 0 it would stay Terminating)."""
    body = {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": POD, "namespace": NAMESPACE, "labels": {"app": POD}},
            "spec": {"nodeName": kubelet.node_name(MESH), "automountServiceAccountToken": False,
                     "containers": [{"name": CONTAINER, "image": "registry.lab/curl:8"}]}}
    deadline = time.monotonic() + 60
    while not core.list_namespaced_service_account(NAMESPACE).items:  # admission needs `default`
        assert time.monotonic() < deadline, f"no ServiceAccount default in {NAMESPACE}"
        time.sleep(0.5)
    created = core.create_namespaced_pod(NAMESPACE, body)
    core.patch_namespaced_pod_status(POD, NAMESPACE, {"status": kubelet.running_status(body)})
    # A Deployment selecting it, for `kubectl exec deploy/<name>` (no controller makes pods).
    apps = AppsV1Api(core.api_client)
    apps.create_namespaced_deployment(NAMESPACE, {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": POD, "namespace": NAMESPACE},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": POD}},
                 "template": {"metadata": {"labels": {"app": POD}},
                              "spec": {"containers": body["spec"]["containers"]}}}})
    yield created
    apps.delete_namespaced_deployment(POD, NAMESPACE)
    core.delete_namespaced_pod(POD, NAMESPACE, grace_period_seconds=0)


def kubectl(lab, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([binary("kubectl"), "--kubeconfig", lab.kubeconfig,
                           "--context", lab.context(MESH), *args],
                          input=stdin, capture_output=True, text=True, timeout=60, check=False)


def test_the_cluster_has_a_ready_node_served_by_the_lab_kubelet(exec_lab):
    proc = kubectl(exec_lab, "get", "node", kubelet.node_name(MESH), "-o", "json")
    assert proc.returncode == 0, proc.stderr
    status = json.loads(proc.stdout)["status"]
    ready = {c["type"]: c["status"] for c in status["conditions"]}["Ready"]
    assert ready == "True"
    assert {"type": "InternalIP", "address": "127.80.0.1"} in status["addresses"]
    assert status["daemonEndpoints"]["kubeletEndpoint"]["Port"] == kubelet.PORT
    assert exec_lab.state["clusters"][MESH]["kubelet_pid"] > 0


def test_kubectl_exec_returns_the_command_output(exec_lab, pod):
    proc = kubectl(exec_lab, "exec", "-n", NAMESPACE, POD, "-c", CONTAINER, "--", "echo", "hello")
    assert (proc.returncode, proc.stdout) == (0, "hello\n"), proc.stderr


def test_kubectl_exec_returns_the_command_exit_code(exec_lab, pod):
    proc = kubectl(exec_lab, "exec", "-n", NAMESPACE, POD, "--", "sh", "-c", "exit 3")
    assert proc.returncode == 3, proc.stderr
    assert "command terminated with exit code 3" in proc.stderr


def test_kubectl_exec_passes_stdin(exec_lab, pod):
    proc = kubectl(exec_lab, "exec", "-i", "-n", NAMESPACE, POD, "--", "cat", stdin="from stdin")
    assert (proc.returncode, proc.stdout) == (0, "from stdin"), proc.stderr


def test_kubectl_exec_curl_fails_to_connect_until_the_probe_answers(exec_lab, pod):
    # The probe (issue 14, item 5) plugs in at lab/exec.py curl(); until then curl's own exit
    # code for "failed to connect" comes back, as from a pod with no route.
    proc = kubectl(exec_lab, "exec", "-n", NAMESPACE, f"deploy/{POD}", "--", "curl", "-sS",
                   "-o", "/dev/null", "-w", "%{http_code}", "http://reviews.exec-mesh-apps:9080/")
    assert (proc.returncode, proc.stdout) == (7, "000"), proc.stderr
    assert "curl: (7) Failed to connect to reviews.exec-mesh-apps port 9080" in proc.stderr


def test_kubectl_exec_of_a_missing_executable_fails_as_a_runtime_does(exec_lab, pod):
    proc = kubectl(exec_lab, "exec", "-n", NAMESPACE, POD, "--", "dig", "example.com")
    assert proc.returncode == 126
    assert 'exec: "dig": executable file not found in $PATH' in proc.stderr


def test_python_client_stream_exec(core, pod):
    """kubernetes.stream.stream on connect_get_namespaced_pod_exec, as k8s_exec calls it."""
    out = stream(core.connect_get_namespaced_pod_exec, POD, NAMESPACE, container=CONTAINER,
                 command=["echo", "from", "python"], stderr=True, stdin=False, stdout=True,
                 tty=False)
    assert out == "from python\n"

    resp = stream(core.connect_get_namespaced_pod_exec, POD, NAMESPACE,
                  command=["sh", "-c", "exit 3"], stderr=True, stdin=False, stdout=True,
                  tty=False, _preload_content=False)
    resp.run_forever(timeout=30)
    assert resp.returncode == 3


def test_the_lab_kubelet_refuses_exec_without_the_apiserver_certificate(exec_lab, pod):
    """Only the apiserver (its kubelet client certificate) may exec; the port is on 127.x."""
    ctx = ssl.create_default_context(cafile=str(exec_lab.dir / "pki" / "ca.crt"))
    url = (f"https://127.80.0.1:{kubelet.PORT}/exec/{NAMESPACE}/{POD}/{CONTAINER}"
           "?command=echo&command=hi&output=1")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url, context=ctx, timeout=10)
    assert refused.value.code == 403


def test_up_restarts_a_dead_lab_kubelet(exec_lab, pod):
    os.kill(exec_lab.state["clusters"][MESH]["kubelet_pid"], signal.SIGKILL)
    exec_lab.up()
    proc = kubectl(exec_lab, "exec", "-n", NAMESPACE, POD, "--", "echo", "back")
    assert (proc.returncode, proc.stdout) == (0, "back\n"), proc.stderr
