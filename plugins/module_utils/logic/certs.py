# Copyright (c) servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Check a mesh root certificate: PEM CERTIFICATE blocks only, never key material.

Also what the root-change gate compares (module_utils/logic/roots.py): the fingerprint of a root
bundle, and the checks that make a root unusable (not a CA, expired, expiring soon).
"""

from __future__ import annotations

import datetime
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
    ``certificates`` (the same fields for every certificate in the bundle, plus ``ca``: whether
    its basicConstraints say CA), and ``fingerprint`` (see ``bundle_fingerprint``).
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
            "ca": _is_ca(cert),
        }
        for cert in certs
    ]
    first = {k: described[0][k] for k in ("sha256", "subject", "not_after")}
    return {**first, "count": len(described), "certificates": described,
            "fingerprint": bundle_fingerprint(c["sha256"] for c in described)}


def _is_ca(cert) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def bundle_fingerprint(sha256s) -> str:
    """The fingerprint of a root bundle: each certificate's SHA-256 (lowercase hex), in order,
    joined by ','. One certificate: its SHA-256, as `openssl x509 -fingerprint -sha256` prints
    it without the colons. Whitespace or comments around the PEM blocks do not change it."""
    return ",".join(sha256s)


def root_fingerprint(pem) -> str:
    """The fingerprint (``bundle_fingerprint``) of a root PEM; CertError if it is not one."""
    return parse_root_cert(pem)["fingerprint"]


def root_cert_problems(described: dict, min_days: int, now: datetime.datetime) -> list[str]:
    """Why a root described by ``parse_root_cert`` must not be trusted by peers: a certificate
    that is not a CA (basicConstraints CA false or missing), expired, or expiring within
    ``min_days`` days of ``now`` (an aware datetime). Each sentence names the certificate."""
    problems = []
    several = described["count"] > 1
    for index, cert in enumerate(described["certificates"]):
        which = f"certificate {index + 1} ({cert['subject']})" if several else (
            f"the root certificate ({cert['subject']})")
        if not cert["ca"]:
            problems.append(f"{which} is not a CA certificate (basicConstraints CA is false or "
                            "missing): peers cannot use it as a root")
        expiry = datetime.datetime.fromisoformat(cert["not_after"])
        left = expiry - now
        if left.total_seconds() <= 0:
            problems.append(f"{which} expired on {cert['not_after']}")
        elif left < datetime.timedelta(days=min_days):
            problems.append(f"{which} expires on {cert['not_after']}, in {left.days} day(s), "
                            f"within federation_root_min_days ({min_days}): renew the mesh's "
                            "root first (or lower federation_root_min_days)")
    return problems
