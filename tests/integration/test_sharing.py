"""Service sharing end to end against the shared 3-mesh lab: exports and imports declared in the
inventory become ExportedServiceSets / ImportedServiceSets, the simulated istiod imports them,
the wait counts them, verify and unfederate cover them, and a typo is refused before any write.

The tests run in file order on one inventory variant (alias, as_local, a selector export) and
leave the lab unfederated.
"""

from __future__ import annotations

import pytest
from ansible_run import load_inventory, mesh_hosts, write_inventory
from common import now, run_playbook, writes
from mesh_admin import ESS, ISS, MANAGED

RED, GREEN, BLUE = "red-mesh", "green-mesh", "blue-mesh"


def sharing(inventory: dict) -> dict:
    """red offers ratings (as shared/ratings) to everyone and reviews (by label) to green only;
    green imports ratings as a local service, blue under the default imported domain."""
    hosts = mesh_hosts(inventory)
    for host in hosts.values():
        host.pop("mesh_exports", None)
        host.pop("mesh_imports", None)
    hosts[RED]["mesh_exports"] = [
        {"service": "ratings", "namespace": "red-mesh-apps",
         "alias": {"namespace": "shared"}},
        {"selector": {"matchLabels": {"app": "reviews"}}, "namespace": "red-mesh-apps",
         "to": [GREEN]},
    ]
    hosts[GREEN]["mesh_imports"] = [
        {"from": RED, "service": "ratings", "namespace": "shared", "as_local": True,
         "alias": {"namespace": "green-mesh-apps"}},
    ]
    hosts[BLUE]["mesh_imports"] = [{"from": RED, "service": "ratings", "namespace": "shared"}]
    return inventory


@pytest.fixture(scope="module")
def inventory(lab3, tmp_path_factory):
    path = tmp_path_factory.mktemp("sharing") / "inventory.yml"
    return write_inventory(path, sharing(load_inventory(lab3.inventory)))


def imported(iss: dict) -> dict:
    """exportedName -> local hostname ("" when no import rule matched)."""
    return {e["exportedName"]: e["localService"]["hostname"]
            for e in (iss.get("status") or {}).get("importedServices") or []}


def test_typo_in_an_import_is_refused_before_any_write(lab3, clusters, tmp_path):
    inv = sharing(load_inventory(lab3.inventory))
    mesh_hosts(inv)[BLUE]["mesh_imports"][0]["service"] = "ratngs"
    since = now()
    run = run_playbook("federate.yml", write_inventory(tmp_path / "typo.yml", inv))
    assert run.rc != 0
    text = run.failure_text()
    assert "mesh 'blue-mesh'" in text and "mesh_imports[0]" in text, run.explain()
    assert "ratngs" in text and "ratings" in text  # names the typo and what is exported
    assert writes(lab3, clusters, since) == 0


def test_an_export_of_a_missing_service_fails_pre_flight_before_any_write(lab3, clusters,
                                                                          tmp_path):
    inv = sharing(load_inventory(lab3.inventory))
    mesh_hosts(inv)[RED]["mesh_exports"].append({"service": "payments",
                                                 "namespace": "red-mesh-apps"})
    since = now()
    run = run_playbook("federate.yml", write_inventory(tmp_path / "missing.yml", inv))
    assert run.rc != 0
    text = run.failure_text()
    assert "mesh red-mesh (cluster red-mesh)" in text and "payments" in text, run.explain()
    assert writes(lab3, clusters, since) == 0


def test_federate_exports_and_imports_with_alias_and_as_local(lab3, mesh, inventory):
    run = run_playbook("federate.yml", inventory)
    assert run.rc == 0, run.explain()
    matrix = run.custom_stats["_run"]["federation_matrix"]
    assert matrix["failed"] == []
    # The import is counted in the importing mesh's cell for the exporter.
    assert matrix["cells"][GREEN][RED]["summary"] == "connected 1/1"
    assert matrix["cells"][BLUE][RED]["summary"] == "connected 1/1"
    assert matrix["cells"][RED][GREEN]["summary"] == "connected"

    red_sets = mesh[RED].objects(ESS, MANAGED)
    assert sorted(red_sets) == [BLUE, GREEN]
    assert red_sets[GREEN]["spec"]["exportRules"] == [
        {"type": "NameSelector", "nameSelector": {
            "namespace": "red-mesh-apps", "name": "ratings", "alias": {"namespace": "shared"}}},
        {"type": "LabelSelector", "labelSelector": {
            "namespace": "red-mesh-apps", "selector": {"matchLabels": {"app": "reviews"}}}},
    ]
    assert len(red_sets[BLUE]["spec"]["exportRules"]) == 1  # reviews goes to green only
    exported_to_green = {e["exportedName"] for e in red_sets[GREEN]["status"]["exportedServices"]}
    assert exported_to_green == {"ratings.shared.svc.green-mesh-exports.local",
                                 "reviews.red-mesh-apps.svc.green-mesh-exports.local"}

    # green: ratings as a local service; reviews is listed (exported) but not imported.
    assert imported(mesh[GREEN].objects(ISS, MANAGED)[RED]) == {
        "ratings.shared.svc.green-mesh-exports.local": "ratings.green-mesh-apps.svc.cluster.local",
        "reviews.red-mesh-apps.svc.green-mesh-exports.local": "",
    }
    assert imported(mesh[BLUE].objects(ISS, MANAGED)[RED]) == {
        "ratings.shared.svc.blue-mesh-exports.local": "ratings.shared.svc.red-mesh-imports.local",
    }
    # Nothing planned where nothing is shared.
    assert mesh[BLUE].objects(ESS, MANAGED) == {} and sorted(mesh[RED].objects(ISS)) == []


def test_rerun_sends_no_write(lab3, clusters, inventory):
    since = now()
    run = run_playbook("federate.yml", inventory)
    assert run.rc == 0, run.explain()
    assert run.changed == 0, run.stats
    assert writes(lab3, clusters, since) == 0


def test_verify_reads_the_sets_and_reports_a_removed_rule(lab3, mesh, clusters, inventory):
    since = now()
    ok = run_playbook("verify.yml", inventory)
    assert ok.rc == 0, ok.explain()

    green = mesh[GREEN]
    green.custom.patch_namespaced_custom_object(
        *ISS[:2], green.namespace, ISS[2], RED, {"spec": {"importRules": []}})
    drift = run_playbook("verify.yml", inventory)
    assert drift.rc != 0
    text = drift.failure_text()
    assert "ImportedServiceSet red-mesh would be updated" in text, drift.explain()
    assert writes(lab3, clusters, since) == 0

    repair = run_playbook("federate.yml", inventory)
    assert repair.rc == 0, repair.explain()
    assert writes(lab3, clusters, since) == 1


def test_a_dropped_export_is_removed_from_the_set_and_an_empty_set_deleted(lab3, mesh, tmp_path):
    inv = sharing(load_inventory(lab3.inventory))
    hosts = mesh_hosts(inv)
    hosts[RED]["mesh_exports"] = hosts[RED]["mesh_exports"][:1]   # no more reviews to green
    hosts[RED]["mesh_exports"][0]["to"] = [GREEN]                  # ratings no more to blue
    hosts[BLUE].pop("mesh_imports")
    run = run_playbook("federate.yml", write_inventory(tmp_path / "fewer.yml", inv))
    assert run.rc == 0, run.explain()
    red_sets = mesh[RED].objects(ESS, MANAGED)
    assert sorted(red_sets) == [GREEN]
    assert [r["type"] for r in red_sets[GREEN]["spec"]["exportRules"]] == ["NameSelector"]
    assert mesh[BLUE].objects(ISS, MANAGED) == {}


def test_unfederate_removes_the_sets(lab3, mesh, inventory):
    run = run_playbook("unfederate.yml", inventory)
    assert run.rc == 0, run.explain()
    for m in mesh.values():
        assert m.objects(ESS) == {} and m.objects(ISS) == {}, m.name
