"""Desired ConfigMap / ServiceMeshPeer / service sets, ingress addresses, owned-field diffing."""

import copy

import pytest

from ansible_collections.servicemesh.federation.plugins.module_utils.logic.objects import (
    ObjectError,
    desired_objects,
    diff_owned,
    is_managed,
    service_sets,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.plan import build_plan
from ansible_collections.servicemesh.federation.plugins.module_utils.service.addresses import (
    reachable_address,
)

ROOT = "-----BEGIN CERTIFICATE-----\nMIIB...green...\n-----END CERTIFICATE-----\n"
LABELS = {"app.kubernetes.io/managed-by": "servicemesh.federation"}


def red_to_green(**green_overrides):
    cluster = {"kubeconfig": "/k"}
    meshes = {"red": {"mesh_cluster": cluster, "mesh_peers": {"green": green_overrides}},
              "green": {"mesh_cluster": cluster}}
    return build_plan(meshes)["meshes"]["red"]["links"][0]


def facts(addresses=("203.0.113.10",), discovery_port=8188, service_port=15443, root=ROOT):
    return {"root_cert": root,
            "ingress": {"ingress-red": {"addresses": list(addresses),
                                        "discovery_port": discovery_port,
                                        "service_port": service_port}}}


def test_desired_objects_follow_the_fact_sheet():
    configmap, peer = desired_objects(red_to_green(), facts())
    assert configmap == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "green-ca-root-cert", "namespace": "red-system", "labels": LABELS},
        "data": {"root-cert.pem": ROOT},
    }
    assert peer == {
        "apiVersion": "federation.maistra.io/v1",
        "kind": "ServiceMeshPeer",
        "metadata": {"name": "green", "namespace": "red-system", "labels": LABELS},
        "spec": {
            "remote": {"addresses": ["203.0.113.10"], "discoveryPort": 8188,
                       "servicePort": 15443},
            "gateways": {"ingress": {"name": "ingress-green"}, "egress": {"name": "egress-green"}},
            "security": {
                "trustDomain": "green.local",
                "clientID": "green.local/ns/green-system/sa/egress-red-service-account",
                "certificateChain": {"kind": "ConfigMap", "name": "green-ca-root-cert"},
            },
        },
    }


def test_root_cert_is_byte_identical_including_whitespace():
    root = "-----BEGIN CERTIFICATE-----\r\nAAA\r\n-----END CERTIFICATE-----\n\n"
    configmap, _peer = desired_objects(red_to_green(), facts(root=root))
    assert configmap["data"]["root-cert.pem"] == root


def test_root_cert_may_come_as_mesh_info_dict():
    configmap, _peer = desired_objects(red_to_green(), facts(root={"pem": ROOT, "sha256": "x"}))
    assert configmap["data"]["root-cert.pem"] == ROOT


@pytest.mark.parametrize("overrides, ingress, expected", [
    ({}, {"addresses": ["gw.green"], "discovery_port": 30188, "service_port": 30443},
     {"addresses": ["gw.green"], "discoveryPort": 30188, "servicePort": 30443}),
    ({}, {"addresses": ["gw.green"]},
     {"addresses": ["gw.green"], "discoveryPort": 8188, "servicePort": 15443}),
    ({"addresses": ["10.1.1.1", "10.1.1.2"], "discovery_port": 1188},
     {"addresses": ["gw.green"], "discovery_port": 30188, "service_port": 30443},
     {"addresses": ["10.1.1.1", "10.1.1.2"], "discoveryPort": 1188, "servicePort": 30443}),
    ({"addresses": ["10.1.1.1"]}, None,
     {"addresses": ["10.1.1.1"], "discoveryPort": 8188, "servicePort": 15443}),
])
def test_overrides_win_over_ingress_facts(overrides, ingress, expected):
    peer_facts = {"root_cert": ROOT, "ingress": {"ingress-red": ingress} if ingress else {}}
    _configmap, peer = desired_objects(red_to_green(**overrides), peer_facts)
    assert peer["spec"]["remote"] == expected


def test_addresses_come_from_the_peers_ingress_gateway_for_this_mesh():
    link = red_to_green()
    link["peer_ingress_gateway"] = "red-ingress"
    peer_facts = {"root_cert": ROOT, "ingress": {
        "ingress-red": {"addresses": ["wrong"]}, "red-ingress": {"addresses": ["right"]}}}
    _configmap, peer = desired_objects(link, peer_facts)
    assert peer["spec"]["remote"]["addresses"] == ["right"]


@pytest.mark.parametrize("peer_facts, reason", [
    ({"root_cert": ROOT, "ingress": {}}, "no address for the peer's ingress gateway 'ingress-red'"),
    ({"root_cert": ROOT, "ingress": {"ingress-red": {"addresses": []}}}, "no address"),
    ({"ingress": {"ingress-red": {"addresses": ["a"]}}}, "root certificate is unknown"),
])
def test_missing_facts_are_errors_naming_the_direction(peer_facts, reason):
    with pytest.raises(ObjectError) as info:
        desired_objects(red_to_green(), peer_facts)
    assert "mesh 'red', peer 'green'" in str(info.value) and reason in str(info.value)


def _service(type_="LoadBalancer", ingress=None, ports=None):
    ports = ports if ports is not None else [
        {"name": "tls", "port": 15443, "targetPort": 15443, "nodePort": 31443},
        {"name": "https-discovery", "port": 8188, "targetPort": 8188, "nodePort": 31188},
    ]
    service = {"spec": {"type": type_, "ports": ports}, "status": {}}
    if ingress is not None:
        service["status"] = {"loadBalancer": {"ingress": ingress}}
    return service


@pytest.mark.parametrize("service, nodes, expected", [
    (_service(ingress=[{"ip": "203.0.113.5"}]), None,
     {"addresses": ["203.0.113.5"], "discovery_port": 8188, "service_port": 15443,
      "source": "loadbalancer"}),
    (_service(ingress=[{"hostname": "abc.elb.amazonaws.com"}]), None,
     {"addresses": ["abc.elb.amazonaws.com"], "discovery_port": 8188, "service_port": 15443,
      "source": "loadbalancer"}),
    (_service(ingress=[{"ip": "203.0.113.5", "hostname": "x"}, {"hostname": "y"}]), None,
     {"addresses": ["203.0.113.5", "y"], "discovery_port": 8188, "service_port": 15443,
      "source": "loadbalancer"}),
    # the LB exposes other ports than the container ports: the Service port is what peers dial
    (_service(ingress=[{"ip": "203.0.113.5"}],
              ports=[{"port": 443, "targetPort": 8188}, {"port": 9443, "targetPort": 15443}]),
     None, {"addresses": ["203.0.113.5"], "discovery_port": 443, "service_port": 9443,
            "source": "loadbalancer"}),
    # named target ports: the fact sheet's port names identify the entries
    (_service(ingress=[{"ip": "203.0.113.5"}],
              ports=[{"name": "https-discovery", "port": 443, "targetPort": "https"},
                     {"name": "tls", "port": 9443, "targetPort": "tls"}]),
     None, {"addresses": ["203.0.113.5"], "discovery_port": 443, "service_port": 9443,
            "source": "loadbalancer"}),
    (_service(type_="NodePort"), ["192.0.2.1", "192.0.2.2"],
     {"addresses": ["192.0.2.1", "192.0.2.2"], "discovery_port": 31188, "service_port": 31443,
      "source": "nodeport"}),
    # no port entry for the federation ports: the fact sheet's defaults
    (_service(ingress=[{"ip": "203.0.113.5"}], ports=[{"name": "http", "port": 80}]), None,
     {"addresses": ["203.0.113.5"], "discovery_port": 8188, "service_port": 15443,
      "source": "loadbalancer"}),
    (_service(type_="NodePort"), None, None),
    (_service(ingress=[]), ["192.0.2.1"], None),  # LB pending: wait, don't flip to NodePort
    (_service(type_="ClusterIP", ports=[{"port": 8188}, {"port": 15443}]), ["192.0.2.1"], None),
])
def test_ingress_address(service, nodes, expected):
    assert reachable_address(service, nodes) == expected


def _server_copy(obj):
    """What the API server returns for an object we created: extra metadata and status."""
    actual = copy.deepcopy(obj)
    actual["metadata"].update({"uid": "1234", "resourceVersion": "99", "generation": 3,
                               "creationTimestamp": "2026-01-01T00:00:00Z",
                               "managedFields": [{"manager": "x"}],
                               "annotations": {"note": "added by someone"}})
    actual["metadata"]["labels"]["team"] = "mesh-ops"
    return actual


def test_diff_ignores_fields_we_do_not_own():
    configmap, peer = desired_objects(red_to_green(), facts())
    actual_peer = _server_copy(peer)
    actual_peer["status"] = {"discoveryStatus": {"active": [{"pod": "istiod-1"}]}}
    actual_peer["spec"]["security"]["certificateChain"]["apiGroup"] = ""
    actual_cm = _server_copy(configmap)
    actual_cm["data"]["extra.txt"] = "not ours"
    assert diff_owned(actual_peer, peer) is None
    assert diff_owned(actual_cm, configmap) is None


def test_diff_for_absent_object_shows_everything_we_would_create():
    configmap, _peer = desired_objects(red_to_green(), facts())
    diff = diff_owned(None, configmap)
    assert diff["before"] is None
    assert diff["after"]["data"] == {"root-cert.pem": ROOT}
    assert diff["after_header"] == "ConfigMap red-system/green-ca-root-cert"


@pytest.mark.parametrize("change, path", [
    (lambda o: o["spec"]["remote"].update(addresses=["198.51.100.1"]), ("spec", "remote")),
    (lambda o: o["spec"]["remote"].update(discoveryPort=30188), ("spec", "remote")),
    (lambda o: o["spec"]["security"].update(clientID="x/ns/y/sa/z"), ("spec", "security")),
    (lambda o: o["spec"]["security"].pop("certificateChain"), ("spec", "security")),
    (lambda o: o["spec"].pop("gateways"), ("spec",)),
    (lambda o: o["metadata"]["labels"].pop("app.kubernetes.io/managed-by"),
     ("metadata", "labels")),
])
def test_diff_reports_changes_to_owned_fields(change, path):
    _configmap, peer = desired_objects(red_to_green(), facts())
    actual = _server_copy(peer)
    change(actual)
    diff = diff_owned(actual, peer)
    assert diff is not None
    before, after = diff["before"], diff["after"]
    for key in path:
        before, after = before.get(key), after[key]
    assert before != after
    assert diff["after_header"] == "ServiceMeshPeer red-system/green"
    assert "status" not in diff["before"] and "uid" not in diff["before"]["metadata"]


def test_diff_reports_a_changed_root_certificate():
    configmap, _peer = desired_objects(red_to_green(), facts())
    actual = _server_copy(configmap)
    actual["data"]["root-cert.pem"] = ROOT.replace("green", "stale")
    diff = diff_owned(actual, configmap)
    assert diff["before"]["data"]["root-cert.pem"] != diff["after"]["data"]["root-cert.pem"]


@pytest.mark.parametrize("obj, managed", [
    ({"metadata": {"labels": dict(LABELS, team="x")}}, True),
    ({"metadata": {"labels": {"app.kubernetes.io/managed-by": "Helm"}}}, False),
    ({"metadata": {}}, False),
    (None, False),
])
def test_is_managed(obj, managed):
    assert is_managed(obj) is managed


EXPORT = {"type": "LabelSelector",
          "labelSelector": {"namespace": "red-apps", "selector": {"matchLabels": {"app": "x"}}}}
IMPORT = {"type": "NameSelector", "importAsLocal": True,
          "nameSelector": {"namespace": "shared", "name": "ratings",
                           "alias": {"namespace": "red-apps"}}}


def test_service_sets_are_named_after_the_peer_and_carry_the_rules():
    link = dict(red_to_green(), export_rules=[EXPORT], import_rules=[IMPORT])
    exported, imported = service_sets(link)
    assert exported == {
        "apiVersion": "federation.maistra.io/v1", "kind": "ExportedServiceSet",
        "metadata": {"name": "green", "namespace": "red-system", "labels": LABELS},
        "spec": {"exportRules": [EXPORT]}}
    assert imported == {
        "apiVersion": "federation.maistra.io/v1", "kind": "ImportedServiceSet",
        "metadata": {"name": "green", "namespace": "red-system", "labels": LABELS},
        "spec": {"importRules": [IMPORT]}}
    exported["spec"]["exportRules"][0]["type"] = "changed"
    assert link["export_rules"][0]["type"] == "LabelSelector"  # a copy, not the plan's list


@pytest.mark.parametrize("rules, kinds", [
    ({}, []),
    ({"export_rules": [], "import_rules": []}, []),
    ({"export_rules": [EXPORT]}, ["ExportedServiceSet"]),
    ({"import_rules": [IMPORT]}, ["ImportedServiceSet"]),
])
def test_a_direction_without_rules_has_no_set(rules, kinds):
    assert [s["kind"] for s in service_sets(dict(red_to_green(), **rules))] == kinds


@pytest.mark.parametrize("rules", [{"export_rules": "ratings"},
                                   {"import_rules": [{"nameSelector": {"name": "x"}}]}])
def test_rules_not_in_api_form_are_errors_naming_the_direction(rules):
    with pytest.raises(ObjectError, match="mesh 'red', peer 'green'"):
        service_sets(dict(red_to_green(), **rules))


def test_whole_diff_sees_spec_keys_we_do_not_set():
    (exported,) = service_sets(dict(red_to_green(), export_rules=[EXPORT]))
    actual = _server_copy(exported)
    actual["spec"]["extra"] = "someone's"
    assert diff_owned(actual, exported) is None  # projected: not ours
    diff = diff_owned(actual, exported, whole=True)
    assert diff["before"]["spec"] == {"exportRules": [EXPORT], "extra": "someone's"}
    assert diff["after"]["spec"] == {"exportRules": [EXPORT]}
    del actual["spec"]["extra"]
    assert diff_owned(actual, exported, whole=True) is None
