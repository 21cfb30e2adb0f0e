"""The ssl module's exceptions for this package's failures.

Programs written for the ssl module catch ssl.SSLError and its subclasses,
read ``reason``, ``library``, ``verify_code`` and ``verify_message``, and
test ``args[0]`` against the ssl.SSL_ERROR_* numbers (SSLSocket's own
suppress_ragged_eofs does). Each failure is raised here as the exception
the ssl module raises for it, with the NSS error kept as its __cause__ and
in ``nss_name``.
"""

from __future__ import annotations

import datetime
import errno
import socket
import ssl
from collections.abc import Sequence
from typing import Optional

from . import _nss
from ._errors import (
    CertificateVerificationError,
    ConfigurationError,
    RaggedEOF,
    TLSConnectionError,
    TLSError,
    TLSTimeoutError,
    WantReadError,
    WantWriteError,
)

# NSS's errors as OpenSSL names them in ssl.SSLError.reason, where a
# caller may look for the OpenSSL name.
_REASONS = {
    "SSL_ERROR_NO_CYPHER_OVERLAP": "NO_SHARED_CIPHER",
    "SSL_ERROR_HANDSHAKE_FAILURE_ALERT": "SSLV3_ALERT_HANDSHAKE_FAILURE",
    "SSL_ERROR_UNSUPPORTED_VERSION": "UNSUPPORTED_PROTOCOL",
    "SSL_ERROR_PROTOCOL_VERSION_ALERT": "TLSV1_ALERT_PROTOCOL_VERSION",
    "SSL_ERROR_BAD_CERT_ALERT": "SSLV3_ALERT_BAD_CERTIFICATE",
    "SSL_ERROR_UNSUPPORTED_CERT_ALERT": "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE",
    "SSL_ERROR_UNKNOWN_CA_ALERT": "TLSV1_ALERT_UNKNOWN_CA",
    "SSL_ERROR_CERTIFICATE_UNKNOWN_ALERT": "SSLV3_ALERT_CERTIFICATE_UNKNOWN",
    "SSL_ERROR_EXPIRED_CERT_ALERT": "SSLV3_ALERT_CERTIFICATE_EXPIRED",
    "SSL_ERROR_REVOKED_CERT_ALERT": "SSLV3_ALERT_CERTIFICATE_REVOKED",
    "SSL_ERROR_DECRYPT_ERROR_ALERT": "TLSV1_ALERT_DECRYPT_ERROR",
    "SSL_ERROR_DECODE_ERROR_ALERT": "TLSV1_ALERT_DECODE_ERROR",
    "SSL_ERROR_ILLEGAL_PARAMETER_ALERT": "SSLV3_ALERT_ILLEGAL_PARAMETER",
    "SSL_ERROR_ACCESS_DENIED_ALERT": "TLSV1_ALERT_ACCESS_DENIED",
    "SSL_ERROR_INSUFFICIENT_SECURITY_ALERT": "TLSV1_ALERT_INSUFFICIENT_SECURITY",
    "SSL_ERROR_INTERNAL_ERROR_ALERT": "TLSV1_ALERT_INTERNAL_ERROR",
    "SSL_ERROR_INAPPROPRIATE_FALLBACK_ALERT": "TLSV1_ALERT_INAPPROPRIATE_FALLBACK",
    "SSL_ERROR_UNRECOGNIZED_NAME_ALERT": "TLSV1_UNRECOGNIZED_NAME",
    "SSL_ERROR_NO_APPLICATION_PROTOCOL": "NO_APPLICATION_PROTOCOL",
    "SSL_ERROR_NEXT_PROTOCOL_NO_PROTOCOL": "NO_APPLICATION_PROTOCOL",
    "SSL_ERROR_CERTIFICATE_REQUIRED_ALERT": "TLSV13_ALERT_CERTIFICATE_REQUIRED",
    "SSL_ERROR_NO_CERTIFICATE": "PEER_DID_NOT_RETURN_A_CERTIFICATE",
    "SSL_ERROR_BAD_MAC_READ": "DECRYPTION_FAILED_OR_BAD_RECORD_MAC",
    "SSL_ERROR_BAD_MAC_ALERT": "SSLV3_ALERT_BAD_RECORD_MAC",
    "SSL_ERROR_RX_RECORD_TOO_LONG": "RECORD_LENGTH_MISMATCH",
    "SSL_ERROR_CLOSE_NOTIFY_ALERT": "SSLV3_ALERT_CLOSE_NOTIFY",
}

# OpenSSL's X509_V_ERR numbers and texts for NSS's verification failures.
_UNKNOWN_ISSUER = (20, "unable to get local issuer certificate")
_SELF_SIGNED = (18, "self-signed certificate")
_SELF_SIGNED_IN_CHAIN = (19, "self-signed certificate in certificate chain")
_VERIFY_CODES = {
    "SEC_ERROR_UNKNOWN_ISSUER": _UNKNOWN_ISSUER,
    "SEC_ERROR_UNTRUSTED_ISSUER": _UNKNOWN_ISSUER,
    "SEC_ERROR_UNTRUSTED_CERT": (27, "certificate not trusted"),
    "SEC_ERROR_EXPIRED_CERTIFICATE": (10, "certificate has expired"),
    "SEC_ERROR_EXPIRED_ISSUER_CERTIFICATE": (10, "certificate has expired"),
    "SEC_ERROR_REVOKED_CERTIFICATE": (23, "certificate revoked"),
    "SEC_ERROR_CA_CERT_INVALID": (24, "invalid CA certificate"),
    "SEC_ERROR_INADEQUATE_KEY_USAGE": (26, "unsupported certificate purpose"),
    "SEC_ERROR_INADEQUATE_CERT_TYPE": (26, "unsupported certificate purpose"),
    "SEC_ERROR_BAD_SIGNATURE": (7, "certificate signature failure"),
    "SEC_ERROR_PATH_LEN_CONSTRAINT_INVALID": (25, "path length constraint exceeded"),
    "SEC_ERROR_CERT_NOT_IN_NAME_SPACE": (47, "permitted subtree violation"),
    "SEC_ERROR_INVALID_KEY": (66, "EE certificate key too weak"),
    "SSL_ERROR_WEAK_SERVER_CERT_KEY": (66, "EE certificate key too weak"),
    "SEC_ERROR_CERT_SIGNATURE_ALGORITHM_DISABLED": (68, "CA signature digest algorithm too weak"),
}


def ssl_error(reason: str, text: str) -> ssl.SSLError:
    """An ssl.SSLError of this package's own, with OpenSSL's ``reason``."""
    return _ssl_error(ssl.SSLError, ssl.SSL_ERROR_SSL, reason, text, None)


def _ssl_error(cls: type[ssl.SSLError], number: int, reason: str, text: str,
               nss_name: Optional[str]) -> ssl.SSLError:
    error = cls(number, f"[SSL: {reason}] {text}")
    error.reason = reason
    error.library = "SSL"
    error.nss_name = nss_name  # type: ignore[attr-defined]
    return error


def _verify_code(error: CertificateVerificationError, chain: Optional[Sequence[bytes]],
                 hostname: Optional[str]) -> tuple[int, str]:
    name = error.nss_name or ""
    if name == "SSL_ERROR_BAD_CERT_DOMAIN":
        if hostname and _is_ip_address(hostname):
            return 64, f"IP address mismatch, certificate is not valid for '{hostname}'."
        return 62, f"Hostname mismatch, certificate is not valid for '{hostname}'."
    # NSS names the certificate it refused: "depth N: subject (self-signed)".
    refused = error.certificate or ""
    if name in ("SEC_ERROR_UNKNOWN_ISSUER", "SEC_ERROR_UNTRUSTED_ISSUER") and \
            refused.endswith("(self-signed)"):
        return _SELF_SIGNED if refused.startswith("depth 0:") else _SELF_SIGNED_IN_CHAIN
    if name == "SEC_ERROR_EXPIRED_CERTIFICATE" and chain:
        not_before = _nss.describe_certificate(chain[0])["not_before"]
        if not_before > datetime.datetime.now(datetime.timezone.utc).timestamp():
            return 9, "certificate is not yet valid"
    return _VERIFY_CODES.get(name, (1, "unspecified certificate verification error"))


def _is_ip_address(text: str) -> bool:
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, text)
            return True
        except OSError:
            pass
    return False


def translate(error: TLSError, *, chain: Optional[Sequence[bytes]] = None,
              hostname: Optional[str] = None, operation: str = "read") -> BaseException:
    """The exception the ssl module raises for ``error``.

    ``chain`` (the peer's certificates as sent) and ``hostname`` (what the
    client checked) refine a refused certificate's verify_code; ``operation``
    ("read", "write", "handshake") words a timeout as _ssl does.
    """
    name = getattr(error, "nss_name", None)
    if isinstance(error, WantReadError):
        return _ssl_error(ssl.SSLWantReadError, ssl.SSL_ERROR_WANT_READ, "WANT_READ",
                          "The operation did not complete (read)", name)
    if isinstance(error, WantWriteError):
        return _ssl_error(ssl.SSLWantWriteError, ssl.SSL_ERROR_WANT_WRITE, "WANT_WRITE",
                          "The operation did not complete (write)", name)
    if isinstance(error, RaggedEOF):
        return _ssl_error(ssl.SSLEOFError, ssl.SSL_ERROR_EOF, "UNEXPECTED_EOF_WHILE_READING",
                          "EOF occurred in violation of protocol", name)
    if isinstance(error, TLSTimeoutError):
        return socket.timeout(f"The {operation} operation timed out")
    if isinstance(error, CertificateVerificationError):
        verify_code, message = _verify_code(error, chain, hostname)
        verification = _ssl_error(ssl.SSLCertVerificationError, ssl.SSL_ERROR_SSL,
                                  "CERTIFICATE_VERIFY_FAILED",
                                  f"certificate verify failed: {message} ({error})", name)
        assert isinstance(verification, ssl.SSLCertVerificationError)
        verification.verify_code = verify_code
        verification.verify_message = message
        return verification
    if isinstance(error, TLSConnectionError):
        if error.errno is not None:
            return OSError(error.errno, error.strerror or str(error))
        if name == "PR_CONNECT_RESET_ERROR":
            return ConnectionResetError(errno.ECONNRESET, f"Connection reset by peer ({error})")
        if name == "PR_CONNECT_ABORTED_ERROR":
            return ConnectionAbortedError(errno.ECONNABORTED, str(error))
        return _ssl_error(ssl.SSLEOFError, ssl.SSL_ERROR_EOF, "UNEXPECTED_EOF_WHILE_READING",
                          f"EOF occurred in violation of protocol ({error})", name)
    if isinstance(error, ConfigurationError):
        return _ssl_error(ssl.SSLError, ssl.SSL_ERROR_SSL, name or "NSS_CONFIGURATION",
                          str(error), name)
    if "does not speak TLS" in str(error):
        return _ssl_error(ssl.SSLError, ssl.SSL_ERROR_SSL, "WRONG_VERSION_NUMBER",
                          f"wrong version number ({error})", name)
    return _ssl_error(ssl.SSLError, ssl.SSL_ERROR_SSL, _REASONS.get(name or "", name or "NSS"),
                      str(error), name)
