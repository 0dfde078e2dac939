"""A bad inventory fails in the plan, before any cluster is contacted, listing every problem."""

from __future__ import annotations

import json

from ansible_run import load_inventory, mesh_hosts, run_playbook, write_inventory
from common import AUTOMATION_USER, lab_dir, now, writes


def test_bad_inventory_fails_before_any_api_call_listing_every_problem(lab, tmp_path):
    inventory = load_inventory(lab.inventory)
    hosts = mesh_hosts(inventory)
    hosts["red-mesh"]["mesh_name"] = "Red_Mesh"                    # not a DNS-1123 label
    hosts["green-mesh"]["mesh_trust_domain"] = "blue-mesh.local"   # blue-mesh's trust domain
    hosts["blue-mesh"]["mesh_cluster"] = {"name": "blue-mesh"}     # no connection data
    hosts["blue-mesh"]["mesh_trustdomain"] = "blue.example"        # misspelt variable
    inventory["all"]["children"]["meshes"]["vars"]["federation_links"] = [
        ["green-mesh", "green-mesh"], ["green-mesh", "purple-mesh"]]
    bad = write_inventory(tmp_path / "bad.yml", inventory)

    since = now()
    run = run_playbook("federate.yml", bad)
    assert run.rc != 0
    problems = run.results("Validate the whole plan before contacting any cluster",
                           status="failed")
    assert len(problems) == 1, run.explain()
    text = "\n".join(next(iter(problems.values()))["problems"])
    for expected in ("Red_Mesh", "mesh_trust_domain", "blue-mesh.local", "mesh_cluster",
                     "green-mesh", "purple-mesh", "mesh_trustdomain: unknown variable"):
        assert expected in text, text
    assert len(next(iter(problems.values()))["problems"]) >= 6, text
    # Nothing after the plan ran: no login, no mesh_info, and no request was written anywhere.
    tasks = {r["task"] for r in run.records if "task" in r}
    assert not any("Read the mesh facts" in t or "Log in" in t for t in tasks), sorted(tasks)
    clusters = json.loads((lab_dir(lab) / "state.json").read_text())["clusters"]
    assert all(lab.audit_writes(c, AUTOMATION_USER, since) == [] for c in clusters)


def test_bad_federation_variables_are_refused_by_the_plan_under_the_names_the_user_wrote(
        lab, tmp_path):
    inventory = load_inventory(lab.inventory)
    group = inventory["all"]["children"]["meshes"].setdefault("vars", {})
    group["federation_wait_timeout"] = "soon"
    group["federation_take_over"] = "maybe"
    bad = write_inventory(tmp_path / "bad-vars.yml", inventory)

    since = now()
    run = run_playbook("federate.yml", bad)
    assert run.rc != 0
    failed = run.results("Validate the whole plan before contacting any cluster", status="failed")
    assert len(failed) == 1, run.explain()
    found = next(iter(failed.values()))["problems"]
    assert "federation_wait_timeout: must be a whole number of seconds (1 or more), got 'soon'" \
        in found, found
    assert "federation_take_over: must be true or false, got 'maybe'" in found, found
    # Not the role variables the wait and apply roles would have refused after the writes.
    assert not any("wait_timeout:" in p.replace("federation_wait_timeout:", "")
                   or "apply_take_over" in p for p in found), found
    # The plan was the last task: no login, no pre-flight, no write on any apiserver.
    tasks = [r["task"] for r in run.records if "task" in r]
    assert tasks and all("plan" in t.lower() or "variables of every mesh" in t.lower()
                         or "links of this run" in t.lower() for t in tasks), sorted(set(tasks))
    clusters = json.loads((lab_dir(lab) / "state.json").read_text())["clusters"]
    assert writes(lab, clusters, since) == 0
