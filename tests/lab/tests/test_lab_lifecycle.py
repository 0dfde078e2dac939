"""Private labs: shared clusters, apiserver and istiod faults, restart by `up`, `down`, 8 meshes.

Runs in file order on one private lab; the last test brings it down.
"""

from __future__ import annotations

import ssl
import urllib.request
from pathlib import Path

import pytest
import yaml

from lab.lifecycle import lab_processes
from lab.state import LabPaths, alive, rss_mb

MESHES = "a-mesh b-mesh:shared c-mesh:shared"


@pytest.fixture(scope="module")
def private(lab_factory):
    return lab_factory("lifecycle", MESHES, 140)


def _ready(lab, cluster: str) -> bool:
    ctx = ssl.create_default_context(cafile=str(lab.dir / "pki" / "ca.crt"))
    try:
        with urllib.request.urlopen(f"{lab.state['clusters'][cluster]['server']}/readyz",
                                    context=ctx, timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def _alive(lab, pid: int) -> bool:
    return alive(pid, f"{lab.dir}/")


def test_meshes_can_share_a_cluster(private):
    state = private.state
    assert list(state["clusters"]) == ["a-mesh", "shared"]
    assert state["clusters"]["shared"]["meshes"] == ["b-mesh", "c-mesh"]
    hosts = yaml.safe_load(Path(private.inventory).read_text())["all"]["children"]["meshes"]
    contexts = {h: v["mesh_cluster"]["context"] for h, v in hosts["hosts"].items()}
    assert contexts == {"a-mesh": "a-mesh-automation", "b-mesh": "shared-automation",
                        "c-mesh": "shared-automation"}
    auto = private.client("b-mesh", admin=False)
    for ns in ("b-mesh-system", "c-mesh-system"):  # the Role is in every mesh namespace
        auto.resources.get(api_version="v1", kind="ConfigMap").get(namespace=ns)
        auto.resources.get(api_version="v1", kind="Namespace").get(name=ns)


def test_apiserver_down_and_up_keeps_port_and_data(private):
    before = private.state["clusters"]["shared"]
    out = private.run("fault", "apiserver-down", "shared").stdout
    assert "stopped" in out
    assert not _alive(private, before["pid"]) and not _ready(private, "shared")
    assert _ready(private, "a-mesh")  # the other cluster is untouched
    assert "DEAD" in private.run("status").stdout

    private.run("fault", "apiserver-up", "shared")
    after = private.state["clusters"]["shared"]
    assert after["port"] == before["port"] and after["pid"] != before["pid"]
    assert _ready(private, "shared")
    smcps = private.client("c-mesh").resources.get(api_version="maistra.io/v2",
                                                   kind="ServiceMeshControlPlane")
    assert smcps.get(name="basic", namespace="c-mesh-system").metadata.name == "basic"


def test_istiod_down_and_up_stops_and_restarts_the_mesh_process(private):
    pid = private.state["meshes"]["a-mesh"]["pid"]
    private.run("fault", "istiod-down", "a-mesh")
    assert not _alive(private, pid)
    private.run("fault", "istiod-up", "a-mesh")
    mesh = private.state["meshes"]["a-mesh"]
    assert mesh["pid"] != pid and _alive(private, mesh["pid"])
    assert (Path(mesh["state_dir"]) / "ready").exists()


def test_up_restarts_whatever_died(private):
    state = private.state
    private.run("fault", "istiod-down", "b-mesh")
    private.run("fault", "apiserver-down", "a-mesh")
    private.up()
    after = private.state
    assert _alive(private, after["meshes"]["b-mesh"]["pid"])
    assert after["meshes"]["b-mesh"]["pid"] != state["meshes"]["b-mesh"]["pid"]
    assert _ready(private, "a-mesh")
    assert after["meshes"]["c-mesh"]["pid"] == state["meshes"]["c-mesh"]["pid"]


def test_unknown_fault_targets_are_named(private):
    proc = private.run("fault", "apiserver-down", "nope", check=False)
    assert proc.returncode == 1
    assert "unknown cluster 'nope'" in proc.stderr and "a-mesh, shared" in proc.stderr
    proc = private.run("up", "--meshes", "other-mesh", "--ip-block", "140", check=False)
    assert proc.returncode == 1 and "run `python -m lab down` first" in proc.stderr


def test_down_leaves_no_process_and_no_state(private):
    state = private.state
    pids = [state["etcd"]["pid"], state["oauth"]["pid"]]
    pids += [c[k] for c in state["clusters"].values() for k in ("pid", "kcm_pid", "kubelet_pid")]
    pids += [m["pid"] for m in state["meshes"].values()]
    assert all(_alive(private, pid) for pid in pids)
    private.run("down")
    assert not any(_alive(private, pid) for pid in pids)
    assert lab_processes(LabPaths(private.dir)) == []
    assert not private.dir.exists()


EIGHT = " ".join(f"m{i}-mesh" for i in range(1, 9))


def test_an_eight_mesh_lab_runs_within_the_memory_budget(lab_factory):
    lab = lab_factory("eight", EIGHT, 150)
    try:
        state = lab.state
        assert len(state["clusters"]) == 8
        status = lab.run("status").stdout
        assert "DEAD" not in status and "NOT ready" not in status
        for name, cluster in state["clusters"].items():
            assert _ready(lab, name)
            rss = sum(rss_mb(cluster[k]) for k in ("pid", "kcm_pid", "kubelet_pid"))
            assert rss <= 500, f"cluster {name} uses {rss:.0f} MB"
    finally:
        lab.run("down")
