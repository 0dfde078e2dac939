"""Plan validation, defaults and topology expansion (plugins/module_utils/plan.py)."""

import copy

import pytest

from ansible_collections.servicemesh.federation.plugins.module_utils.plan import (
    CLIENT_ID_RE,
    DEFAULT_DISCOVERY_PORT,
    DEFAULT_SERVICE_PORT,
    MANAGED_BY,
    PlanError,
    build_plan,
    plan_input,
)

SECRET = "sha256~s3cr3t-t0ken-value"
PASSWORD = "hunter2-password"


def mesh(**extra):
    """Host variables of one valid mesh (token auth)."""
    hostvars = {"mesh_cluster": {"host": "https://api.example.com:6443", "api_key": SECRET}}
    hostvars.update(extra)
    return hostvars


def three():
    return {"red": mesh(), "green": mesh(), "blue": mesh()}


def problems_of(meshes, links=None, env_auth=False):
    with pytest.raises(PlanError) as info:
        build_plan(meshes, links, env_auth=env_auth)
    return info.value.problems


def link_of(plan, mesh_name, peer):
    return next(lk for lk in plan["meshes"][mesh_name]["links"] if lk["peer"] == peer)


def test_constants_match_the_fact_sheet():
    assert MANAGED_BY == {"app.kubernetes.io/managed-by": "servicemesh.federation"}
    assert (DEFAULT_DISCOVERY_PORT, DEFAULT_SERVICE_PORT) == (8188, 15443)


def test_defaults_for_one_direction():
    plan = build_plan({"red": mesh(), "green": mesh()})
    assert plan["meshes"]["red"] == {
        "name": "red",
        "host": "red",
        "namespace": "red-system",
        "trust_domain": "red.local",
        "cluster": "https://api.example.com:6443",
        "auth": "token",
        "gateways": "managed",
        "links": [{
            "mesh": "red",
            "peer": "green",
            "peer_host": "green",
            "namespace": "red-system",
            "peer_namespace": "green-system",
            "peer_trust_domain": "green.local",
            "ingress_gateway": "ingress-green",
            "egress_gateway": "egress-green",
            "peer_ingress_gateway": "ingress-red",
            "peer_egress_gateway": "egress-red",
            "client_id": "green.local/ns/green-system/sa/egress-red-service-account",
            "ca_configmap": "green-ca-root-cert",
            "addresses": None,
            "discovery_port": None,
            "service_port": None,
            "network": "network-green",
            "ingress_service": {"type": "LoadBalancer"},
            "export_rules": [],
            "import_rules": [],
            "exports": [],
            "imports": [],
            "export_selectors": [],
        }],
    }


def test_explicit_names_and_peer_gateway_overrides_feed_the_client_id():
    meshes = {
        "host-a": mesh(mesh_name="mesh1", mesh_namespace="ns1", mesh_trust_domain="td1.example"),
        "host-b": mesh(mesh_name="mesh2", mesh_namespace="ns2", mesh_trust_domain="td2.example",
                       mesh_peers={"mesh1": {"egress_gateway": "mesh1-egress",
                                             "ingress_gateway": "mesh1-ingress"}}),
    }
    plan = build_plan(meshes)
    one = link_of(plan, "mesh1", "mesh2")
    # mesh1's SMP for mesh2 names mesh2's egress-for-mesh1 in the client ID (fact sheet sample).
    assert one["client_id"] == "td2.example/ns/ns2/sa/mesh1-egress-service-account"
    assert one["peer_ingress_gateway"] == "mesh1-ingress"
    assert one["peer_host"] == "host-b"
    assert (one["ingress_gateway"], one["egress_gateway"]) == ("ingress-mesh2", "egress-mesh2")
    two = link_of(plan, "mesh2", "mesh1")
    assert (two["ingress_gateway"], two["egress_gateway"]) == ("mesh1-ingress", "mesh1-egress")
    assert two["client_id"] == "td1.example/ns/ns1/sa/egress-mesh2-service-account"
    assert plan["meshes"]["mesh1"]["host"] == "host-a"


def test_overrides_are_carried_into_the_link():
    overrides = {"addresses": ["gw.green.example", "10.0.0.7"],
                 "discovery_port": 30188, "service_port": 30443}
    meshes = {"red": mesh(mesh_peers={"green": overrides}), "green": mesh()}
    red = link_of(build_plan(meshes), "red", "green")
    assert red["addresses"] == ["gw.green.example", "10.0.0.7"]
    assert (red["discovery_port"], red["service_port"]) == (30188, 30443)


@pytest.mark.parametrize("count", [2, 3, 4, 6])
def test_full_mesh_has_every_ordered_pair(count):
    meshes = {f"mesh-{i}": mesh() for i in range(count)}
    plan = build_plan(meshes)
    assert len(plan["directions"]) == count * (count - 1)
    assert plan["directions"] == sorted(plan["directions"])
    pairs = {tuple(d) for d in plan["directions"]}
    assert all((b, a) in pairs and a != b for a, b in pairs)
    for name, entry in plan["meshes"].items():
        peers = [lk["peer"] for lk in entry["links"]]
        assert peers == sorted(set(meshes) - {name})
        assert all(CLIENT_ID_RE.match(lk["client_id"]) for lk in entry["links"])


def test_explicit_links_mean_both_directions_and_nothing_else():
    plan = build_plan(three(), [["red", "green"], ["blue", "green"]])
    assert plan["directions"] == [["blue", "green"], ["green", "blue"], ["green", "red"],
                                  ["red", "green"]]
    assert [lk["peer"] for lk in plan["meshes"]["red"]["links"]] == ["green"]
    assert [lk["peer"] for lk in plan["meshes"]["green"]["links"]] == ["blue", "red"]


def test_single_mesh_plans_no_direction():
    assert build_plan({"red": mesh()})["directions"] == []


def test_empty_links_plan_no_direction_but_still_validate():
    plan = build_plan(three(), [])
    assert plan["directions"] == [] and plan["meshes"]["red"]["links"] == []
    meshes = three()
    meshes["red"]["mesh_peers"] = {"green": {}}
    assert problems_of(meshes, []) == [
        "mesh 'red': mesh_peers.green: this mesh is not linked with that peer "
        "(see federation_links)"]


@pytest.mark.parametrize("cluster, auth, display", [
    ({"host": "https://api.a:6443", "api_key": SECRET}, "token", "https://api.a:6443"),
    ({"host": "https://api.a:6443", "username": "u", "password": PASSWORD}, "password",
     "https://api.a:6443"),
    ({"kubeconfig": "/tmp/kubeconfig", "context": "red"}, "kubeconfig", "red"),
    ({"kubeconfig": "/tmp/kubeconfig"}, "kubeconfig", "kubeconfig default context"),
    ({"kubeconfig": {"apiVersion": "v1", "clusters": []}}, "kubeconfig",
     "kubeconfig default context"),
    ({"kubeconfig": "/k", "name": "prod-east", "validate_certs": False, "ca_cert": "/ca.crt"},
     "kubeconfig", "prod-east"),
    ({"host": "https://h", "username": "u", "password": "p", "oauth_host": "https://oauth.h"},
     "password", "https://h"),
])
def test_connection_data_forms(cluster, auth, display):
    plan = build_plan({"red": {"mesh_cluster": cluster}, "green": mesh()})
    assert plan["meshes"]["red"]["auth"] == auth
    assert plan["meshes"]["red"]["cluster"] == display


@pytest.mark.parametrize("cluster", [None, {}])
def test_environment_auth_accepts_empty_mesh_cluster(cluster):
    hostvars = {} if cluster is None else {"mesh_cluster": cluster}
    plan = build_plan({"red": hostvars, "green": mesh()}, env_auth=True)
    assert plan["meshes"]["red"]["auth"] == "environment"
    assert plan["meshes"]["red"]["cluster"] == "K8S_AUTH_* environment"


# Each row: host variables changed from a valid three-mesh inventory, links, and the expected
# (message prefix, fragment of the reason). One row per problem class.
INVALID = [
    pytest.param({"red": {"mesh_name": "Red_Mesh"}}, None,
                 "mesh 'Red_Mesh' (inventory host 'red'): mesh_name:", "not a DNS-1123 label",
                 id="name-not-label"),
    pytest.param({"red": {"mesh_name": "r" * 64}}, None,
                 "mesh '" + "r" * 64 + "' (inventory host 'red'): mesh_name:",
                 "longer than 63", id="name-too-long"),
    pytest.param({"red": {"mesh_name": "istio"}}, None,
                 "mesh 'istio' (inventory host 'red'): mesh_name:", "reserved", id="name-istio"),
    pytest.param({"blue": {"mesh_name": "red"}}, None,
                 "mesh 'red' (inventory host 'red'): mesh_name:",
                 "also the name of inventory host 'blue'", id="name-duplicate"),
    pytest.param({"red": {"mesh_namespace": "Red.System"}}, None,
                 "mesh 'red': mesh_namespace:", "not a DNS-1123 label", id="namespace"),
    pytest.param({"red": {"mesh_namespace": ""}}, None,
                 "mesh 'red': mesh_namespace:", "non-empty", id="namespace-empty"),
    pytest.param({"red": {"mesh_namespace": "shared",
                          "mesh_cluster": {"kubeconfig": "/k", "context": "c1"}},
                  "green": {"mesh_namespace": "shared",
                            "mesh_cluster": {"kubeconfig": "/k", "context": "c1"}}}, None,
                 "mesh 'red': mesh_namespace:", "also the control plane namespace of mesh "
                 "'green'", id="namespace-shared-on-one-cluster"),
    pytest.param({"red": {"mesh_trust_domain": ""}}, None,
                 "mesh 'red': mesh_trust_domain:", "non-empty", id="trust-domain-empty"),
    pytest.param({"red": {"mesh_trust_domain": "spiffe://red.local"}}, None,
                 "mesh 'red': mesh_trust_domain:", "scheme", id="trust-domain-scheme"),
    pytest.param({"red": {"mesh_trust_domain": "red.local/ns"}}, None,
                 "mesh 'red': mesh_trust_domain:", "must not contain '/'",
                 id="trust-domain-slash"),
    pytest.param({"red": {"mesh_trust_domain": "Red Local"}}, None,
                 "mesh 'red': mesh_trust_domain:", "only lowercase letters",
                 id="trust-domain-chars"),
    pytest.param({"red": {"mesh_trust_domain": "blue.local"}}, None,
                 "mesh 'red': mesh_trust_domain:", "also the trust domain of mesh 'blue'",
                 id="trust-domain-duplicate"),
    pytest.param({"red": {"mesh_trustdomain": "x.local"}}, None,
                 "mesh 'red': mesh_trustdomain:", "unknown variable", id="unknown-mesh-var"),
    pytest.param({"red": {"mesh_cluster": {"hots": "https://x", "kubeconfig": "/k"}}}, None,
                 "mesh 'red': mesh_cluster.hots:", "unknown key", id="cluster-unknown-key"),
    pytest.param({"red": {"mesh_cluster": {}}}, None,
                 "mesh 'red': mesh_cluster:", "no connection data", id="cluster-empty"),
    pytest.param({"red": {"mesh_cluster": "https://api"}}, None,
                 "mesh 'red': mesh_cluster:", "must be a mapping", id="cluster-not-mapping"),
    pytest.param({"red": {"mesh_cluster": {"host": "https://api"}}}, None,
                 "mesh 'red': mesh_cluster:", "without credentials", id="cluster-host-only"),
    pytest.param({"red": {"mesh_cluster": {"api_key": SECRET}}}, None,
                 "mesh 'red': mesh_cluster.host:", "missing", id="cluster-token-no-host"),
    pytest.param({"red": {"mesh_cluster": {"host": "https://a", "username": "u"}}}, None,
                 "mesh 'red': mesh_cluster.password:", "missing", id="cluster-no-password"),
    pytest.param({"red": {"mesh_cluster": {"host": "https://a", "password": PASSWORD}}}, None,
                 "mesh 'red': mesh_cluster.username:", "missing", id="cluster-no-username"),
    pytest.param({"red": {"mesh_cluster": {"host": "https://a", "api_key": SECRET,
                                           "username": "u", "password": PASSWORD}}}, None,
                 "mesh 'red': mesh_cluster:", "not both", id="cluster-token-and-password"),
    pytest.param({"red": {"mesh_cluster": {"host": "api.example.com:6443", "api_key": SECRET}}},
                 None, "mesh 'red': mesh_cluster.host:", "must be a URL", id="cluster-host-url"),
    pytest.param({"red": {"mesh_cluster": {"kubeconfig": "/k", "validate_certs": "no"}}}, None,
                 "mesh 'red': mesh_cluster.validate_certs:", "true or false",
                 id="cluster-validate-certs"),
    pytest.param({"red": {"mesh_cluster": {"kubeconfig": "/k", "context": 7}}}, None,
                 "mesh 'red': mesh_cluster.context:", "must be a string", id="cluster-type"),
    pytest.param({"red": {"mesh_cluster": {"kubeconfig": 7}}}, None,
                 "mesh 'red': mesh_cluster.kubeconfig:", "file path or a kubeconfig mapping",
                 id="cluster-kubeconfig-type"),
    pytest.param({}, "red-green",
                 "federation_links:", "list of two-mesh lists", id="links-not-list"),
    pytest.param({}, [["red", "green", "blue"]],
                 "federation_links[0]:", "exactly two mesh names", id="links-three"),
    pytest.param({}, [["red", "red"]],
                 "federation_links[0]:", "itself", id="links-self"),
    pytest.param({}, [["red", "purple"]],
                 "federation_links[0]:", "unknown mesh 'purple'", id="links-unknown"),
    pytest.param({}, [["red", "green"], ["green", "red"]],
                 "federation_links[1]:", "duplicates federation_links[0]", id="links-duplicate"),
    pytest.param({"red": {"mesh_peers": ["green"]}}, None,
                 "mesh 'red': mesh_peers:", "mapping keyed by peer", id="peers-not-mapping"),
    pytest.param({"red": {"mesh_peers": {"purple": {}}}}, None,
                 "mesh 'red': mesh_peers.purple:", "unknown peer mesh", id="peers-unknown"),
    pytest.param({"red": {"mesh_peers": {"red": {}}}}, None,
                 "mesh 'red': mesh_peers.red:", "itself", id="peers-self"),
    pytest.param({"red": {"mesh_peers": {"blue": {}}}}, [["red", "green"]],
                 "mesh 'red': mesh_peers.blue:", "not linked", id="peers-not-linked"),
    pytest.param({"red": {"mesh_peers": {"green": "10.0.0.1"}}}, None,
                 "mesh 'red': mesh_peers.green:", "mapping of overrides",
                 id="override-not-mapping"),
    pytest.param({"red": {"mesh_peers": {"green": {"address": ["10.0.0.1"]}}}}, None,
                 "mesh 'red': mesh_peers.green.address:", "unknown override",
                 id="override-unknown-key"),
    pytest.param({"red": {"mesh_peers": {"green": {"addresses": []}}}}, None,
                 "mesh 'red': mesh_peers.green.addresses:", "non-empty list",
                 id="addresses-empty"),
    pytest.param({"red": {"mesh_peers": {"green": {"addresses": "10.0.0.1"}}}}, None,
                 "mesh 'red': mesh_peers.green.addresses:", "non-empty list",
                 id="addresses-string"),
    pytest.param({"red": {"mesh_peers": {"green": {"addresses": ["gw.example:8188"]}}}}, None,
                 "mesh 'red': mesh_peers.green.addresses[0]:", "must not include a port",
                 id="address-port"),
    pytest.param({"red": {"mesh_peers": {"green": {"addresses": ["https://gw.example"]}}}}, None,
                 "mesh 'red': mesh_peers.green.addresses[0]:", "not a URL", id="address-url"),
    pytest.param({"red": {"mesh_peers": {"green": {"addresses": ["fd00::1"]}}}}, None,
                 "mesh 'red': mesh_peers.green.addresses[0]:", "IPv6", id="address-ipv6"),
    pytest.param({"red": {"mesh_peers": {"green": {"addresses": ["gw_1.example"]}}}}, None,
                 "mesh 'red': mesh_peers.green.addresses[0]:", "not a valid hostname",
                 id="address-hostname"),
    pytest.param({"red": {"mesh_peers": {"green": {"addresses": [""]}}}}, None,
                 "mesh 'red': mesh_peers.green.addresses[0]:", "non-empty",
                 id="address-empty"),
    pytest.param({"red": {"mesh_peers": {"green": {"discovery_port": 0}}}}, None,
                 "mesh 'red': mesh_peers.green.discovery_port:", "1 to 65535",
                 id="port-zero"),
    pytest.param({"red": {"mesh_peers": {"green": {"service_port": 65536}}}}, None,
                 "mesh 'red': mesh_peers.green.service_port:", "1 to 65535", id="port-high"),
    pytest.param({"red": {"mesh_peers": {"green": {"service_port": "15443"}}}}, None,
                 "mesh 'red': mesh_peers.green.service_port:", "integer", id="port-string"),
    pytest.param({"red": {"mesh_peers": {"green": {"discovery_port": True}}}}, None,
                 "mesh 'red': mesh_peers.green.discovery_port:", "integer", id="port-bool"),
    pytest.param({"red": {"mesh_peers": {"green": {"ingress_gateway": "Ingress_Green"}}}}, None,
                 "mesh 'red': mesh_peers.green.ingress_gateway:", "not a valid Service name",
                 id="gateway-invalid"),
    pytest.param({"red": {"mesh_peers": {"green": {"egress_gateway": ""}}}}, None,
                 "mesh 'red': mesh_peers.green.egress_gateway:", "non-empty",
                 id="gateway-empty"),
    pytest.param({"red": {"mesh_peers": {"green": {"egress_gateway": "9egress"}}}}, None,
                 "mesh 'red': mesh_peers.green.egress_gateway:", "DNS-1035",
                 id="gateway-starts-with-digit"),
    pytest.param({"red": {"mesh_peers": {"green": {"ingress_gateway": "istio-ingressgateway"}}}},
                 None, "mesh 'red': mesh_peers.green.ingress_gateway:", "reserved",
                 id="gateway-reserved"),
    pytest.param({"red": {"mesh_peers": {"green": {"ingress_gateway": "fed-gw"},
                                         "blue": {"ingress_gateway": "fed-gw"}}}}, None,
                 "mesh 'red': mesh_peers.green.ingress_gateway:",
                 "already the ingress gateway for peer 'blue'", id="gateway-shared-by-peers"),
    pytest.param({"red": {"mesh_peers": {"green": {"ingress_gateway": "gw-green",
                                                   "egress_gateway": "gw-green"}}}}, None,
                 "mesh 'red': mesh_peers.green.egress_gateway:",
                 "already the ingress gateway for peer 'green'", id="gateway-ingress-is-egress"),
    pytest.param({"blue": {"mesh_name": "b" * 60}}, None,
                 "mesh 'red': mesh_peers." + "b" * 60 + ".egress_gateway:",
                 "longer than 63 characters (the default name; set this override)",
                 id="gateway-default-too-long"),
]


@pytest.mark.parametrize("changes, links, prefix, reason", INVALID)
def test_each_problem_names_mesh_field_and_reason(changes, links, prefix, reason):
    meshes = three()
    for host, hostvars in changes.items():
        meshes[host].update(hostvars)
    problems = problems_of(meshes, links)
    assert any(p.startswith(prefix) and reason in p for p in problems), problems


def test_every_problem_is_reported_at_once():
    meshes = three()
    meshes["red"].update(mesh_namespace="Bad", mesh_trust_domain="green.local")
    meshes["blue"]["mesh_cluster"] = {}
    meshes["green"]["mesh_peers"] = {"red": {"discovery_port": -1}}
    problems = problems_of(meshes, [["red", "green"], ["red", "red"]])
    assert len(problems) == 5, problems
    assert problems == sorted(problems)
    for fragment in ("mesh_namespace", "mesh_trust_domain", "mesh 'blue': mesh_cluster",
                     "discovery_port", "federation_links[1]"):
        assert any(fragment in p for p in problems), fragment


def test_an_invalid_name_is_reported_once_not_through_derived_defaults():
    meshes = three()
    meshes["red"]["mesh_name"] = "Red"
    problems = problems_of(meshes)
    assert problems == [
        "mesh 'Red' (inventory host 'red'): mesh_name: 'Red' is not a DNS-1123 label "
        "(lowercase letters, digits and '-', starting and ending with a letter or digit) "
        "(it names the ServiceMeshPeer on the other meshes)"]


def test_no_meshes_is_a_problem():
    assert problems_of({}) == ["meshes: no meshes given (is the inventory group 'meshes' empty?)"]


@pytest.mark.parametrize("cluster", [
    {"api_key": SECRET},
    {"host": "https://a", "api_key": SECRET, "username": "u", "password": PASSWORD},
    {"host": "https://a", "password": PASSWORD},
    {"api_key": SECRET, "password": PASSWORD, "bogus": 1, "kubeconfig": {"token": SECRET}},
])
def test_problem_messages_never_contain_secrets(cluster):
    meshes = three()
    meshes["red"]["mesh_cluster"] = cluster
    text = str(PlanError(problems_of(meshes)))
    assert SECRET not in text and PASSWORD not in text


def test_build_plan_does_not_modify_its_input():
    meshes = three()
    meshes["red"]["mesh_peers"] = {"green": {"addresses": ["10.0.0.1"]}}
    before = copy.deepcopy(meshes)
    build_plan(meshes)
    assert meshes == before


def test_env_auth_does_not_excuse_incomplete_credentials():
    meshes = three()
    meshes["red"]["mesh_cluster"] = {"host": "https://a", "username": "u"}
    assert any("mesh_cluster.password" in p for p in problems_of(meshes, env_auth=True))


def test_host_variables_must_be_a_mapping():
    meshes = three()
    meshes["red"] = "red-mesh"
    assert "inventory host 'red': host variables must be a mapping" in problems_of(meshes)


def test_an_empty_override_entry_means_defaults():
    meshes = three()
    meshes["red"]["mesh_peers"] = {"green": None}
    red = link_of(build_plan(meshes), "red", "green")
    assert (red["addresses"], red["ingress_gateway"]) == (None, "ingress-green")


def test_a_hostname_that_is_not_a_label_asks_for_mesh_name():
    meshes = {"red.example.com": mesh(), "green": mesh()}
    assert problems_of(meshes) == [
        "mesh 'red.example.com': mesh_name: 'red.example.com' is not a DNS-1123 label "
        "(lowercase letters, digits and '-', starting and ending with a letter or digit) "
        "(it defaults to the inventory hostname; set mesh_name)"]
    meshes["red.example.com"]["mesh_name"] = "red"
    assert build_plan(meshes)["meshes"]["red"]["host"] == "red.example.com"


def test_overrides_for_meshes_outside_the_run_are_ignored():
    meshes = {"red": mesh(mesh_peers={"blue": {"discovery_port": 0}, "green": {}}),
              "green": mesh()}
    assert any("mesh_peers.blue: unknown peer" in p for p in problems_of(meshes))
    plan = build_plan(meshes, outside=["blue"])
    assert plan["directions"] == [["green", "red"], ["red", "green"]]


KUBECONFIG = {"users": [{"name": "admin", "user": {"token": SECRET}}]}


@pytest.mark.parametrize("cluster, auth", [
    ({"host": "https://a", "api_key": SECRET}, "token"),
    ({"host": "https://a", "username": "u", "password": PASSWORD}, "password"),
    ({"kubeconfig": KUBECONFIG, "context": "admin"}, "kubeconfig"),
    ({"kubeconfig": "/etc/kubeconfig", "context": "admin"}, "kubeconfig"),
])
def test_plan_input_masks_credentials_and_the_plan_still_sees_them(cluster, auth):
    hostvars = {"mesh_cluster": cluster, "ansible_connection": "local", "mesh_name": "red"}
    masked = plan_input(hostvars)
    assert SECRET not in repr(masked) and PASSWORD not in repr(masked)
    assert "ansible_connection" not in masked and masked["mesh_name"] == "red"
    assert hostvars["mesh_cluster"] == cluster  # the inventory itself is left alone
    meshes = {"red": masked, "green": mesh(), "blue": mesh()}
    assert build_plan(meshes)["meshes"]["red"]["auth"] == auth


def test_plan_input_keeps_misspelt_mesh_variables_for_the_plan_to_report():
    meshes = three()
    meshes["red"]["mesh_trustdomain"] = "red.example"
    masked = {host: plan_input(hostvars) for host, hostvars in meshes.items()}
    assert any("mesh_trustdomain" in p and "unknown variable" in p
               for p in problems_of(masked))
