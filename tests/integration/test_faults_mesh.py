"""Mesh faults of the reliability catalogue (docs/reliability.md rows 3, 4, 6, 7, 8, 9).

A private 3-mesh lab on two clusters (red-mesh alone, green-mesh and blue-mesh together; ip
block 100) shared by the tests of this file, which run in order: two runs at once on the
unfederated lab (7), a run killed in the middle of its writes (8), istiod down (3), an ingress
gateway down with the wait timeout measured (4, 9), a foreign object in the way (6). Each test
asserts what the run does, what it prints, what it leaves (objects read back as the lab admin,
writes counted in the audit logs) and what the re-run does; each starts from a federated lab
(federating first when an earlier test left it otherwise).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from ansible_run import ANSIBLE_PLAYBOOK, CALLBACKS, REPO
from common import AUTOMATION_USER, lab_dir, now, run_playbook, writes
from kubernetes.client.exceptions import ApiException
from mesh_admin import ESS, ISS, MANAGED, SMP
from readback import connected_both_ways

MESHES = ["blue-mesh", "green-mesh", "red-mesh"]
DIRECTIONS = [(a, b) for a in MESHES for b in MESHES if a != b]
# First run: one gateway apply per mesh, then a CA ConfigMap, a ServiceMeshPeer and two service
# sets per direction.
OBJECT_WRITES = 4 * len(DIRECTIONS)
FIRST_RUN_WRITES = len(MESHES) + OBJECT_WRITES
TIMEOUT = 15  # federation_wait_timeout of the failing runs
REPORT_TASK = "Print the failure report"
WAIT_TASK = "Wait until every peer is connected in both directions"


@pytest.fixture(scope="module")
def lab(lab_factory):
    return lab_factory("faults", "red-mesh green-mesh blue-mesh:green-mesh", 100)


@pytest.fixture(scope="module")
def lab3(lab):
    """This module's private lab in place of the shared one: conftest's `mesh` and `clusters`
    then read it."""
    return lab


def planned(name: str) -> dict[str, set[str]]:
    """Kind -> names the plan puts into mesh ``name``'s namespace."""
    others = [o for o in MESHES if o != name]
    return {"ConfigMap": {f"{o}-ca-root-cert" for o in others}, "ServiceMeshPeer": set(others),
            "ExportedServiceSet": set(others), "ImportedServiceSet": set(others)}


def managed(m) -> dict[str, set[str]]:
    return {"ConfigMap": set(m.configmaps(MANAGED)), "ServiceMeshPeer": set(m.peers(MANAGED)),
            "ExportedServiceSet": set(m.objects(ESS, MANAGED)),
            "ImportedServiceSet": set(m.objects(ISS, MANAGED))}


def assert_exactly_planned_and_connected(mesh) -> None:
    for name, m in mesh.items():
        assert managed(m) == planned(name), name
        for peer in planned(name)["ServiceMeshPeer"]:
            assert connected_both_ways(m.peer(peer)), f"{name} -> {peer}"
            assert m.configmap(f"{peer}-ca-root-cert").data == {
                "root-cert.pem": mesh[peer].root_pem()}


def federated(lab, mesh) -> None:
    """The starting point of the fault tests: federated, every direction connected."""
    try:
        assert_exactly_planned_and_connected(mesh)
    except (AssertionError, ApiException):
        run = run_playbook("federate.yml", lab.inventory)
        assert run.rc == 0, run.explain()


def snapshot(mesh) -> dict:
    return {name: m.snapshot() for name, m in mesh.items()}


def delete_managed(mesh) -> None:
    """Remove what the collection wrote (as the admin; the gateway entries stay)."""
    for m in mesh.values():
        for name in m.configmaps(MANAGED):
            m.core.delete_namespaced_config_map(name, m.namespace)
        for kind in (SMP, ESS, ISS):
            for name in m.objects(kind, MANAGED):
                m.custom.delete_namespaced_custom_object(*kind[:2], m.namespace, kind[2], name)


def process_tree(root: int) -> list[int]:
    """``root`` and its descendants, parents first (Ansible's workers call setsid, so the
    process group of ansible-playbook does not hold them or their module processes)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop(0)
        tree.append(pid)
        todo += children.get(pid, [])
    return tree


OBJECTS = ("configmaps", "servicemeshpeers", "exportedservicesets", "importedservicesets")


def object_writes(lab, clusters, since) -> list[tuple[str, str]]:
    """(verb, URI) of the automation identity's writes of federation objects (not the access
    reviews that pre-flight creates)."""
    return [(e["verb"], e["requestURI"]) for c in clusters
            for e in lab.audit_writes(c, AUTOMATION_USER, since)
            if (e.get("objectRef") or {}).get("resource") in OBJECTS]


def is_write(line: str) -> bool:
    """An audit line of a completed write of a federation object by the automation identity
    (access reviews are creates too, but write nothing)."""
    try:
        event = json.loads(line)
    except ValueError:
        return False
    return (event.get("stage") == "ResponseComplete"
            and event.get("verb") in ("create", "update", "patch", "delete")
            and event.get("user", {}).get("username") == AUTOMATION_USER
            and (event.get("objectRef") or {}).get("resource") in OBJECTS)


def kill_tree(root: int) -> None:
    """SIGKILL to the whole job, as when its container is killed; twice, for what was forked
    in between."""
    for _round in range(2):
        for pid in process_tree(root):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def printed_once(run, line: str) -> None:
    """``line`` is in the report the run printed, and the screen shows it exactly once (the
    YAML result format folds long lines)."""
    assert line in run.report(), run.explain()
    assert re.sub(r"\s*\n\s*", " ", run.stdout).count(line) == 1, run.stdout


def rerun_repairs_without_writes(lab, mesh, clusters) -> None:
    """Once the fault is gone: a re-run succeeds, writes nothing, leaves the planned objects."""
    since = now()
    rerun = run_playbook("federate.yml", lab.inventory)
    assert rerun.rc == 0, rerun.explain()
    assert writes(lab, clusters, since) == 0
    assert_exactly_planned_and_connected(mesh)


def test_two_runs_at_once_end_federated_with_each_object_once(lab, mesh, clusters):
    """Row 7: the lab is unfederated (fresh); both runs start together."""
    delete_managed(mesh)
    since = now()
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    cmd = [str(ANSIBLE_PLAYBOOK), "-i", lab.inventory, str(REPO / "playbooks" / "federate.yml")]
    procs = [subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for _run in range(2)]
    outputs = [p.communicate(timeout=900)[0] for p in procs]
    codes = [p.returncode for p in procs]
    # Both end federated: an object the other run created or changed since this run read it is
    # taken when it is as planned (a create's 409), or decided again on a fresh read (an SMCP
    # or peer changed since the read), never overwritten blind.
    for code, output in zip(codes, outputs, strict=True):
        assert code == 0, output[-4000:]
    print(f"row 7: exit codes {codes}, {writes(lab, clusters, since)} writes")
    for output in outputs:
        print("\n".join(line for line in output.splitlines() if "[ERROR]" in line))
    # Each planned object exists once, as planned, every direction connected.
    assert_exactly_planned_and_connected(mesh)
    # Each object written once or twice (once per run), gateway entries by one run or both.
    assert OBJECT_WRITES <= writes(lab, clusters, since) <= 2 * FIRST_RUN_WRITES

    since = now()
    again = run_playbook("federate.yml", lab.inventory)
    assert again.rc == 0 and again.changed == 0, again.explain()
    assert writes(lab, clusters, since) == 0


def test_run_killed_in_the_middle_of_its_writes_is_completed_by_a_rerun(lab, mesh, clusters):
    """Row 8: SIGKILL to ansible-playbook and every process under it (its workers and their
    module processes) once some but not all writes are in the audit logs; the gateway entries
    stay, so the run writes only the 24 objects."""
    federated(lab, mesh)
    delete_managed(mesh)
    since = now()
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_CALLBACK_PLUGINS=str(CALLBACKS))
    cmd = [str(ANSIBLE_PLAYBOOK), "-i", lab.inventory, str(REPO / "playbooks" / "federate.yml")]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    # Follow the audit logs from their current end (re-reading them whole is too slow: one
    # mesh's writes take about a second).
    logs = [open(lab_dir(lab) / "audit" / f"{c}.log", encoding="utf-8") for c in clusters]
    for log in logs:
        log.seek(0, os.SEEK_END)
    deadline = time.monotonic() + 600
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            if any(is_write(line) for log in logs for line in log.readlines()):
                kill_tree(proc.pid)
                break
            time.sleep(0.01)  # following the audit log: the test's clock, not the collection's
    finally:
        if proc.poll() is None:
            kill_tree(proc.pid)
        proc.wait()
        for log in logs:
            log.close()
    assert proc.returncode == -signal.SIGKILL, "the run ended before its first write"
    time.sleep(1)  # let requests in flight when it was killed reach the audit log
    done = len(object_writes(lab, clusters, since))
    assert 1 <= done < OBJECT_WRITES, done
    print(f"row 8: killed after {done} of {OBJECT_WRITES} writes")
    half = {name: managed(m) for name, m in mesh.items()}
    assert any(half[n] != planned(n) for n in half), "the killed run wrote everything"

    since = now()
    rerun = run_playbook("federate.yml", lab.inventory)
    assert rerun.rc == 0, rerun.explain()
    # The re-run writes what the killed run did not: nothing twice.
    events = object_writes(lab, clusters, since)
    assert len(events) == OBJECT_WRITES - done, events
    assert_exactly_planned_and_connected(mesh)


def test_istiod_down_is_reported_once_for_its_mesh_and_a_rerun_after_istiod_up_succeeds(
        lab, mesh, clusters):
    """Row 3."""
    federated(lab, mesh)
    before = snapshot(mesh)
    lab.run("fault", "istiod-down", "red-mesh")
    try:
        since = now()
        run = run_playbook("federate.yml", lab.inventory,
                           extra_vars={"federation_wait_timeout": TIMEOUT})
        assert run.rc != 0
        cut = ["blue-mesh -> red-mesh", "green-mesh -> red-mesh", "red-mesh -> blue-mesh",
               "red-mesh -> green-mesh"]
        printed_once(run, "istiod of red-mesh is not ready (Deployment istiod-basic 0/1): no "
                          "direction from or to red-mesh can connect: " + ", ".join(cut))
        report = "\n".join(run.report())
        assert "CA ConfigMap" not in report and "lastDisconnectStatus" not in report, report
        assert {r["result"]["msg"] for r in run.failures()} == {
            "federation check failed: 4 of 6 directions are not connected "
            "(the report is printed above)", "federation check failed: see the report above"}
        matrix = run.custom_stats["_run"]["federation_matrix"]
        assert sorted(" -> ".join(d) for d in matrix["failed"]) == cut
        assert {matrix["cells"][a][b]["state"] for a, b in matrix["failed"]} == {"istiod-down"}
        assert matrix["cells"]["green-mesh"]["blue-mesh"]["ok"] is True
        # Nothing written, nothing else touched.
        assert writes(lab, clusters, since) == 0
        assert snapshot(mesh) == before
    finally:
        lab.run("fault", "istiod-up", "red-mesh")

    rerun_repairs_without_writes(lab, mesh, clusters)


def test_ingress_gateway_down_names_the_gateway_and_the_peer_it_cuts_off_within_the_timeout(
        lab, mesh, clusters):
    """Rows 4 and 9: green-mesh's ingress gateway for red-mesh stops, so red-mesh -> green-mesh
    never connects; the report arrives within the wait timeout plus the tasks after it."""
    federated(lab, mesh)
    before = snapshot(mesh)
    lab.run("fault", "gateway-down", "green-mesh", "ingress-red-mesh")
    try:
        since = now()
        run = run_playbook("federate.yml", lab.inventory,
                           extra_vars={"federation_wait_timeout": TIMEOUT})
        assert run.rc != 0
        printed_once(run, "ingress gateway ingress-red-mesh of green-mesh is not ready "
                          "(Deployment ingress-red-mesh 0/1): it cuts off red-mesh "
                          "(red-mesh -> green-mesh)")
        matrix = run.custom_stats["_run"]["federation_matrix"]
        assert matrix["failed"] == [["red-mesh", "green-mesh"]]
        assert matrix["cells"]["red-mesh"]["green-mesh"]["state"] == "gateway-down"
        assert writes(lab, clusters, since) == 0
        assert snapshot(mesh) == before

        # Row 9, measured: the wait gives up at its timeout; the report follows it.
        elapsed = [r["elapsed"] for r in run.results(WAIT_TASK).values()]
        assert TIMEOUT <= max(elapsed) <= TIMEOUT + 3, elapsed
        started = next(r["time"] for r in run.records if r.get("task_start") == (
            f"servicemesh.federation.wait : {WAIT_TASK}"))
        printed = next(r["time"] for r in run.records if r.get("task", "").endswith(REPORT_TASK))
        print(f"row 9: wait module {max(elapsed)} s, wait start to report {printed - started:.1f} s"
              f" (timeout {TIMEOUT} s)")
        assert printed - started <= TIMEOUT + 60  # the rest: Ansible's per-task cost, loaded
    finally:
        lab.run("fault", "gateway-up", "green-mesh", "ingress-red-mesh")

    rerun_repairs_without_writes(lab, mesh, clusters)


def test_foreign_object_in_the_way_is_refused_untouched_and_taken_over_on_request(
        lab, mesh, clusters):
    """Row 6 (test_federate covers a foreign CA ConfigMap on the unfederated shared lab): someone
    else's ServiceMeshPeer under a planned name, pointing elsewhere."""
    federated(lab, mesh)
    red = mesh["red-mesh"]
    ours = red.peer("green-mesh")
    red.custom.delete_namespaced_custom_object(*SMP[:2], red.namespace, SMP[2], "green-mesh")
    spec = dict(ours["spec"], remote={"addresses": ["127.254.254.254"]})
    foreign = red.custom.create_namespaced_custom_object(*SMP[:2], red.namespace, SMP[2], {
        "apiVersion": "federation.maistra.io/v1", "kind": "ServiceMeshPeer",
        "metadata": {"name": "green-mesh", "labels": {"owner": "someone-else"}}, "spec": spec})
    before = snapshot(mesh)

    since = now()
    refused = run_playbook("federate.yml", lab.inventory,
                           extra_vars={"federation_wait_timeout": TIMEOUT})
    assert refused.rc != 0
    text = refused.failure_text()
    assert ("refusing to overwrite object(s) not created by servicemesh.federation (no label "
            "app.kubernetes.io/managed-by=servicemesh.federation) that differ from the plan: "
            "ServiceMeshPeer red-mesh-system/green-mesh. Set federation_take_over: true (module "
            "option take_over) to adopt them, or remove them.") in text, refused.explain()
    untouched = red.peer("green-mesh")
    assert untouched["metadata"]["generation"] == foreign["metadata"]["generation"]
    assert untouched["metadata"]["labels"] == {"owner": "someone-else"}
    assert untouched["spec"] == foreign["spec"]
    assert writes(lab, clusters, since) == 0
    assert snapshot(mesh) == before

    since = now()
    adopted = run_playbook("federate.yml", lab.inventory,
                           extra_vars={"federation_take_over": True})
    assert adopted.rc == 0, adopted.explain()
    # One patch; istiod writing the peer's status between our read and the guarded patch (the
    # lab writes it every resync) makes the API refuse it: it is sent again on a fresh read.
    assert 1 <= writes(lab, clusters, since) <= 4
    smp = red.peer("green-mesh")
    assert smp["metadata"]["uid"] == foreign["metadata"]["uid"]  # adopted, not replaced
    assert smp["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "servicemesh.federation"
    assert smp["spec"] == ours["spec"]
    assert_exactly_planned_and_connected(mesh)
