"""Plan validation, defaults and topology expansion (plugins/module_utils/logic/plan.py)."""

import copy

import pytest

from ansible_collections.servicemesh.federation.plugins.module_utils.logic.errors import (
    PlanError,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.naming import (
    DEFAULT_DISCOVERY_PORT,
    DEFAULT_SERVICE_PORT,
    MANAGED_BY,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.plan import (
    CLIENT_ID_RE,
    build_plan,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.plan_clusters import (
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
            "ingress_address_overridden": False,
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


# --- Service sharing: mesh_exports / mesh_imports (module_utils/logic/sharing.py) -----------------

def sharing(red_exports=None, green_imports=None, **more):
    """red exports, green imports; every other host variable from ``more`` (host -> vars)."""
    meshes = three()
    if red_exports is not None:
        meshes["red"]["mesh_exports"] = red_exports
    if green_imports is not None:
        meshes["green"]["mesh_imports"] = green_imports
    for host, hostvars in more.items():
        meshes[host].update(hostvars)
    return meshes


RATINGS = {"service": "ratings", "namespace": "red-apps"}


def test_named_export_and_import_become_rules_on_both_sides():
    plan = build_plan(sharing([RATINGS], [{"from": "red", "service": "ratings",
                                          "namespace": "red-apps"}]))
    red = link_of(plan, "red", "green")
    assert red["export_rules"] == [{"type": "NameSelector",
                                    "nameSelector": {"namespace": "red-apps", "name": "ratings"}}]
    assert red["exports"] == [{"service": "ratings", "namespace": "red-apps",
                               "exported_name": "ratings.red-apps.svc.green-exports.local"}]
    assert red["import_rules"] == [] and red["imports"] == []
    green = link_of(plan, "green", "red")
    assert green["import_rules"] == [{"type": "NameSelector", "importAsLocal": False,
                                      "nameSelector": {"namespace": "red-apps",
                                                       "name": "ratings"}}]
    # red's ServiceMeshPeer for green is named "green": the same FQDN on both sides
    assert green["imports"] == [{"service": "ratings", "namespace": "red-apps",
                                 "exported_name": "ratings.red-apps.svc.green-exports.local"}]
    assert green["export_rules"] == [] and green["exports"] == []
    # no `to`: every peer of red
    assert link_of(plan, "red", "blue")["exports"][0]["exported_name"] == \
        "ratings.red-apps.svc.blue-exports.local"


def test_alias_as_local_and_domain_suffix():
    exports = [{"service": "ratings", "namespace": "red-apps",
                "alias": {"name": "rates", "namespace": "shared"}}]
    imports = [{"from": "red", "service": "rates", "namespace": "shared", "as_local": True,
                "alias": {"namespace": "green-apps"}},
               {"from": "red", "service": "rates", "namespace": "shared",
                "alias": {"name": "red-rates"}, "domain_suffix": "svc.red.example"}]
    plan = build_plan(sharing(exports, imports))
    red = link_of(plan, "red", "green")
    assert red["export_rules"] == [{"type": "NameSelector", "nameSelector": {
        "namespace": "red-apps", "name": "ratings",
        "alias": {"namespace": "shared", "name": "rates"}}}]
    assert red["exports"] == [{"service": "ratings", "namespace": "red-apps",
                               "exported_name": "rates.shared.svc.green-exports.local"}]
    green = link_of(plan, "green", "red")
    assert green["import_rules"] == [
        {"type": "NameSelector", "importAsLocal": True,
         "nameSelector": {"namespace": "shared", "name": "rates",
                          "alias": {"namespace": "green-apps"}}},
        {"type": "NameSelector", "importAsLocal": False,
         "nameSelector": {"namespace": "shared", "name": "rates", "alias": {"name": "red-rates"}},
         "domainSuffix": "svc.red.example"}]
    assert [i["exported_name"] for i in green["imports"]] == [
        "rates.shared.svc.green-exports.local"] * 2


def test_selector_exports_and_to_filtering_keep_rule_order():
    exports = [
        {"selector": {"matchLabels": {"app": "reviews"}}, "namespace": "red-apps",
         "to": ["blue"]},
        {"service": "ratings", "namespace": "red-apps", "to": ["green", "blue"]},
        {"selector": {"matchExpressions": [{"key": "tier", "operator": "In",
                                            "values": ["front"]}]},
         "namespace": "*", "alias": {"namespace": "shared"}},
        {"service": "details", "namespace": "red-apps", "to": ["green"]},
    ]
    plan = build_plan(sharing(exports))
    blue = link_of(plan, "red", "blue")
    assert blue["export_rules"] == [
        {"type": "LabelSelector", "labelSelector": {
            "namespace": "red-apps", "selector": {"matchLabels": {"app": "reviews"}}}},
        {"type": "NameSelector", "nameSelector": {"namespace": "red-apps", "name": "ratings"}},
        {"type": "LabelSelector", "labelSelector": {
            "namespace": "*",
            "selector": {"matchExpressions": [{"key": "tier", "operator": "In",
                                               "values": ["front"]}]},
            "aliases": [{"namespace": "*", "name": "*", "alias": {"namespace": "shared"}}]}},
    ]
    assert [e["service"] for e in blue["exports"]] == ["ratings"]
    assert blue["export_selectors"] == [
        {"namespace": "red-apps", "selector": {"matchLabels": {"app": "reviews"}}},
        {"namespace": "*", "selector": {"matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["front"]}]}}]
    green = link_of(plan, "red", "green")
    assert [r["type"] for r in green["export_rules"]] == ["NameSelector", "LabelSelector",
                                                          "NameSelector"]
    assert [e["service"] for e in green["exports"]] == ["ratings", "details"]


def test_rules_do_not_alias_the_inventory():
    selector = {"matchLabels": {"app": "reviews"}}
    meshes = sharing([{"selector": selector, "namespace": "red-apps"}])
    plan = build_plan(meshes)
    link_of(plan, "red", "green")["export_rules"][0]["labelSelector"]["selector"][
        "matchLabels"]["app"] = "changed"
    assert selector == {"matchLabels": {"app": "reviews"}}


def test_import_of_a_selector_export_in_its_namespace_is_plausible():
    exports = [{"selector": {"matchLabels": {"app": "reviews"}}, "namespace": "red-apps",
                "alias": {"namespace": "shared"}}]
    imports = [{"from": "red", "service": "reviews", "namespace": "shared"}]
    assert link_of(build_plan(sharing(exports, imports)), "green", "red")["imports"]
    imports = [{"from": "red", "service": "reviews", "namespace": "red-apps"}]
    problems = problems_of(sharing(exports, imports))
    assert problems == [
        "mesh 'green': mesh_imports[0]: 'red' does not export reviews.red-apps to this mesh "
        "(names are as exported, after the exporter's alias); 'red' exports to this mesh: "
        "Services matching a label selector in namespace shared"]


def test_typo_guard_suggests_what_is_exported():
    exports = [RATINGS, {"service": "details", "namespace": "red-apps"},
               {"service": "reviews", "namespace": "red-apps", "to": ["blue"]}]
    imports = [{"from": "red", "service": "rating", "namespace": "red-apps"}]
    assert problems_of(sharing(exports, imports)) == [
        "mesh 'green': mesh_imports[0]: 'red' does not export rating.red-apps to this mesh "
        "(names are as exported, after the exporter's alias); 'red' exports to this mesh: "
        "details.red-apps, ratings.red-apps"]


@pytest.mark.parametrize("exports, imported", [
    (None, RATINGS),
    ([dict(RATINGS, to=["blue"])], RATINGS),
    ([dict(RATINGS, alias={"namespace": "shared"})], RATINGS),
])
def test_typo_guard_when_nothing_matching_is_exported_to_this_mesh(exports, imported):
    problems = problems_of(sharing(exports, [dict(imported, **{"from": "red"})]))
    assert len(problems) == 1 and "mesh_imports[0]: 'red' does not export ratings.red-apps" \
        in problems[0], problems
    if exports is None or "to" in exports[0]:
        assert problems[0].endswith("'red' exports nothing to this mesh")
    else:
        assert problems[0].endswith("exports to this mesh: ratings.shared")


def test_imports_from_meshes_outside_the_run_are_skipped():
    meshes = {"red": mesh(), "green": mesh(mesh_imports=[
        {"from": "blue", "service": "x", "namespace": "y"},
        {"from": "red", "service": "ratings", "namespace": "red-apps"}])}
    meshes["red"]["mesh_exports"] = [dict(RATINGS, to=["green", "blue"])]
    assert any("mesh_imports[0].from: unknown mesh 'blue'" in p for p in problems_of(meshes))
    plan = build_plan(meshes, outside=["blue"])
    assert len(link_of(plan, "green", "red")["import_rules"]) == 1
    assert len(link_of(plan, "red", "green")["export_rules"]) == 1


# Each row: (red's mesh_exports, green's mesh_imports, links, expected problem fragments).
SHARING_INVALID = [
    pytest.param([{"namespace": "red-apps"}], None, None,
                 "mesh 'red': mesh_exports[0]: give either service", id="export-neither"),
    pytest.param([dict(RATINGS, selector={"matchLabels": {"app": "x"}})], None, None,
                 "mesh 'red': mesh_exports[0]: give either service (a Service name) or "
                 "selector (a label selector), not both", id="export-both"),
    pytest.param([{"service": "Ratings", "namespace": "red-apps"}], None, None,
                 "mesh 'red': mesh_exports[0].service: 'Ratings' is not a DNS-1123 label",
                 id="export-service-name"),
    pytest.param([{"service": "ratings", "namespace": "red_apps"}], None, None,
                 "mesh 'red': mesh_exports[0].namespace: 'red_apps' is not a DNS-1123 label",
                 id="export-namespace-name"),
    pytest.param([{"service": "ratings"}], None, None,
                 "mesh 'red': mesh_exports[0].namespace: missing", id="export-no-namespace"),
    pytest.param([{"service": "ratings", "namespace": "*"}], None, None,
                 "mesh 'red': mesh_exports[0].namespace: '*' is not a DNS-1123 label",
                 id="export-any-namespace-by-name"),
    pytest.param([dict(RATINGS, alias={"name": "Rates"})], None, None,
                 "mesh 'red': mesh_exports[0].alias.name: 'Rates' is not a DNS-1123 label",
                 id="export-alias-name"),
    pytest.param([dict(RATINGS, alias={"namespace": "a.b"})], None, None,
                 "mesh 'red': mesh_exports[0].alias.namespace: 'a.b' is not a DNS-1123 label",
                 id="export-alias-namespace"),
    pytest.param([dict(RATINGS, alias={"nmae": "x"})], None, None,
                 "mesh 'red': mesh_exports[0].alias.nmae: unknown key", id="export-alias-key"),
    pytest.param([dict(RATINGS, alias="shared")], None, None,
                 "mesh 'red': mesh_exports[0].alias: must be a mapping", id="export-alias-type"),
    pytest.param([dict(RATINGS, too=["green"])], None, None,
                 "mesh 'red': mesh_exports[0].too: unknown key (known: service, selector, "
                 "namespace, alias, to)", id="export-unknown-key"),
    pytest.param([dict(RATINGS, to=["purple"])], None, None,
                 "mesh 'red': mesh_exports[0].to[0]: unknown mesh 'purple'",
                 id="export-to-unknown"),
    pytest.param([dict(RATINGS, to=["green", "blue"])], None, [["red", "green"]],
                 "mesh 'red': mesh_exports[0].to[1]: this mesh is not linked with 'blue'",
                 id="export-to-not-linked"),
    pytest.param([dict(RATINGS, to=["red"])], None, None,
                 "mesh 'red': mesh_exports[0].to[0]: a mesh cannot export to itself",
                 id="export-to-self"),
    pytest.param([dict(RATINGS, to="green")], None, None,
                 "mesh 'red': mesh_exports[0].to: must be a non-empty list", id="export-to-type"),
    pytest.param([dict(RATINGS, to=["green", "green"])], None, None,
                 "mesh 'red': mesh_exports[0].to[1]: 'green' is listed twice",
                 id="export-to-twice"),
    pytest.param({"service": "ratings"}, None, None,
                 "mesh 'red': mesh_exports: must be a list", id="exports-not-list"),
    pytest.param(["ratings"], None, None,
                 "mesh 'red': mesh_exports[0]: must be a mapping", id="export-not-mapping"),
    pytest.param([{"selector": ["app=x"]}], None, None,
                 "mesh 'red': mesh_exports[0].selector: must be a mapping with matchLabels",
                 id="selector-type"),
    pytest.param([{"selector": {}}], None, None,
                 "mesh 'red': mesh_exports[0].selector: needs matchLabels and/or "
                 "matchExpressions (an empty selector", id="selector-empty"),
    pytest.param([{"selector": {"app": "x"}}], None, None,
                 "mesh 'red': mesh_exports[0].selector.app: unknown key", id="selector-key"),
    pytest.param([{"selector": {"matchLabels": {"version": 1}}}], None, None,
                 "mesh 'red': mesh_exports[0].selector.matchLabels.version: label value 1 "
                 "must be a string", id="selector-value-type"),
    pytest.param([{"selector": {"matchLabels": {"Example.com/app": "x"}}}], None, None,
                 "mesh 'red': mesh_exports[0].selector.matchLabels.Example.com/app: label key "
                 "'Example.com/app': the prefix must be a DNS name", id="selector-key-prefix"),
    pytest.param([{"selector": {"matchExpressions": [{"key": "app", "operator": "in",
                                                      "values": ["x"]}]}}], None, None,
                 "mesh 'red': mesh_exports[0].selector.matchExpressions[0].operator: must be "
                 "one of In, NotIn, Exists, DoesNotExist", id="selector-operator"),
    pytest.param([{"selector": {"matchExpressions": [{"key": "app", "operator": "In"}]}}],
                 None, None, "mesh 'red': mesh_exports[0].selector.matchExpressions[0].values: "
                 "must be a non-empty list", id="selector-values"),
    pytest.param([{"selector": {"matchLabels": {"app": "x"}}, "alias": {"name": "one"}}],
                 None, None, "mesh 'red': mesh_exports[0].alias.name: a selector export may "
                 "rename only the namespace", id="selector-alias-name"),
    pytest.param([RATINGS], [{"service": "ratings", "namespace": "red-apps"}], None,
                 "mesh 'green': mesh_imports[0].from: missing", id="import-no-from"),
    pytest.param([RATINGS], [dict(RATINGS, **{"from": "purple"})], None,
                 "mesh 'green': mesh_imports[0].from: unknown mesh 'purple'",
                 id="import-from-unknown"),
    pytest.param([RATINGS], [dict(RATINGS, **{"from": "green"})], None,
                 "mesh 'green': mesh_imports[0].from: a mesh cannot import from itself",
                 id="import-from-self"),
    pytest.param([RATINGS], [dict(RATINGS, **{"from": "red"})], [["green", "blue"]],
                 "mesh 'green': mesh_imports[0].from: this mesh is not linked with 'red'",
                 id="import-not-linked"),
    pytest.param([RATINGS], [{"from": "red", "namespace": "red-apps"}], None,
                 "mesh 'green': mesh_imports[0].service: missing", id="import-neither"),
    pytest.param([RATINGS], [dict(RATINGS, selector={"matchLabels": {"app": "x"}},
                                  **{"from": "red"})], None,
                 "mesh 'green': mesh_imports[0].selector: imports select by service name only",
                 id="import-both"),
    pytest.param([RATINGS], [{"from": "red", "service": "ratings"}], None,
                 "mesh 'green': mesh_imports[0].namespace: missing", id="import-no-namespace"),
    pytest.param([RATINGS], [{"from": "red", "service": "ratings.red-apps",
                              "namespace": "red-apps"}], None,
                 "mesh 'green': mesh_imports[0].service: 'ratings.red-apps' is not a DNS-1123",
                 id="import-service-name"),
    pytest.param([RATINGS], [dict(RATINGS, alias={"namespace": "Green"}, **{"from": "red"})],
                 None, "mesh 'green': mesh_imports[0].alias.namespace: 'Green' is not a DNS-1123",
                 id="import-alias-namespace"),
    pytest.param([RATINGS], [dict(RATINGS, as_local=True, **{"from": "red"})], None,
                 "mesh 'green': mesh_imports[0].as_local: needs alias.namespace",
                 id="as-local-without-alias"),
    pytest.param([RATINGS], [dict(RATINGS, as_local=True, alias={"name": "r"},
                                  **{"from": "red"})], None,
                 "mesh 'green': mesh_imports[0].as_local: needs alias.namespace",
                 id="as-local-alias-without-namespace"),
    pytest.param([RATINGS], [dict(RATINGS, as_local="yes", **{"from": "red"})], None,
                 "mesh 'green': mesh_imports[0].as_local: must be true or false",
                 id="as-local-type"),
    pytest.param([RATINGS], [dict(RATINGS, domain_suffix="svc.cluster.local",
                                  **{"from": "red"})], None,
                 "mesh 'green': mesh_imports[0].domain_suffix: 'svc.cluster.local' is the mesh's "
                 "own domain", id="domain-suffix-local"),
    pytest.param([RATINGS], [dict(RATINGS, domain_suffix="svc red", **{"from": "red"})], None,
                 "mesh 'green': mesh_imports[0].domain_suffix: 'svc red' is not a DNS name",
                 id="domain-suffix-invalid"),
    pytest.param([RATINGS], [dict(RATINGS, as_locl=True, **{"from": "red"})], None,
                 "mesh 'green': mesh_imports[0].as_locl: unknown key", id="import-unknown-key"),
    pytest.param([RATINGS], "ratings", None,
                 "mesh 'green': mesh_imports: must be a list", id="imports-not-list"),
]


@pytest.mark.parametrize("exports, imports, links, expected", SHARING_INVALID)
def test_each_sharing_problem_names_mesh_field_and_reason(exports, imports, links, expected):
    problems = problems_of(sharing(exports, imports), links)
    assert any(p.startswith(expected) for p in problems), problems


def test_every_sharing_problem_is_reported_at_once_without_guessing_on_broken_exports():
    exports = [{"service": "Ratings", "namespace": "red-apps"}, dict(RATINGS, to=["purple"])]
    imports = [{"from": "red", "service": "ratings", "namespace": "red-apps",
                "as_local": True}, {"from": "red", "service": "nope", "namespace": "x"}]
    problems = problems_of(sharing(exports, imports))
    assert [p.split(":")[1].strip() for p in problems] == [
        "mesh_imports[0].as_local", "mesh_exports[0].service", "mesh_exports[1].to[0]"]


# --- Gateways: federation_gateways and the ingress_service override ---------------------------

def test_gateways_mode_is_per_mesh_and_defaults_to_managed():
    assert build_plan(three())["meshes"]["red"]["gateways"] == "managed"
    assert build_plan(three(), gateways=None)["meshes"]["red"]["gateways"] == "managed"
    assert build_plan(three(), gateways="external")["meshes"]["blue"]["gateways"] == "external"
    with pytest.raises(PlanError) as info:
        build_plan(three(), gateways="manual")
    assert info.value.problems == [
        "federation_gateways: must be one of managed, external, got 'manual'"]


def test_ingress_service_override_is_carried_into_the_link():
    service = {"type": "NodePort", "node_ports": {"discovery": 30188, "service": 30443},
               "annotations": {"service.beta.kubernetes.io/aws-load-balancer-type": "nlb"}}
    meshes = three()
    meshes["red"]["mesh_peers"] = {"green": {"ingress_service": service},
                                   "blue": {"ingress_service": {"annotations": {"a": "b"}}}}
    plan = build_plan(meshes)
    assert link_of(plan, "red", "green")["ingress_service"] == service
    assert link_of(plan, "red", "blue")["ingress_service"] == {"type": "LoadBalancer",
                                                               "annotations": {"a": "b"}}
    assert link_of(plan, "green", "red")["ingress_service"] == {"type": "LoadBalancer"}


def nodeport(**ports):
    return {"type": "NodePort", "node_ports": ports}


INGRESS_INVALID = [
    pytest.param({"green": {"ingress_service": {"type": "ClusterIP"}}},
                 "mesh_peers.green.ingress_service.type:",
                 "must be one of LoadBalancer, NodePort", id="type"),
    pytest.param({"green": {"ingress_service": "NodePort"}},
                 "mesh_peers.green.ingress_service:", "must be a mapping", id="not-mapping"),
    pytest.param({"green": {"ingress_service": {"typ": "NodePort"}}},
                 "mesh_peers.green.ingress_service.typ:", "unknown key", id="unknown-key"),
    pytest.param({"green": {"ingress_service": {"annotations": {"x": True}}}},
                 "mesh_peers.green.ingress_service.annotations.x:", "must be strings",
                 id="annotation-value"),
    pytest.param({"green": {"ingress_service": {"annotations": ["x"]}}},
                 "mesh_peers.green.ingress_service.annotations:", "must be a mapping",
                 id="annotations-type"),
    pytest.param({"green": {"ingress_service": {"node_ports": {"discovery": 30188}}}},
                 "mesh_peers.green.ingress_service.node_ports:", "needs type: NodePort",
                 id="node-ports-without-nodeport"),
    pytest.param({"green": {"ingress_service": nodeport(discovery=8188)}},
                 "mesh_peers.green.ingress_service.node_ports.discovery:",
                 "from 30000 to 32767", id="node-port-range"),
    pytest.param({"green": {"ingress_service": nodeport(service="30443")}},
                 "mesh_peers.green.ingress_service.node_ports.service:", "integer",
                 id="node-port-type"),
    pytest.param({"green": {"ingress_service": nodeport(discovry=30188)}},
                 "mesh_peers.green.ingress_service.node_ports.discovry:", "unknown key",
                 id="node-port-key"),
    pytest.param({"green": {"ingress_service": nodeport(discovery=30188, service=30188)}},
                 "mesh_peers.green.ingress_service.node_ports.service:",
                 "node port 30188 is also set in mesh_peers.green.ingress_service.node_ports."
                 "discovery", id="node-port-twice"),
    pytest.param({"blue": {"ingress_service": nodeport(discovery=30188)},
                  "green": {"ingress_service": nodeport(discovery=30188)}},
                 "mesh_peers.green.ingress_service.node_ports.discovery:",
                 "also set in mesh_peers.blue", id="node-port-two-peers"),
]


@pytest.mark.parametrize("peers, prefix, reason", INGRESS_INVALID)
def test_each_ingress_service_problem(peers, prefix, reason):
    meshes = three()
    meshes["red"]["mesh_peers"] = peers
    problems = problems_of(meshes)
    assert any(p.startswith("mesh 'red': " + prefix) and reason in p for p in problems), problems


def test_ingress_service_needs_managed_gateways():
    meshes = three()
    meshes["red"]["mesh_peers"] = {"green": {"ingress_service": {"type": "NodePort"}}}
    with pytest.raises(PlanError) as info:
        build_plan(meshes, gateways="external")
    assert info.value.problems == [
        "mesh 'red': mesh_peers.green.ingress_service: applies only when federation_gateways "
        "is managed (the collection creates the gateway Service)"]


def test_a_selector_export_without_namespace_means_any_namespace():
    plan = build_plan(sharing([{"selector": {"matchLabels": {"app": "reviews"}}}],
                              [{"from": "red", "service": "reviews", "namespace": "anything"}]))
    red = link_of(plan, "red", "green")
    assert red["export_rules"][0]["labelSelector"]["namespace"] == "*"
    assert red["export_selectors"] == [{"namespace": "*",
                                        "selector": {"matchLabels": {"app": "reviews"}}}]
