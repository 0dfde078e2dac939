"""Bad input is refused by the plan, before any login, naming the host or variable and the reason:
malformed inventories and every federation_* group variable (plugins/module_utils/logic/plan.py)."""

import re
from pathlib import Path

import pytest

from ansible_collections.servicemesh.federation.plugins.module_utils.logic.errors import (
    PlanError,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.plan import (
    build_plan,
)
from ansible_collections.servicemesh.federation.plugins.module_utils.logic.plan_settings import (
    ROLE_PREFIXES,
    USER_VARIABLES,
    unknown_variable_error,
)

ROOT = Path(__file__).resolve().parents[4]


def mesh(**extra):
    hostvars = {"mesh_cluster": {"host": "https://api.example.com:6443", "api_key": "t0ken"}}
    hostvars.update(extra)
    return hostvars


def inventory(changes):
    """A valid three-mesh inventory (hosts red, green, blue) with ``changes`` applied per host;
    a host mapped to None is removed, a host not there is added."""
    meshes = {"red": mesh(), "green": mesh(), "blue": mesh()}
    for host, hostvars in changes.items():
        if hostvars is None:
            meshes.pop(host)
        elif host in meshes and isinstance(hostvars, dict):
            meshes[host].update(hostvars)
        else:
            meshes[host] = hostvars
    return meshes


def problems(changes=None, links=None, settings=None, variables=None, gateways="managed",
             outside=()):
    with pytest.raises(PlanError) as info:
        build_plan(inventory(changes or {}), links, settings=settings, variables=variables,
                   gateways=gateways, outside=outside)
    return info.value.problems


def row(case_id, where, reason, changes=None, **kwargs):
    return pytest.param(changes, kwargs, where, reason, id=case_id)


# Each row: host variables changed from a valid inventory, other build_plan arguments, what the
# message must start with (the host or variable) and a fragment of the reason.
BAD_INPUT = [
    # names
    row("name-uppercase", "mesh 'Red' (inventory host 'red'): mesh_name:", "DNS-1123",
        {"red": {"mesh_name": "Red"}}),
    row("name-underscore", "mesh 'red_mesh' (inventory host 'red'): mesh_name:", "DNS-1123",
        {"red": {"mesh_name": "red_mesh"}}),
    row("name-empty", "mesh '' (inventory host 'red'): mesh_name:", "",
        {"red": {"mesh_name": ""}}),
    row("name-64-chars", "mesh '" + "a" * 64 + "' (inventory host 'red'): mesh_name:",
        "longer than 63", {"red": {"mesh_name": "a" * 64}}),
    row("name-reserved-ossm", "mesh 'ossm' (inventory host 'red'): mesh_name:", "reserved",
        {"red": {"mesh_name": "ossm"}}),
    # YAML surprises: `mesh_name: on` / `no` arrive as booleans, `mesh_name: 1e3` as a number
    row("name-yaml-on", "mesh 'True' (inventory host 'red'): mesh_name:", "",
        {"red": {"mesh_name": True}}),
    row("name-yaml-no", "mesh 'False' (inventory host 'red'): mesh_name:", "",
        {"red": {"mesh_name": False}}),
    row("name-yaml-number", "mesh '1000.0' (inventory host 'red'): mesh_name:", "",
        {"red": {"mesh_name": 1e3}}),
    row("hostname-not-label", "mesh 'red.example.com': mesh_name:", "",
        {"red.example.com": mesh()}),
    # duplicates
    row("same-mesh-two-hostnames", "mesh 'red' (inventory host 'red2'): mesh_name:",
        "also the name of inventory host 'red'", {"red2": mesh(mesh_name="red")}),
    row("duplicate-trust-domain", "mesh 'red': mesh_trust_domain:", "also the trust domain",
        {"red": {"mesh_trust_domain": "green.local"}}),
    row("duplicate-namespace-same-cluster", "mesh 'red': mesh_namespace:",
        "also the control plane namespace",
        {"red": {"mesh_namespace": "shared"}, "green": {"mesh_namespace": "shared"}}),
    # types and empty values
    row("hostvars-not-mapping", "", "mapping", {"red": ["mesh_name", "red"]}),
    row("namespace-number", "mesh 'red': mesh_namespace:", "", {"red": {"mesh_namespace": 7}}),
    row("trust-domain-scheme", "mesh 'red': mesh_trust_domain:", "scheme",
        {"red": {"mesh_trust_domain": "spiffe://red.local"}}),
    row("trust-domain-empty", "mesh 'red': mesh_trust_domain:", "non-empty",
        {"red": {"mesh_trust_domain": ""}}),
    row("cluster-empty", "mesh 'red': mesh_cluster:", "", {"red": {"mesh_cluster": {}}}),
    row("cluster-string", "mesh 'red': mesh_cluster:", "", {"red": {"mesh_cluster": "prod"}}),
    # unknown keys
    row("unknown-mesh-variable", "mesh 'red': mesh_trustdomain:", "unknown variable",
        {"red": {"mesh_trustdomain": "x.local"}}),
    row("unknown-cluster-key", "mesh 'red': mesh_cluster", "token",
        {"red": {"mesh_cluster": {"host": "https://a:6443", "token": "x"}}}),
    row("unknown-override", "mesh 'red': mesh_peers.green.port:", "unknown override",
        {"red": {"mesh_peers": {"green": {"port": 1}}}}),
    # impossible links
    row("link-to-itself", "federation_links[0]:", "itself", links=[["red", "red"]]),
    row("link-unknown-mesh", "federation_links[0]:", "unknown mesh 'purple'",
        links=[["red", "purple"]]),
    row("link-three-meshes", "federation_links[0]:", "exactly two",
        links=[["red", "green", "blue"]]),
    row("link-duplicate-reversed", "federation_links[1]:", "duplicates federation_links[0]",
        links=[["red", "green"], ["green", "red"]]),
    row("links-not-list", "federation_links:", "list", links="red,green"),
    row("link-yaml-on", "federation_links[0]:", "exactly two", links=[["red", True]]),
    # ports out of range and overrides for non-peers
    row("discovery-port-zero", "mesh 'red': mesh_peers.green.discovery_port:", "",
        {"red": {"mesh_peers": {"green": {"discovery_port": 0}}}}),
    row("service-port-65536", "mesh 'red': mesh_peers.green.service_port:", "",
        {"red": {"mesh_peers": {"green": {"service_port": 65536}}}}),
    row("node-port-out-of-range",
        "mesh 'red': mesh_peers.green.ingress_service.node_ports.discovery:",
        "30000 to 32767",
        {"red": {"mesh_peers": {"green": {"ingress_service": {
            "type": "NodePort", "node_ports": {"discovery": 8188}}}}}}),
    row("override-for-unlinked-peer", "mesh 'red': mesh_peers.blue:", "not linked",
        {"red": {"mesh_peers": {"blue": {"addresses": ["1.2.3.4"]}}}},
        links=[["red", "green"]]),
    row("override-for-unknown-peer", "mesh 'red': mesh_peers.purple:", "unknown peer mesh",
        {"red": {"mesh_peers": {"purple": {}}}}),
    row("addresses-empty", "mesh 'red': mesh_peers.green.addresses:", "non-empty",
        {"red": {"mesh_peers": {"green": {"addresses": []}}}}),
    row("address-url", "mesh 'red': mesh_peers.green.addresses[0]:", "not a URL",
        {"red": {"mesh_peers": {"green": {"addresses": ["https://gw.example.com"]}}}}),
    row("gateway-reserved", "mesh 'red': mesh_peers.green.ingress_gateway:", "reserved",
        {"red": {"mesh_peers": {"green": {"ingress_gateway": "istio-ingressgateway"}}}}),
    # bad exports / imports
    row("exports-not-list", "mesh 'red': mesh_exports", "", {"red": {"mesh_exports": "ratings"}}),
    row("import-from-unknown-mesh", "mesh 'red': mesh_imports[0]", "",
        {"red": {"mesh_imports": [{"from": "purple", "service": "x", "namespace": "y"}]}}),
    row("import-not-exported", "mesh 'red': mesh_imports[0]", "",
        {"red": {"mesh_imports": [{"from": "green", "service": "x", "namespace": "y"}]}}),
    # federation_* group variables, named as the user wrote them
    row("wait-timeout-word", "federation_wait_timeout:",
        "must be a whole number of seconds (1 or more), got 'soon'",
        settings={"federation_wait_timeout": "soon"}),
    row("wait-timeout-zero", "federation_wait_timeout:", "got 0",
        settings={"federation_wait_timeout": 0}),
    row("wait-timeout-negative", "federation_wait_timeout:", "got -5",
        settings={"federation_wait_timeout": -5}),
    row("wait-timeout-fraction", "federation_wait_timeout:", "got 2.5",
        settings={"federation_wait_timeout": 2.5}),
    row("wait-timeout-yaml-on", "federation_wait_timeout:", "got True",
        settings={"federation_wait_timeout": True}),
    row("wait-timeout-empty", "federation_wait_timeout:", "got ''",
        settings={"federation_wait_timeout": ""}),
    row("take-over-maybe", "federation_take_over:", "must be true or false, got 'maybe'",
        settings={"federation_take_over": "maybe"}),
    row("take-over-number", "federation_take_over:", "got 2",
        settings={"federation_take_over": 2}),
    row("take-over-list", "federation_take_over:", "got ['red']",
        settings={"federation_take_over": ["red"]}),
    row("gateways-mode", "federation_gateways:", "got 'manual'", gateways="manual"),
    row("gateways-yaml-on", "federation_gateways:", "got True", gateways=True),
    row("report-dir-relative", "federation_report_dir:", "must be an absolute path",
        settings={"federation_report_dir": "reports"}),
    row("report-dir-home", "federation_report_dir:", "must be an absolute path",
        settings={"federation_report_dir": "~/reports"}),
    row("report-dir-list", "federation_report_dir:", "must be an absolute path",
        settings={"federation_report_dir": ["/tmp"]}),
    row("unfederate-unknown-mesh", "federation_unfederate_mesh:",
        "'purple' is not a mesh of this run", settings={"federation_unfederate_mesh": "purple"}),
    row("unfederate-outside-run", "federation_unfederate_mesh:", "left out of this run",
        settings={"federation_unfederate_mesh": "gold"}, outside=["gold"]),
    row("unfederate-empty", "federation_unfederate_mesh:", "must be the name of one mesh",
        settings={"federation_unfederate_mesh": ""}),
    row("unfederate-yaml-no", "federation_unfederate_mesh:", "got False",
        settings={"federation_unfederate_mesh": False}),
    row("typo-wait-timout", "federation_wait_timout:",
        "unknown variable (did you mean federation_wait_timeout?",
        variables=["federation_wait_timout"]),
    row("typo-takeover", "federation_takeover:", "did you mean federation_take_over?",
        variables=["federation_takeover"]),
    row("typo-link-singular", "federation_link:", "did you mean federation_links?",
        variables=["federation_link"]),
    row("typo-report-dirs", "federation_report_dirs:", "did you mean federation_report_dir?",
        variables=["federation_report_dirs"]),
    row("unknown-federation-variable", "federation_timeout:", "unknown variable",
        variables=["federation_timeout"]),
]


@pytest.mark.parametrize("changes, kwargs, where, reason", BAD_INPUT)
def test_bad_input_is_refused_naming_where_and_why(changes, kwargs, where, reason):
    found = problems(changes, **kwargs)
    assert any(p.startswith(where) and reason in p for p in found), found


def test_the_table_is_large():
    assert len(BAD_INPUT) >= 40


def test_unknown_variables_name_every_known_one():
    [problem] = problems(variables=["federation_wait_timout", "federation_links"])
    for name in USER_VARIABLES:
        assert name in problem


@pytest.mark.parametrize("settings", [
    pytest.param({}, id="all-unset"),
    pytest.param({name: None for name in USER_VARIABLES}, id="null-means-unset"),
    pytest.param({"federation_wait_timeout": 600, "federation_take_over": True,
                  "federation_report_dir": "/var/tmp/reports",
                  "federation_unfederate_mesh": "green"}, id="yaml-values"),
    # -e name=value passes strings: accepted as the later roles accept them
    pytest.param({"federation_wait_timeout": "600", "federation_take_over": "false"},
                 id="extra-vars-strings"),
    pytest.param({"federation_take_over": "yes"}, id="take-over-yes-string"),
])
def test_good_settings_pass(settings):
    build_plan(inventory({}), settings=settings, variables=list(settings))


def collection_variable_names():
    """Every federation_* name the collection's roles and playbooks use (variables, facts,
    and plugin names that happen to match)."""
    names = set()
    for folder in ("roles", "playbooks"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in (".yml", ".yaml", ".md", ".j2") and path.is_file():
                names |= set(re.findall(r"\bfederation_[a-z_]*[a-z]", path.read_text()))
    return sorted(names)


def test_no_role_variable_or_fact_of_the_collection_counts_as_a_typo():
    # The roles set federation_<role>_* names (federation_plan_mesh, federation_report_dir's
    # neighbour federation_report_drift, ...) that the next play finds in hostvars.
    names = collection_variable_names()
    assert "federation_plan_mesh" in names and "federation_wait_peers" in names
    role_named = [n for n in names if n not in USER_VARIABLES and any(
        n == f"federation_{r}" or n.startswith(f"federation_{r}_") for r in ROLE_PREFIXES)]
    flagged = {n: unknown_variable_error(n) for n in role_named if unknown_variable_error(n)}
    assert flagged == {}


def test_the_published_matrix_is_not_a_typo():
    """AWX passes federate.yml's artifacts (set_stats) to the next workflow node as extra
    variables: verify.yml then sees federation_matrix."""
    assert unknown_variable_error("federation_matrix") is None
