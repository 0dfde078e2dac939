"""A bad inventory fails in the plan, before any cluster is contacted, listing every problem."""

from __future__ import annotations

import json

from ansible_run import load_inventory, mesh_hosts, run_playbook, write_inventory
from common import AUTOMATION_USER, lab_dir, now


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
