"""The mesh's root CA and the SPIFFE workload certificates of its gateways.

Like istiod's self-signed CA: the root key lives only in memory and in the Secret
``istio-ca-secret``; workload certificates carry their identity as a SPIFFE URI SAN
(``spiffe://<trust domain>/ns/<namespace>/sa/<service account>``) and an empty subject.
"""

from __future__ import annotations

import datetime
import os
import ssl
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from lab.ca import pem_key

ROOT_VALIDITY = datetime.timedelta(days=3650)
WORKLOAD_VALIDITY = datetime.timedelta(hours=24)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def spiffe_id(trust_domain: str, namespace: str, service_account: str) -> str:
    return f"spiffe://{trust_domain}/ns/{namespace}/sa/{service_account}"


def trust_domain_of(spiffe: str | None) -> str | None:
    """``spiffe://td/ns/x/sa/y`` -> ``td`` (None for anything that is not a SPIFFE ID)."""
    if not spiffe or not spiffe.startswith("spiffe://"):
        return None
    return spiffe[len("spiffe://") :].split("/", 1)[0] or None


def peer_spiffe_id(der: bytes | None) -> str | None:
    """The SPIFFE URI SAN of a DER certificate, or None."""
    if not der:
        return None
    cert = x509.load_der_x509_certificate(der)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    uris = [
        u
        for u in san.get_values_for_type(x509.UniformResourceIdentifier)
        if u.startswith("spiffe://")
    ]
    return uris[0] if uris else None


def issued_by(der: bytes, roots_pem: str) -> bool:
    """True when the DER certificate is signed by one of the PEM roots (and is in its validity)."""
    cert = x509.load_der_x509_certificate(der)
    now = _now()
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        return False
    for root in x509.load_pem_x509_certificates(roots_pem.encode()):
        try:
            cert.verify_directly_issued_by(root)
            return True
        except (ValueError, TypeError, x509.InvalidSignature):
            continue
    return False


@dataclass
class WorkloadCert:
    spiffe_id: str
    cert_pem: str
    key_pem: str  # stays in memory; handed to OpenSSL through an anonymous memfd


class MeshCA:
    """A self-signed root (EC P-256) that signs the gateways' SPIFFE certificates."""

    def __init__(self, cert_pem: str, key_pem: str):
        self.cert_pem = cert_pem
        self.key_pem = key_pem
        self._cert = x509.load_pem_x509_certificate(cert_pem.encode())
        self._key = serialization.load_pem_private_key(key_pem.encode(), None)

    @classmethod
    def generate(cls, trust_domain: str, mesh: str) -> MeshCA:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, trust_domain),
                x509.NameAttribute(NameOID.COMMON_NAME, f"{mesh} root CA"),
            ]
        )
        now = _now()
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + ROOT_VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .sign(key, hashes.SHA256())
        )
        return cls(cert.public_bytes(serialization.Encoding.PEM).decode(), pem_key(key))

    @property
    def serial(self) -> int:
        return self._cert.serial_number

    def issue(self, spiffe: str) -> WorkloadCert:
        key = ec.generate_private_key(ec.SECP256R1())
        now = _now()
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(self._cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + WORKLOAD_VALIDITY)
            # An empty subject makes the SAN critical (RFC 5280 4.2.1.6), as in Istio's SVIDs.
            .add_extension(
                x509.SubjectAlternativeName([x509.UniformResourceIdentifier(spiffe)]),
                critical=True,
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_encipherment=True,
                    key_cert_sign=False,
                    crl_sign=False,
                    content_commitment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._cert.public_key()),
                critical=False,
            )
            .sign(self._key, hashes.SHA256())
        )
        return WorkloadCert(
            spiffe, cert.public_bytes(serialization.Encoding.PEM).decode(), pem_key(key)
        )


def _load_chain(ctx: ssl.SSLContext, workload: WorkloadCert) -> None:
    # ssl only loads key material from a path: use an anonymous in-memory file, never the disk.
    fd = os.memfd_create("workload-cert", os.MFD_CLOEXEC)
    try:
        os.write(fd, (workload.cert_pem + workload.key_pem).encode())
        ctx.load_cert_chain(f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)


def server_context(workload: WorkloadCert, client_roots_pem: str | None) -> ssl.SSLContext:
    """Gateway listener context: mutual TLS against ``client_roots_pem`` (None: no client cert)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    _load_chain(ctx, workload)
    if client_roots_pem:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cadata=client_roots_pem)
    return ctx


def client_context(workload: WorkloadCert, server_roots_pem: str) -> ssl.SSLContext:
    """Egress context: present ``workload``, accept only servers chaining to ``server_roots_pem``.

    SPIFFE identities are checked on the SAN URI by the caller, not on a host name.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cadata=server_roots_pem)
    _load_chain(ctx, workload)
    return ctx
