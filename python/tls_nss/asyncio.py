"""asyncio over NSS TLS, with PEP 748 contexts.

    reader, writer = await tls_nss.asyncio.open_connection(
        "example.test", 443, context=client_context)
    server = await tls_nss.asyncio.start_server(
        handle, "127.0.0.1", 8443, context=server_context)
    tls_transport = await tls_nss.asyncio.start_tls(
        transport, protocol, client_context, server_hostname="example.test")

open_connection(), start_server() and start_tls() mirror asyncio's (the
last, loop.start_tls()), with an NSSClientContext or NSSServerContext in
place of an ssl.SSLContext. They run asyncio's own TLS transport over the
engine that tls_nss.SSLContext puts under ssl.SSLObject: NSS is pumped from
and to asyncio's memory BIOs in C, and there is one TLS path for asyncio,
whichever API a program configures it with.

The transport answers get_extra_info() as asyncio's does ("ssl_object",
"peercert", "cipher", "sslcontext", and the socket's own names such as
"peername"); tls_buffer() gives the NSSTLSBuffer underneath, to read what
was negotiated in PEP 748's terms. A failed handshake raises this
package's exception (a TLSError), as the context's own connections do.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any, Callable, Optional

from ._context import NSSClientContext, NSSServerContext
from ._errors import TLSError
from ._ssl_context import SSLContext

__all__ = ["open_connection", "start_server", "start_tls", "tls_buffer"]


class _ContextOf(SSLContext):
    """The ssl.SSLContext asyncio is handed for a PEP 748 context: every
    connection is that context's, imported from its NSS model with all its
    configuration says. It takes no settings of its own."""

    def __new__(cls, context: Any) -> "_ContextOf":
        protocol = (ssl.PROTOCOL_TLS_SERVER if isinstance(context, NSSServerContext)
                    else ssl.PROTOCOL_TLS_CLIENT)
        made = super().__new__(cls, protocol)
        assert isinstance(made, _ContextOf)
        return made

    def __init__(self, context: Any) -> None:
        if not isinstance(context, (NSSClientContext, NSSServerContext)):
            raise TypeError(f"context must be an NSSClientContext or NSSServerContext, "
                            f"not {type(context).__name__}")
        super().__init__()
        self._nss_context = context
        self._nss_buffers = _BuffersOf(context)

    def _changed(self) -> None:
        raise ValueError("this ssl.SSLContext stands for a tls_nss PEP 748 context, whose "
                         "configuration says everything; configure that context instead")

    def _core(self, server_side: bool, server_hostname: Optional[str]) -> Any:
        is_server = isinstance(self._nss_context, NSSServerContext)
        if server_side != is_server:
            raise ValueError(f"a {type(self._nss_context).__name__} cannot make "
                             f"{'server' if server_side else 'client'} connections")
        if not server_side and not server_hostname:
            raise ValueError("a client connection needs server_hostname")
        return self._nss_buffers

    def _wrap_socket(self, *args: Any, **kwargs: Any) -> Any:
        raise ValueError("this ssl.SSLContext serves asyncio only; wrap sockets with the "
                         "tls_nss context's own wrap_socket()")

    def __repr__(self) -> str:
        return f"<ssl.SSLContext for {self._nss_context!r}>"


class _BuffersOf:
    """What the engine under ssl.SSLObject asks of an NSS context (its
    buffer()), answered by the PEP 748 context's own create_buffer(), so
    that each connection is exactly one of its own."""

    __slots__ = ("_context",)

    def __init__(self, context: Any) -> None:
        self._context = context

    def buffer(self, hostname: Optional[str], owner: Any) -> Any:
        if isinstance(self._context, NSSServerContext):
            return self._context.create_buffer()
        return self._context.create_buffer(hostname)


def _tls_error(error: BaseException) -> BaseException:
    """The package's exception behind the ssl module's one asyncio raised."""
    cause = error.__cause__
    return cause if isinstance(cause, TLSError) else error


def tls_buffer(stream: Any) -> Any:
    """The NSSTLSBuffer under a StreamWriter or a transport made here (or
    by asyncio with a tls_nss.SSLContext), to read what was negotiated:
    negotiated_tls_version, cipher(), negotiated_protocol(),
    getpeercert(). asyncio's transport does its reading and writing; doing
    either on it breaks the connection."""
    ssl_object = stream.get_extra_info("ssl_object")
    engine = getattr(ssl_object, "_sslobj", None)
    buffer = getattr(engine, "_tls", None)
    if buffer is None:
        raise ValueError(f"{stream!r} carries no TLS connection of tls_nss")
    return buffer


async def open_connection(
    host: Any = None,
    port: Any = None,
    *,
    context: NSSClientContext,
    server_hostname: Optional[str] = None,
    limit: int = 2**16,
    **kwargs: Any,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect, run the TLS handshake, and return (reader, writer).

    ``context`` is a tls_nss client context. The server's certificate must
    name ``server_hostname`` (default: ``host``). Other keyword arguments go
    to asyncio.open_connection() (ssl_handshake_timeout, sock, ...)."""
    if server_hostname is None:
        server_hostname = host
    try:
        return await asyncio.open_connection(host, port, ssl=_ContextOf(context),
                                             server_hostname=server_hostname, limit=limit,
                                             **kwargs)
    except ssl.SSLError as e:
        raise _tls_error(e) from None


async def start_server(
    client_connected_cb: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Any],
    host: Any = None,
    port: Optional[int] = None,
    *,
    context: NSSServerContext,
    limit: int = 2**16,
    **kwargs: Any,
) -> asyncio.Server:
    """Serve TLS: ``client_connected_cb(reader, writer)`` runs for each
    client once its handshake has finished. ``context`` is a tls_nss
    server context, whose handshake_timeout bounds each handshake unless
    ssl_handshake_timeout is given; other keyword arguments go to
    asyncio.start_server()."""
    timeout = context._handshake_timeout if isinstance(context, NSSServerContext) else None
    if timeout is not None:
        kwargs.setdefault("ssl_handshake_timeout", timeout)
    return await asyncio.start_server(client_connected_cb, host, port, ssl=_ContextOf(context),
                                      limit=limit, **kwargs)


async def start_tls(
    transport: asyncio.WriteTransport,
    protocol: asyncio.BaseProtocol,
    context: NSSClientContext | NSSServerContext,
    *,
    server_hostname: Optional[str] = None,
    ssl_handshake_timeout: Optional[float] = None,
) -> asyncio.BaseTransport:
    """loop.start_tls() with a tls_nss context: TLS on an established
    connection (STARTTLS), as a client or a server after the context (whose
    handshake_timeout then bounds the handshake, unless
    ssl_handshake_timeout is given). The new transport, once the handshake
    has finished."""
    loop = asyncio.get_running_loop()
    server_side = isinstance(context, NSSServerContext)
    if isinstance(context, NSSServerContext) and ssl_handshake_timeout is None:
        ssl_handshake_timeout = context._handshake_timeout
    try:
        new_transport: asyncio.BaseTransport = await loop.start_tls(
            transport, protocol, _ContextOf(context), server_side=server_side,
            server_hostname=server_hostname, ssl_handshake_timeout=ssl_handshake_timeout)
    except ssl.SSLError as e:
        raise _tls_error(e) from None
    return new_transport
