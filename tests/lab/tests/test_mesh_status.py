"""Pure logic of the simulated istiod, without a lab: the status model (fact sheet §1.2), the
root-cert lookup and its error texts (§2), the trust-domain rule and the reconnect back-off.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from lab.mesh import discovery
from lab.mesh import peer_status_writer as status_mod
from lab.mesh.discovery import Backoff, RootCertError, peer_config, root_cert_for_mesh
from lab.mesh.peer_status_writer import PeerStatus

ROOT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


class ConfigMaps(dict):
    """Stands in for the informer cache (``get(name)``)."""


def smp(name="green-mesh", **spec) -> dict:
    return {"metadata": {"name": name, "uid": "u1"}, "spec": spec}


def test_failed_attempts_never_set_last_disconnect():
    peer = PeerStatus("green-mesh", "u1")
    peer.watch_initiated()
    peer.terminated("503 Service Unavailable")
    assert peer.watch["connected"] is False and peer.watch["lastConnected"]
    assert peer.watch["lastDisconnectStatus"] == "503 Service Unavailable"
    assert "lastDisconnect" not in peer.watch
    assert list(peer.discovery_status("istiod-x")) == ["inactive"]


def test_connected_watch_keeps_the_last_disconnect_status_and_moves_to_active():
    peer = PeerStatus("green-mesh", "u1")
    peer.watch_initiated()
    peer.terminated("400 Bad Request")
    peer.watch_initiated()
    peer.watching()
    ds = peer.discovery_status("istiod-x")
    assert list(ds) == ["active"]
    (entry,) = ds["active"]
    assert entry["pod"] == "istiod-x" and entry["watch"]["connected"] is True
    assert entry["watch"]["lastDisconnectStatus"] == "400 Bad Request"
    peer.terminated("200 OK")
    assert peer.watch["lastDisconnect"] and peer.watch["lastDisconnectStatus"] == "200 OK"


def test_remotes_are_keyed_by_source_and_do_not_decide_active():
    peer = PeerStatus("green-mesh", "u1")
    peer.remote_accepted("127.41.2.1")
    peer.remote_accepted("127.41.2.1")  # a reconnect overlapping the old stream
    peer.remote_full_sync("127.41.2.1")
    peer.remote_closed("127.41.2.1")
    assert peer.remotes["127.41.2.1"]["connected"] is True  # one stream still open
    peer.remote_closed("127.41.2.1")
    (entry,) = peer.discovery_status("istiod-x")["inactive"]
    (remote,) = entry["remotes"]
    assert remote["source"] == "127.41.2.1" and remote["connected"] is False
    assert remote["lastFullSync"] and remote["lastDisconnect"]
    assert "lastDisconnectStatus" not in remote


def test_disconnected_remotes_are_pruned_after_five_minutes(monkeypatch):
    peer = PeerStatus("green-mesh", "u1")
    peer.remote_accepted("127.41.2.1")
    peer.remote_closed("127.41.2.1")
    peer.remote_accepted("127.41.3.1")
    assert not peer.prune_remotes()
    later = status_mod.time.time() + status_mod.STALE_REMOTE_SECONDS + 5
    monkeypatch.setattr(status_mod.time, "time", lambda: later)
    assert peer.prune_remotes()
    assert list(peer.remotes) == ["127.41.3.1"]  # connected ones stay


def test_root_cert_lookup_uses_the_default_configmap_name():
    cms = ConfigMaps({"green-mesh-ca-root-cert": {"data": {"root-cert.pem": ROOT}}})
    assert root_cert_for_mesh(smp(), "red-mesh-system", cms) == ROOT


@pytest.mark.parametrize(
    ("chain", "cms", "reason"),
    [
        (
            None,
            {},
            "error getting configmap green-mesh-ca-root-cert in namespace red-mesh-system: "
            'configmaps "green-mesh-ca-root-cert" not found',
        ),
        (
            {"kind": "ConfigMap", "name": "x"},
            {"x": {"data": {"ca.crt": ROOT}}},
            "missing entry root-cert.pem in ConfigMap red-mesh-system/x",
        ),
        (
            {"kind": "Secret", "name": "x"},
            {"x": {"data": {"root-cert.pem": ROOT}}},
            "unknown Kind for CertificateChain object reference: Secret",
        ),
    ],
)
def test_root_cert_errors_read_like_istiod(chain, cms, reason):
    spec = {"security": {"certificateChain": chain}} if chain else {}
    with pytest.raises(RootCertError) as e:
        root_cert_for_mesh(smp(**spec), "red-mesh-system", ConfigMaps(cms))
    assert str(e.value) == f"could not get root cert for mesh green-mesh: {reason}"


@pytest.mark.parametrize(
    ("trust_domain", "loaded"),
    [("green-mesh.local", True), ("red-mesh.local", False), ("", False)],
)
def test_peer_root_is_loaded_only_for_another_trust_domain(trust_domain, loaded):
    cms = ConfigMaps({"green-mesh-ca-root-cert": {"data": {"root-cert.pem": ROOT}}})
    config = peer_config(
        smp(security={"trustDomain": trust_domain}, remote={"addresses": ["127.40.2.1"]}),
        "red-mesh-system",
        cms,
        "red-mesh.local",
    )
    assert (config.peer_root == ROOT) is loaded
    assert (config.discovery_port, config.service_port) == (8188, 15443)


def test_backoff_grows_to_its_cap_and_resets():
    backoff = Backoff(0.5, 2.0)
    delays = [backoff.next() for _attempt in range(12)]
    assert 0.25 <= delays[0] <= 0.75
    assert all(0 < d <= 2.0 for d in delays)
    assert backoff.current == 2.0
    backoff.reset()
    assert backoff.next() <= 0.75


def test_a_failed_service_list_fetch_is_retried_every_second_for_two_minutes(monkeypatch):
    """As istiod's registry (fact sheet §1): a failed /v1/services/ fetch is retried every second
    for up to 2 min, then at the next resync; before, a 503 right after the watch was established
    left the imports from that peer missing for a whole resync period (60 s)."""
    clock = [1000.0]
    monkeypatch.setattr(discovery.time, "monotonic", lambda: clock[0])
    mesh = SimpleNamespace(resync_seconds=60.0)
    watcher = discovery.PeerWatcher.__new__(discovery.PeerWatcher)
    watcher.mesh, watcher._sync_failing_since = mesh, None

    assert watcher._next_sync(True) == 1060.0
    assert watcher._next_sync(False) == 1001.0  # first failure: again in a second
    clock[0] = 1119.0
    assert watcher._next_sync(False) == 1120.0  # still within 2 min of the first failure
    clock[0] = 1120.0
    assert watcher._next_sync(False) == 1180.0  # 2 min of failures: wait for the resync
    assert watcher._next_sync(False) == 1121.0  # the next failure starts a new 2 min
    assert watcher._next_sync(True) == 1180.0
