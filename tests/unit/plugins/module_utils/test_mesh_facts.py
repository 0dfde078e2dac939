"""mesh_info logic (module_utils/service/mesh_facts.py): every pre-flight problem is reported as a
sentence, nothing fails for a missing thing, and Secrets are never read."""

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fake_cluster import FakeCluster

from ansible_collections.servicemesh.federation.plugins.module_utils.logic.errors import (
    AccessDenied,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.service.mesh_facts import (
    gather,
    peer_gateways,
)

NS = "red-system"
PEERS = peer_gateways([{"peer": "green"}])


def make_root():
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "red root CA")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem


ROOT, KEY = make_root()


def smcp(version="v2.5", ready="True"):
    return {"apiVersion": "maistra.io/v2", "kind": "ServiceMeshControlPlane",
            "metadata": {"name": "basic", "namespace": NS}, "spec": {"version": version},
            "status": {"conditions": [{"type": "Ready", "status": ready,
                                       "message": "components not ready" if ready != "True"
                                       else ""}]}}


def service(name, lb_ip=None):
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": NS},
           "spec": {"type": "LoadBalancer",
                    "ports": [{"name": "tls", "port": 15443, "targetPort": 15443},
                              {"name": "https-discovery", "port": 8188, "targetPort": 8188}]},
           "status": {}}
    if lb_ip:
        svc["status"] = {"loadBalancer": {"ingress": [{"ip": lb_ip}]}}
    return svc


def istiod(ca_name=None):
    env = [{"name": "PILOT_CA_CERT_CONFIG_MAP_NAME", "value": ca_name}] if ca_name else []
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "istiod-basic", "namespace": NS, "labels": {"app": "istiod"}},
            "spec": {"template": {"spec": {"containers": [{"name": "discovery", "env": env}]}}}}


def configmap(name, data):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": NS},
            "data": data}


def healthy(**replace):
    objects = {
        "ns": {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}},
        "smcp": smcp(),
        "ingress": service("ingress-green", "10.0.0.1"),
        "egress": service("egress-green"),
        "istiod": istiod(),
        "root": configmap("istio-ca-root-cert", {"root-cert.pem": ROOT}),
        "secret": {"apiVersion": "v1", "kind": "Secret",
                   "metadata": {"name": "istio-ca-secret", "namespace": NS}},
    }
    objects.update(replace)
    return FakeCluster([o for o in objects.values() if o is not None])


def test_healthy_mesh_has_no_problems_and_every_fact():
    cluster = healthy()
    mesh = gather(cluster, NS, PEERS)
    assert mesh["problems"] == []
    assert mesh["smcp"] == {"name": "basic", "version": "v2.5", "ready": True}
    assert mesh["crds"] == {"servicemeshpeers": True, "servicemeshcontrolplanes": True}
    assert mesh["ca_configmap"] == "istio-ca-root-cert"
    assert mesh["root_cert"]["pem"] == ROOT
    assert mesh["root_cert"]["count"] == 1
    assert mesh["ingress"]["ingress-green"]["addresses"] == ["10.0.0.1"]
    assert mesh["cluster_version"] == "v1.35.4"
    assert not [r for r in cluster.requests if r[1] == "Secret"]


@pytest.mark.parametrize("replace, problem", [
    ({"smcp": None}, "no ServiceMeshControlPlane in namespace red-system"),
    ({"smcp": smcp(version="v2.0")}, "is version v2.0; federation needs v2.1 or later"),
    ({"smcp": smcp(ready="False")}, "basic is not Ready: components not ready"),
    ({"egress": None}, "no Service red-system/egress-green: the egress gateway for peer green"),
    ({"ingress": None}, "no Service red-system/ingress-green: the ingress gateway for peer green"),
    ({"ingress": service("ingress-green")}, "ingress gateway Service red-system/ingress-green "
                                            "(for peer green) has no address yet"),
    ({"root": None}, "ConfigMap red-system/istio-ca-root-cert does not exist"),
    ({"root": configmap("istio-ca-root-cert", {"ca.crt": ROOT})}, "has no key root-cert.pem"),
    ({"root": configmap("istio-ca-root-cert", {"root-cert.pem": ROOT + KEY})},
     "key material is refused"),
])
def test_each_missing_thing_is_one_clear_problem(replace, problem):
    mesh = gather(healthy(**replace), NS, PEERS)
    assert len(mesh["problems"]) == 1, mesh["problems"]
    assert problem in mesh["problems"][0]


def test_refused_root_is_not_returned():
    mesh = gather(healthy(root=configmap("istio-ca-root-cert", {"root-cert.pem": ROOT + KEY})),
                  NS, PEERS)
    assert mesh["root_cert"] is None
    key_body = KEY.splitlines()[1]
    assert key_body not in str(mesh)


def test_missing_address_is_no_problem_when_the_peer_uses_an_override():
    peers = peer_gateways([{"peer": "green", "require_address": False}])
    mesh = gather(healthy(ingress=service("ingress-green")), NS, peers)
    assert mesh["problems"] == []
    assert mesh["ingress"]["ingress-green"]["addresses"] == []


def test_ca_configmap_name_comes_from_istiod():
    cluster = healthy(istiod=istiod("ossm-ca-root-cert"), root=None,
                      other=configmap("ossm-ca-root-cert", {"root-cert.pem": ROOT}))
    mesh = gather(cluster, NS, PEERS)
    assert mesh["problems"] == []
    assert mesh["ca_configmap"] == "ossm-ca-root-cert"
    assert mesh["ca_configmap_source"] == "istiod istiod-basic"


def test_unreadable_deployments_fall_back_to_the_default_name():
    cluster = healthy(istiod=istiod("ossm-ca-root-cert"))
    cluster.fail_on[("list", "Deployment", "")] = AccessDenied(cluster.name, "forbidden (403)",
                                                               status=403)
    mesh = gather(cluster, NS, PEERS)
    assert mesh["problems"] == []
    assert (mesh["ca_configmap"], mesh["ca_configmap_source"]) == ("istio-ca-root-cert",
                                                                   "default")


def test_unreadable_namespace_object_is_not_a_problem():
    # a least-privilege identity has a Role in the mesh namespace only
    cluster = healthy()
    cluster.fail_on[("get", "Namespace", NS)] = AccessDenied(cluster.name, "forbidden (403)",
                                                             status=403)
    assert gather(cluster, NS, PEERS)["problems"] == []


def test_missing_namespace_stops_further_checks():
    mesh = gather(healthy(ns=None), NS, PEERS)
    assert mesh["problems"] == ["namespace red-system does not exist"]


def test_federation_api_not_served_is_a_problem():
    cluster = healthy()
    cluster.served = {"ServiceMeshControlPlane"}
    mesh = gather(cluster, NS, PEERS)
    assert mesh["crds"]["servicemeshpeers"] is False
    assert any("servicemeshpeers.federation.maistra.io" in p and "not served" in p
               for p in mesh["problems"])


def test_not_allowed_to_read_the_mesh_namespace_fails():
    cluster = healthy()
    denied = AccessDenied(cluster.name, "servicemeshcontrolplanes is forbidden (403)", "list",
                          "ServiceMeshControlPlane", NS, status=403)
    cluster.fail_on[("list", "ServiceMeshControlPlane", "")] = denied
    with pytest.raises(AccessDenied, match="cluster 'fake' .*namespace red-system.*forbidden"):
        gather(cluster, NS, PEERS)


def test_default_gateway_names():
    assert peer_gateways([{"peer": "green"}, {"peer": "blue", "ingress_gateway": "in-b"}]) == [
        {"peer": "green", "ingress_gateway": "ingress-green", "egress_gateway": "egress-green"},
        {"peer": "blue", "ingress_gateway": "in-b", "egress_gateway": "egress-blue"}]


# --- Exports, member namespaces and managed gateways -----------------------------------------

APPS = "red-apps"


def member_roll(members=(APPS,), configured=None):
    roll = {"apiVersion": "maistra.io/v1", "kind": "ServiceMeshMemberRoll",
            "metadata": {"name": "default", "namespace": NS}, "spec": {"members": list(members)}}
    if configured is not None:
        roll["status"] = {"configuredMembers": list(configured)}
    return roll


def app(name, namespace=APPS, **labels):
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": namespace,
                         "labels": dict({"app": name, "version": "v1"}, **labels)},
            "spec": {"type": "ClusterIP", "ports": [{"name": "http", "port": 9080}]}}


def sharing_mesh(**replace):
    objects = {"roll": member_roll(), "ratings": app("ratings"), "reviews": app("reviews"),
               "other": app("details", "not-member")}
    objects.update(replace)
    return healthy(**objects)


RATINGS = {"service": "ratings", "namespace": APPS}


def test_members_come_from_the_member_roll():
    mesh = gather(sharing_mesh(roll=member_roll(["b-apps", APPS], configured=["c-apps"])),
                  NS, PEERS)
    assert mesh["members"] == ["b-apps", "c-apps", APPS]
    assert gather(sharing_mesh(roll=None), NS, PEERS)["members"] == []


def test_exports_that_exist_in_member_namespaces_are_fine():
    # the plan lists an export once per peer, with its exported name: passed as is
    exports = [dict(RATINGS, exported_name="ratings.red-apps.svc.green-exports.local"),
               dict(RATINGS, exported_name="ratings.red-apps.svc.blue-exports.local"),
               {"namespace": APPS, "selector": {"matchLabels": {"app": "reviews"}}},
               {"namespace": "*", "selector": {"matchExpressions": [
                   {"key": "app", "operator": "In", "values": ["ratings", "nope"]}]}}]
    cluster = sharing_mesh()
    mesh = gather(cluster, NS, PEERS, exports=exports)
    assert (mesh["problems"], mesh["warnings"]) == ([], [])
    # Services are listed once per namespace, never read one by one: the gateways in the mesh
    # namespace, then red-apps and (for "*", the control plane belongs to its mesh) red-system
    assert cluster.requests.count(("list", "Service", "")) == 3
    assert ("get", "Service", "ratings") not in cluster.requests


@pytest.mark.parametrize("replace, export, problem", [
    ({"ratings": None}, RATINGS, "exported Service red-apps/ratings does not exist"),
    ({"roll": member_roll(["b-apps"])}, RATINGS,
     "exported Service red-apps/ratings is in namespace red-apps, which is not a member of "
     "this mesh: add it to the ServiceMeshMemberRoll default in red-system"),
    ({"roll": None}, RATINGS, "which is not a member of this mesh: add it to the "
                              "ServiceMeshMemberRoll default in red-system"),
    ({}, {"service": "details", "namespace": "not-member"},
     "exported Service not-member/details is in namespace not-member, which is not a member"),
])
def test_each_named_export_problem(replace, export, problem):
    mesh = gather(sharing_mesh(**replace), NS, PEERS, exports=[export])
    assert len(mesh["problems"]) == 1 and problem in mesh["problems"][0], mesh["problems"]


def test_a_missing_service_outside_the_members_is_two_problems():
    mesh = gather(sharing_mesh(), NS, PEERS, exports=[{"service": "x", "namespace": "elsewhere"}])
    assert mesh["problems"] == [
        "exported Service elsewhere/x does not exist",
        "exported Service elsewhere/x is in namespace elsewhere, which is not a member of this "
        "mesh: add it to the ServiceMeshMemberRoll default in red-system"]


def test_a_service_of_the_control_plane_namespace_needs_no_member_roll_entry():
    mesh = gather(sharing_mesh(), NS, PEERS,
                  exports=[{"service": "ingress-green", "namespace": NS}])
    assert mesh["problems"] == []


@pytest.mark.parametrize("export, warning", [
    ({"namespace": APPS, "selector": {"matchLabels": {"app": "productpage"}}},
     "label selector app=productpage matches no Service in namespace red-apps (it exports them "
     "once they appear)"),
    ({"namespace": "*", "selector": {"matchLabels": {"app": "details"}}},
     "label selector app=details matches no Service in any member namespace"),
    ({"namespace": APPS, "selector": {"matchExpressions": [
        {"key": "version", "operator": "NotIn", "values": ["v1"]}]}},
     "label selector version NotIn (v1) matches no Service in namespace red-apps"),
    ({"namespace": APPS, "selector": {"matchExpressions": [
        {"key": "tier", "operator": "Exists"}]}},
     "label selector tier Exists matches no Service"),
    ({"namespace": "not-member", "selector": {"matchLabels": {"app": "details"}}},
     "label selector app=details exports nothing: namespace not-member is not a member of this "
     "mesh (add it to the ServiceMeshMemberRoll default in red-system)"),
])
def test_a_selector_that_matches_nothing_is_a_warning_not_a_problem(export, warning):
    mesh = gather(sharing_mesh(), NS, PEERS, exports=[export])
    assert mesh["problems"] == []
    assert len(mesh["warnings"]) == 1 and mesh["warnings"][0].startswith(warning), \
        mesh["warnings"]


def test_selector_expressions_match_like_kubernetes():
    exports = [{"namespace": APPS, "selector": {
        "matchLabels": {"version": "v1"},
        "matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["ratings"]},
                             {"key": "legacy", "operator": "DoesNotExist"}]}}]
    assert gather(sharing_mesh(), NS, PEERS, exports=exports)["warnings"] == []
    cluster = sharing_mesh(reviews=app("reviews", legacy="yes"))
    assert len(gather(cluster, NS, PEERS, exports=exports)["warnings"]) == 1


def test_services_we_may_not_list_are_a_problem_naming_the_permission():
    cluster = sharing_mesh()
    calls = {"n": 0}
    original = cluster.list

    def list_denying_apps(gvk, namespace, **kw):
        if gvk[1] == "Service" and namespace == APPS:
            calls["n"] += 1
            raise AccessDenied(cluster.name, "services is forbidden (403)", status=403)
        return original(gvk, namespace, **kw)

    cluster.list = list_denying_apps
    mesh = gather(cluster, NS, PEERS, exports=[RATINGS, {"service": "reviews",
                                                         "namespace": APPS}])
    assert mesh["problems"] == [
        "not allowed to list Services in namespace red-apps: the identity needs list on "
        "services there to check this mesh's exports"]
    assert calls["n"] == 1


def test_no_exports_reads_no_services_outside_the_mesh_namespace():
    cluster = sharing_mesh()
    cluster.fail_on[("get", "ServiceMeshMemberRoll", "default")] = AccessDenied(
        cluster.name, "forbidden (403)", status=403)
    mesh = gather(cluster, NS, PEERS)
    assert mesh["problems"] == [] and mesh["members"] is None
    with pytest.raises(AccessDenied):
        gather(cluster, NS, PEERS, exports=[RATINGS])


def test_member_roll_api_not_served_is_a_problem_only_with_exports():
    cluster = sharing_mesh()
    cluster.served = {"ServiceMeshControlPlane", "ServiceMeshPeer"}
    assert gather(cluster, NS, PEERS)["problems"] == []
    problems = gather(cluster, NS, PEERS, exports=[RATINGS])["problems"]
    assert problems == ["the member roll API servicemeshmemberrolls.maistra.io (maistra.io/v1) "
                        "is not served: cannot check that exported Services are in member "
                        "namespaces"]


@pytest.mark.parametrize("replace", [{"ingress": None, "egress": None},
                                     {"ingress": service("ingress-green")}])
def test_managed_gateways_may_be_missing_before_the_gateways_step(replace):
    assert gather(healthy(**replace), NS, PEERS)["problems"]
    assert gather(healthy(**replace), NS, PEERS, gateways_managed=True)["problems"] == []


@pytest.mark.parametrize("replace, problem", [
    ({"smcp": None}, "no ServiceMeshControlPlane in namespace red-system"),
    ({"smcp": smcp(version="v2.0")}, "federation needs v2.1 or later"),
    ({"smcp": smcp(ready="False")}, "is not Ready"),
])
def test_managed_gateways_still_need_a_ready_control_plane(replace, problem):
    mesh = gather(healthy(ingress=None, egress=None, **replace), NS, PEERS,
                  gateways_managed=True)
    assert len(mesh["problems"]) == 1 and problem in mesh["problems"][0]


def test_require_address_false_with_a_missing_address_but_a_missing_egress_is_still_reported():
    peers = peer_gateways([{"peer": "green", "require_address": False}])
    mesh = gather(healthy(ingress=service("ingress-green"), egress=None), NS, peers)
    assert mesh["problems"] == [
        "no Service red-system/egress-green: the egress gateway for peer green is missing"]
