"""The lab CA and what it signs: the serving certificate (apiservers, OAuth server), the
front-proxy client certificate (apiserver -> aggregated OAuth API), the service-account keys,
the kubelet client certificate (apiserver -> lab kubelets) and each lab kubelet's serving one."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from lab.state import write_private

VALIDITY = datetime.timedelta(days=3650)
# The aggregator verifies an aggregated API server as <service>.<namespace>.svc.
OAUTH_API_SERVICE = ("api", "openshift-oauth-apiserver")
FRONT_PROXY_CN = "front-proxy-client"
# The apiserver's client certificate toward kubelets (--kubelet-client-certificate).
KUBELET_CLIENT_CN = "kube-apiserver-kubelet-client"


def pem_key(key) -> str:
    """A private key as unencrypted PKCS#8 PEM (the lab keeps keys in 0600 files or memory)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "servicemesh-federation-lab"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def ensure_pki(pki: Path) -> None:
    """Create (once) the CA, a serving cert for 127.0.0.1/localhost, the service-account keys."""
    pki.mkdir(parents=True, exist_ok=True)
    if not (pki / "ca.crt").exists():
        _write_ca(pki)
    if not (pki / "serving.crt").exists():
        svc = "{}.{}.svc".format(*OAUTH_API_SERVICE)
        _write_leaf(pki, "serving", "servicemesh-federation-lab serving",
                    [x509.DNSName("localhost"), x509.DNSName(svc),
                     x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
                    ExtendedKeyUsageOID.SERVER_AUTH)
    if not (pki / "front-proxy-client.crt").exists():
        _write_leaf(pki, "front-proxy-client", FRONT_PROXY_CN, [],
                    ExtendedKeyUsageOID.CLIENT_AUTH)
    if not (pki / "sa.key").exists():
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        write_private(pki / "sa.key", pem_key(key))
        (pki / "sa.pub").write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )


def ensure_kubelet_certs(pki: Path, nodes: dict[str, str]) -> None:
    """Create (once) the apiserver's kubelet client certificate and, per ``{node: address}``, a
    serving certificate ``kubelet-<node>`` for that address (the apiserver checks it)."""
    if not (pki / "kubelet-client.crt").exists():
        _write_leaf(pki, "kubelet-client", KUBELET_CLIENT_CN, [], ExtendedKeyUsageOID.CLIENT_AUTH)
    for node, address in nodes.items():
        if not (pki / f"kubelet-{node}.crt").exists():
            _write_leaf(pki, f"kubelet-{node}", node,
                        [x509.DNSName(node), x509.IPAddress(ipaddress.ip_address(address))],
                        ExtendedKeyUsageOID.SERVER_AUTH)


def _write_ca(pki: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("servicemesh-federation-lab CA"))
        .issuer_name(_name("servicemesh-federation-lab CA"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True,
                content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    write_private(pki / "ca.key", pem_key(key))
    (pki / "ca.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _write_leaf(pki: Path, name: str, cn: str, sans: list, usage) -> None:
    ca_key = serialization.load_pem_private_key((pki / "ca.key").read_bytes(), None)
    ca_cert = x509.load_pem_x509_certificate((pki / "ca.crt").read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()), critical=False
        )
    )
    if sans:
        cert = cert.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = cert.sign(ca_key, hashes.SHA256())
    write_private(pki / f"{name}.key", pem_key(key))
    (pki / f"{name}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
