"""The exceptions: PEP 748's four, and this implementation's subclasses.

Everything this package raises for a TLS or configuration failure is an
:class:`NSSError`, so it carries what we were doing and, where NSS or NSPR
reported the failure, NSS's error name and text.
"""

from __future__ import annotations

import errno


class TLSError(Exception):
    """
    The base exception for all TLS related errors from any implementation.

    Catching this error should be sufficient to catch *all* TLS errors,
    regardless of what implementation is used.
    """


class WantWriteError(TLSError):
    """
    A special signaling exception used only when non-blocking or buffer-only I/O is used.

    This error signals that the requested operation cannot complete until
    more data is written to the network, or until the output buffer is drained.
    """


class WantReadError(TLSError):
    """
    A special signaling exception used only when non-blocking or buffer-only I/O is used.

    This error signals that the requested operation cannot complete until
    more data is read from the network, or until more data is available in
    the input buffer.
    """


class RaggedEOF(TLSError):
    """A special signaling exception used when a TLS connection has been
    closed gracelessly: that is, when a TLS CloseNotify was not received
    from the peer before the underlying TCP socket reached EOF."""


class ConfigurationError(TLSError):
    """An special exception that implementations can use when the provided
    configuration uses features not supported by that implementation."""


class NSSError(TLSError):
    """A TLS failure in this implementation.

    Attributes:
        operation: what was being done, e.g. "TLS handshake with example.test".
        nss_code: the NSS/NSPR error code, or 0 if NSS reported none.
        nss_name: its name, e.g. "SEC_ERROR_UNKNOWN_ISSUER", or None.
        nss_text: NSS's description of it, or None.
    """

    operation: str = ""
    nss_code: int = 0
    nss_name: str | None = None
    nss_text: str | None = None


class NSSConfigurationError(NSSError, ConfigurationError, ValueError):
    """A configuration this implementation cannot use.

    Also a ValueError: PEP 748's open revision has invalid configurations
    raise the standard exceptions, ConfigurationError being for what an
    implementation does not support; both readings hold."""


class NSSWantReadError(NSSError, WantReadError):
    """The operation needs data from the peer first."""


class NSSWantWriteError(NSSError, WantWriteError):
    """The operation needs buffered data to leave first."""


class NSSRaggedEOF(NSSError, RaggedEOF):
    """The transport ended without the peer's close_notify."""


class CertificateVerificationError(NSSError):
    """The peer's certificate was refused.

    Attributes:
        reason: a short description, e.g. "unknown issuer" or "hostname mismatch".
        certificate: which certificate of the peer's chain the refusal
            concerns, as "depth N: subject" (depth 0: the peer's own), or
            None where NSS did not say.
    """

    reason: str = ""
    certificate: str | None = None


class TLSTimeoutError(NSSError, TimeoutError):
    """A socket operation timed out (also a :class:`TimeoutError`)."""


class TLSConnectionError(NSSError, ConnectionError):
    """The transport failed: refused, reset or aborted (also a :class:`ConnectionError`).

    Also raised, with ``errno`` EBADF as socket.socket does, by calls on a
    socket closed on our side, in this thread or by another during the call.
    """


# Why a certificate can be refused, by NSS error name.
VERIFICATION_REASONS = {
    "SEC_ERROR_UNKNOWN_ISSUER": "unknown issuer",
    "SEC_ERROR_UNTRUSTED_ISSUER": "untrusted issuer",
    "SEC_ERROR_UNTRUSTED_CERT": "untrusted certificate",
    "SEC_ERROR_EXPIRED_CERTIFICATE": "expired or not yet valid",
    "SEC_ERROR_EXPIRED_ISSUER_CERTIFICATE": "issuer expired or not yet valid",
    "SEC_ERROR_CA_CERT_INVALID": "issuer is not a CA",
    "SEC_ERROR_INADEQUATE_KEY_USAGE": "key usage does not allow this use",
    "SEC_ERROR_INADEQUATE_CERT_TYPE": "certificate not valid for this purpose",
    "SEC_ERROR_REVOKED_CERTIFICATE": "revoked",
    "SEC_ERROR_BAD_SIGNATURE": "bad signature",
    "SEC_ERROR_CERT_SIGNATURE_ALGORITHM_DISABLED": "signature algorithm disabled",
    "SEC_ERROR_UNKNOWN_CRITICAL_EXTENSION": "unknown critical extension",
    "SEC_ERROR_PATH_LEN_CONSTRAINT_INVALID": "path length constraint violated",
    "SEC_ERROR_CERT_NOT_IN_NAME_SPACE": "outside the issuer's name constraints",
    "SEC_ERROR_INVALID_TIME": "invalid validity dates",
    "SEC_ERROR_BAD_DER": "malformed certificate",
    "SEC_ERROR_INVALID_KEY": "invalid or too small key",
    "SSL_ERROR_BAD_CERT_DOMAIN": "hostname mismatch",
    "SSL_ERROR_WEAK_SERVER_CERT_KEY": "key smaller than the crypto policy allows",
    "SSL_ERROR_NO_CERTIFICATE": "no certificate presented",
}
# Codes that NSS also gives to failures that are no certificate's: a bad
# key share or a bad signature over the handshake. They mean a refused
# certificate only when the certificate check recorded them.
_NOT_ONLY_CERTIFICATES = {"SEC_ERROR_BAD_SIGNATURE", "SEC_ERROR_INVALID_KEY", "SEC_ERROR_BAD_DER"}

_TIMEOUTS = {"PR_IO_TIMEOUT_ERROR"}
_CONNECTION_FAILURES = {
    "PR_CONNECT_RESET_ERROR",
    "PR_CONNECT_REFUSED_ERROR",
    "PR_CONNECT_ABORTED_ERROR",
    "PR_NOT_CONNECTED_ERROR",
    "PR_NETWORK_UNREACHABLE_ERROR",
    "PR_HOST_UNREACHABLE_ERROR",
    "PR_END_OF_FILE_ERROR",
    "PR_SOCKET_SHUTDOWN_ERROR",
}
_KINDS = {
    "config": NSSConfigurationError,
    "want_read": NSSWantReadError,
    "want_write": NSSWantWriteError,
    "ragged_eof": NSSRaggedEOF,
}


def from_nss(
    kind: str,
    operation: str,
    code: int,
    name: str | None,
    text: str | None,
    certificate: str | None = None,
) -> NSSError:
    """Build the exception for a failure that the NSS layer reports.

    ``kind`` is what the caller knows ("error", "config", "want_read",
    "want_write", "ragged_eof", "closed", "certificate": the certificate
    check refused the peer); the NSS error name refines "error".
    """
    reason = None
    if kind in _KINDS:
        cls: type[NSSError] = _KINDS[kind]
    elif kind == "closed":
        return _closed(operation)
    elif kind == "certificate" or (
        kind == "error" and name in VERIFICATION_REASONS and name not in _NOT_ONLY_CERTIFICATES
    ):
        cls = CertificateVerificationError
        reason = VERIFICATION_REASONS.get(name or "", "refused")
    elif name in _TIMEOUTS:
        cls = TLSTimeoutError
    elif name in _CONNECTION_FAILURES:
        cls = TLSConnectionError
    else:
        cls = NSSError

    if reason is not None:
        message = f"{operation}: certificate verify failed: {reason} ({name}: {text})"
        if certificate:
            message += f"; the certificate at {certificate}"
    elif name:
        message = f"{operation}: {name}: {text}" if text else f"{operation}: {name}"
    else:
        message = operation
    return make(cls, message, operation=operation, code=code, name=name, text=text, reason=reason,
                certificate=certificate)


def _closed(operation: str) -> NSSError:
    """Like socket.socket's OSError(EBADF): the socket was closed on our side."""
    error = make(TLSConnectionError, operation, operation=operation)
    assert isinstance(error, TLSConnectionError)
    error.errno = errno.EBADF
    error.strerror = operation  # str(): "[Errno 9] <operation>"
    return error


def make(
    cls: type[NSSError],
    message: str,
    *,
    operation: str,
    code: int = 0,
    name: str | None = None,
    text: str | None = None,
    reason: str | None = None,
    certificate: str | None = None,
) -> NSSError:
    """Instantiate ``cls`` with its attributes set.

    Attributes are set after construction because some classes also derive
    from OSError, whose constructor takes no keywords.
    """
    error = cls(message)
    error.operation = operation
    error.nss_code = code
    error.nss_name = name
    error.nss_text = text
    if reason is not None:
        error.reason = reason  # type: ignore[attr-defined]
    if certificate is not None:
        error.certificate = certificate  # type: ignore[attr-defined]
    return error


def configuration_error(operation: str, problem: str) -> NSSConfigurationError:
    """A configuration error found before NSS was asked."""
    error = make(NSSConfigurationError, f"{operation}: {problem}", operation=operation)
    assert isinstance(error, NSSConfigurationError)
    return error
