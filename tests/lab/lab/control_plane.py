"""The lab's Kubernetes processes: etcd, and one kube-apiserver + trimmed kube-controller-manager
per cluster (the pinned binaries, their arguments, start-up and readiness)."""

from __future__ import annotations

import json
import os
import ssl
import urllib.request
from pathlib import Path

from lab import LAB_ROOT, LabError
from lab.ca import FRONT_PROXY_CN
from lab.state import LabPaths, alive, free_port, spawn, wait_for

KCM_CONTROLLERS = (
    "namespace-controller,garbage-collector-controller,serviceaccount-controller,"
    "root-ca-certificate-publisher-controller,clusterrole-aggregation-controller"
)
# Go runtime settings that keep an idle apiserver small (see README, "Budgets").
GO_ENV = {"GOMAXPROCS": "2", "GOGC": "50", "GOMEMLIMIT": "300MiB"}
# An idle apiserver or controller-manager needs little CPU and parallelism; one P each keeps the
# Go scheduler of 20 of them from spinning on 2 cores (measured: tests/lab/README.md, "Budgets").
CONTROL_PLANE_ENV = {**GO_ENV, "GOMAXPROCS": "1"}


# --- binaries -------------------------------------------------------------------------------

def _go_mod_version(go_mod: Path, module: str) -> str:
    for line in go_mod.read_text().splitlines():
        words = line.split()
        if words[:1] == ["require"]:
            words = words[1:]
        if len(words) >= 2 and words[0] == module and words[1].startswith("v"):
            return words[1]
    raise LabError(f"{go_mod}: no version for {module}")


def bin_dir() -> Path:
    """Where tests/lab/scripts/build.sh puts the pinned binaries (same rule as the script)."""
    if os.environ.get("LAB_BIN_DIR"):
        return Path(os.environ["LAB_BIN_DIR"])
    kube = _go_mod_version(LAB_ROOT / "go/kube/go.mod", "k8s.io/kubernetes")
    etcd = _go_mod_version(LAB_ROOT / "go/etcd/go.mod", "go.etcd.io/etcd/server/v3")
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "servicemesh-federation-lab" / "bin" / f"kube-{kube}-etcd-{etcd}"


def binary(name: str) -> str:
    path = bin_dir() / name
    if not os.access(path, os.X_OK):
        raise LabError(
            f"lab binary {name} missing in {path.parent}: build it with "
            "`bash tests/lab/scripts/build.sh` (or `make setup`)"
        )
    return str(path)


def check_binaries() -> None:
    for name in ("etcd", "kube-apiserver", "kube-controller-manager", "lab-kubelet"):
        binary(name)


# --- processes ------------------------------------------------------------------------------

def start_etcd(paths: LabPaths, state: dict) -> None:
    etcd = state["etcd"]
    etcd.setdefault("port", free_port())
    etcd.setdefault("peer_port", free_port())
    client = f"http://127.0.0.1:{etcd['port']}"
    peer = f"http://127.0.0.1:{etcd['peer_port']}"
    etcd["pid"] = spawn([
        binary("etcd"), "--name=lab", f"--data-dir={paths.etcd_data}",
        f"--listen-client-urls={client}", f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}", f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=lab={peer}", "--unsafe-no-fsync", "--log-level=warn",
        "--quota-backend-bytes=4294967296", "--snapshot-count=10000",
        # One member, so no elections to win; a request times out after 5 s + 2 x the election
        # timeout: 15 s instead of 7 s. A 20-cluster `up` at load 40 saw "etcdserver: request
        # timed out" with the defaults (100 ms / 1 s).
        "--heartbeat-interval=500", "--election-timeout=5000",
    ], paths.log("etcd"), env=GO_ENV)
    try:  # every apiserver waits on it: ahead of the rest of the machine when allowed (root)
        os.setpriority(os.PRIO_PROCESS, etcd["pid"], -5)
    except OSError:
        pass


def wait_etcd(paths: LabPaths, state: dict, timeout: float = 60) -> None:
    etcd = state["etcd"]

    def healthy():
        _must_live(paths, etcd["pid"], "etcd", paths.log("etcd"))
        with urllib.request.urlopen(f"http://127.0.0.1:{etcd['port']}/health", timeout=2) as r:
            return json.loads(r.read()).get("health") == "true"

    wait_for("etcd /health", healthy, timeout, log=paths.log("etcd"))


def apiserver_args(paths: LabPaths, state: dict, name: str) -> list[str]:
    c = state["clusters"][name]
    d, pki = paths.cluster(name), paths.pki
    return [
        binary("kube-apiserver"),
        f"--etcd-servers=http://127.0.0.1:{state['etcd']['port']}",
        f"--etcd-prefix=/{name}/registry",
        "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
        f"--secure-port={c['port']}",
        f"--tls-cert-file={pki / 'serving.crt'}", f"--tls-private-key-file={pki / 'serving.key'}",
        f"--client-ca-file={pki / 'ca.crt'}",
        # Aggregation: the apiserver proxies oauth.openshift.io to the lab OAuth process.
        f"--requestheader-client-ca-file={pki / 'ca.crt'}",
        f"--requestheader-allowed-names={FRONT_PROXY_CN}",
        "--requestheader-username-headers=X-Remote-User",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        f"--proxy-client-cert-file={pki / 'front-proxy-client.crt'}",
        f"--proxy-client-key-file={pki / 'front-proxy-client.key'}",
        # kubectl exec: the apiserver dials each Node's lab kubelet (lab/kubelet.py) at its
        # InternalIP, with its kubelet client certificate, and checks the kubelet's.
        f"--kubelet-client-certificate={pki / 'kubelet-client.crt'}",
        f"--kubelet-client-key={pki / 'kubelet-client.key'}",
        f"--kubelet-certificate-authority={pki / 'ca.crt'}",
        "--kubelet-preferred-address-types=InternalIP",
        # Room for the Services of several meshes per cluster: each mesh has 2·(N−1) federation
        # gateways (a /24 was full at 4 meshes of 40 on one cluster).
        "--service-cluster-ip-range=10.0.0.0/20",
        "--service-account-issuer=https://kubernetes.default.svc",
        f"--service-account-signing-key-file={pki / 'sa.key'}",
        f"--service-account-key-file={pki / 'sa.pub'}",
        "--authorization-mode=RBAC",
        f"--token-auth-file={d / 'tokens.csv'}",
        f"--authentication-token-webhook-config-file={d / 'webhook.kubeconfig'}",
        "--authentication-token-webhook-version=v1",
        # No webhook cache, so a revoked OAuth token stops working within the apiserver's own
        # (fixed, 10 s) token cache.
        "--authentication-token-webhook-cache-ttl=0s",
        f"--audit-policy-file={paths.dir / 'audit-policy.yaml'}",
        f"--audit-log-path={paths.audit / (name + '.log')}",
        "--audit-log-format=json", "--audit-log-maxsize=100", "--audit-log-maxbackup=1",
        "--endpoint-reconciler-type=none",
        "--enable-priority-and-fairness=false",
        "--profiling=false",
        "--event-ttl=15m",
        # Idle cost (tests/lab/README.md, "Budgets"): no watch cache (a cacher per resource type
        # wakes every second; etcd serves the lab's few watchers directly), no periodic etcd
        # object-count and size polls (metrics nobody reads).
        "--watch-cache=false",
        # etcd is slow to answer on a loaded machine: with the 2 s defaults /healthz failed
        # during a 20-cluster `up` and three controller-managers gave up at start.
        "--etcd-healthcheck-timeout=10s", "--etcd-readycheck-timeout=10s",
        "--etcd-count-metric-poll-period=0",
        "--etcd-db-metric-poll-interval=0",
    ]


def start_apiserver(paths: LabPaths, state: dict, name: str) -> None:
    log = paths.log(f"apiserver-{name}")
    state["clusters"][name]["pid"] = spawn(apiserver_args(paths, state, name), log,
                                           env=CONTROL_PLANE_ENV)


def readyz(paths: LabPaths, server: str) -> bool:
    ctx = ssl.create_default_context(cafile=str(paths.pki / "ca.crt"))
    with urllib.request.urlopen(f"{server}/readyz", context=ctx, timeout=2) as r:
        return r.status == 200


def wait_apiservers(paths: LabPaths, state: dict, names: list[str], timeout: float) -> None:
    """Wait for every named apiserver's /readyz; a dead one is reported with its log."""
    pending = set(names)

    def all_ready():
        for name in sorted(pending):
            c = state["clusters"][name]
            _must_live(paths, c["pid"], f"kube-apiserver of cluster {name}",
                       paths.log(f"apiserver-{name}"))
            try:
                if readyz(paths, c["server"]):
                    pending.discard(name)
            except OSError:
                pass
        return not pending

    wait_for(f"kube-apiserver /readyz of {', '.join(sorted(pending))}", all_ready, timeout)


def start_kcm(paths: LabPaths, state: dict, name: str) -> None:
    d = paths.cluster(name)
    state["clusters"][name]["kcm_pid"] = spawn([
        binary("kube-controller-manager"),
        f"--kubeconfig={d / 'kcm.kubeconfig'}",
        f"--controllers={KCM_CONTROLLERS}",
        "--leader-elect=false",
        f"--root-ca-file={paths.pki / 'ca.crt'}",
        f"--cluster-name={name}",
        "--secure-port=0",
        "--concurrent-gc-syncs=5",
    ], paths.log(f"kcm-{name}"), env=CONTROL_PLANE_ENV)


def _must_live(paths: LabPaths, pid: int, what: str, log: Path) -> None:
    if not alive(pid, f"{paths.dir}/"):
        tail = ""
        try:
            tail = "\n  " + "\n  ".join(log.read_text(errors="replace").splitlines()[-5:])
        except OSError:
            pass
        raise LabError(f"{what} exited during start-up; see {log}{tail}")
