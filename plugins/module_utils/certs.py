# Copyright (c) servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Check a mesh root certificate: PEM CERTIFICATE blocks only, never key material."""

from __future__ import annotations

import re

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
except ImportError:  # reported by the caller with missing_required_lib
    x509 = None

HAS_CRYPTOGRAPHY = x509 is not None

_PEM_BEGIN = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----")


class CertError(ValueError):
    """The text is not a usable root certificate. Messages never echo the text."""


def parse_root_cert(pem) -> dict:
    """Describe the PEM certificate(s) in ``pem``; refuse anything else.

    Returns ``sha256`` (hex SHA-256 fingerprint of the first certificate), ``subject``
    (RFC 4514), ``not_after`` (ISO 8601, UTC) of the first certificate, ``count`` and
    ``certificates`` (the same fields for every certificate in the bundle).
    """
    if not HAS_CRYPTOGRAPHY:
        raise CertError("the Python library 'cryptography' is required to check certificates")
    if isinstance(pem, bytes):
        try:
            pem = pem.decode("ascii")
        except UnicodeDecodeError:
            raise CertError("the root certificate is not PEM text") from None
    if not isinstance(pem, str) or not pem.strip():
        raise CertError("the root certificate is empty")
    kinds = sorted(set(_PEM_BEGIN.findall(pem)) - {"CERTIFICATE"})
    if kinds:
        raise CertError(
            "the root certificate data holds PEM block(s) of type "
            f"{', '.join(kinds)}; only CERTIFICATE blocks are allowed (key material is refused)")
    if "PRIVATE KEY" in pem:
        raise CertError("the root certificate data holds private key material; refused")
    if "-----BEGIN CERTIFICATE-----" not in pem:
        raise CertError("the root certificate holds no PEM CERTIFICATE block")
    try:
        certs = x509.load_pem_x509_certificates(pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise CertError(f"the root certificate could not be parsed: {exc}") from None
    described = [
        {
            "sha256": cert.fingerprint(hashes.SHA256()).hex(),
            "subject": cert.subject.rfc4514_string(),
            "not_after": cert.not_valid_after_utc.isoformat(),
        }
        for cert in certs
    ]
    return {**described[0], "count": len(described), "certificates": described}
