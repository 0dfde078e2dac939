"""The lab's OSSM 3 side (`lab up --ossm 2|2+3|3`): which mesh runs, the CRDs and what a platform
team installs (the simulated Sail operator process per cluster and its faults:
``lab.ossm3_operator``).

- ``2`` (default): OpenShift Service Mesh 2.6 only, the lab as it always was.
- ``2+3``: OSSM 2.6 as today plus, per cluster, the OSSM 3 operator side: Sail CRDs, Istio's
  networking/security CRDs, the Gateway API CRDs, GatewayClasses ``istio`` and ``istio-remote``
  and the simulated operator (``python -m lab.sail``); no ``Istio`` yet.
- ``3``: no OSSM 2 at all (no maistra CRDs, no SMCP, no 2.6 mesh process); the OSSM 3 side and,
  per mesh, a fresh ``Istio`` for ``<mesh>-system`` with the cluster's ``IstioCNI``.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path

import yaml

from lab import LAB_ROOT, LabError
from lab.bootstrap import admin_kube, oauth_api_objects, rbac_objects
from lab.bootstrap import bootstrap as bootstrap_ossm2
from lab.kubeapi import ApiError, KubeApi
from lab.state import LabPaths, wait_for

OSSM_CHOICES = ("2", "2+3", "3")
SAIL_CRDS = LAB_ROOT / "lab/crds/ossm3"
GO_MODULE = LAB_ROOT / "go/ossm3"
ISTIO_API, GATEWAY_API = "istio.io/api", "sigs.k8s.io/gateway-api"
ISTIO_GROUPS = ("networking.istio.io", "security.istio.io")
# What `--ossm 3` installs per mesh: an Istio version the vendored operator supports (not EOL in
# crds/ossm3/versions.yaml), RevisionBased as the migration guide's Istio.
ISTIO_VERSION = "v1.30-latest"
CNI_NAMESPACE = "istio-cni"
SAIL = "/apis/sailoperator.io/v1"
GATEWAY_CLASSES = {  # Istio's built-in classes (istiod creates them; OpenShift 4.19+ with OSSM 3)
    "istio": "istio.io/gateway-controller",
    "istio-remote": "istio.io/unmanaged-gateway",
}
CRD_TIMEOUT = 120.0


def choice(paths: LabPaths, state: dict | None, ossm: str | None) -> str:
    """`up --ossm`: the lab's choice (default 2); a running lab keeps its own."""
    if ossm is not None and ossm not in OSSM_CHOICES:
        raise LabError(f"--ossm {ossm!r}: one of {', '.join(OSSM_CHOICES)}")
    if state is None:
        return ossm or "2"
    if ossm is not None and ossm != state.get("ossm", "2"):
        raise LabError(
            f"a different lab is already set up in {paths.dir} (--ossm {state.get('ossm', '2')}); "
            f"run `python -m lab down` first to start one with --ossm {ossm}")
    return state.get("ossm", "2")


def has_ossm2(state: dict) -> bool:
    return state.get("ossm", "2") != "3"


def has_ossm3(state: dict) -> bool:
    return state.get("ossm", "2") != "2"


# --- CRDs -----------------------------------------------------------------------------------

def _load_all(path: Path) -> list[dict]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the Sail CRDs are 800 kB each
    text = gzip.decompress(path.read_bytes()).decode() if path.suffix == ".gz" else \
        path.read_text()
    return [d for d in yaml.load_all(text, Loader=loader) if d]


def _module_dirs() -> dict[str, Path]:
    """The pinned modules' directories in the Go module cache (downloaded when missing)."""
    env = {**os.environ, "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local"}
    try:
        proc = subprocess.run(["go", "mod", "download", "-json", ISTIO_API, GATEWAY_API],
                              cwd=GO_MODULE, env=env, capture_output=True, text=True,
                              timeout=300, check=False)
    except FileNotFoundError:
        raise LabError("`--ossm 2+3|3` needs Go to fetch the Istio and Gateway API CRDs "
                       f"(modules pinned in {GO_MODULE}/go.mod); install Go or use --ossm 2"
                       ) from None
    dirs: dict[str, Path] = {}
    for doc in _json_stream(proc.stdout):
        if doc.get("Error"):
            raise LabError(f"go mod download {doc.get('Path')}: {doc['Error']}")
        dirs[doc["Path"]] = Path(doc["Dir"])
    if proc.returncode != 0 or set(dirs) != {ISTIO_API, GATEWAY_API}:
        raise LabError(f"go mod download in {GO_MODULE} failed: {proc.stderr.strip()[-400:]}")
    return dirs


def _json_stream(text: str) -> list[dict]:
    decoder, docs, i = json.JSONDecoder(), [], 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        doc, i = decoder.raw_decode(text, i)
        docs.append(doc)
    return docs


@cache
def crd_objects() -> list[dict]:
    """Sail's three CRDs, Istio's networking/security CRDs and the Gateway API standard channel
    (its CRDs and its safe-upgrades admission policy), all unmodified."""
    dirs = _module_dirs()
    objs = [d for p in sorted(SAIL_CRDS.glob("sailoperator.io_*.yaml.gz")) for d in _load_all(p)]
    istio = dirs[ISTIO_API] / "kubernetes/customresourcedefinitions.gen.yaml"
    objs += [d for d in _load_all(istio) if d["spec"]["group"] in ISTIO_GROUPS]
    for p in sorted((dirs[GATEWAY_API] / "config/crd/standard").glob("*.yaml")):
        objs += _load_all(p)
    return objs


def wait_crds_served(paths: LabPaths, state: dict, cluster: str, timeout: float) -> None:
    """After an apiserver restart, until the OSSM 3 custom resource paths answer (not 503)."""
    tokens = json.loads((paths.dir / "secrets.json").read_text())
    kube = admin_kube(paths, state, cluster, tokens)
    crds = [o for o in crd_objects() if o["kind"] == "CustomResourceDefinition"]

    def served():
        for crd in crds:
            spec = crd["spec"]
            version = next(v["name"] for v in spec["versions"] if v.get("served"))
            kube.request("GET", f"/apis/{spec['group']}/{version}/{spec['names']['plural']}",
                         query={"limit": "1"})
        return True

    wait_for(f"the OSSM 3 custom resources served on cluster {cluster}", served, timeout)


def gateway_classes() -> list[dict]:
    return [{"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
             "metadata": {"name": name}, "spec": {"controllerName": controller,
                                                  "description": "The lab's Istio gateway class"}}
            for name, controller in GATEWAY_CLASSES.items()]


# --- what `--ossm 3` installs -----------------------------------------------------------------

def istio_name(state: dict, mesh: str) -> str:
    """``default``, as a platform team names its one Istio; ``<mesh>`` when meshes share a
    cluster."""
    cluster = state["clusters"][state["meshes"][mesh]["cluster"]]
    return "default" if len(cluster["meshes"]) == 1 else mesh


def istio_manifest(state: dict, mesh: str) -> dict:
    m = state["meshes"][mesh]
    return {"apiVersion": "sailoperator.io/v1", "kind": "Istio",
            "metadata": {"name": istio_name(state, mesh)},
            "spec": {"namespace": m["namespace"], "version": ISTIO_VERSION,
                     "updateStrategy": {"type": "RevisionBased"},
                     "values": {"meshConfig": {"trustDomain": m["trust_domain"]}}}}


def cni_manifest() -> dict:
    return {"apiVersion": "sailoperator.io/v1", "kind": "IstioCNI", "metadata": {"name": "default"},
            "spec": {"namespace": CNI_NAMESPACE, "version": ISTIO_VERSION}}


def revision_name(istio: dict) -> str:
    """Sail's rule: ``<name>-<version, dots as dashes>`` with RevisionBased, else the name."""
    spec = istio.get("spec") or {}
    if ((spec.get("updateStrategy") or {}).get("type")) == "RevisionBased":
        return f"{istio['metadata']['name']}-{spec['version'].replace('.', '-')}"
    return istio["metadata"]["name"]


def _create(kube: KubeApi, path: str, obj: dict) -> None:
    """Create unless it exists: what a user changed later (e.g. the Istio's values) stays. The
    CRDs too: they are the pinned files unmodified (a plain create costs the apiserver a quarter
    less than a server-side apply of Sail's 800 kB schemas)."""
    try:
        # Creating Sail's 800 kB CRDs takes a loaded apiserver (one Go P) well over 10 s.
        kube.request("POST", path, body=obj, timeout=CRD_TIMEOUT)
    except ApiError as e:
        if e.status != 409:
            raise


def bootstrap(paths: LabPaths, state: dict, cluster: str, tokens: dict, timeout: float) -> None:
    """Per cluster: the OSSM 3 CRDs (after the 2.6 bootstrap with `2+3`, alone with `3`), the
    GatewayClasses, and with `3` the namespaces, RBAC, IstioCNI and one Istio per mesh."""
    kube = admin_kube(paths, state, cluster, tokens)
    meshes = state["clusters"][cluster]["meshes"]
    if not has_ossm2(state):  # the 2.6 bootstrap did not run: OAuth API, namespaces and RBAC
        for obj in oauth_api_objects(paths, state["clusters"][cluster]["oauth_port"]):
            kube.apply(obj)
        namespaces = [state["meshes"][m]["namespace"] for m in meshes]
        for obj in rbac_objects(namespaces, [f"{m}-apps" for m in meshes]):
            kube.apply(obj)
    crds = crd_objects()
    with ThreadPoolExecutor(2) as pool:  # the apiserver answers while etcd writes
        list(pool.map(lambda obj: _create(kube, _PATHS[obj["kind"]], obj), crds))

    def established():
        for crd in (o for o in crds if o["kind"] == "CustomResourceDefinition"):
            got = kube.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"
                           f"{crd['metadata']['name']}")
            conditions = {c["type"]: c["status"] for c in (got or {}).get("status", {})
                          .get("conditions", [])}
            if conditions.get("Established") != "True":
                return False
        return True

    wait_for(f"the OSSM 3 CRDs established on cluster {cluster}", established, timeout)
    for obj in gateway_classes():
        _create(kube, "/apis/gateway.networking.k8s.io/v1/gatewayclasses", obj)
    if has_ossm2(state):
        return
    _create(kube, "/api/v1/namespaces", {"metadata": {"name": CNI_NAMESPACE}})
    _create(kube, f"{SAIL}/istiocnis", cni_manifest())
    for mesh in meshes:
        _create(kube, f"{SAIL}/istios", istio_manifest(state, mesh))


def bootstrap_cluster(paths: LabPaths, state: dict, cluster: str, tokens: dict,
                      timeout: float) -> None:
    """`up` on a fresh or restarted apiserver: the 2.6 bootstrap (lab.bootstrap) and the OSSM 3
    one, as the lab runs them; independent, so side by side."""
    steps = [step for step, wanted in ((bootstrap_ossm2, has_ossm2(state)),
                                       (bootstrap, has_ossm3(state))) if wanted]
    with ThreadPoolExecutor(len(steps)) as pool:
        for done in [pool.submit(step, paths, state, cluster, tokens, timeout=timeout)
                     for step in steps]:
            done.result()


_PATHS = {  # collections of the kinds the OSSM 3 bootstrap creates
    "ValidatingAdmissionPolicy":
        "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies",
    "ValidatingAdmissionPolicyBinding":
        "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings",
    "CustomResourceDefinition": "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
}
