"""Federation discovery between two meshes of the shared lab, configured by hand.

Each test creates its CA ConfigMaps and ServiceMeshPeers with admin clients and deletes them
afterwards, so the shared lab stays unfederated. Expected statuses are the fact sheet's (§1.2,
§5 "What a mismatch looks like").
"""

from __future__ import annotations

import socket
import ssl

import pytest
from mesh_admin import MeshAdmin
from mesh_helpers import (
    connected,
    entries,
    federate,
    inactive_with,
    no_status,
    peer_spec,
)

from lab.mesh.istiod_ca import MeshCA, spiffe_id

UNAVAILABLE = "503 Service Unavailable"


@pytest.fixture
def lab(gateway_lab):
    """These tests federate by hand: a lab whose control planes have their gateways."""
    return gateway_lab


@pytest.fixture
def pair(lab):
    red, green = (lab.admin(m) for m in lab.meshes[:2])
    for mesh in (red, green):  # the shared lab must be unfederated when we start
        left = mesh.custom.list_namespaced_custom_object(
            "federation.maistra.io", "v1", mesh.namespace, "servicemeshpeers"
        )["items"]
        assert not left, f"{mesh.name}: ServiceMeshPeers left by another test: " + ", ".join(
            o["metadata"]["name"] for o in left
        )
    yield red, green
    red.cleanup()
    green.cleanup()


def _active_watch_only(smp: dict) -> bool:
    """Our watch is connected, but nothing from the peer reaches us."""
    active = entries(smp, "active")
    return bool(active) and all(
        e["watch"]["connected"] and not any(r["connected"] for r in e.get("remotes") or [])
        for e in active
    )


def test_pair_connects_in_both_directions(pair):
    red, green = pair
    federate(red, green)
    # Nothing on green uses the gateway red dials yet: green answers 400.
    red.wait_peer(green.name, inactive_with("400 Bad Request"), "inactive with 400")
    federate(green, red)
    r = red.wait_peer(green.name, connected, "connected both ways")
    g = green.wait_peer(red.name, connected, "connected both ways")

    (entry,) = entries(r, "active")
    assert entry["pod"].startswith(f"istiod-{red.name}-")
    watch = entry["watch"]
    assert watch["connected"] is True and watch["lastConnected"]
    # Kept from the failed attempts while connected; never connected before, so no lastDisconnect.
    assert watch["lastDisconnectStatus"] == "400 Bad Request"
    assert "lastDisconnect" not in watch
    # remotes: green's istiod watching red, seen from green's "pod IP".
    assert [x["source"] for x in entry["remotes"]] == [green.info["pod_ip"]]
    (g_entry,) = entries(g, "active")
    assert g_entry["pod"].startswith(f"istiod-{green.name}-")
    assert [x["source"] for x in g_entry["remotes"]] == [red.info["pod_ip"]]
    assert all(x["connected"] and x["lastConnected"] for x in g_entry["remotes"])
    assert "lastDisconnectStatus" not in g_entry["remotes"][0]

    # The periodic resync fetches /v1/services/ and refreshes lastFullSync on both sides.
    synced = red.wait_peer(
        green.name,
        lambda o: entries(o, "active") and entries(o, "active")[0]["watch"].get("lastFullSync"),
        "fully synced",
    )
    first = entries(synced, "active")[0]["watch"]["lastFullSync"]
    red.wait_peer(
        green.name,
        lambda o: connected(o) and entries(o, "active")[0]["watch"].get("lastFullSync", "") > first,
        "resynced again",
        timeout=15,
    )
    green.wait_peer(
        red.name,
        lambda o: any(x.get("lastFullSync") for x in entries(o, "active")[0].get("remotes") or []),
        "seeing red's full sync in remotes",
    )


def test_deleting_one_side_disconnects_the_other(pair):
    red, green = pair
    federate(red, green)
    federate(green, red)
    red.wait_peer(green.name, connected, "connected both ways")
    green.cleanup()
    r = red.wait_peer(
        green.name, inactive_with("400 Bad Request"), "inactive with 400 once green forgot red"
    )
    (entry,) = entries(r, "inactive")
    assert entry["watch"]["lastDisconnect"]  # it had been connected
    assert not any(x["connected"] for x in entry.get("remotes") or [])


def test_wrong_client_id_on_the_receiving_side_is_403(pair):
    red, green = pair
    federate(red, green)
    federate(
        green,
        red,
        security__clientID=f"{red.trust_domain}/ns/{red.namespace}/sa/someone-else-service-account",
    )
    red.wait_peer(green.name, inactive_with("403 Forbidden"), "inactive with 403")
    green.wait_peer(red.name, _active_watch_only, "watching red without remotes")
    assert "watch failed: 403 Forbidden" in red.warning_events(green.name)


@pytest.mark.parametrize("where", ["red", "green"])
def test_wrong_peer_root_breaks_trust_both_ways(pair, lab, where):
    red, green = pair
    blue = lab.admin(lab.meshes[2])
    federate(red, green)
    federate(green, red)
    # One side holds a foreign root for its peer: it rejects the peer's server certificate
    # (its own watch: 503) and the peer's client certificate (the peer's watch: 503).
    if where == "red":
        red.put_ca(f"{green.name}-ca-root-cert", blue.root_pem())
    else:
        green.put_ca(f"{red.name}-ca-root-cert", blue.root_pem())
    red.wait_peer(green.name, inactive_with(UNAVAILABLE), "inactive with 503")
    green.wait_peer(red.name, inactive_with(UNAVAILABLE), "inactive with 503")
    # Putting the right root back is picked up without touching the ServiceMeshPeer.
    federate(red, green)
    federate(green, red)
    red.wait_peer(green.name, connected, "connected again")
    green.wait_peer(red.name, connected, "connected again")


def test_wrong_trust_domain_is_a_trust_failure(pair):
    red, green = pair
    federate(red, green, security__trustDomain="not-green.local")
    federate(green, red)
    red.wait_peer(green.name, inactive_with(UNAVAILABLE), "inactive with 503")
    green.wait_peer(red.name, inactive_with(UNAVAILABLE), "inactive with 503")


def test_peer_on_the_local_trust_domain_is_a_trust_failure(pair):
    # As two meshes sharing a trust domain: the peer root is not loaded (trustDomain equals the
    # local one), the local root cannot verify the peer, both watches fail the TLS handshake.
    red, green = pair
    federate(red, green, security__trustDomain=red.trust_domain)
    federate(green, red)
    red.wait_peer(green.name, inactive_with(UNAVAILABLE), "inactive with 503")
    green.wait_peer(red.name, inactive_with(UNAVAILABLE), "inactive with 503")


def test_no_matching_peer_on_the_remote_side_is_400(pair, lab):
    red, green = pair
    federate(red, green)
    # green's SMP for red names another ingress gateway: nothing uses the one red dials.
    federate(green, red, gateways__ingress__name=f"ingress-{lab.meshes[2]}")
    red.wait_peer(green.name, inactive_with("400 Bad Request"), "inactive with 400")


def test_unreachable_peer_is_503(pair):
    red, green = pair
    # An address in red's pod-IP range: nothing listens there.
    federate(red, green, remote__addresses=[red.info["pod_ip"].rsplit(".", 1)[0] + ".250"])
    red.wait_peer(green.name, inactive_with(UNAVAILABLE), "inactive with 503")
    assert f"watch failed: {UNAVAILABLE}" in red.warning_events(green.name)


def test_missing_local_egress_gateway_is_no_such_host(pair):
    red, green = pair
    federate(red, green, gateways__egress__name="egress-typo")
    smp = red.wait_peer(green.name, inactive_with("no such host"), "inactive with no such host")
    status = entries(smp, "inactive")[0]["watch"]["lastDisconnectStatus"]
    assert status.startswith(
        f'Get "http://egress-typo.{red.namespace}.svc.cluster.local:8188/v1/watch": '
    )


def test_missing_ca_configmap_means_no_status(pair):
    red, green = pair
    red.put_peer(green.name, peer_spec(red, green))
    red.wait_warning(green.name, "could not get root cert")
    red.assert_peer_stays(green.name, no_status, "without status", seconds=5)
    (message,) = [m for m in red.warning_events(green.name) if "root cert" in m]
    assert message == (
        f"could not get root cert for mesh {green.name}: error getting configmap "
        f"{green.name}-ca-root-cert in namespace {red.namespace}: configmaps "
        f'"{green.name}-ca-root-cert" not found'
    )
    # Created later, the ConfigMap is picked up by the next resync.
    red.put_ca(f"{green.name}-ca-root-cert", green.root_pem())
    red.wait_peer(green.name, inactive_with("400 Bad Request"), "with status once the CA exists")


def test_ca_configmap_without_root_cert_key_means_no_status(pair):
    red, green = pair
    red.put_ca(f"{green.name}-ca-root-cert", green.root_pem(), key="ca.crt")
    red.put_peer(green.name, peer_spec(red, green))
    red.wait_warning(green.name, "missing entry root-cert.pem")
    red.assert_peer_stays(green.name, no_status, "without status", seconds=5)


# -- the ingress gateway as a client sees it (certificates minted from the mesh's own CA) -------
def _mint(mesh: MeshAdmin, service_account: str):
    """A SPIFFE client certificate of ``mesh`` (lab test only: reads the mesh's CA Secret)."""
    import base64

    secret = mesh.core.read_namespaced_secret("istio-ca-secret", mesh.namespace)
    ca = MeshCA(
        base64.b64decode(secret.data["ca-cert.pem"]).decode(),
        base64.b64decode(secret.data["ca-key.pem"]).decode(),
    )
    return ca.issue(spiffe_id(mesh.trust_domain, mesh.namespace, service_account))


def _connect(server: MeshAdmin, gateway: str, port: int, client_cert, tmp_path) -> ssl.SSLSocket:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.load_verify_locations(cadata=server.root_pem())
    if client_cert is not None:
        pem = tmp_path / "client.pem"
        pem.write_text(client_cert.cert_pem + client_cert.key_pem)
        ctx.load_cert_chain(str(pem))
    raw = socket.create_connection((server.ingress_ip(gateway), port), timeout=5)
    return ctx.wrap_socket(raw)


def _get(server: MeshAdmin, gateway: str, client_cert, path: str, tmp_path) -> str:
    """The HTTP status line, or "refused" when TLS or the connection is refused."""
    try:
        with _connect(server, gateway, 8188, client_cert, tmp_path) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while b"\r\n" not in data and (chunk := s.recv(4096)):
                data += chunk
    except (ssl.SSLError, OSError):
        return "refused"
    return data.split(b"\r\n", 1)[0].decode() or "refused"


def _echo(server: MeshAdmin, gateway: str, client_cert, tmp_path) -> bytes:
    """What service traffic on 15443 echoes back (b"" when the gateway refuses the caller)."""
    try:
        with _connect(server, gateway, 15443, client_cert, tmp_path) as s:
            s.sendall(b"ping")
            return s.recv(4)
    except (ssl.SSLError, OSError):
        return b""


def test_ingress_gateway_authorizes_the_configured_client_id(pair, tmp_path):
    red, green = pair
    federate(green, red)  # green expects red's egress-green-mesh identity on ingress-red-mesh
    green.wait_peer(red.name, lambda o: not no_status(o), "with status")
    gateway = f"ingress-{red.name}"

    allowed = _mint(red, f"egress-{green.name}-service-account")
    assert _get(green, gateway, allowed, "/v1/services/", tmp_path) == "HTTP/1.1 200 OK"
    assert _echo(green, gateway, allowed, tmp_path) == b"ping"

    other = _mint(red, "someone-else-service-account")
    assert _get(green, gateway, other, "/v1/watch", tmp_path) == "HTTP/1.1 403 Forbidden"
    assert _echo(green, gateway, other, tmp_path) == b""

    # Signed by a root green does not hold for red's trust domain: refused in the handshake.
    foreign = _mint(green, f"egress-{green.name}-service-account")
    assert _get(green, gateway, foreign, "/v1/watch", tmp_path) == "refused"
    assert _get(green, gateway, None, "/v1/watch", tmp_path) == "refused"


def test_ingress_gateway_without_peer_answers_400(pair, tmp_path):
    red, green = pair
    assert (
        _get(green, f"ingress-{red.name}", None, "/v1/watch", tmp_path)
        == "HTTP/1.1 400 Bad Request"
    )
