"""What a certificate says, for people and for the command line.

    info = tls_nss.certinfo.describe(sock.getpeercert())
    print(info.subject, info.not_after, info.key_description)

An NSS extension to PEP 748. Nothing here decides trust: that is the
context's trust store and NSS's verification.
"""

from __future__ import annotations

import datetime
import hashlib
from dataclasses import dataclass

from . import _nss
from ._startup import ensure_started


@dataclass(frozen=True)
class CertificateInfo:
    """A certificate's subject, issuer, validity, key and names.

    Attributes:
        subject, issuer: distinguished names as text (RFC 4514 order).
        serial_number: as a lower-case hexadecimal string.
        not_before, not_after: the validity period, timezone-aware UTC.
        key_type: "RSA", "RSA-PSS", "EC", "DSA" or "unknown".
        key_bits: the key's strength in bits (an RSA modulus, an EC field).
        curve: "P-256", "P-384" or "P-521" for EC keys, else None.
        signature_algorithm: how the issuer signed it, in NSS's words.
        dns_names, ip_addresses: the subjectAltName entries of those kinds.
        is_ca: whether it may issue certificates.
        sha256: the SHA-256 fingerprint of its DER, in hexadecimal.
    """

    subject: str
    issuer: str
    serial_number: str
    not_before: datetime.datetime
    not_after: datetime.datetime
    key_type: str
    key_bits: int
    curve: str | None
    signature_algorithm: str | None
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    is_ca: bool
    sha256: str

    @property
    def key_description(self) -> str:
        """"EC P-256", "RSA 2048 bits" and the like."""
        if self.curve:
            return f"{self.key_type} {self.curve}"
        return f"{self.key_type} {self.key_bits} bits"


def _utc(seconds: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)


def describe(der: bytes) -> CertificateInfo:
    """Describe the DER-encoded certificate ``der``.

    Raises ConfigurationError if it is not an X.509 certificate.
    """
    ensure_started()
    fields = _nss.describe_certificate(bytes(der))
    key = fields["key"]
    return CertificateInfo(
        subject=fields["subject"],
        issuer=fields["issuer"],
        serial_number=fields["serial_number"].hex(),
        not_before=_utc(fields["not_before"]),
        not_after=_utc(fields["not_after"]),
        key_type=key["type"],
        key_bits=key["bits"],
        curve=key["curve"],
        signature_algorithm=fields["signature_algorithm"],
        dns_names=tuple(fields["dns_names"]),
        ip_addresses=tuple(fields["ip_addresses"]),
        is_ca=fields["is_ca"],
        sha256=hashlib.sha256(der).hexdigest(),
    )


__all__ = ["CertificateInfo", "describe"]
