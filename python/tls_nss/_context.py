"""NSS client and server contexts.

A context reads its configuration once, here, into plain values, and hands
them to ``_nss.Context``, which builds the NSS model socket that every
connection of the context is imported from.
"""

from __future__ import annotations

import os
import socket
import time
import warnings
from collections.abc import Sequence
from typing import Any, Union

from . import _config, _nss, _pem, tokens
from ._api import (
    NextProtocol,
    TLSClientConfiguration,
    TLSImplementation,
    TLSServerConfiguration,
)
from ._errors import NSSError, TLSConnectionError, TLSTimeoutError, configuration_error, make
from .policy import effective_policy


def validate_config(config: TLSClientConfiguration | TLSServerConfiguration) -> None:
    """Raise ConfigurationError if this implementation cannot use ``config``.

    Checks the shape of its certificates, keys and trust store without
    loading files, and its versions, ciphers and protocols against this NSS
    and the system crypto policy.
    """
    _config.check_sources(config)
    _nss.check_settings(_config.settings_of(config), effective_policy().describe())


# A key log file name; None: SSLKEYLOGFILE's, if set.
KeylogFilename = Union[str, "os.PathLike[str]", None]


def _build_core(
    config: Any,
    *,
    server: bool,
    verify: bool,
    check_hostname: bool,
    handshake_timeout: float | None = None,
    session_cache_size: int = 0,
    session_tickets: bool = True,
    keylog_filename: KeylogFilename = None,
    ocsp_responses: Sequence[bytes | None] | None = None,
    crls: Any = None,
    client_certificate: str | None = None,
) -> _nss.Context:
    """The _nss.Context (an NSS model socket) for ``config``."""
    _config.check_sources(config)
    chains = _config.signing_chains(config)
    if server and not chains:
        raise configuration_error(
            "creating a server context", "it needs at least one signing chain"
        )
    # A server verifies clients only when it has a trust store to verify by.
    optional = False
    if server:
        verify = verify and _asks_for_client_certificates(config, client_certificate)
        optional = client_certificate == "optional"
    sources = [_config.chain_source(chain) for chain in chains[: None if server else 1]]
    if ocsp_responses is not None:
        sources = _with_ocsp_responses(sources, ocsp_responses)
    return make_core(
        _config.settings_of(config),
        server=server,
        sources=sources,
        trust=_config.trust_source(config.trust_store if verify else None),
        verify=verify,
        check_hostname=check_hostname and not server,
        handshake_timeout=handshake_timeout,
        session_cache_size=session_cache_size,
        session_tickets=session_tickets,
        keylog_filename=keylog_filename,
        crls=None if crls is None else _pem.crl_ders(crls),
        client_certificate_optional=optional,
    )


def make_core(
    settings: _config.Settings,
    *,
    server: bool,
    sources: Sequence[_pem.ChainSource],
    trust: _pem.TrustSource,
    verify: bool,
    check_hostname: bool,
    handshake_timeout: float | None = None,
    session_cache_size: int = 0,
    session_tickets: bool = True,
    keylog_filename: KeylogFilename = None,
    crls: tuple[bytes, ...] | None = None,
    client_certificate_optional: bool = False,
    pin_callback: tokens.PinCallback | None = None,
    extra_session_tickets: int = 0,
) -> _nss.Context:
    """The _nss.Context for settings and sources already read, under the
    policy in force: what every kind of context (PEP 748's, insecure, the
    ssl module's) comes down to. PINs come from ``pin_callback``, else from
    tokens.set_pin_callback()'s."""
    policy = effective_policy()
    keylog_fd = _open_keylog(keylog_filename, policy.fips_mode)
    try:
        return _nss.Context(
            settings,
            server=server,
            chains=list(sources),
            trust=trust,
            verify=verify,
            check_hostname=check_hostname,
            policy=policy.describe(),
            pin_callback=pin_callback or tokens.pin_callback(),
            handshake_timeout=handshake_timeout,
            session_cache_size=session_cache_size,
            session_tickets=session_tickets,
            keylog_fd=keylog_fd,
            crls=crls,
            client_certificate_optional=client_certificate_optional,
            extra_session_tickets=extra_session_tickets,
        )
    finally:
        if keylog_fd >= 0:
            os.close(keylog_fd)


_CLIENT_CERTIFICATE_MODES = ("required", "optional", "none")


def _asks_for_client_certificates(config: Any, mode: str | None) -> bool:
    """Whether a server asks clients for certificates: with a trust store,
    unless told "none"; "required" and "optional" need the trust store."""
    if mode is not None and mode not in _CLIENT_CERTIFICATE_MODES:
        raise ValueError(f"client_certificate must be one of {', '.join(_CLIENT_CERTIFICATE_MODES)}"
                         f", not {mode!r}")
    has_trust = config.trust_store is not None
    if mode == "none" and has_trust:
        raise configuration_error("creating a server context", "client_certificate='none' "
                                  "with a trust store: the trust store would go unused")
    if mode in ("required", "optional") and not has_trust:
        raise configuration_error("creating a server context", f"client_certificate={mode!r} "
                                  "needs a trust store to verify client certificates by")
    return has_trust


def _with_ocsp_responses(
    sources: list[_pem.ChainSource], responses: Sequence[bytes | None]
) -> list[_pem.ChainSource]:
    """Each signing chain with the OCSP response to staple for it."""
    if isinstance(responses, (bytes, str)) or not isinstance(responses, Sequence):
        raise TypeError("ocsp_responses must be a sequence of bytes or None, one per chain")
    if len(responses) != len(sources):
        raise configuration_error(
            "creating a server context",
            f"ocsp_responses has {len(responses)} items for {len(sources)} signing chains",
        )
    for response in responses:
        if response is not None and not isinstance(response, (bytes, bytearray, memoryview)):
            raise TypeError(f"an OCSP response must be DER bytes or None, not "
                            f"{type(response).__name__}")
    return [source._replace(ocsp_response=None if r is None else bytes(r))
            for source, r in zip(sources, responses)]


def _open_keylog(filename: KeylogFilename, fips_mode: bool) -> int:
    """The key log's descriptor, appending and created 0600, or -1 for none.

    None means SSLKEYLOGFILE's file, if that is set; "" means none. In FIPS
    mode NSS's token never gives out TLS secrets, so there can be no key
    log: asking for one by name is a ConfigurationError, and SSLKEYLOGFILE
    is ignored with a warning rather than left as an empty file.
    """
    from_environment = filename is None
    if filename is None:
        filename = os.environ.get("SSLKEYLOGFILE") or ""
    if not isinstance(filename, (str, os.PathLike)):
        raise TypeError(f"keylog_filename must be a path or None, not {type(filename).__name__}")
    if not os.fspath(filename):
        return -1
    if fips_mode:
        why = "NSS is in FIPS mode, where TLS secrets never leave its token"
        if not from_environment:
            raise configuration_error(f"writing a key log to {os.fspath(filename)!r}", why)
        warnings.warn(f"SSLKEYLOGFILE is ignored: {why}", RuntimeWarning, stacklevel=5)
        return -1
    try:
        return os.open(filename, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as e:
        raise configuration_error(f"opening the key log {os.fspath(filename)!r}",
                                  e.strerror or str(e)) from e


def _transport_error(operation: str, error: OSError) -> NSSError:
    cls = TLSTimeoutError if isinstance(error, socket.timeout) else TLSConnectionError
    return make(cls, f"{operation}: {error}", operation=operation)


def _check_stream_socket(sock: Any, operation: str, *, connected: bool) -> None:
    """TypeError or ValueError, leaving ``sock`` as it was, unless it is an
    open TCP socket that is connected (without ``connected``: or listening)."""
    if not isinstance(sock, socket.socket):
        raise TypeError(f"{operation}: sock must be a socket.socket, not {type(sock).__name__}")
    if sock.fileno() < 0:
        raise ValueError(f"{operation}: the socket is closed")
    if sock.type != socket.SOCK_STREAM or sock.family not in (socket.AF_INET, socket.AF_INET6):
        raise ValueError(f"{operation}: TLS needs a TCP socket, not {sock.family!r}/{sock.type!r}")
    listening = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) != 0
    if connected and listening:
        raise ValueError(f"{operation}: the socket is listening; a client needs a connected one")
    if not listening:
        try:
            sock.getpeername()
        except OSError as e:
            raise ValueError(f"{operation}: the socket is not connected ({e})") from None


def _idna(host: str) -> str:
    """The ASCII form of a host name, as SNI and certificates carry it."""
    try:
        host.encode("ascii")
        return host
    except UnicodeEncodeError:
        return host.encode("idna").decode("ascii")


class NSSClientContext:
    """A PEP 748 client context backed by NSS.

    Immutable: it reads its configuration once, when created.

    Connections resume sessions from a cache the context owns: at most
    ``session_cache_size`` of them, one per server name and port, the least
    recently stored dropped first, each used once. 0 turns resumption off.
    """

    __slots__ = ("_configuration", "_core")

    _verify = True
    _check_hostname = True

    def __init__(
        self,
        configuration: TLSClientConfiguration,
        *,
        session_cache_size: int = 100,
        keylog_filename: KeylogFilename = None,
        crls: Sequence[bytes | str | os.PathLike[str]] | None = None,
    ) -> None:
        self._configuration = configuration
        self._core = _build_core(
            configuration,
            server=False,
            verify=self._verify,
            check_hostname=self._check_hostname,
            session_cache_size=session_cache_size,
            keylog_filename=keylog_filename,
            crls=crls,
        )

    @property
    def configuration(self) -> TLSClientConfiguration:
        return self._configuration

    @property
    def cached_sessions(self) -> int:
        """How many resumable sessions the cache holds now."""
        return self._core.cached_sessions()

    def connect(self, address: tuple[str | None, int]) -> _nss.NSSTLSSocket:
        """Connect to ``address``, run the handshake and verify the server.

        The host name is sent as SNI and checked against the server's
        certificate (IP addresses against its IP SANs). The socket uses
        ``socket.getdefaulttimeout()``, like socket.socket.
        """
        host, port = address
        if host is None and self._check_hostname:
            raise configuration_error(
                f"connecting to port {port}", "a host name is needed to verify the server"
            )
        hostname = _idna(host) if host is not None else None
        timeout = socket.getdefaulttimeout()
        operation = f"connecting to {host}:{port}"
        started = time.monotonic()
        try:
            sock = socket.create_connection((hostname, port), timeout=timeout)
        except OSError as e:
            raise _transport_error(operation, e) from e
        # The timeout bounds connect() as a whole: the handshake gets what
        # the TCP connection left of it.
        budget = -1.0 if timeout is None else max(0.0, timeout - (time.monotonic() - started))
        return self._core.connect(
            fd=sock.detach(), hostname=hostname, owner=self, timeout=timeout,
            handshake_budget=budget,
        )

    def create_connection(
        self,
        address: tuple[str | None, int],
        timeout: Any = socket._GLOBAL_DEFAULT_TIMEOUT,  # type: ignore[attr-defined]
        source_address: tuple[str, int] | None = None,
        *,
        all_errors: bool = False,
        server_hostname: str | None = None,
    ) -> _nss.NSSTLSSocket:
        """PEP 748's open revision of connect(): socket.create_connection()'s
        arguments, the handshake within ``timeout`` as a whole, and the
        server verified for ``server_hostname`` (default: the address's
        host). connect(address) stays, the same with the defaults."""
        host, port = address
        name = server_hostname if server_hostname is not None else host
        if name is None and self._check_hostname:
            raise configuration_error(
                f"connecting to port {port}", "a host name is needed to verify the server")
        operation = f"connecting to {host}:{port}"
        started = time.monotonic()
        extra = {"all_errors": all_errors} if all_errors else {}
        try:
            sock = socket.create_connection((_idna(host) if host else host, port), timeout,
                                            source_address, **extra)
        except OSError as e:
            # With all_errors (Python 3.11), an ExceptionGroup of them all
            # goes to the caller as it is.
            raise _transport_error(operation, e) from e
        remaining = sock.gettimeout()
        if remaining is not None:
            sock.settimeout(max(0.0, remaining - (time.monotonic() - started)))
        tls_sock = self.wrap_socket(sock, name)
        tls_sock.settimeout(remaining)
        return tls_sock

    def wrap_socket(self, sock: socket.socket, server_hostname: str | None) -> _nss.NSSTLSSocket:
        """Run the TLS handshake over ``sock``, a connected TCP socket.

        As ``ssl.SSLContext.wrap_socket``: for STARTTLS, or a socket made
        elsewhere. ``server_hostname`` is sent as SNI and checked against the
        server's certificate, as with connect(). The returned socket owns the
        descriptor; ``sock`` is detached. Its timeout carries over and bounds
        the handshake. Bytes already read from ``sock`` are the caller's: read
        nothing past the point where TLS starts. An NSS extension to PEP 748.
        """
        _check_stream_socket(sock, "wrap_socket", connected=True)
        if server_hostname is None and self._check_hostname:
            raise ValueError("wrap_socket: server_hostname is needed to verify the server")
        if server_hostname is not None and not isinstance(server_hostname, str):
            raise TypeError(
                f"server_hostname must be str or None, not {type(server_hostname).__name__}"
            )
        hostname = _idna(server_hostname) if server_hostname is not None else None
        timeout = sock.gettimeout()
        return self._core.connect(
            fd=sock.detach(), hostname=hostname, owner=self, timeout=timeout,
            handshake_budget=-1.0 if timeout is None else timeout,
        )

    def create_buffer(self, server_hostname: str) -> _nss.NSSTLSBuffer:
        """A TLSBuffer for a connection to ``server_hostname``.

        The name is sent as SNI and checked against the server's certificate,
        as with connect().
        """
        if not isinstance(server_hostname, str):
            raise TypeError(f"server_hostname must be str, not {type(server_hostname).__name__}")
        return self._core.buffer(hostname=_idna(server_hostname), owner=self)

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


class NSSServerContext:
    """A PEP 748 server context backed by NSS.

    A configuration with a trust store requires a client certificate and
    verifies it against that store.

    ``handshake_timeout`` (seconds, or None for no bound) bounds the
    handshake of every connection accept() takes, even on a listener that
    blocks without a timeout, so that a client that connects and says
    nothing holds accept() for that long at most. 60 s, like asyncio's
    ssl_handshake_timeout.

    ``session_tickets`` (default True) lets clients resume sessions with
    tickets (TLS 1.2 and 1.3); without them, TLS 1.3 sessions cannot be
    resumed and TLS 1.2 ones only from the process's session ID cache.
    """

    __slots__ = ("_configuration", "_core", "_handshake_timeout")

    _verify = True

    def __init__(
        self,
        configuration: TLSServerConfiguration,
        *,
        handshake_timeout: float | None = 60.0,
        session_tickets: bool = True,
        keylog_filename: KeylogFilename = None,
        ocsp_responses: Sequence[bytes | None] | None = None,
        crls: Sequence[bytes | str | os.PathLike[str]] | None = None,
        client_certificate: str | None = None,
    ) -> None:
        self._configuration = configuration
        self._handshake_timeout = handshake_timeout
        self._core = _build_core(
            configuration,
            server=True,
            verify=self._verify,
            check_hostname=False,
            handshake_timeout=handshake_timeout,
            session_tickets=session_tickets,
            keylog_filename=keylog_filename,
            ocsp_responses=ocsp_responses,
            crls=crls,
            client_certificate=client_certificate,
        )

    @property
    def configuration(self) -> TLSServerConfiguration:
        return self._configuration

    def connect(self, address: tuple[str | None, int]) -> _nss.NSSTLSSocket:
        """A server socket bound to ``address`` and listening.

        A host of None or "" listens on every IPv4 address; port 0 picks a
        free port (see getsockname()).
        """
        host, port = address
        operation = f"listening on {host}:{port}"
        try:
            family = socket.AF_INET
            if host:
                family = socket.getaddrinfo(
                    host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
                )[0][0]
            sock = socket.create_server((host or "", port), family=family)
        except OSError as e:
            raise _transport_error(operation, e) from e
        return self._core.listen(
            fd=sock.detach(), owner=self, timeout=socket.getdefaulttimeout()
        )

    def create_server(
        self,
        address: tuple[str | None, int],
        *,
        family: socket.AddressFamily = socket.AF_INET,
        backlog: int | None = None,
        reuse_port: bool = False,
        dualstack_ipv6: bool = False,
    ) -> _nss.NSSTLSSocket:
        """PEP 748's open revision of connect() for servers: a listening
        TLSSocket made as socket.create_server() makes its socket, whose
        accept() hands out TLS connections. connect(address) and listen()
        stay."""
        host, port = address
        operation = f"listening on {host}:{port}"
        try:
            sock = socket.create_server((host or "", port), family=family, backlog=backlog,
                                        reuse_port=reuse_port, dualstack_ipv6=dualstack_ipv6)
        except OSError as e:
            raise _transport_error(operation, e) from e
        sock.settimeout(socket.getdefaulttimeout())
        return self.wrap_socket(sock)

    def wrap_socket(self, sock: socket.socket) -> _nss.NSSTLSSocket:
        """TLS over a socket the program already has, as the server.

        A listening socket (systemd's socket activation hands one over as
        ``socket.socket(fileno=3)``) becomes a listening TLS socket whose
        accept() hands out TLS connections. A connected one gets the server
        handshake, bounded by its timeout and ``handshake_timeout``. Either
        way the returned socket owns the descriptor and ``sock`` is
        detached; its timeout carries over. An NSS extension to PEP 748.
        """
        _check_stream_socket(sock, "wrap_socket", connected=False)
        timeout = sock.gettimeout()
        if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
            return self._core.listen(fd=sock.detach(), owner=self, timeout=timeout)
        return self._core.serve(fd=sock.detach(), owner=self, timeout=timeout)

    def create_buffer(self) -> _nss.NSSTLSBuffer:
        """A TLSBuffer for one client connection."""
        return self._core.buffer(hostname=None, owner=self)

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


def prepare_workers(max_sessions: int = 10000) -> None:
    """Let the worker processes of a pre-fork server share sessions.

    Call it in the parent, before anything starts NSS there, and then fork
    the workers: each makes its server contexts as usual, and a client that
    resumes may land in any worker. Session IDs (TLS 1.2) and tickets are
    shared, whatever the certificates' keys: the workers share an RSA key
    pair that wraps the ticket keys, made by the first of them. An NSS
    extension to PEP 748.
    """
    _nss.prepare_workers(max_sessions)


#: The NSS implementation of PEP 748.
NSS_IMPLEMENTATION: TLSImplementation[NSSClientContext, NSSServerContext] = TLSImplementation(
    client_context=NSSClientContext,
    server_context=NSSServerContext,
    validate_config=validate_config,
)

__all__ = [
    "prepare_workers",
    "NSSClientContext",
    "NSSServerContext",
    "NSS_IMPLEMENTATION",
    "validate_config",
    "NextProtocol",
]
