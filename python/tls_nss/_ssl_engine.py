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
import select
import socket
import ssl
import tempfile
import time
import weakref
from typing import Any, Callable, Optional

from . import _nss, _ssl_errors
from ._api import NextProtocol, TLSVersion
from ._errors import NSSWantReadError, RaggedEOF, TLSError, make


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
    the ssl module itself, so that every field is exactly as it writes it.
    A dictionary of the caller's own: its values are tuples, strings and
    numbers, which nobody can change."""
    return dict(_decoded(der))


@functools.lru_cache(maxsize=256)
def _decoded(der: bytes) -> dict[str, Any]:
    # The ssl module decodes only from a file (some 400 µs): a server's
    # certificate is decoded once, not for every connection to it.
    pem = ssl.DER_cert_to_PEM_cert(der)
    with tempfile.NamedTemporaryFile("w", suffix=".pem", prefix="tls_nss-peer-") as f:
        f.write(pem)
        f.flush()
        decoded: dict[str, Any] = ssl._ssl._test_decode_cert(f.name)  # type: ignore[attr-defined]
        return decoded


def _translate(tls: Any, error: TLSError, hostname: Optional[str],
               operation: str) -> BaseException:
    """The ssl module's exception for ``error`` on the NSS connection ``tls``."""
    chain = None
    if getattr(error, "reason", None) is not None and tls is not None:
        try:
            chain = tls.get_unverified_chain()
        except TLSError:
            chain = None
    return _ssl_errors.translate(error, chain=chain, hostname=hostname, operation=operation)


def _error_translator(hostname: Optional[str], ignore_eof: bool
                      ) -> Callable[[Any, BaseException, str], Optional[BaseException]]:
    """The on_error of the NSS connection under an SSLSocket or SSLObject,
    which its C methods (NSSTLSSocket.ssl_*, NSSTLSBuffer.bio_*) call with
    themselves, a failure and the operation ("read", "write", "handshake"):
    the ssl module's exception, or None for a ragged EOF that
    OP_IGNORE_UNEXPECTED_EOF makes an EOF. It holds neither the connection
    nor the engine, so that no cycle keeps either alive."""

    def translated(tls: Any, error: BaseException, operation: str) -> Optional[BaseException]:
        # OP_IGNORE_UNEXPECTED_EOF is about reading, as in OpenSSL.
        if isinstance(error, RaggedEOF) and ignore_eof and operation == "read":
            return None
        if not isinstance(error, TLSError):
            return error
        return _translate(tls, error, hostname, operation)

    return translated


def _alpn(value: Any) -> Optional[str]:
    if value is None:
        return None
    if isinstance(value, NextProtocol):
        value = value.value
    return value.decode("ascii", "replace") if isinstance(value, bytes) else str(value)


#: The most of a ClientHello read for sni_callback; a longer one goes to
#: NSS, and the callback sees no name.
_HELLO_LIMIT = 16384 + 5


def _want_read() -> TLSError:
    return make(NSSWantReadError, "reading the ClientHello", operation="reading the ClientHello")


#: SSLContext.options as OpenSSL's context keeps it: a plain int, read for
#: every connection.
_RAW_OPTIONS = ssl._ssl._SSLContext.options.__get__  # type: ignore[attr-defined]
_OP_IGNORE_UNEXPECTED_EOF = int(getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0))


def _no_owner() -> None:
    return None


class _Engine:
    """What SSLSocket and SSLObject ask of their TLS object, answered from an
    NSS connection (``self._tls``).

    A server whose context has an sni_callback reads the ClientHello before
    NSS starts (``self._tls`` is None until then): the callback runs in
    Python, may give the connection another context, and NSS then starts
    from that context's model, with the ClientHello it was not shown."""

    _tls: Any
    _owner: Callable[[], Any]

    def __init__(self, context: Any, owner: Any, server_side: bool,
                 server_hostname: Optional[str]) -> None:
        self._context = context
        self.owner = owner
        self.server_side = server_side
        self.server_hostname = server_hostname
        self._ignore_eof = bool(_RAW_OPTIONS(context) & _OP_IGNORE_UNEXPECTED_EOF)
        self._hello = b""  # the ClientHello so far, for sni_callback

    # The SSLSocket or SSLObject holds this engine; held back by a weak
    # reference, as _ssl holds its owner, so that dropping the socket or
    # the object frees it (and closes its descriptor) at once.

    @property
    def owner(self) -> Any:
        return self._owner()

    @owner.setter
    def owner(self, value: Any) -> None:
        if value is None:
            self._owner = _no_owner
        else:
            self._owner = weakref.ref(value)

    def _sni_callback(self) -> Optional[Callable[..., Any]]:
        callback: Optional[Callable[..., Any]] = getattr(self._context, "_nss_sni_callback",
                                                         None)
        return callback if self.server_side else None

    def _hello_read(self, more: bytes, eof: bool) -> "str | None | bool":
        """Adds bytes of the ClientHello; its server name once it is whole
        (None: none), False while it is not. At EOF, or past the limit,
        NSS is left to judge what came."""
        self._hello += more
        name = _nss.client_hello_server_name(self._hello)
        if name is False and (eof or len(self._hello) >= _HELLO_LIMIT):
            return None
        return name

    def _run_sni_callback(self, name: Optional[str]) -> None:
        callback = self._sni_callback()
        assert callback is not None
        try:
            alert = callback(self.owner, name, self._context)
        except BaseException as e:
            error = _ssl_errors.ssl_error(
                "CALLBACK_FAILED", f"the sni_callback raised {type(e).__name__}: {e}")
            raise error from e
        if alert is not None:
            raise _ssl_errors.ssl_error(
                "TLSV1_ALERT_UNRECOGNIZED_NAME" if alert == ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME
                else "SNI_CALLBACK_ALERT",
                f"the sni_callback refused server name {name!r} (alert {alert})")

    def _start(self, prefix: bytes) -> None:
        raise NotImplementedError

    # Once NSS has started, each engine binds read(), write() and
    # do_handshake() (a socket's sendall() too) to C methods of its NSS
    # connection, as instance attributes in front of these; until then (a
    # server with sni_callback reading the ClientHello), these start it,
    # then call them.

    def _begin(self) -> None:
        raise NotImplementedError

    def read(self, len: int = 1024, buffer: Any = None) -> Any:
        self._begin()
        return self.read(len, buffer)

    def write(self, data: Any) -> int:
        self._begin()
        written: int = self.write(data)
        return written

    # ---- errors ----

    def _raise(self, error: TLSError, operation: str) -> BaseException:
        return _translate(self._tls, error, self.server_hostname, operation)

    # ---- what the connection negotiated ----

    @property
    def context(self) -> Any:
        return self._context

    @context.setter
    def context(self, value: Any) -> None:
        # SSLSocket's and SSLObject's context setters, from sni_callback.
        if value is self._context:
            return
        # tls_nss.SSLContext, known by what only it has (_ssl_context imports
        # this module, not the other way round).
        if not (isinstance(value, ssl.SSLContext) and hasattr(value, "_nss_cores")):
            raise TypeError(f"The context of a tls_nss connection must be a tls_nss.SSLContext, "
                            f"not {type(value).__name__}")
        if getattr(self, "_tls", None) is not None:
            raise ValueError("tls_nss: a connection's context can be replaced only from its "
                             "sni_callback, before NSS starts the handshake")
        self._context = value

    @property
    def session(self) -> Optional["NSSSession"]:
        if self.server_side or self._tls is None or self._tls.negotiated_tls_version is None:
            return None
        return NSSSession(self._context, self.server_hostname)

    @session.setter
    def session(self, value: Any) -> None:
        if value is None:
            return
        if not isinstance(value, NSSSession):
            raise TypeError(f"Value is not an NSSSession, but {type(value).__name__}")
        if value.context is not self._context:
            raise ValueError("Session refers to a different SSLContext.")
        # Offered by itself: the context's cache keeps it for this server.

    @property
    def session_reused(self) -> bool:
        return self._tls is not None and bool(self._tls.session_reused)

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


class NSSSession:
    """SSLSocket.session on NSS: what a client context keeps to resume with
    a server. A context's connections resume by themselves, so offering it
    (session=) to another connection of the same context is what happens
    anyway; offering it to another context is refused, as the ssl module
    refuses."""

    __slots__ = ("context", "server_hostname")

    def __init__(self, context: Any, server_hostname: Optional[str]) -> None:
        self.context = context
        self.server_hostname = server_hostname

    @property
    def has_ticket(self) -> bool:
        return any(core.cached_sessions() > 0 for _, core in self.context._nss_cores.values())

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, NSSSession) and other.context is self.context
                and other.server_hostname == self.server_hostname)

    def __hash__(self) -> int:
        return hash((id(self.context), self.server_hostname))

    def __repr__(self) -> str:
        return f"<NSSSession for {self.server_hostname!r}>"


class SocketEngine(_Engine):
    """The TLS object under an ssl.SSLSocket: NSS over a duplicate of its
    descriptor, closed with it."""

    def __init__(self, context: Any, core: Any, owner: Any, server_side: bool,
                 server_hostname: Optional[str]) -> None:
        super().__init__(context, owner, server_side, server_hostname)
        self._timeout = owner.gettimeout()
        self._tls = None
        if self._sni_callback() is None:
            self._start_from(core, b"")

    def _start(self, prefix: bytes) -> None:
        self._start_from(self._context._core(self.server_side, self.server_hostname), prefix)

    def _start_from(self, core: Any, prefix: bytes) -> None:
        # NSS works over a duplicate of the socket's descriptor, made in C.
        on_error = _error_translator(self.server_hostname, self._ignore_eof)
        try:
            if self.server_side:
                tls = core.serve(fd=self.owner.fileno(), owner=self._context,
                                 timeout=self._timeout, handshake=False, shared_descriptor=True,
                                 prefix=prefix)
            else:
                tls = core.connect(fd=self.owner.fileno(), hostname=self.server_hostname,
                                   owner=self._context, timeout=self._timeout, handshake=False,
                                   shared_descriptor=True)
        except TLSError as e:
            raise self._raise_new(e) from e
        tls.bind_ssl(self._owner, on_error)
        self._tls = tls
        # Instance attributes, in front of the methods below: SSLSocket's
        # recv(), send(), sendall() and do_handshake() call them, the first
        # three for every record. They follow the SSLSocket's timeout.
        setattr(self, "read", tls.ssl_read)
        setattr(self, "write", tls.ssl_write)
        setattr(self, "sendall", tls.ssl_sendall)
        setattr(self, "do_handshake", tls.ssl_do_handshake)

    def _read_hello(self) -> None:
        """Reads the ClientHello off the socket, within its timeout as a
        whole, runs sni_callback, and starts NSS with what was read."""
        sock = self.owner
        timeout = sock.gettimeout()
        deadline = None if timeout is None else time.monotonic() + timeout
        name: "str | None | bool" = False
        while name is False:
            if timeout != 0:
                remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
                if not select.select([sock], [], [], remaining)[0]:
                    raise socket.timeout("The handshake operation timed out")
            try:
                more = socket.socket.recv(sock, _HELLO_LIMIT - len(self._hello))
            except BlockingIOError:
                raise _ssl_errors.translate(_want_read()) from None
            name = self._hello_read(more, eof=not more)
        self._run_sni_callback(name if isinstance(name, str) else None)
        self._start(self._hello)
        self._hello = b""

    def _raise_new(self, error: TLSError) -> BaseException:
        return _ssl_errors.translate(error, hostname=self.server_hostname)

    def do_handshake(self) -> None:
        self._begin()
        self.do_handshake()

    def _begin(self) -> None:
        self._read_hello()

    def sendall(self, data: Any) -> None:
        """All of ``data`` by one deadline (tls_nss.SSLSocket.sendall)."""
        self._begin()
        self.sendall(data)

    def shutdown(self) -> Any:
        """unwrap(): close_notify both ways; the plain socket, to go on
        with in the clear."""
        if self._tls is None:
            return self.owner
        self._tls.settimeout(self.owner.gettimeout())
        try:
            self._tls.close()
        except TLSError as e:
            raise self._raise(e, "read") from e
        return self.owner


class BIOEngine(_Engine):
    """The TLS object under an ssl.SSLObject: an NSS buffer pair, between two
    ssl.MemoryBIO objects.

    Once NSS has started, read(), write() and do_handshake() are the
    buffer's own C methods, over the two BIOs (NSSTLSBuffer.bio_*):
    asyncio calls them for every record, and they raise the ssl module's
    want errors themselves; only a real failure comes back to Python, to
    _error_translator()."""

    def __init__(self, context: Any, core: Any, incoming: ssl.MemoryBIO, outgoing: ssl.MemoryBIO,
                 owner: Any, server_side: bool, server_hostname: Optional[str]) -> None:
        super().__init__(context, owner, server_side, server_hostname)
        self._incoming = incoming
        self._outgoing = outgoing
        self._tls = None
        if self._sni_callback() is None:
            self._start_from(core)

    def _start_from(self, core: Any) -> None:
        try:
            tls = core.buffer(hostname=None if self.server_side else self.server_hostname,
                              owner=self._context)
        except TLSError as e:
            raise _ssl_errors.translate(e, hostname=self.server_hostname) from e
        tls.bind_ssl(self._incoming, self._outgoing,
                     _error_translator(self.server_hostname, self._ignore_eof))
        self._tls = tls
        # Instance attributes, in front of the methods below.
        setattr(self, "read", tls.bio_read)
        setattr(self, "write", tls.bio_write)
        setattr(self, "do_handshake", tls.bio_do_handshake)
        # ssl.SSLObject's read() and write() only pass their arguments on,
        # for every record: the object's own attributes, in front of them,
        # are these, which take the same. Not where a subclass has its own.
        owner = self.owner
        if (owner is not None and type(owner).read is ssl.SSLObject.read
                and type(owner).write is ssl.SSLObject.write):
            owner.read, owner.write = self.read, self.write

    def _read_hello(self) -> None:
        """Takes the ClientHello from the incoming BIO, runs sni_callback,
        and starts NSS with it; SSLWantReadError until it is all there."""
        incoming = self._incoming
        name = self._hello_read(incoming.read(), eof=incoming.eof)
        if name is False:
            raise _ssl_errors.translate(_want_read())
        self._run_sni_callback(name if isinstance(name, str) else None)
        self._start_from(self._context._core(self.server_side, self.server_hostname))
        tls: Any = self._tls
        tls.process_incoming(self._hello)
        self._hello = b""

    # Until NSS starts (a server with sni_callback reading the ClientHello).

    def do_handshake(self) -> None:
        self._read_hello()
        self.do_handshake()

    def _begin(self) -> None:
        self._read_hello()

    def shutdown(self) -> None:
        if self._tls is None:
            self._read_hello()
        tls: Any = self._tls
        incoming = self._incoming
        if incoming.pending:
            tls.process_incoming(incoming.read())
        elif incoming.eof:
            tls.process_incoming(b"")
        try:
            tls.shutdown()
        except TLSError as e:
            raise self._raise(e, "read") from e
        finally:
            waiting = tls.outgoing_bytes_buffered()
            if waiting:
                self._outgoing.write(tls.process_outgoing(waiting))
