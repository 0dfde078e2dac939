"""Root certificate checks: certificates only, key material refused (logic/certs.py)."""

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from ansible_collections.servicemesh.federation.plugins.module_utils.logic.certs import (
    CertError,
    parse_root_cert,
)

NOT_AFTER = datetime.datetime(2036, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)


def make_ca(common_name):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Lab"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOT_AFTER - datetime.timedelta(days=3650))
            .not_valid_after(NOT_AFTER)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return cert, key


@pytest.fixture(scope="module")
def red():
    return make_ca("red.local root")


@pytest.fixture(scope="module")
def green():
    return make_ca("green.local root")


def pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def test_describes_a_single_root(red):
    cert, _other = red
    info = parse_root_cert(pem(cert))
    assert info["sha256"] == cert.fingerprint(hashes.SHA256()).hex()
    assert info["subject"] == "CN=red.local root,O=Lab"
    assert info["not_after"] == "2036-01-02T03:04:05+00:00"
    assert info["count"] == 1


def test_counts_a_bundle_and_describes_the_first(red, green):
    bundle = pem(red[0]) + pem(green[0])
    info = parse_root_cert(bundle)
    assert info["count"] == 2
    assert info["subject"] == "CN=red.local root,O=Lab"
    assert [c["subject"] for c in info["certificates"]] == ["CN=red.local root,O=Lab",
                                                            "CN=green.local root,O=Lab"]


def test_accepts_bytes(red):
    assert parse_root_cert(pem(red[0]).encode())["count"] == 1


def _key_pems():
    ec_key = ec.generate_private_key(ec.SECP256R1())
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    enc = serialization.Encoding.PEM
    none = serialization.NoEncryption()
    return {
        "PRIVATE KEY": ec_key.private_bytes(enc, serialization.PrivateFormat.PKCS8, none),
        "EC PRIVATE KEY": ec_key.private_bytes(
            enc, serialization.PrivateFormat.TraditionalOpenSSL, none),
        "RSA PRIVATE KEY": rsa_key.private_bytes(
            enc, serialization.PrivateFormat.TraditionalOpenSSL, none),
        "ENCRYPTED PRIVATE KEY": ec_key.private_bytes(
            enc, serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase")),
        "PUBLIC KEY": ec_key.public_key().public_bytes(
            enc, serialization.PublicFormat.SubjectPublicKeyInfo),
    }


KEYS = _key_pems()


@pytest.mark.parametrize("kind", sorted(KEYS))
@pytest.mark.parametrize("position", ["alone", "after", "before"])
def test_refuses_any_non_certificate_block_without_echoing_it(red, kind, position):
    key_pem = KEYS[kind].decode()
    cert_pem = pem(red[0])
    text = {"alone": key_pem, "after": cert_pem + key_pem, "before": key_pem + cert_pem}[position]
    with pytest.raises(CertError) as info:
        parse_root_cert(text)
    message = str(info.value)
    assert kind in message and "only CERTIFICATE blocks" in message
    body = [line for line in key_pem.splitlines() if not line.startswith("-----")]
    assert not any(line in message for line in body)


def test_refuses_a_mangled_private_key_header():
    with pytest.raises(CertError, match="private key material"):
        parse_root_cert("-----BEGIN PRIVATE KEY\nMIGHAgEAMBMGByqGSM49\n-----END PRIVATE KEY\n")


@pytest.mark.parametrize("text, reason", [
    ("", "empty"),
    ("   \n", "empty"),
    (None, "empty"),
    ("hello world", "no PEM CERTIFICATE block"),
    (b"\xff\xfe", "not PEM text"),
    ("-----BEGIN CERTIFICATE-----\nnot base64 !!\n-----END CERTIFICATE-----\n",
     "could not be parsed"),
    ("-----BEGIN CERTIFICATE-----\nTUlJQg==\n-----END CERTIFICATE-----\n",
     "could not be parsed"),
])
def test_refuses_empty_and_garbage(text, reason):
    with pytest.raises(CertError, match=reason):
        parse_root_cert(text)
