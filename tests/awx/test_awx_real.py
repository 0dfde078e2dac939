"""The collection through a real AWX 24.6.1 (make awx-up) and its REST API, as a user's pipeline
drives it: extensions/awx/configure.yml configures AWX for a private 3-mesh lab; then the
inventory source syncs with the meshes plugin in the execution environment, the federate job
template runs (artifacts, events, no secrets), a relaunch changes nothing, the workflow runs
with its approval approved through the API, and a broken direction fails the job and is named in
its artifacts. The tests run in file order and share the lab (the last one breaks and repairs
one direction).
"""

from __future__ import annotations

import json

import pytest
from awx_api import MESHES

# The federate job of test_federate, for the tests that read it.
FEDERATE: dict = {}


def template(awx, names, key: str) -> dict:
    return awx.one("/api/v2/job_templates/",
                   f"{names['awx_federation_job_template_prefix']} - {key}")


def launch(awx, names, key: str, **body) -> dict:
    jt = template(awx, names, key)
    started = awx.post(jt["related"]["launch"], body)
    return awx.wait(f"/api/v2/jobs/{started['job']}/")


def explain(awx, job: dict) -> str:
    return (f"job {job['id']} {job['status']}: {job.get('job_explanation')}\n"
            f"{awx.stdout(job['url'])[-6000:]}")


def assert_no_secret(awx, job: dict, secrets: list[str]) -> None:
    text = awx.job_text(job)
    assert text.strip(), "the job has no stdout and no events"
    leaked = sum(secret in text for secret in secrets)  # a count: never print the secrets
    assert leaked == 0, f"{leaked} secret value(s) in job {job['id']}'s stdout or events"


def assert_all_connected(matrix: dict) -> None:
    assert sorted(matrix["cells"]) == MESHES, matrix
    assert matrix["failed"] == [] and matrix["all_connected"] is True, matrix
    states = {cell["state"] for row in matrix["cells"].values() for cell in row.values()}
    assert states == {"connected"}, states


def test_inventory_sync_gives_one_host_per_mesh(awx, configured, awx_lab):
    names, secrets = configured
    inventory = awx.one("/api/v2/inventories/", names["awx_federation_inventory"])
    source = awx.one(f"/api/v2/inventories/{inventory['id']}/inventory_sources/",
                     names["awx_federation_inventory_source"])
    started = awx.post(source["related"]["update"])
    update = awx.wait(f"/api/v2/inventory_updates/{started['inventory_update']}/")
    assert update["status"] == "successful", (
        f"{update['job_explanation']}\n{awx.stdout(update['url'])[-6000:]}")
    assert_no_secret(awx, update, secrets)

    hosts = {h["name"]: h for h in awx.all(inventory["related"]["hosts"])}
    assert sorted(hosts) == MESHES
    state = awx_lab.state
    for mesh, host in hosts.items():
        variables = awx.get(host["related"]["variable_data"])
        assert variables["mesh_namespace"] == f"{mesh}-system", variables
        assert variables["mesh_cluster"]["context"] == awx_lab.context(mesh, admin=False)
        assert variables["mesh_cluster"]["name"] == state["meshes"][mesh]["cluster"]
        groups = {g["name"] for g in awx.all(host["related"]["all_groups"])}
        # keyed_groups: cluster_<name>, made a valid group name by Ansible (- becomes _).
        cluster_group = "cluster_" + state["meshes"][mesh]["cluster"].replace("-", "_")
        assert {"meshes", cluster_group} <= groups, groups


def test_federate_job_template(awx, configured):
    names, secrets = configured
    job = launch(awx, names, "federate", extra_vars={"federation_wait_timeout": 300})
    assert job["status"] == "successful", explain(awx, job)
    assert job["execution_environment"], "the job ran without an execution environment"
    FEDERATE.update(job)

    # The matrix is the job's artifacts (set_stats), every direction connected.
    assert_all_connected(job["artifacts"]["federation_matrix"])
    # The survey answer reached the job as an extra variable.
    assert '"federation_wait_timeout": 300' in job["extra_vars"]


def test_federate_job_holds_no_secret(awx, configured):
    if not FEDERATE:
        pytest.skip("the federate job did not run")
    names, secrets = configured
    events = awx.events(FEDERATE)
    assert any(e["event"] == "playbook_on_stats" for e in events)
    # The credential reached the job only as a file in its private data dir.
    assert "K8S_AUTH_KUBECONFIG" in FEDERATE["job_env"]
    assert FEDERATE["job_env"]["K8S_AUTH_KUBECONFIG"].startswith("/runner/env/")
    assert_no_secret(awx, FEDERATE, secrets)


def test_relaunch_of_federate_changes_nothing(awx, configured):
    if not FEDERATE:
        pytest.skip("the federate job did not run")
    started = awx.post(FEDERATE["related"]["relaunch"])
    job = awx.wait(f"/api/v2/jobs/{started['id']}/")
    assert job["status"] == "successful", explain(awx, job)
    summaries = awx.all(job["related"]["job_host_summaries"])
    # Every mesh ran (localhost too: it only checks that the inventory has meshes).
    assert sorted(s["host_name"] for s in summaries) == sorted([*MESHES, "localhost"])
    changed = {s["host_name"]: s["changed"] for s in summaries if s["changed"]}
    assert changed == {}, f"changed tasks per mesh on a relaunch: {changed}"
    assert_all_connected(job["artifacts"]["federation_matrix"])


def test_workflow_with_approval_hands_artifacts_to_verify(awx, configured):
    names, secrets = configured
    wfjt = awx.one("/api/v2/workflow_job_templates/", names["awx_federation_workflow"])
    started = awx.post(wfjt["related"]["launch"], {"extra_vars": {"federation_wait_timeout": 300}})
    workflow_url = f"/api/v2/workflow_jobs/{started['workflow_job']}/"

    def nodes() -> dict:
        found = awx.all(workflow_url + "workflow_nodes/")
        return {n["identifier"]: n for n in found}

    # The approval node waits after the preview.
    awx.wait(workflow_url, until=lambda w: w["status"] in {"failed", "error", "canceled"}
             or (nodes()["approve"]["summary_fields"].get("job") or {}).get("status")
             == "pending")
    by_id = nodes()
    preview = awx.get(f"/api/v2/jobs/{by_id['preview']['summary_fields']['job']['id']}/")
    assert preview["status"] == "successful", explain(awx, preview)
    assert preview["job_type"] == "check" and preview["diff_mode"] is True
    approval_id = by_id["approve"]["summary_fields"]["job"]["id"]
    awx.post(f"/api/v2/workflow_approvals/{approval_id}/approve/")

    workflow = awx.wait(workflow_url)
    by_id = nodes()
    federate = awx.get(f"/api/v2/jobs/{by_id['federate']['summary_fields']['job']['id']}/")
    verify = awx.get(f"/api/v2/jobs/{by_id['verify']['summary_fields']['job']['id']}/")
    assert workflow["status"] == "successful", (explain(awx, federate), explain(awx, verify))
    assert verify["status"] == "successful", explain(awx, verify)
    # verify received federate's artifacts as extra variables, and published its own matrix.
    received = json.loads(verify["extra_vars"])
    assert received["federation_matrix"] == federate["artifacts"]["federation_matrix"]
    assert_all_connected(verify["artifacts"]["federation_matrix"])
    for job in (preview, federate, verify):
        assert_no_secret(awx, job, secrets)


def test_broken_direction_fails_and_is_named_in_the_artifacts(awx, configured, awx_lab):
    names, secrets = configured
    # green-mesh's ingress gateway for red-mesh goes down: red-mesh -> green-mesh breaks.
    awx_lab.run("fault", "gateway-down", "green-mesh", "ingress-red-mesh")
    try:
        job = launch(awx, names, "federate", extra_vars={"federation_wait_timeout": 20})
        assert job["status"] == "failed", explain(awx, job)
        matrix = job["artifacts"]["federation_matrix"]
        assert ["red-mesh", "green-mesh"] in matrix["failed"], matrix["failed"]
        assert matrix["cells"]["red-mesh"]["green-mesh"]["state"] != "connected"
        assert "red-mesh -> green-mesh" in awx.stdout(job["url"])
        assert_no_secret(awx, job, secrets)
    finally:
        awx_lab.run("fault", "gateway-up", "green-mesh", "ingress-red-mesh")
    job = launch(awx, names, "verify", extra_vars={"federation_wait_timeout": 120})
    assert job["status"] == "successful", explain(awx, job)
