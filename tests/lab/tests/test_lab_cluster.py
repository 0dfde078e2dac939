"""The lab's clusters on the shared lab: files, CRDs, RBAC, audit log, idempotent `up`."""

from __future__ import annotations

import stat
import time
import uuid
from pathlib import Path

import pytest
import yaml
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic.exceptions import ForbiddenError, UnprocessibleEntityError


def _mode(path) -> int:
    return stat.S_IMODE(Path(path).stat().st_mode)


def test_state_kubeconfig_and_inventory_follow_the_contract(lab):
    state = lab.state
    assert list(state["meshes"]) == ["red-mesh", "green-mesh", "blue-mesh"]
    for index, (mesh, m) in enumerate(state["meshes"].items(), start=1):
        cluster = state["clusters"][m["cluster"]]
        assert m["cluster"] == mesh and cluster["meshes"] == [mesh]
        assert (m["namespace"], m["trust_domain"]) == (f"{mesh}-system", f"{mesh}.local")
        block = lab.ip_block
        assert (m["lb_prefix"], m["pod_ip"]) == (f"127.{block}.{index}",
                                                 f"127.{block + 1}.{index}.1")
        assert sorted(m["peers"]) == sorted(set(state["meshes"]) - {mesh})
        assert cluster["server"].startswith("https://127.0.0.1:")
        assert cluster["oauth_issuer"].startswith("https://127.0.0.1:")
        assert (cluster["admin_context"], cluster["automation_context"]) == (
            mesh, f"{mesh}-automation")

    for secret_file in (lab.kubeconfig, lab.dir / "credentials.json"):
        assert _mode(secret_file) == 0o600
    kubeconfig = yaml.safe_load(Path(lab.kubeconfig).read_text())
    contexts = {c["name"] for c in kubeconfig["contexts"]}
    assert contexts == {f"{m}{s}" for m in state["meshes"] for s in ("", "-automation")}
    for c in kubeconfig["clusters"]:
        assert c["cluster"]["certificate-authority"] == str(lab.dir / "pki" / "ca.crt")
        assert "insecure-skip-tls-verify" not in c["cluster"]

    meshes = yaml.safe_load(Path(lab.inventory).read_text())["all"]["children"]["meshes"]
    assert meshes["vars"] == {"federation_wait_timeout": 120}
    for mesh, host in meshes["hosts"].items():
        assert host["ansible_connection"] == "local"
        assert host["mesh_cluster"] == {"kubeconfig": lab.kubeconfig,
                                        "context": f"{mesh}-automation", "name": mesh}
        assert not {"mesh_name", "mesh_namespace", "mesh_trust_domain"} & set(host)


def test_up_on_the_running_lab_changes_nothing(lab):
    before = lab.state
    started = time.monotonic()
    lab.up()
    assert time.monotonic() - started < 10
    assert lab.state == before


def test_status_lists_clusters_meshes_and_live_processes(lab):
    out = lab.run("status").stdout
    for mesh in lab.meshes:
        assert f"{mesh}: https://127.0.0.1:" in out
    assert "DEAD" not in out


CRDS = {
    ("maistra.io/v2", "ServiceMeshControlPlane"),
    ("federation.maistra.io/v1", "ServiceMeshPeer"),
    ("federation.maistra.io/v1", "ExportedServiceSet"),
    ("federation.maistra.io/v1", "ImportedServiceSet"),
}


@pytest.mark.parametrize("api_version,kind", sorted(CRDS))
def test_crds_are_served_with_a_status_subresource(lab, api_version, kind):
    resource = lab.client("red-mesh").resources.get(api_version=api_version, kind=kind)
    assert resource.namespaced
    assert resource.subresources.get("status") is not None


@pytest.fixture
def scratch_peer(lab):
    """A ServiceMeshPeer in red-mesh's namespace, deleted afterwards."""
    smp = lab.client("red-mesh").resources.get(api_version="federation.maistra.io/v1",
                                               kind="ServiceMeshPeer")
    name = f"scratch-{uuid.uuid4().hex[:6]}"
    body = {
        "apiVersion": "federation.maistra.io/v1", "kind": "ServiceMeshPeer",
        "metadata": {"name": name, "namespace": "red-mesh-system"},
        "spec": {"remote": {"addresses": ["127.0.0.9"], "discoveryPort": 8188},
                 "gateways": {"ingress": {"name": "ingress-x"}, "egress": {"name": "egress-x"}},
                 "security": {"trustDomain": "x.local", "clientID": "x.local/ns/x/sa/e",
                              "certificateChain": {"kind": "ConfigMap", "name": "x-ca-root-cert"}},
                 "unknownField": "pruned"},
        "status": {"discoveryStatus": {"active": [{"pod": "p", "watch": {"connected": True}}]}},
    }
    yield smp, body
    smp.delete(name=name, namespace="red-mesh-system")


def test_peer_status_is_written_only_through_the_status_subresource(scratch_peer):
    smp, body = scratch_peer
    created = smp.create(body=body, namespace="red-mesh-system").to_dict()
    assert "status" not in created  # the main resource ignores .status
    assert "unknownField" not in created["spec"]  # structural schema prunes unknown fields

    status = {"discoveryStatus": {"inactive": [{
        "pod": "istiod-red-mesh-1",
        "watch": {"connected": False, "lastDisconnectStatus": "503 Service Unavailable"},
        "remotes": [{"source": "127.41.2.1", "connected": True}]}]}}
    name = body["metadata"]["name"]
    smp.status.patch(name=name, namespace="red-mesh-system", body={"status": status},
                     content_type="application/merge-patch+json")
    got = smp.get(name=name, namespace="red-mesh-system").to_dict()
    assert got["status"] == status

    # Writes to the main resource leave the status alone.
    smp.patch(name=name, namespace="red-mesh-system",
              body={"status": {"discoveryStatus": None}, "spec": {"remote": {"servicePort": 1}}},
              content_type="application/merge-patch+json")
    got = smp.get(name=name, namespace="red-mesh-system").to_dict()
    assert got["status"] == status and got["spec"]["remote"]["servicePort"] == 1


def test_peer_schema_requires_kind_and_name_of_the_certificate_chain(scratch_peer):
    smp, body = scratch_peer
    body["spec"]["security"]["certificateChain"] = {"kind": "ConfigMap"}
    with pytest.raises(UnprocessibleEntityError) as e:
        smp.create(body=body, namespace="red-mesh-system")
    assert "spec.security.certificateChain.name" in str(e.value.body)
    body["spec"]["security"]["certificateChain"]["name"] = "x-ca-root-cert"  # for the cleanup
    smp.create(body=body, namespace="red-mesh-system")


def test_smcp_keeps_federation_gateways_and_loose_fields(lab):
    # One SMCP per namespace (the lab's admission policy): a namespace of its own, dry run.
    smcp = lab.client("green-mesh").resources.get(api_version="maistra.io/v2",
                                                  kind="ServiceMeshControlPlane")
    name = f"scratch-{uuid.uuid4().hex[:6]}"
    gateway = {"enabled": True, "routerMode": "sni-dnat",
               "service": {"type": "LoadBalancer",
                           "metadata": {"labels": {"federation.maistra.io/ingress-for": "x"}},
                           "ports": [{"port": 15443, "name": "tls"},
                                     {"port": 8188, "name": "https-discovery"}]}}
    body = {"apiVersion": "maistra.io/v2", "kind": "ServiceMeshControlPlane",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"version": "v2.5", "cluster": {"name": "green"},
                     "security": {"trust": {"domain": "green-mesh.local"}},
                     "gateways": {"additionalIngress": {"ingress-x": gateway},
                                  "additionalEgress": {"egress-x": {
                                      **gateway, "requestedNetworkView": ["network-x"]}}},
                     "addons": {"kiali": {"enabled": False}}}}
    got = smcp.create(body=body, namespace="default", dry_run="All").to_dict()
    assert got["spec"] == body["spec"]


# --- RBAC of the automation identity ---------------------------------------------------------

def _cm(name: str, namespace: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace}, "data": {"root-cert.pem": "x"}}


def test_automation_identity_can_do_what_the_collection_needs(lab):
    auto = lab.client("blue-mesh", admin=False)
    ns = "blue-mesh-system"
    configmaps = auto.resources.get(api_version="v1", kind="ConfigMap")
    name = f"scratch-{uuid.uuid4().hex[:6]}"
    configmaps.create(body=_cm(name, ns), namespace=ns)
    configmaps.patch(name=name, namespace=ns, body={"data": {"root-cert.pem": "y"}},
                     content_type="application/merge-patch+json")
    assert configmaps.get(name=name, namespace=ns).data["root-cert.pem"] == "y"
    configmaps.delete(name=name, namespace=ns)

    auto.resources.get(api_version="federation.maistra.io/v1", kind="ServiceMeshPeer").get(
        namespace=ns)
    smcps = auto.resources.get(api_version="maistra.io/v2", kind="ServiceMeshControlPlane")
    assert [s.metadata.name for s in smcps.get(namespace=ns).items] == ["basic"]
    for kind, api in (("Service", "v1"), ("Pod", "v1"), ("Event", "v1"), ("Deployment", "apps/v1"),
                      ("ExportedServiceSet", "federation.maistra.io/v1"),
                      ("ImportedServiceSet", "federation.maistra.io/v1")):
        auto.resources.get(api_version=api, kind=kind).get(namespace=ns)
    auto.resources.get(api_version="v1", kind="Namespace").get(name=ns)


@pytest.mark.parametrize("action", [
    "read secrets in its namespace",
    "delete the SMCP",
    "write peer status",
    "create a ConfigMap in another namespace",
    "list namespaces",
    "read another namespace",
])
def test_automation_identity_is_refused_everything_else(lab, action):
    auto = lab.client("blue-mesh", admin=False)
    ns = "blue-mesh-system"
    with pytest.raises(ForbiddenError):
        if action == "read secrets in its namespace":
            auto.resources.get(api_version="v1", kind="Secret").get(namespace=ns)
        elif action == "delete the SMCP":  # patch (apply of its gateway entries) is allowed
            auto.resources.get(api_version="maistra.io/v2", kind="ServiceMeshControlPlane").delete(
                name="basic", namespace=ns, dry_run="All")
        elif action == "write peer status":
            auto.resources.get(api_version="federation.maistra.io/v1",
                               kind="ServiceMeshPeer").status.patch(
                name="any", namespace=ns, body={"status": {}},
                content_type="application/merge-patch+json")
        elif action == "create a ConfigMap in another namespace":
            auto.resources.get(api_version="v1", kind="ConfigMap").create(
                body=_cm("scratch", "default"), namespace="default")
        elif action == "list namespaces":
            auto.resources.get(api_version="v1", kind="Namespace").get()
        else:
            auto.resources.get(api_version="v1", kind="Namespace").get(name="kube-system")


def test_audit_log_counts_the_automation_identitys_writes_only(lab):
    auto = lab.client("red-mesh", admin=False)
    ns = "red-mesh-system"
    configmaps = auto.resources.get(api_version="v1", kind="ConfigMap")
    since = time.time()
    name = f"scratch-{uuid.uuid4().hex[:6]}"
    configmaps.create(body=_cm(name, ns), namespace=ns)
    configmaps.get(name=name, namespace=ns)
    configmaps.get(namespace=ns)
    configmaps.delete(name=name, namespace=ns)
    writes = lab.audit_writes("red-mesh", "federation-automation", since)
    assert [(e["verb"], e["objectRef"]["name"]) for e in writes] == [("create", name),
                                                                     ("delete", name)]
    assert lab.audit_writes("green-mesh", "federation-automation", since) == []


def test_controller_manager_runs_the_namespace_and_service_account_controllers(lab):
    admin = lab.client("red-mesh")
    namespaces = admin.resources.get(api_version="v1", kind="Namespace")
    name = f"scratch-{uuid.uuid4().hex[:6]}"
    namespaces.create(body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    sas = admin.resources.get(api_version="v1", kind="ServiceAccount")
    cms = admin.resources.get(api_version="v1", kind="ConfigMap")
    deadline = time.monotonic() + 20
    while True:
        try:
            sas.get(name="default", namespace=name)
            cms.get(name="kube-root-ca.crt", namespace=name)
            break
        except ApiException:
            assert time.monotonic() < deadline, "no default ServiceAccount / kube-root-ca.crt"
            time.sleep(0.3)
    namespaces.delete(name=name)
    deadline = time.monotonic() + 30
    while any(n.metadata.name == name for n in namespaces.get().items):
        assert time.monotonic() < deadline, "namespace deletion did not finish"
        time.sleep(0.5)
