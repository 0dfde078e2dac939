"""The Kubernetes side of the lab: etcd, one kube-apiserver + trimmed kube-controller-manager per
cluster, identities, CRDs, admission policies and RBAC, kubeconfig and inventory."""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import ssl
import urllib.request
from pathlib import Path

import yaml

from lab import LAB_ROOT, LabError
from lab.ca import FRONT_PROXY_CN, OAUTH_API_SERVICE
from lab.kubeapi import ApiError, KubeApi
from lab.state import LabPaths, alive, free_port, spawn, wait_for, write_private

ADMIN_USER = "lab-admin"
AUTOMATION_USER = "federation-automation"
KCM_USER = "system:kube-controller-manager"
ROLE_NAME = "servicemesh-federation"
NAMESPACE_ROLE_NAME = "servicemesh-federation-namespace"
LOGOUT_ROLE_NAME = "lab-oauth-token-logout"
KCM_CONTROLLERS = (
    "namespace-controller,garbage-collector-controller,serviceaccount-controller,"
    "root-ca-certificate-publisher-controller,clusterrole-aggregation-controller"
)
# Audit only writes: the benchmark and idempotency tests count them per user.
WRITE_VERBS = ["create", "update", "patch", "delete", "deletecollection"]
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
    for name in ("etcd", "kube-apiserver", "kube-controller-manager"):
        binary(name)


# --- topology and identities ----------------------------------------------------------------

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$")


def parse_meshes(spec: str) -> dict[str, str]:
    """``"a b:c d:c"`` -> ``{"a": "a", "b": "c", "d": "c"}`` (mesh -> cluster, in order)."""
    meshes: dict[str, str] = {}
    for entry in spec.replace(",", " ").split():
        mesh, _sep, cluster = entry.partition(":")
        cluster = cluster or mesh
        for kind, name in (("mesh", mesh), ("cluster", cluster)):
            if not _DNS_LABEL.match(name):
                raise LabError(
                    f"--meshes entry {entry!r}: {kind} name {name!r} must be a DNS label "
                    "(lower-case letters, digits, '-', at most 40 characters)"
                )
        if mesh in meshes:
            raise LabError(f"--meshes: mesh {mesh!r} listed twice")
        meshes[mesh] = cluster
    if not meshes:
        raise LabError("--meshes: give at least one mesh")
    return meshes


def new_identities(clusters: list[str]) -> tuple[dict, dict]:
    """Random static tokens (secrets.json) and OAuth passwords (credentials.json) per cluster."""
    tokens = {
        c: {u: secrets.token_urlsafe(32) for u in (ADMIN_USER, AUTOMATION_USER, KCM_USER)}
        for c in clusters
    }
    passwords = {c: {u: secrets.token_urlsafe(18) for u in (ADMIN_USER, AUTOMATION_USER)}
                 for c in clusters}
    return tokens, passwords


def write_cluster_files(paths: LabPaths, state: dict, tokens: dict) -> None:
    """Token file, webhook and controller-manager kubeconfigs, audit policy for every cluster."""
    ca = str(paths.pki / "ca.crt")
    (paths.dir / "audit-policy.yaml").write_text(yaml.safe_dump({
        "apiVersion": "audit.k8s.io/v1",
        "kind": "Policy",
        "omitStages": ["RequestReceived"],
        # Access reviews are creates that store nothing (pre-flight asks one per mesh): not writes.
        "rules": [{"level": "None", "resources": [{"group": "authorization.k8s.io"}]},
                  {"level": "Metadata", "verbs": WRITE_VERBS}, {"level": "None"}],
    }))
    paths.audit.mkdir(parents=True, exist_ok=True)
    for name, cluster in state["clusters"].items():
        d = paths.cluster(name)
        t = tokens[name]
        write_private(d / "tokens.csv", "".join([
            f'{t[ADMIN_USER]},{ADMIN_USER},{ADMIN_USER},"system:masters"\n',
            f"{t[AUTOMATION_USER]},{AUTOMATION_USER},{AUTOMATION_USER}\n",
            f'{t[KCM_USER]},{KCM_USER},{KCM_USER},"system:masters"\n',
        ]))
        # The apiserver calls the lab OAuth process to review sha256~ tokens it does not know.
        webhook = _kubeconfig({"oauth": (f"{cluster['oauth_issuer']}/tokenreview", ca)}, {},
                              {"webhook": ("oauth", "apiserver", None)}, "webhook")
        webhook["users"] = [{"name": "apiserver", "user": {}}]
        write_private(d / "webhook.kubeconfig", yaml.safe_dump(webhook))
        write_private(d / "kcm.kubeconfig", yaml.safe_dump(_kubeconfig(
            {name: (cluster["server"], ca)}, {KCM_USER: t[KCM_USER]},
            {"kcm": (name, KCM_USER, None)}, "kcm")))


def _kubeconfig(clusters: dict, users: dict, contexts: dict, current: str | None) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": n, "cluster": {"server": s, "certificate-authority": ca}}
                     for n, (s, ca) in clusters.items()],
        "users": [{"name": n, "user": {"token": tok}} for n, tok in users.items()],
        "contexts": [
            {"name": n, "context": {"cluster": c, "user": u, **({"namespace": ns} if ns else {})}}
            for n, (c, u, ns) in contexts.items()
        ],
        "current-context": current or "",
    }


def write_kubeconfig(paths: LabPaths, state: dict, tokens: dict) -> None:
    ca = str(paths.pki / "ca.crt")
    clusters, users, contexts = {}, {}, {}
    for name, cluster in state["clusters"].items():
        clusters[name] = (cluster["server"], ca)
        users[f"{name}-admin"] = tokens[name][ADMIN_USER]
        users[f"{name}-automation"] = tokens[name][AUTOMATION_USER]
        first_ns = state["meshes"][cluster["meshes"][0]]["namespace"]
        contexts[cluster["admin_context"]] = (name, f"{name}-admin", None)
        contexts[cluster["automation_context"]] = (name, f"{name}-automation", first_ns)
    current = next(iter(state["clusters"].values()))["admin_context"]
    write_private(paths.kubeconfig, yaml.safe_dump(
        _kubeconfig(clusters, users, contexts, current), sort_keys=False))


def write_inventory(paths: LabPaths, state: dict) -> None:
    hosts = {}
    for mesh, m in state["meshes"].items():
        cluster = state["clusters"][m["cluster"]]
        hosts[mesh] = {
            "ansible_connection": "local",
            "ansible_python_interpreter": "{{ ansible_playbook_python }}",
            "mesh_cluster": {
                "kubeconfig": str(paths.kubeconfig),
                "context": cluster["automation_context"],
                "name": m["cluster"],
            },
            # The demo's sharing: every mesh offers its ratings Service to every peer and
            # imports every peer's (under the default imported domain).
            "mesh_exports": [{"service": "ratings", "namespace": f"{mesh}-apps"}],
            "mesh_imports": [{"from": peer, "service": "ratings", "namespace": f"{peer}-apps"}
                             for peer in state["meshes"] if peer != mesh],
        }
    inventory = {"all": {"children": {"meshes": {
        "hosts": hosts, "vars": {"federation_wait_timeout": 120}}}}}
    header = "# Written by `python -m lab up` (tests/lab); inventory for playbooks/federate.yml.\n"
    paths.inventory.write_text(header + yaml.safe_dump(inventory, sort_keys=False))


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
        "--service-cluster-ip-range=10.0.0.0/24",
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


def wait_crds_served(paths: LabPaths, state: dict, cluster: str, timeout: float) -> None:
    """After a restart /readyz can pass a moment before custom resource paths answer (503)."""
    tokens = json.loads((paths.dir / "secrets.json").read_text())
    kube = admin_kube(paths, state, cluster, tokens)

    def served():
        for crd in crds():
            spec = crd["spec"]
            kube.request("GET", f"/apis/{spec['group']}/{spec['versions'][0]['name']}/"
                                f"{spec['names']['plural']}", query={"limit": "1"})
        return True

    wait_for(f"custom resources served on cluster {cluster}", served, timeout)


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


# --- bootstrap: CRDs, namespaces, RBAC ------------------------------------------------------

def admin_kube(paths: LabPaths, state: dict, cluster: str, tokens: dict) -> KubeApi:
    return KubeApi(state["clusters"][cluster]["server"], paths.pki / "ca.crt",
                   tokens[cluster][ADMIN_USER])


def crds() -> list[dict]:
    return [yaml.safe_load(p.read_text()) for p in sorted((LAB_ROOT / "lab/crds").glob("*.yaml"))]


def policies() -> list[dict]:
    """The operator's admission checks as ValidatingAdmissionPolicies (+ bindings)."""
    return [obj for p in sorted((LAB_ROOT / "lab/policies").glob("*.yaml"))
            for obj in yaml.safe_load_all(p.read_text()) if obj]


# A dry-run SMCP the gateway policy refuses: bootstrap waits until it does, so the mesh processes
# (and tests) never write before the apiserver enforces the policy. Named as the mesh's own SMCP
# so that the one-per-namespace policy lets it through on a restarted cluster.
_POLICY_PROBE_MESSAGE = 'cannot define additional gateway named "istio-ingressgateway"'


def _policy_probe(namespace: str) -> dict:
    return {"apiVersion": "maistra.io/v2", "kind": "ServiceMeshControlPlane",
            "metadata": {"name": "basic", "namespace": namespace},
            "spec": {"gateways": {"additionalIngress": {"istio-ingressgateway": {}}}}}


def wait_policies_enforced(kube: KubeApi, namespace: str, timeout: float) -> None:
    def enforced():
        try:
            kube.request("POST", f"/apis/maistra.io/v2/namespaces/{namespace}/"
                                 "servicemeshcontrolplanes", query={"dryRun": "All"},
                         body=_policy_probe(namespace))
        except ApiError as e:
            if _POLICY_PROBE_MESSAGE in str(e):
                return True
            raise
        return False

    wait_for(f"the SMCP admission policies enforced in {namespace}", enforced, timeout)


def rbac_objects(namespaces: list[str], member_namespaces: list[str] = ()) -> list[dict]:
    """The automation identity's least privilege (documented in tests/lab/README.md): a Role in
    each mesh namespace, and in each member namespace only reading Services (pre-flight checks
    that exported Services exist)."""
    rw = ["get", "list", "watch", "create", "update", "patch", "delete"]
    rules = [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": rw},
        {"apiGroups": ["federation.maistra.io"], "resources": ["servicemeshpeers"], "verbs": rw},
        {"apiGroups": ["federation.maistra.io"], "resources": ["servicemeshpeers/status"],
         "verbs": ["get"]},
        # Service sharing: the collection's ExportedServiceSets / ImportedServiceSets, and their
        # status (istiod writes it) watched by the wait.
        {"apiGroups": ["federation.maistra.io"],
         "resources": ["exportedservicesets", "importedservicesets"], "verbs": rw},
        # Managed gateways: one server-side apply (patch) of the SMCP's gateway entries.
        {"apiGroups": ["maistra.io"], "resources": ["servicemeshcontrolplanes"],
         "verbs": ["get", "list", "patch"]},
        # Pre-flight: the member namespaces of the mesh.
        {"apiGroups": ["maistra.io"], "resources": ["servicemeshmemberrolls"], "verbs": ["get"]},
        # Gateway Services are waited for by watch.
        {"apiGroups": [""], "resources": ["services"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": [""], "resources": ["pods", "events"], "verbs": ["get", "list"]},
        {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
        {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list"]},
    ]
    user = {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": AUTOMATION_USER}
    objs: list[dict] = []
    for ns in namespaces:
        objs += [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
             "metadata": {"name": ROLE_NAME, "namespace": ns}, "rules": rules},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
             "metadata": {"name": ROLE_NAME, "namespace": ns},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                         "name": ROLE_NAME},
             "subjects": [user]},
        ]
    for ns in member_namespaces:
        objs += [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
             "metadata": {"name": ROLE_NAME, "namespace": ns},
             "rules": [{"apiGroups": [""], "resources": ["services"], "verbs": ["get", "list"]}]},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
             "metadata": {"name": ROLE_NAME, "namespace": ns},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                         "name": ROLE_NAME},
             "subjects": [user]},
        ]
    objs += [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
         "metadata": {"name": NAMESPACE_ROLE_NAME},
         "rules": [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"],
                    "resourceNames": sorted(namespaces)}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": NAMESPACE_ROLE_NAME},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                     "name": NAMESPACE_ROLE_NAME},
         "subjects": [user]},
        # Logout (`oc logout`, openshift_auth state=absent, cluster_login state=absent) deletes
        # the caller's own token object. Its name is a hash of the token, so only a holder of
        # the token can name it; without get/list nobody can find anyone else's.
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
         "metadata": {"name": LOGOUT_ROLE_NAME},
         "rules": [{"apiGroups": ["oauth.openshift.io"], "resources": ["oauthaccesstokens"],
                    "verbs": ["delete"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": LOGOUT_ROLE_NAME},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                     "name": LOGOUT_ROLE_NAME},
         "subjects": [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io",
                       "name": "system:authenticated"}]},
    ]
    return objs


def oauth_api_objects(paths: LabPaths, oauth_port: int) -> list[dict]:
    """oauth.openshift.io/v1 (OAuthAccessToken) served by the lab OAuth process, aggregated as in
    OpenShift: an ExternalName Service (the aggregator dials its host with the APIService port)."""
    name, ns = OAUTH_API_SERVICE
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
         "spec": {"type": "ExternalName", "externalName": "localhost",
                  "ports": [{"name": "https", "port": oauth_port}]}},
        {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
         "metadata": {"name": "v1.oauth.openshift.io"},
         "spec": {"group": "oauth.openshift.io", "version": "v1",
                  "service": {"name": name, "namespace": ns, "port": oauth_port},
                  "caBundle": base64.b64encode((paths.pki / "ca.crt").read_bytes()).decode(),
                  "groupPriorityMinimum": 9900, "versionPriority": 15}},
    ]


def _conditions(obj: dict | None) -> dict:
    return {c["type"]: c["status"] for c in (obj or {}).get("status", {}).get("conditions", [])}


def bootstrap(paths: LabPaths, state: dict, cluster: str, tokens: dict, timeout: float) -> None:
    """Apply the CRDs, the aggregated OAuth API and the RBAC of one cluster; wait until served."""
    kube = admin_kube(paths, state, cluster, tokens)
    crd_objs = crds()
    for crd in crd_objs:
        kube.apply(crd)
    for obj in oauth_api_objects(paths, state["clusters"][cluster]["oauth_port"]):
        kube.apply(obj)
    namespaces = [state["meshes"][m]["namespace"] for m in state["clusters"][cluster]["meshes"]]
    members = [f"{m}-apps" for m in state["clusters"][cluster]["meshes"]]  # see mesh/operator.py
    for obj in rbac_objects(namespaces, members):
        kube.apply(obj)

    def served():
        for crd in crd_objs:
            obj = kube.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"
                           f"{crd['metadata']['name']}")
            if _conditions(obj).get("Established") != "True":
                return False
        api = kube.get("/apis/apiregistration.k8s.io/v1/apiservices/v1.oauth.openshift.io")
        return _conditions(api).get("Available") == "True"

    wait_for(f"CRDs and the OAuth API served on cluster {cluster}", served, timeout)
    wait_crds_served(paths, state, cluster, timeout)
    for obj in policies():  # after the CRDs: a policy's paramKind must resolve
        kube.apply(obj)
    wait_policies_enforced(kube, namespaces[0], timeout)
