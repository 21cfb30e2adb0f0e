"""The TLS objects under ssl.SSLSocket and ssl.SSLObject, over NSS.

ssl.py's classes stay as they are: SSLSocket and SSLObject keep every
method programs call, and each delegates to the object their context's
``_wrap_socket`` or ``_wrap_bio`` made, what _ssl calls an _SSLSocket.
This module makes those objects from NSS's connections:

- under an SSLSocket, an NSS socket over a duplicate of the socket's
  descriptor: NSS reads and writes the TCP connection itself, as OpenSSL
  does under the ssl module, honouring the SSLSocket's timeout at each
  call (blocking, with a timeout, or non-blocking);
- under an SSLObject, an NSS buffer pair, fed from and drained to the two
  ssl.MemoryBIO objects asyncio and anyio hand it.

Both answer in the ssl module's terms: its exceptions, its cipher names,
its certificate dictionaries.
"""

from __future__ import annotations

import functools
import os
import ssl
import tempfile
from typing import Any, Optional

from . import _nss, _ssl_errors
from ._api import NextProtocol, TLSVersion
from ._errors import RaggedEOF, TLSError


@functools.lru_cache(maxsize=None)
def _openssl_ciphers() -> dict[int, dict[str, Any]]:
    """The ssl module's description of each suite OpenSSL knows, by IANA id:
    the names and the fields of its cipher() and get_ciphers()."""
    context = ssl._ssl._SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # type: ignore[attr-defined]
    context.set_ciphers("ALL:@SECLEVEL=0")
    return {c["id"] & 0xFFFF: c for c in context.get_ciphers()}


CipherTuple = tuple[str, Optional[str], Optional[int]]


def cipher_tuple(suite: Optional[int], version: Optional[TLSVersion]) -> Optional[CipherTuple]:
    """cipher() as the ssl module gives it: (name, protocol, secret bits)."""
    if suite is None:
        return None
    known = _openssl_ciphers().get(int(suite))
    if known is not None:
        return known["name"], known["protocol"], known["strength_bits"]
    from .policy import cipher_suite_name

    return cipher_suite_name(suite), version.value if version else None, None


def decode_certificate(der: bytes) -> dict[str, Any]:
    """A certificate as the ssl module's getpeercert() gives it, decoded by
    the ssl module itself, so that every field is exactly as it writes it."""
    pem = ssl.DER_cert_to_PEM_cert(der)
    with tempfile.NamedTemporaryFile("w", suffix=".pem", prefix="tls_nss-peer-") as f:
        f.write(pem)
        f.flush()
        decoded: dict[str, Any] = ssl._ssl._test_decode_cert(f.name)  # type: ignore[attr-defined]
        return decoded


def _alpn(value: Any) -> Optional[str]:
    if value is None:
        return None
    if isinstance(value, NextProtocol):
        value = value.value
    return value.decode("ascii", "replace") if isinstance(value, bytes) else str(value)


class _Engine:
    """What SSLSocket and SSLObject ask of their TLS object, answered from an
    NSS connection (``self._tls``)."""

    _tls: Any

    def __init__(self, context: Any, owner: Any, server_side: bool,
                 server_hostname: Optional[str]) -> None:
        self._context = context
        self.owner = owner
        self.server_side = server_side
        self.server_hostname = server_hostname
        self._ignore_eof = bool(context.options & getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0))

    # ---- errors ----

    def _raise(self, error: TLSError, operation: str) -> BaseException:
        chain = None
        if getattr(error, "reason", None) is not None:
            try:
                chain = self._tls.get_unverified_chain()
            except TLSError:
                chain = None
        return _ssl_errors.translate(error, chain=chain, hostname=self.server_hostname,
                                     operation=operation)

    # ---- what the connection negotiated ----

    @property
    def context(self) -> Any:
        return self._context

    @context.setter
    def context(self, value: Any) -> None:
        # SSLSocket.context's setter, and sni_callback, assign a context.
        if value is self._context:
            return
        raise NotImplementedError(
            "tls_nss: a connection's context cannot be replaced once the connection exists; "
            "give servers several certificate chains (load_cert_chain once per chain) and "
            "NSS picks by SNI")

    @property
    def session(self) -> None:
        return None

    @session.setter
    def session(self, value: Any) -> None:
        if value is not None:
            raise TypeError("tls_nss: sessions resume by themselves, per context and server; "
                            "an explicit session cannot be offered")

    @property
    def session_reused(self) -> bool:
        return bool(self._tls.session_reused)

    def version(self) -> Optional[str]:
        version = self._tls.negotiated_tls_version
        return version.value if version is not None else None

    def cipher(self) -> Optional[CipherTuple]:
        return cipher_tuple(self._tls.cipher(), self._tls.negotiated_tls_version)

    def shared_ciphers(self) -> Optional[list[CipherTuple]]:
        # NSS does not keep the client's offer; the one suite both sides
        # certainly share is the one negotiated.
        chosen = self.cipher()
        return [chosen] if chosen is not None else None

    def compression(self) -> None:
        return None

    def selected_alpn_protocol(self) -> Optional[str]:
        return _alpn(self._tls.negotiated_protocol())

    def selected_npn_protocol(self) -> None:
        return None

    def getpeercert(self, binary_form: bool = False) -> Any:
        der = self._tls.getpeercert()
        if der is None:
            if self._tls.negotiated_tls_version is None:
                raise ValueError("handshake not done yet")
            return None
        if binary_form:
            return der
        # As the ssl module: a certificate nobody verified is not described.
        if self._tls.get_verified_chain() is None:
            return {}
        return decode_certificate(der)

    def get_verified_chain(self) -> list[bytes]:
        return list(self._tls.get_verified_chain() or [])

    def get_unverified_chain(self) -> list[bytes]:
        return list(self._tls.get_unverified_chain() or [])

    def get_channel_binding(self, cb_type: str = "tls-unique") -> Optional[bytes]:
        if cb_type != "tls-unique":
            raise ValueError(f"{cb_type!r} channel binding type not implemented")
        raise ValueError("tls-unique channel binding is not available from NSS; "
                         "use export_keying_material (RFC 9266's tls-exporter) instead")

    def verify_client_post_handshake(self) -> None:
        raise NotImplementedError("tls_nss: post-handshake client authentication is not "
                                  "supported; ask for client certificates in the handshake")

    def pending(self) -> int:
        return int(self._tls.pending())


class SocketEngine(_Engine):
    """The TLS object under an ssl.SSLSocket: NSS over a duplicate of its
    descriptor, closed with it."""

    def __init__(self, context: Any, core: Any, owner: Any, server_side: bool,
                 server_hostname: Optional[str]) -> None:
        super().__init__(context, owner, server_side, server_hostname)
        self._timeout = owner.gettimeout()
        fd = os.dup(owner.fileno())
        try:
            if server_side:
                self._tls = core.serve(fd=fd, owner=context, timeout=self._timeout,
                                       handshake=False, shared_descriptor=True)
            else:
                self._tls = core.connect(fd=fd, hostname=server_hostname, owner=context,
                                         timeout=self._timeout, handshake=False,
                                         shared_descriptor=True)
        except TLSError as e:
            raise self._raise_new(e) from e

    def _raise_new(self, error: TLSError) -> BaseException:
        return _ssl_errors.translate(error, hostname=self.server_hostname)

    def _follow_timeout(self) -> None:
        timeout = self.owner.gettimeout()
        if timeout != self._timeout:
            self._tls.settimeout(timeout)
            self._timeout = timeout

    def do_handshake(self) -> None:
        self._follow_timeout()
        try:
            self._tls.do_handshake()
        except TLSError as e:
            raise self._raise(e, "handshake") from e

    def read(self, len: int = 1024, buffer: Any = None) -> Any:
        self._follow_timeout()
        try:
            if buffer is not None:
                return self._tls.recv_into(buffer, len)
            return self._tls.recv(len)
        except RaggedEOF as e:
            if self._ignore_eof:
                return 0 if buffer is not None else b""
            raise self._raise(e, "read") from e
        except TLSError as e:
            raise self._raise(e, "read") from e

    def write(self, data: Any) -> int:
        self._follow_timeout()
        try:
            sent: int = self._tls.send(data)
            return sent
        except TLSError as e:
            raise self._raise(e, "write") from e

    def shutdown(self) -> Any:
        """unwrap(): close_notify both ways; the plain socket, to go on
        with in the clear."""
        self._follow_timeout()
        try:
            self._tls.close()
        except TLSError as e:
            raise self._raise(e, "read") from e
        return self.owner


class BIOEngine(_Engine):
    """The TLS object under an ssl.SSLObject: an NSS buffer pair, between two
    ssl.MemoryBIO objects."""

    def __init__(self, context: Any, core: Any, incoming: ssl.MemoryBIO, outgoing: ssl.MemoryBIO,
                 owner: Any, server_side: bool, server_hostname: Optional[str]) -> None:
        super().__init__(context, owner, server_side, server_hostname)
        self._incoming = incoming
        self._outgoing = outgoing
        try:
            self._tls = core.buffer(hostname=None if server_side else server_hostname,
                                    owner=context)
        except TLSError as e:
            raise _ssl_errors.translate(e, hostname=server_hostname) from e

    def _take_in(self) -> None:
        incoming = self._incoming
        if incoming.pending:
            self._tls.process_incoming(incoming.read())
        elif incoming.eof:
            self._tls.process_incoming(b"")

    def _send_out(self) -> None:
        waiting = self._tls.outgoing_bytes_buffered()
        if waiting:
            self._outgoing.write(self._tls.process_outgoing(waiting))

    def do_handshake(self) -> None:
        self._take_in()
        try:
            self._tls.do_handshake()
        except TLSError as e:
            raise self._raise(e, "handshake") from e
        finally:
            self._send_out()

    def read(self, len: int = 1024, buffer: Any = None) -> Any:
        self._take_in()
        try:
            return self._tls.read(len, buffer) if buffer is not None else self._tls.read(len)
        except RaggedEOF as e:
            if self._ignore_eof:
                return 0 if buffer is not None else b""
            raise self._raise(e, "read") from e
        except TLSError as e:
            raise self._raise(e, "read") from e
        finally:
            self._send_out()

    def write(self, data: Any) -> int:
        self._take_in()
        try:
            written: int = self._tls.write(data)
            return written
        except TLSError as e:
            raise self._raise(e, "write") from e
        finally:
            self._send_out()

    def shutdown(self) -> None:
        self._take_in()
        try:
            self._tls.shutdown()
        except TLSError as e:
            raise self._raise(e, "read") from e
        finally:
            self._send_out()
