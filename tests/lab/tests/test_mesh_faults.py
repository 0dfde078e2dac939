"""Mesh faults on a private, federated two-mesh lab: gateway down/up, istiod down/up, root CA
rotation, apiserver outage, SMCP edits, SIGTERM. Each test starts from a connected pair and
leaves one behind (or repairs what it broke).
"""

from __future__ import annotations

import base64
import os
import signal
import socket
import time
from pathlib import Path

import pytest
from mesh_admin import MeshAdmin
from mesh_helpers import connected, entries, federate, inactive_with

UNAVAILABLE = "503 Service Unavailable"
EAST, WEST = "east-mesh", "west-mesh"


@pytest.fixture(scope="module")
def fed(lab_factory):
    # Resync every 2 s: a test watches the periodic resync resume after an apiserver outage.
    lab = lab_factory("mesh-faults", f"{EAST} {WEST}", 160, gateways=True, resync_seconds=2)
    east, west = lab.admin(EAST), lab.admin(WEST)
    federate(east, west)
    federate(west, east)
    return lab, east, west


@pytest.fixture
def healthy(fed):
    lab, east, west = fed
    east.wait_peer(WEST, connected, "connected both ways")
    west.wait_peer(EAST, connected, "connected both ways")
    return fed


def _watching_without_remotes(smp: dict) -> bool:
    active = entries(smp, "active")
    return bool(active) and not any(r["connected"] for e in active for r in e.get("remotes") or [])


def _wait(what: str, check, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def _refused(address: str, port: int) -> bool:
    try:
        socket.create_connection((address, port), timeout=2).close()
        return False
    except ConnectionRefusedError:
        return True


def _services(mesh: MeshAdmin) -> dict:
    return {s.metadata.name: s for s in mesh.core.list_namespaced_service(mesh.namespace).items}


def test_gateway_down_and_up(healthy):
    lab, east, west = healthy
    gateway = f"ingress-{EAST}"  # west's gateway that east's watch goes through
    address = west.ingress_ip(gateway)
    lab.run("fault", "gateway-down", WEST, gateway)
    assert _refused(address, 8188) and _refused(address, 15443)
    east.wait_peer(WEST, inactive_with(UNAVAILABLE), "inactive with 503")
    west.wait_peer(EAST, _watching_without_remotes, "watching east, east no longer reaching it")
    assert f"watch failed: {UNAVAILABLE}" in east.warning_events(WEST)

    lab.run("fault", "gateway-up", WEST, gateway)
    assert west.ingress_ip(gateway) == address
    smp = east.wait_peer(WEST, connected, "connected again")
    assert entries(smp, "active")[0]["watch"]["lastDisconnectStatus"] == UNAVAILABLE
    west.wait_peer(EAST, connected, "connected again")


def test_unknown_gateway_is_refused_with_a_clear_error(healthy):
    lab = healthy[0]
    proc = lab.run("fault", "gateway-down", WEST, "ingress-nowhere", check=False)
    assert proc.returncode != 0
    assert "ingress-nowhere" in proc.stderr and f"ingress-{EAST}" in proc.stderr


def test_istiod_down_and_up(healthy):
    lab, east, west = healthy
    old_pod = entries(west.peer(EAST), "active")[0]["pod"]
    address, root = west.ingress_ip(f"ingress-{EAST}"), west.root_pem()

    lab.run("fault", "istiod-down", WEST)
    # The process played west's gateways too: east's watch fails, west's watch of east ends.
    smp = east.wait_peer(
        WEST,
        lambda o: (
            inactive_with(UNAVAILABLE)(o)
            and not any(r["connected"] for r in entries(o, "inactive")[0].get("remotes") or [])
        ),
        "inactive with 503 and no remote",
    )
    assert entries(smp, "inactive")[0]["watch"]["lastDisconnect"]

    lab.run("fault", "istiod-up", WEST)
    # While istiod was down nobody updated west's status, so it still shows the old pod as
    # connected: wait for the new pod's entry rather than for "connected".
    smp = west.wait_peer(
        EAST,
        lambda o: connected(o) and all(e["pod"] != old_pod for e in entries(o, "active")),
        "connected from a new istiod pod after the restart",
    )
    (entry,) = entries(smp, "active")  # the old pod's entry is gone
    assert entry["pod"].startswith(f"istiod-{WEST}-")
    east.wait_peer(WEST, connected, "connected after the restart")
    # Same root CA and the same load balancer address across the restart.
    assert west.root_pem() == root
    assert west.ingress_ip(f"ingress-{EAST}") == address


def test_rotate_ca_breaks_trust_until_the_peer_has_the_new_root(healthy):
    lab, east, west = healthy
    old_root = west.root_pem()
    lab.run("fault", "rotate-ca", WEST)
    new_root = west.root_pem()
    assert new_root != old_root
    secret = west.core.read_namespaced_secret("istio-ca-secret", west.namespace)
    assert base64.b64decode(secret.data["ca-cert.pem"]).decode() == new_root
    # east still trusts the old root: neither direction can authenticate.
    east.wait_peer(WEST, inactive_with(UNAVAILABLE), "inactive with 503 after rotation")
    west.wait_peer(EAST, inactive_with(UNAVAILABLE), "inactive with 503 after rotation")
    # Handing east the new root repairs both directions.
    east.put_ca(f"{WEST}-ca-root-cert", new_root)
    east.wait_peer(WEST, connected, "connected with the new root")
    west.wait_peer(EAST, connected, "connected with the new root")


def test_apiserver_outage_does_not_break_discovery(healthy):
    lab, east, west = healthy
    cluster = lab.state["meshes"][WEST]["cluster"]
    lab.run("fault", "apiserver-down", cluster)
    try:
        # west's gateways and watches do not need its apiserver: east stays connected.
        east.assert_peer_stays(WEST, connected, "connected", seconds=5)
    finally:
        lab.run("fault", "apiserver-up", cluster)
    # west's status writes resume: its resync keeps refreshing lastFullSync.
    smp = west.wait_peer(EAST, connected, "connected")
    last = entries(smp, "active")[0]["watch"].get("lastFullSync", "")
    west.wait_peer(
        EAST,
        lambda o: connected(o) and entries(o, "active")[0]["watch"].get("lastFullSync", "") > last,
        "resynced after the apiserver came back",
        timeout=30,
    )


def test_smcp_edit_adds_and_removes_an_ingress_gateway(fed):
    lab, _east, west = fed
    smcp_api = ("maistra.io", "v2", west.namespace, "servicemeshcontrolplanes", "basic")
    extra = {
        "enabled": True,
        "service": {
            "type": "LoadBalancer",
            "ports": [{"port": 15443, "name": "tls"}, {"port": 8188, "name": "https-discovery"}],
        },
    }
    patch = {"spec": {"gateways": {"additionalIngress": {"ingress-extra": extra}}}}
    west.custom.patch_namespaced_custom_object(*smcp_api, patch)
    try:

        def address():
            svc = _services(west).get("ingress-extra")
            lb = svc and svc.status.load_balancer.ingress
            return lb and lb[0].ip

        ip = _wait("an LB address for ingress-extra", address)
        assert ip.startswith(west.info["lb_prefix"] + ".")
        _wait("ingress-extra listening", lambda: not _refused(ip, 8188))
        smcp = west.custom.get_namespaced_custom_object(*smcp_api)
        assert smcp["status"]["observedGeneration"] == smcp["metadata"]["generation"]
        assert "ingress-extra" in smcp["status"]["readiness"]["components"]["ready"]
    finally:
        patch["spec"]["gateways"]["additionalIngress"]["ingress-extra"] = None
        west.custom.patch_namespaced_custom_object(*smcp_api, patch)
    _wait("ingress-extra Service deleted", lambda: "ingress-extra" not in _services(west))
    _wait("ingress-extra no longer listening", lambda: _refused(ip, 8188))


def test_removing_the_egress_gateway_from_the_smcp_is_no_such_host(healthy):
    lab, east, west = healthy
    smcp_api = ("maistra.io", "v2", west.namespace, "servicemeshcontrolplanes", "basic")
    egress = f"egress-{EAST}"
    saved = west.custom.get_namespaced_custom_object(*smcp_api)["spec"]["gateways"][
        "additionalEgress"
    ][egress]
    patch = {"spec": {"gateways": {"additionalEgress": {egress: None}}}}
    west.custom.patch_namespaced_custom_object(*smcp_api, patch)
    try:
        smp = west.wait_peer(EAST, inactive_with("no such host"), "inactive with no such host")
        assert egress in entries(smp, "inactive")[0]["watch"]["lastDisconnectStatus"]
        assert egress not in _services(west)
    finally:
        patch["spec"]["gateways"]["additionalEgress"][egress] = saved
        west.custom.patch_namespaced_custom_object(*smcp_api, patch)
    west.wait_peer(EAST, connected, "connected once the egress gateway is back")


def test_sigterm_stops_the_mesh_within_two_seconds(fed):
    lab, east, west = fed
    mesh = lab.state["meshes"][WEST]
    pid = mesh["pid"]
    started = time.monotonic()
    os.kill(pid, signal.SIGTERM)
    _wait(
        "the mesh process to exit",
        lambda: (
            not Path(f"/proc/{pid}").exists()
            or Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
        ),
        5,
    )
    assert time.monotonic() - started < 2.0
    assert not (Path(mesh["state_dir"]) / "ready").exists()
    lab.run("fault", "istiod-up", WEST)
    west.wait_peer(EAST, connected, "connected after the restart")
