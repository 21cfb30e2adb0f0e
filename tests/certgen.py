"""Throwaway certificate authorities, for the demo and the tests.

Needs python3-cryptography, which the package itself does not.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_PKCS8 = serialization.PrivateFormat.PKCS8
_FORMATS = {
    "pkcs8": serialization.PrivateFormat.PKCS8,
    "traditional": serialization.PrivateFormat.TraditionalOpenSSL,
}


def new_key(kind: str = "ec256"):
    """A private key: "rsa2048", "rsa1024", "rsa3072", "ec256" or "ec384"."""
    if kind.startswith("rsa"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(kind[3:]))
    curve = {"ec256": ec.SECP256R1(), "ec384": ec.SECP384R1()}[kind]
    return ec.generate_private_key(curve)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


@dataclass
class Issued:
    """A certificate and its key, with PEM and DER forms at hand."""

    certificate: x509.Certificate
    key: object
    chain: list[x509.Certificate] = field(default_factory=list)

    @property
    def cert_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def cert_der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)

    def key_pem(self, form: str = "pkcs8", password: bytes | None = None) -> bytes:
        encryption = (
            serialization.BestAvailableEncryption(password)
            if password
            else serialization.NoEncryption()
        )
        return self.key.private_bytes(serialization.Encoding.PEM, _FORMATS[form], encryption)

    def key_der(self, form: str = "pkcs8") -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.DER, _FORMATS[form], serialization.NoEncryption()
        )

    @property
    def chain_pem(self) -> bytes:
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in self.chain)


class Authority:
    """A CA that issues server and client certificates."""

    def __init__(self, name: str = "tls_nss test CA", key_kind: str = "ec256",
                 parent: Authority | None = None) -> None:
        self.key = new_key(key_kind)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        issuer_name = parent.certificate.subject if parent else subject
        signing_key = parent.key if parent else self.key
        now = _now()
        self.parent = parent
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer_name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, content_commitment=False, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=True,
                    crl_sign=True, encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
            .sign(signing_key, hashes.SHA256())
        )

    @property
    def cert_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def intermediate(self, name: str = "tls_nss test intermediate") -> Authority:
        return Authority(name, parent=self)

    def issue(self, *names: str, key_kind: str = "ec256", client: bool = False,
              expired: bool = False, public_key: object = None) -> Issued:
        """A leaf for DNS names and IP addresses ``names``.

        With ``public_key`` (say, of a key kept in a token) the leaf is
        issued for it and the result holds no private key.
        """
        key = new_key(key_kind) if public_key is None else None
        subject_key = public_key if public_key is not None else key.public_key()
        sans: list[x509.GeneralName] = []
        for name in names:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                sans.append(x509.DNSName(name))
        now = _now()
        if expired:
            valid = (now - datetime.timedelta(days=30), now - datetime.timedelta(days=1))
        else:
            valid = (now - datetime.timedelta(days=1), now + datetime.timedelta(days=365))
        common_name = names[0] if names else "tls_nss test client"
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self.certificate.subject)
            .public_key(subject_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(valid[0])
            .not_valid_after(valid[1])
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH]
                ),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        certificate = builder.sign(self.key, hashes.SHA256())
        chain = []
        authority: Authority | None = self
        while authority is not None and authority.parent is not None:
            chain.append(authority.certificate)
            authority = authority.parent
        return Issued(certificate, key, chain)


def ocsp_response(issuer: Authority, issued: Issued, status: str = "good", *,
                  expired: bool = False, signer: Authority | None = None) -> bytes:
    """A DER OCSP response from ``issuer`` (or ``signer``'s key, to make a
    badly signed one) about ``issued``: "good" or "revoked"; ``expired``
    makes one whose nextUpdate has passed."""
    from cryptography.x509 import ocsp

    now = _now()
    this_update, next_update = (
        (now - datetime.timedelta(days=10), now - datetime.timedelta(days=3)) if expired
        else (now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=3)))
    revoked = status == "revoked"
    # A forgery names its signer as the responder, and is signed by it.
    builder = ocsp.OCSPResponseBuilder().add_response(
        cert=issued.certificate, issuer=issuer.certificate, algorithm=hashes.SHA1(),
        cert_status=ocsp.OCSPCertStatus.REVOKED if revoked else ocsp.OCSPCertStatus.GOOD,
        this_update=this_update, next_update=next_update,
        revocation_time=now - datetime.timedelta(days=1) if revoked else None,
        revocation_reason=x509.ReasonFlags.key_compromise if revoked else None,
    ).responder_id(ocsp.OCSPResponderEncoding.HASH, (signer or issuer).certificate)
    response = builder.sign((signer or issuer).key, hashes.SHA256())
    return response.public_bytes(serialization.Encoding.DER)


def crl(issuer: Authority, *revoked: Issued, signer: Authority | None = None,
        pem: bool = False) -> bytes:
    """A CRL from ``issuer`` listing ``revoked``; with ``signer``, signed by
    another key under the issuer's name (a forgery)."""
    now = _now()
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.certificate.subject)
        .last_update(now - datetime.timedelta(minutes=5))
        .next_update(now + datetime.timedelta(days=7))
    )
    for issued in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(issued.certificate.serial_number)
            .revocation_date(now - datetime.timedelta(hours=1))
            .build()
        )
    signed = builder.sign((signer or issuer).key, hashes.SHA256())
    return signed.public_bytes(serialization.Encoding.PEM if pem else serialization.Encoding.DER)
