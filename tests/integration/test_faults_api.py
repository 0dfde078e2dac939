"""API faults of docs/reliability.md (rows 1, 2, 5, 11) against a private 2-mesh lab (real
apiservers): an unreachable cluster, an apiserver stopping during the wait, a rejected token, a
missing verb, and a brief apiserver outage the run rides out.

Each test asserts what the run does, what it prints, what it leaves (objects read back as the lab
admin, writes counted in the apiservers' audit logs) and what the re-run does. The tests run in
file order: the first ones fail before any write, row 1's re-run federates, rows 11 and 2 start
from that federation with amber-mesh's objects deleted as admin (so the run has writes to do).
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from ansible_run import (
    ANSIBLE_PLAYBOOK,
    CALLBACKS,
    REPO,
    Run,
    load_inventory,
    mesh_hosts,
    write_inventory,
)
from common import lab_dir, now, run_playbook, unfederate, writes
from mesh_admin import ESS, ISS, MANAGED
from readback import connected_both_ways, meshes

AMBER, TEAL = "amber-mesh", "teal-mesh"
OBJECTS = ("ConfigMap", "ServiceMeshPeer", "ExportedServiceSet", "ImportedServiceSet")
# First run: one gateway apply per mesh, then one write per object and direction.
FIRST_RUN_WRITES = 2 + 2 * len(OBJECTS)
BOGUS_TOKEN = "sha256~this-token-was-never-issued-0123456789"
WAIT_TASK = "Wait until every peer is connected in both directions"
INSPECT_TASK = "Read the mesh facts (read-only)"


@pytest.fixture(scope="module")
def lab(lab_factory):
    lab = lab_factory("apifaults", f"{AMBER} {TEAL}", 84)
    if any(managed(m)[kind] for m in meshes(lab).values() for kind in OBJECTS):
        unfederate(lab)  # left by an earlier session that kept the lab
    return lab


@pytest.fixture(scope="module")
def lab3(lab):
    """This module's private lab in place of the shared one: conftest's `mesh` and `clusters`
    then read it."""
    return lab


@pytest.fixture
def amber_up(lab):
    """Whatever the test does to amber-mesh's apiserver, it runs again afterwards."""
    yield
    lab.run("fault", "apiserver-up", AMBER)


def managed(m) -> dict[str, set[str]]:
    return {"ConfigMap": set(m.configmaps(MANAGED)), "ServiceMeshPeer": set(m.peers(MANAGED)),
            "ExportedServiceSet": set(m.objects(ESS, MANAGED)),
            "ImportedServiceSet": set(m.objects(ISS, MANAGED))}


def planned(peer: str) -> dict[str, set[str]]:
    return {"ConfigMap": {f"{peer}-ca-root-cert"}, "ServiceMeshPeer": {peer},
            "ExportedServiceSet": {peer}, "ImportedServiceSet": {peer}}


def assert_federated(mesh) -> None:
    """Exactly the planned objects on both meshes, and both directions connected."""
    assert managed(mesh[AMBER]) == planned(TEAL)
    assert managed(mesh[TEAL]) == planned(AMBER)
    assert connected_both_ways(mesh[AMBER].peer(TEAL))
    assert connected_both_ways(mesh[TEAL].peer(AMBER))


def delete_amber_objects(lab, mesh) -> None:
    """From a federation (made first when a test runs alone), amber-mesh's managed objects are
    deleted as admin, so that the next run has 4 writes to do there and none on teal-mesh."""
    if managed(mesh[AMBER]) != planned(TEAL) or managed(mesh[TEAL]) != planned(AMBER):
        run = run_playbook("federate.yml", lab.inventory)
        assert run.rc == 0, run.explain()
    m = mesh[AMBER]
    m.core.delete_namespaced_config_map(f"{TEAL}-ca-root-cert", m.namespace)
    for group, version, plural in (("federation.maistra.io", "v1", "servicemeshpeers"), ESS, ISS):
        m.custom.delete_namespaced_custom_object(group, version, m.namespace, plural, TEAL)
    assert managed(m) == {kind: set() for kind in OBJECTS}


def everything_printed(run: Run) -> str:
    return run.stdout + run.stderr + json.dumps(run.records, default=str)


class Started:
    """federate.yml started as a subprocess, so that a test can break a cluster while it runs."""

    def __init__(self, inventory: str, extra_env: dict | None = None):
        self.records = Path(tempfile.mkstemp(suffix=".jsonl")[1])
        env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
                   ANSIBLE_CALLBACK_PLUGINS=str(CALLBACKS),
                   ANSIBLE_CALLBACKS_ENABLED="record_results",
                   RECORD_RESULTS_FILE=str(self.records), ANSIBLE_FORCE_COLOR="0",
                   ANSIBLE_NOCOLOR="1", **(extra_env or {}))
        self.start = time.monotonic()
        # Files, not pipes: nobody reads a pipe while the run goes on, and a full one blocks it.
        self.out, self.err = tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")
        self.proc = subprocess.Popen(
            [str(ANSIBLE_PLAYBOOK), "-i", inventory, str(REPO / "playbooks" / "federate.yml")],
            cwd=REPO, env=env, stdout=self.out, stderr=self.err, text=True)

    def read(self) -> list[dict]:
        return [json.loads(line) for line in self.records.read_text().splitlines()
                if line.strip()]

    def until(self, what: str, condition, timeout: float = 300) -> None:
        """Poll (the run's own progress, which no API can watch) until `condition()` holds."""
        deadline = time.monotonic() + timeout
        while not condition():
            assert self.proc.poll() is None, f"the run ended before {what}"
            assert time.monotonic() < deadline, f"no {what} within {timeout}s"
            time.sleep(0.2)

    def finish(self, timeout: float = 600) -> Run:
        self.proc.wait(timeout=timeout)
        self.out.seek(0)
        self.err.seek(0)
        stdout, stderr = self.out.read(), self.err.read()
        records = self.read()
        self.records.unlink()
        return Run(self.proc.returncode, stdout, stderr, time.monotonic() - self.start, records)


# --- row 5: credentials and permissions ---------------------------------------------------------

def test_rejected_token_fails_preflight_naming_cluster_and_request(lab, clusters, tmp_path):
    inventory = load_inventory(lab.inventory)
    server = lab.state["clusters"][AMBER]["server"]
    mesh_hosts(inventory)[AMBER]["mesh_cluster"] = {
        "host": server, "api_key": BOGUS_TOKEN, "ca_cert": str(lab_dir(lab) / "pki" / "ca.crt"),
        "name": AMBER}
    since = now()
    run = run_playbook("federate.yml", write_inventory(tmp_path / "inv.yml", inventory))
    assert run.rc != 0
    text = run.failure_text()
    assert f"cluster '{server}'" in text and "amber-mesh-system" in text
    assert ("rejected the credentials (401 Unauthorized): the token is wrong, expired or "
            "revoked; log in again") in text
    assert f"mesh {AMBER} (cluster {AMBER}): could not be inspected" in text
    assert BOGUS_TOKEN not in everything_printed(run)
    assert writes(lab, clusters, since) == 0


def test_missing_verb_fails_preflight_naming_verb_resource_namespace(lab, mesh, clusters):
    from kubernetes import client

    rbac = client.RbacAuthorizationV1Api(mesh[AMBER].core.api_client)
    namespace = mesh[AMBER].namespace
    role = rbac.read_namespaced_role("servicemesh-federation", namespace)
    original = copy.deepcopy(role.rules)
    for rule in role.rules:
        if rule.resources == ["configmaps"]:
            rule.verbs = [v for v in rule.verbs if v != "create"]
    rbac.replace_namespaced_role("servicemesh-federation", namespace, role)
    try:
        since = now()
        run = run_playbook("federate.yml", lab.inventory)
    finally:
        role = rbac.read_namespaced_role("servicemesh-federation", namespace)
        role.rules = original
        rbac.replace_namespaced_role("servicemesh-federation", namespace, role)
    assert run.rc != 0
    text = run.failure_text()
    assert (f"mesh {AMBER} (cluster {AMBER}): this identity may not create configmaps in "
            f"namespace {namespace} on cluster '{AMBER}-automation'") in text, run.explain()
    assert "nothing was written" in text
    assert writes(lab, clusters, since) == 0
    assert managed(mesh[TEAL]) == {kind: set() for kind in OBJECTS}


# --- row 1: a cluster unreachable when the run starts -------------------------------------------

def test_unreachable_cluster_fails_preflight_then_rerun_federates(lab, mesh, clusters, amber_up):
    lab.run("fault", "apiserver-down", AMBER)
    since = now()
    run = run_playbook("federate.yml", lab.inventory)
    assert run.rc != 0
    text = run.failure_text()
    assert f"cluster '{AMBER}-automation'" in text and "cannot reach the API server" in text
    assert "gave up after" in text and "(bound: 6 attempts within 30s)" in text
    assert f"mesh {AMBER} (cluster {AMBER}): could not be inspected" in text
    assert writes(lab, clusters, since) == 0
    assert managed(mesh[TEAL]) == {kind: set() for kind in OBJECTS}

    lab.run("fault", "apiserver-up", AMBER)
    since = now()
    run = run_playbook("federate.yml", lab.inventory)
    assert run.rc == 0, run.explain()
    assert writes(lab, clusters, since) == FIRST_RUN_WRITES
    assert_federated(mesh)


# --- row 11: a brief apiserver outage during the run --------------------------------------------

def test_brief_apiserver_outage_is_retried_and_the_run_completes(lab, mesh, clusters, amber_up):
    delete_amber_objects(lab, mesh)
    since = now()
    # The bound is raised because restarting a lab apiserver on a loaded 2-core machine can take
    # longer than the default 30 s; the outage is still one the run must ride out, not fail on.
    run = Started(lab.inventory, {"FEDERATION_API_RETRY_SECONDS": "240"})
    run.until("amber-mesh's pre-flight", lambda: any(
        r.get("host") == AMBER and r.get("task", "").endswith(INSPECT_TASK)
        for r in run.read()))
    lab.run("fault", "apiserver-down", AMBER)
    lab.run("fault", "apiserver-up", AMBER)
    result = run.finish()
    assert result.rc == 0, result.explain()
    printed = result.stdout + result.stderr
    assert f"request(s) to cluster '{AMBER}-automation' (" in printed
    assert "failed transiently and were repeated (bound: attempts within 240s" in printed
    assert writes(lab, [mesh[AMBER].cluster], since) == len(OBJECTS)
    assert writes(lab, [mesh[TEAL].cluster], since) == 0
    assert_federated(mesh)


# --- row 2: an apiserver stops after the writes, before the wait ends ---------------------------

def test_apiserver_stopping_during_the_wait_then_rerun_writes_nothing(lab, mesh, clusters,
                                                                      amber_up):
    delete_amber_objects(lab, mesh)
    since = now()
    run = Started(lab.inventory)
    run.until("amber-mesh's last planned write", lambda: len(
        lab.audit_writes(mesh[AMBER].cluster, since=since)) >= len(OBJECTS))
    lab.run("fault", "apiserver-down", AMBER)
    result = run.finish()
    assert result.rc != 0
    text = result.failure_text()
    assert f"cluster '{AMBER}-automation'" in text and "cannot reach the API server" in text
    assert "gave up after" in text
    assert [r["host"] for r in result.failures() if r["task"].endswith(WAIT_TASK)] == [AMBER]

    lab.run("fault", "apiserver-up", AMBER)
    assert writes(lab, clusters, since) == len(OBJECTS)
    assert managed(mesh[AMBER]) == planned(TEAL)
    before = {name: m.snapshot() for name, m in mesh.items()}
    since = now()
    rerun = run_playbook("federate.yml", lab.inventory)
    assert rerun.rc == 0, rerun.explain()
    assert writes(lab, clusters, since) == 0
    assert {name: m.snapshot() for name, m in mesh.items()} == before  # nothing duplicated
    assert_federated(mesh)
