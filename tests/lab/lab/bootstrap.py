"""Bootstrap of one lab cluster through its API: the CRDs, the aggregated OAuth API, the
automation identity's RBAC and the operator's admission policies; wait until they are served."""

from __future__ import annotations

import base64
import json

import yaml

from lab import LAB_ROOT
from lab.access import (
    ADMIN_USER,
    AUTOMATION_USER,
    LOGOUT_ROLE_NAME,
    NAMESPACE_ROLE_NAME,
    ROLE_NAME,
)
from lab.ca import OAUTH_API_SERVICE
from lab.kubeapi import ApiError, KubeApi
from lab.state import LabPaths, wait_for


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
