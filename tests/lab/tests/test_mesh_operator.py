"""What each simulated mesh puts into its namespace, as the Service Mesh operator and istiod would.

Read-only checks against the lab whose control planes have their federation gateways.
"""

from __future__ import annotations

import base64
import ipaddress
import socket
import ssl

import pytest
from cryptography import x509

from lab.mesh.istiod_ca import peer_spiffe_id


@pytest.fixture
def lab(gateway_lab):
    return gateway_lab


def test_root_ca_is_published_without_its_key(lab):
    for name in lab.meshes:
        mesh = lab.admin(name)
        root = x509.load_pem_x509_certificate(mesh.root_pem().encode())
        assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        secret = mesh.core.read_namespaced_secret("istio-ca-secret", mesh.namespace)
        assert base64.b64decode(secret.data["ca-cert.pem"]).decode() == mesh.root_pem()
        for cm in mesh.core.list_namespaced_config_map(mesh.namespace).items:
            assert "PRIVATE KEY" not in str(cm.data), f"{name}: key material in {cm.metadata.name}"
    roots = {lab.admin(m).root_pem() for m in lab.meshes}
    assert len(roots) == len(lab.meshes), "every mesh has a root CA of its own"


def test_smcp_has_a_gateway_pair_per_peer_and_is_ready(lab):
    for name in lab.meshes:
        mesh = lab.admin(name)
        smcp = mesh.custom.get_namespaced_custom_object(
            "maistra.io", "v2", mesh.namespace, "servicemeshcontrolplanes", "basic"
        )
        spec = smcp["spec"]
        assert spec["version"] == "v2.5"
        assert spec["security"]["trust"]["domain"] == f"{name}.local" == mesh.trust_domain
        peers = [m for m in lab.meshes if m != name]
        ingress, egress = (
            spec["gateways"]["additionalIngress"],
            spec["gateways"]["additionalEgress"],
        )
        assert sorted(ingress) == sorted(f"ingress-{p}" for p in peers)
        assert sorted(egress) == sorted(f"egress-{p}" for p in peers)
        for peer in peers:
            gw = ingress[f"ingress-{peer}"]
            assert gw["enabled"] is True and gw["service"]["type"] == "LoadBalancer"
            assert {(p["name"], p["port"]) for p in gw["service"]["ports"]} == {
                ("tls", 15443),
                ("https-discovery", 8188),
            }
            gw = egress[f"egress-{peer}"]
            assert gw["enabled"] is True and gw["requestedNetworkView"] == [f"network-{peer}"]
            assert {p["port"] for p in gw["service"]["ports"]} == {15443, 8188}
        conditions = {c["type"]: c["status"] for c in smcp["status"]["conditions"]}
        assert conditions == {"Installed": "True", "Reconciled": "True", "Ready": "True"}
        assert smcp["status"]["observedGeneration"] == smcp["metadata"]["generation"]


def test_istiod_deployment_names_the_root_configmap(lab):
    from kubernetes import client

    for name in lab.meshes:
        mesh = lab.admin(name)
        apps = client.AppsV1Api(mesh.core.api_client)
        deployment = apps.read_namespaced_deployment("istiod-basic", mesh.namespace)
        env = {e.name: e.value for e in deployment.spec.template.spec.containers[0].env}
        assert env["PILOT_CA_CERT_CONFIG_MAP_NAME"] == "istio-ca-root-cert"


def test_gateway_services_and_load_balancer_addresses(lab):
    addresses = []
    for name in lab.meshes:
        mesh = lab.admin(name)
        for peer in (m for m in lab.meshes if m != name):
            svc = mesh.core.read_namespaced_service(f"ingress-{peer}", mesh.namespace)
            assert svc.spec.type == "LoadBalancer"
            assert {(p.name, p.port) for p in svc.spec.ports} == {
                ("tls", 15443),
                ("https-discovery", 8188),
            }
            ip = svc.status.load_balancer.ingress[0].ip
            assert ip.startswith(mesh.info["lb_prefix"] + ".")
            assert ipaddress.ip_address(ip) in ipaddress.ip_network("127.0.0.0/8")
            addresses.append(ip)
            svc = mesh.core.read_namespaced_service(f"egress-{peer}", mesh.namespace)
            assert {p.port for p in svc.spec.ports} == {15443, 8188}
            for gateway in (f"ingress-{peer}", f"egress-{peer}"):
                mesh.core.read_namespaced_service_account(
                    f"{gateway}-service-account", mesh.namespace
                )
    assert len(set(addresses)) == len(addresses), "each ingress has its own address"


def test_ingress_presents_its_spiffe_identity_signed_by_the_mesh_root(lab):
    name, peer = lab.meshes[:2]
    mesh = lab.admin(name)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.load_verify_locations(cadata=mesh.root_pem())  # verification fails on any other root
    address = mesh.ingress_ip(f"ingress-{peer}")
    with socket.create_connection((address, 8188), timeout=5) as raw:
        with ctx.wrap_socket(raw) as tls:
            identity = peer_spiffe_id(tls.getpeercert(binary_form=True))
    assert identity == (
        f"spiffe://{mesh.trust_domain}/ns/{mesh.namespace}/sa/ingress-{peer}-service-account"
    )
