"""The playbooks' cross-mesh steps (module_utils/logic/cross_mesh.py), as the roles call them."""

from ansible_collections.servicemesh.federation.plugins.module_utils.logic import cross_mesh


def link(mesh, peer, **extra):
    return {"mesh": mesh, "peer": peer, "peer_host": peer, "ingress_gateway": f"ingress-{peer}",
            "egress_gateway": f"egress-{peer}", "peer_ingress_gateway": f"ingress-{mesh}",
            "peer_namespace": f"{peer}-system", **extra}


def test_run_links_drops_links_to_meshes_outside_the_run_and_keeps_malformed_ones():
    links = [["a", "b"], ["a", "c"], "oops", ["a"], {"a": "b"}]
    assert cross_mesh.run_links(links, ["c"]) == [["a", "b"], "oops", ["a"], {"a": "b"}]
    assert cross_mesh.run_links(None, ["c"]) is None
    assert cross_mesh.run_links("a-b", []) == "a-b"


def test_preflight_problems_name_mesh_and_cluster_and_count_failed_inspections():
    hostvars = {
        "a": {"federation_plan_mesh": {"name": "a", "cluster": "ctx-a"},
              "federation_inspect_mesh": {"problems": ["no root", "no gateway"]}},
        "b": {"federation_plan_mesh": {"name": "b", "cluster": "ctx-b"},
              "federation_inspect_mesh": {"problems": []}},
        "c": {"federation_plan_mesh": {"name": "c", "cluster": "ctx-c"}},
    }
    assert cross_mesh.preflight_problems(["a", "b", "c"], hostvars, ["a", "b", "c"]) == [
        "mesh a (cluster ctx-a): no root",
        "mesh a (cluster ctx-a): no gateway",
        "mesh c (cluster ctx-c): could not be inspected, see the error reported for c above",
    ]
    # b left the play (its inspection failed): a problem, although its facts are clean.
    assert cross_mesh.preflight_problems(["b"], hostvars, ["a"]) == [
        "mesh b (cluster ctx-b): could not be inspected, see the error reported for b above"]


def test_peer_facts_take_ingress_addresses_from_the_gateways_step_over_the_inspection():
    hostvars = {
        "b": {"federation_inspect_mesh": {"root_cert": {"pem": "B-PEM"},
                                          "ingress": {"ingress-a": None, "ingress-x": {"a": 1}}},
              "federation_gateways_result": {"ingress": {"ingress-a": {"addresses": ["1.2.3.4"]}}}},
        "c": {"federation_inspect_mesh": {"root_cert": {"pem": "C-PEM"},
                                          "ingress": {"ingress-a": {"addresses": ["5.6.7.8"]}}}},
    }
    facts = cross_mesh.peer_facts([link("a", "b"), link("a", "c")], hostvars)
    assert facts == {
        "b": {"root_cert": "B-PEM", "ingress": {"ingress-a": {"addresses": ["1.2.3.4"]},
                                                "ingress-x": {"a": 1}}},
        "c": {"root_cert": "C-PEM", "ingress": {"ingress-a": {"addresses": ["5.6.7.8"]}}},
    }


def test_inspect_peers_needs_no_address_where_the_peer_overrides_it():
    plan = {"meshes": {
        "a": {"name": "a", "links": [link("a", "b"), link("a", "c")]},
        "b": {"name": "b", "links": [link("b", "a", addresses=["lb.example.com"])]},
        "c": {"name": "c", "links": [link("c", "a", addresses=None)]},
    }}
    assert cross_mesh.inspect_peers(plan["meshes"]["a"], plan) == [
        {"peer": "b", "ingress_gateway": "ingress-b", "egress_gateway": "egress-b",
         "require_address": False},
        {"peer": "c", "ingress_gateway": "ingress-c", "egress_gateway": "egress-c",
         "require_address": True},
    ]


def test_report_lines_put_drift_then_failed_meshes_then_the_per_pair_report():
    lines = cross_mesh.report_lines(["ConfigMap x would be updated"], ["c"],
                                    [{"direction": "a -> b"}], 6, "a -> b: 503\n  look here")
    assert lines == [
        "1 object(s) do not match the peers' current facts:",
        "  ConfigMap x would be updated",
        "mesh c failed before its status was read: see its error above",
        "1 of 6 directions are not connected: a -> b",
        "a -> b: 503",
        "  look here",
    ]
    assert cross_mesh.report_lines([], [], [], 6, "") == []


def test_status_results_keep_only_meshes_whose_status_was_read():
    hostvars = {"h1": {"federation_plan_mesh": {"name": "a"},
                       "federation_wait_status": {"peers": {"b": {"state": "connected"}}}},
                "h2": {"federation_plan_mesh": {"name": "b"}}}
    assert cross_mesh.status_results(["h1", "h2"], hostvars) == {"a": {"b": {"state": "connected"}}}


def test_inspect_exports_lists_each_named_and_selector_export_once():
    selector = {"namespace": "apps", "selector": {"matchLabels": {"app": "x"}}}
    links = [link("a", "b", exports=[{"service": "r", "namespace": "apps",
                                      "exported_name": "r.apps.svc.b-exports.local"}],
                  export_selectors=[selector]),
             link("a", "c", exports=[{"service": "r", "namespace": "apps",
                                      "exported_name": "r.apps.svc.c-exports.local"}],
                  export_selectors=[selector]),
             link("a", "d")]
    assert cross_mesh.inspect_exports(links) == [{"service": "r", "namespace": "apps"}, selector]


def test_drift_names_objects_and_gateway_entries_that_would_change():
    objects = [{"kind": "ServiceMeshPeer", "name": "b", "action": "updated"},
               {"kind": "ConfigMap", "name": "b-ca-root-cert", "action": "unchanged"}]
    entries = [{"name": "ingress-b", "action": "added"}, {"name": "egress-b", "action": "adopted"}]
    assert cross_mesh.drift("a", "a-system", objects, entries) == [
        "mesh a (namespace a-system): ServiceMeshPeer b would be updated",
        "mesh a (namespace a-system): ServiceMeshControlPlane gateway ingress-b would be added",
    ]


def test_check_mode_names_the_address_of_a_gateway_still_to_be_added():
    pending = ["<address of ingress-a.b-system, assigned once the gateway is added>"]
    for found in ({"ingress-a": {"addresses": [], "discovery_port": None}},  # Service, no address
                  {}):                                                       # no Service yet
        hostvars = {"b": {"federation_inspect_mesh": {"root_cert": {"pem": "B"}, "ingress": {}},
                          "federation_gateways_result": {"ingress": found}}}
        facts = cross_mesh.peer_facts([link("a", "b", peer_namespace="b-system",
                                      peer_ingress_gateway="ingress-a")], hostvars)
        assert facts["b"]["ingress"]["ingress-a"]["addresses"] == pending
    # External gateways (no gateways step): a missing address stays missing, and the
    # desired objects name it as a problem.
    hostvars["b"].pop("federation_gateways_result")
    assert cross_mesh.peer_facts([link("a", "b", peer_namespace="b-system",
                                 peer_ingress_gateway="ingress-a")], hostvars)["b"]["ingress"] == {}


def test_report_headline_counts_what_the_report_details_in_one_line():
    assert cross_mesh.report_headline([], [], [{"direction": "a -> b"}], 6) == (
        "federation check failed: 1 of 6 directions are not connected "
        "(the report is printed above)")
    assert cross_mesh.report_headline(["x"], ["c"], [], 6) == (
        "federation check failed: 1 object(s) do not match the peers' current facts; "
        "1 mesh(es) failed before their status was read: c (the report is printed above)")
