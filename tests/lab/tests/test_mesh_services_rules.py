"""ExportedServiceSet / ImportedServiceSet rules of the simulated istiod, without a lab
(fact sheet §3): every rule case, what is never exported, and the status shapes.
"""

from __future__ import annotations

import pytest

from lab.mesh.services import (
    apply_event,
    checksum,
    export_services,
    import_services,
    status_entries,
    watch_events,
)

PEER = "green-mesh"  # the ServiceMeshPeer / set name in the exporting (importing) mesh
APPS, OTHER = "red-mesh-apps", "red-mesh-other"
MEMBERS = [APPS, OTHER]


def svc(name, namespace=APPS, **labels):
    return {"name": name, "namespace": namespace, "labels": {"app": name, **labels}}


SERVICES = [
    svc("ratings", version="v1"),
    svc("reviews", version="v1"),
    svc("details", version="v2"),
    svc("ratings", OTHER, version="v1"),
]


def name_rule(namespace="", name="", alias=None):
    sel = {"namespace": namespace, "name": name}
    if alias is not None:
        sel["alias"] = alias
    return {"type": "NameSelector", "nameSelector": sel}


def label_rule(selector, namespace="", aliases=None):
    sel = {"namespace": namespace, "selector": selector}
    if aliases is not None:
        sel["aliases"] = aliases
    return {"type": "LabelSelector", "labelSelector": sel}


def exports(rules, services=None, members=None):
    warnings: list[str] = []
    out = export_services(rules, SERVICES if services is None else services,
                          MEMBERS if members is None else members, PEER, warnings.append)
    return {(e["localService"]["namespace"], e["localService"]["name"]): e for e in out}, warnings


def exported_as(rules, **kw) -> dict:
    got, _warnings = exports(rules, **kw)
    return {k: (e["namespace"], e["name"]) for k, e in got.items()}


# -- exports --------------------------------------------------------------------------------
def test_name_selector_exports_one_service_with_the_status_shape():
    (entry,) = export_services([name_rule(APPS, "ratings")], SERVICES, MEMBERS, PEER, pytest.fail)
    assert status_entries([entry]) == [
        {
            "exportedName": f"ratings.{APPS}.svc.{PEER}-exports.local",
            "localService": {
                "name": "ratings",
                "namespace": APPS,
                "hostname": f"ratings.{APPS}.svc.cluster.local",
            },
        }
    ]


@pytest.mark.parametrize("wild", ["", "*"])
def test_name_selector_empty_or_star_matches_any(wild):
    assert set(exported_as([name_rule(wild, "ratings")])) == {(APPS, "ratings"), (OTHER, "ratings")}
    assert set(exported_as([name_rule(APPS, wild)])) == {
        (APPS, "ratings"),
        (APPS, "reviews"),
        (APPS, "details"),
    }


@pytest.mark.parametrize("keep", ["", "*"])
def test_name_selector_alias_renames_and_empty_or_star_keeps(keep):
    assert exported_as([name_rule(APPS, "ratings", {"namespace": "shared", "name": "rates"})]) == {
        (APPS, "ratings"): ("shared", "rates")
    }
    assert exported_as([name_rule(APPS, "ratings", {"namespace": keep, "name": "rates"})]) == {
        (APPS, "ratings"): (APPS, "rates")
    }
    assert exported_as([name_rule(APPS, "ratings", {"namespace": "shared", "name": keep})]) == {
        (APPS, "ratings"): ("shared", "ratings")
    }


def test_exported_fqdn_uses_the_alias_and_the_peer_name():
    got, _warnings = exports([name_rule(APPS, "ratings", {"namespace": "shared", "name": "rates"})])
    assert got[(APPS, "ratings")]["exportedName"] == f"rates.shared.svc.{PEER}-exports.local"


def test_first_matching_rule_wins():
    rules = [
        name_rule(APPS, "ratings", {"namespace": "first"}),
        name_rule("", "", {"namespace": "second"}),
    ]
    assert exported_as(rules) == {
        (APPS, "ratings"): ("first", "ratings"),
        (APPS, "reviews"): ("second", "reviews"),
        (APPS, "details"): ("second", "details"),
        (OTHER, "ratings"): ("second", "ratings"),
    }


def test_label_selector_match_labels_in_one_namespace():
    assert set(exported_as([label_rule({"matchLabels": {"version": "v1"}}, APPS)])) == {
        (APPS, "ratings"),
        (APPS, "reviews"),
    }


@pytest.mark.parametrize("wild", ["", "*"])
def test_label_selector_empty_or_star_namespace_is_every_member(wild):
    assert set(exported_as([label_rule({"matchLabels": {"app": "ratings"}}, wild)])) == {
        (APPS, "ratings"),
        (OTHER, "ratings"),
    }


def test_empty_label_selector_exports_everything():
    assert len(exported_as([label_rule({}, "")])) == len(SERVICES)


@pytest.mark.parametrize(
    "expression, expected",
    [
        ({"key": "version", "operator": "In", "values": ["v2"]}, {"details"}),
        ({"key": "version", "operator": "NotIn", "values": ["v1"]}, {"details"}),
        ({"key": "tier", "operator": "Exists"}, set()),
        ({"key": "tier", "operator": "DoesNotExist"}, {"ratings", "reviews", "details"}),
    ],
)
def test_label_selector_match_expressions(expression, expected):
    got = exported_as([label_rule({"matchExpressions": [expression]}, APPS)])
    assert {name for _ns, name in got} == expected


def test_label_selector_matches_service_labels_combined():
    rule = label_rule(
        {
            "matchLabels": {"version": "v1"},
            "matchExpressions": [{"key": "app", "operator": "In", "values": ["reviews"]}],
        },
        APPS,
    )
    assert set(exported_as([rule])) == {(APPS, "reviews")}


def test_label_selector_aliases_first_match_wins_else_original():
    rule = label_rule(
        {"matchLabels": {"version": "v1"}},
        "*",
        aliases=[
            {"namespace": APPS, "name": "ratings", "alias": {"name": "rates"}},
            {"namespace": "*", "name": "ratings", "alias": {"namespace": "shared"}},
            {"namespace": "*", "name": "*", "alias": {"namespace": "never"}},
        ],
    )
    assert exported_as([rule]) == {
        (APPS, "ratings"): (APPS, "rates"),
        (OTHER, "ratings"): ("shared", "ratings"),
        (APPS, "reviews"): ("never", "reviews"),
    }
    no_match = label_rule({"matchLabels": {"app": "reviews"}}, APPS, [{"name": "x", "alias": {}}])
    assert exported_as([no_match]) == {(APPS, "reviews"): (APPS, "reviews")}


@pytest.mark.parametrize(
    "bad, logged",
    [
        ({"type": "RegexSelector", "nameSelector": {"name": "ratings"}}, "unknown selector type"),
        ({"type": "NameSelector"}, "no nameSelector"),
        ({"type": "LabelSelector", "nameSelector": {"name": "ratings"}}, "no labelSelector"),
        (
            label_rule({"matchExpressions": [{"key": "a", "operator": "Like", "values": ["b"]}]}),
            "not a valid label selector operator",
        ),
    ],
)
def test_unusable_rules_are_skipped_with_a_log_line_and_later_rules_apply(bad, logged):
    got, warnings = exports([bad, name_rule(APPS, "reviews")])
    assert list(got) == [(APPS, "reviews")]
    assert len(warnings) == 1 and logged in warnings[0] and "exportRules[0]" in warnings[0]


def test_never_exported_imports_externals_gateways_and_non_members():
    services = [
        {**svc("imported"), "registry": "federation"},
        {**svc("external"), "meshExternal": True},
        {**svc("ingress-green-mesh", "red-mesh-system"), "gateway": True},
        {**svc("gw", APPS), "gateway": True},
        svc("stranger", "not-a-member"),
        {"name": "", "namespace": APPS, "labels": {}},
        svc("ratings"),
    ]
    got = exported_as([label_rule({}, "*"), name_rule()], services=services)
    assert got == {(APPS, "ratings"): (APPS, "ratings")}


def test_two_services_exported_under_one_name_keep_the_first():
    rule = name_rule("", "ratings", {"namespace": "shared"})
    got, warnings = exports([rule])
    assert list(got) == [(APPS, "ratings")]  # services are taken in namespace/name order
    assert len(warnings) == 1 and "both exported as" in warnings[0]


def test_no_rules_export_nothing():
    assert export_services([], SERVICES, MEMBERS, PEER) == []
    assert export_services(None, SERVICES, MEMBERS, PEER) == []


# -- imports --------------------------------------------------------------------------------
FROM = "red-mesh"  # the importer's name for the exporter: its ISS name


def offered(name, namespace):
    """What red-mesh exports to us (the FQDN names us as red-mesh's peer green-mesh)."""
    return {
        "exportedName": f"{name}.{namespace}.svc.{PEER}-exports.local",
        "name": name,
        "namespace": namespace,
    }


OFFERED = [offered("ratings", "shared"), offered("reviews", "shared"), offered("details", APPS)]


def imports(spec):
    warnings: list[str] = []
    out = import_services(spec, OFFERED, FROM, warnings.append)
    return {e["exportedName"].split(".svc.")[0]: e["localService"] for e in out}, warnings


def iname_rule(namespace="", name="", alias=None, **extra):
    sel = {"namespace": namespace, "name": name}
    if alias is not None:
        sel["alias"] = alias
    return {"type": "NameSelector", "importAsLocal": False, "nameSelector": sel, **extra}


EMPTY = {"name": "", "namespace": "", "hostname": ""}


def test_every_exported_service_is_listed_unmatched_with_empty_local_service():
    got, warnings = imports({"importRules": [iname_rule("shared", "ratings")]})
    assert got == {
        "ratings.shared": {
            "name": "ratings",
            "namespace": "shared",
            "hostname": f"ratings.shared.svc.{FROM}-imports.local",
        },
        "reviews.shared": EMPTY,
        f"details.{APPS}": EMPTY,
    }
    assert warnings == []
    assert import_services({}, OFFERED, FROM) == [
        {"exportedName": o["exportedName"], "localService": EMPTY}
        for o in sorted(OFFERED, key=lambda o: o["exportedName"])
    ]


def test_import_matches_on_the_exported_names_with_wildcards_and_first_match_wins():
    got, _warnings = imports(
        {
            "importRules": [
                iname_rule("*", "ratings", {"name": "rates"}),
                iname_rule("shared", "", {"namespace": "mine"}),
                iname_rule("", "*"),
            ]
        }
    )
    assert {k: (v["namespace"], v["name"]) for k, v in got.items()} == {
        "ratings.shared": ("shared", "rates"),
        "reviews.shared": ("mine", "reviews"),
        f"details.{APPS}": (APPS, "details"),
    }
    assert got["ratings.shared"]["hostname"] == f"rates.shared.svc.{FROM}-imports.local"


def test_import_as_local_with_alias_namespace():
    rule = iname_rule("shared", "ratings", {"namespace": "bookinfo"}, importAsLocal=True)
    got, _warnings = imports({"importRules": [rule]})
    assert got["ratings.shared"] == {
        "name": "ratings",
        "namespace": "bookinfo",
        "hostname": "ratings.bookinfo.svc.cluster.local",
    }


@pytest.mark.parametrize("alias", [None, {"name": "x"}, {"namespace": "*"}, {"namespace": ""}])
def test_import_as_local_without_alias_namespace_is_skipped(alias):
    bad = iname_rule("shared", "ratings", alias, importAsLocal=True)
    got, warnings = imports({"importRules": [bad, iname_rule("shared", "ratings")]})
    assert got["ratings.shared"]["hostname"] == f"ratings.shared.svc.{FROM}-imports.local"
    assert len(warnings) == 1 and "importAsLocal requires" in warnings[0]


def test_domain_suffix_of_the_rule_overrides_the_spec():
    spec = {
        "domainSuffix": "fed.example",
        "importRules": [
            iname_rule("shared", "ratings", domainSuffix="ratings.example"),
            iname_rule(),
        ],
    }
    got, _warnings = imports(spec)
    assert got["ratings.shared"]["hostname"] == "ratings.shared.ratings.example"
    assert got["reviews.shared"]["hostname"] == "reviews.shared.fed.example"


@pytest.mark.parametrize("where", ["rule", "spec"])
def test_domain_suffix_equal_to_the_local_one_is_refused(where):
    rule = iname_rule("shared", "ratings")
    spec = {"importRules": [rule]}
    if where == "rule":
        rule["domainSuffix"] = "svc.cluster.local"
    else:
        spec["domainSuffix"] = "svc.cluster.local"
    got, warnings = imports(spec)
    assert got["ratings.shared"] == EMPTY
    assert len(warnings) == 1 and "local domain suffix" in warnings[0]


@pytest.mark.parametrize(
    "bad, logged",
    [
        (
            {"type": "LabelSelector", "labelSelector": {"selector": {}}},
            "unknown selector type 'LabelSelector'",
        ),
        ({"type": "NameSelector", "importAsLocal": False}, "no nameSelector"),
    ],
)
def test_import_rules_other_than_name_selector_are_skipped(bad, logged):
    got, warnings = imports({"importRules": [bad]})
    assert all(v == EMPTY for v in got.values()) and len(got) == 3
    assert len(warnings) == 1 and logged in warnings[0] and "importRules[0]" in warnings[0]


# -- discovery wire format ---------------------------------------------------------------------
def test_watch_events_bring_the_importer_copy_to_the_exporter_list_and_checksum():
    def msg(host, port=9080):
        return {"name": host, "namespace": "ns", "hostname": host, "servicePorts": [port]}

    sent = {"a": msg("a"), "b": msg("b")}
    current = {"b": msg("b", 9090), "c": msg("c")}
    events = watch_events(sent, current)
    assert [(e["action"], e["service"]["hostname"]) for e in events] == [
        ("delete", "a"),
        ("update", "b"),
        ("add", "c"),
    ]
    copy = dict(sent)
    assert all(apply_event(copy, e) for e in events)
    assert copy == current and events[-1]["checksum"] == checksum(copy.values())
    assert watch_events(current, current) == []
