"""asyncio over NSS TLS, built on TLSBuffer.

    reader, writer = await tls_nss.asyncio.open_connection(
        "example.test", 443, context=client_context)
    server = await tls_nss.asyncio.start_server(
        handle, "127.0.0.1", 8443, context=server_context)

open_connection() and start_server() mirror asyncio's, with a tls_nss
context in place of an ssl.SSLContext, and give the usual StreamReader and
StreamWriter. TLSProtocol is the protocol-level helper underneath: it sits
between a transport and any asyncio.Protocol, moving ciphertext between the
network and a TLSBuffer. The application's transport answers
get_extra_info() for "tls_buffer", "peercert" (DER), "cipher",
"negotiated_protocol" and "tls_version", and passes other names (such as
"peername") to the network transport.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Optional, cast

from ._errors import RaggedEOF, TLSError, WantReadError, WantWriteError

__all__ = ["TLSProtocol", "open_connection", "start_server"]

_READ_SIZE = 65536


class _TLSTransport(asyncio.Transport):
    """The transport the application sees: plaintext in and out."""

    def __init__(self, tls: TLSProtocol) -> None:
        super().__init__()
        self._tls = tls

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        buffer = self._tls.buffer
        values = {
            "tls_buffer": lambda: buffer,
            "peercert": buffer.getpeercert,
            "cipher": buffer.cipher,
            "negotiated_protocol": buffer.negotiated_protocol,
            "tls_version": lambda: buffer.negotiated_tls_version,
        }
        if name in values:
            return values[name]()
        transport = self._tls.network
        return transport.get_extra_info(name, default) if transport else default

    def write(self, data: Any) -> None:
        self._tls.write(data)

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self._tls.write(data)

    def can_write_eof(self) -> bool:
        return False

    def write_eof(self) -> None:
        raise NotImplementedError("TLS has no half-close; close() sends close_notify")

    def close(self) -> None:
        self._tls.close()

    def is_closing(self) -> bool:
        return self._tls.closing

    def abort(self) -> None:
        self._tls.abort()

    def get_write_buffer_size(self) -> int:
        network = self._tls.network
        pending: int = self._tls.buffer.outgoing_bytes_buffered()
        return pending + (network.get_write_buffer_size() if network else 0)

    def set_write_buffer_limits(self, high: Optional[int] = None, low: Optional[int] = None) -> None:
        if self._tls.network:
            self._tls.network.set_write_buffer_limits(high, low)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        network = self._tls.network
        return network.get_write_buffer_limits() if network else (0, 0)

    def pause_reading(self) -> None:
        if self._tls.network:
            self._tls.network.pause_reading()

    def resume_reading(self) -> None:
        if self._tls.network:
            self._tls.network.resume_reading()

    def is_reading(self) -> bool:
        network = self._tls.network
        return network.is_reading() if network else False

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        # A stream of plaintext goes to data_received: a Protocol.
        self._tls.app = cast(asyncio.Protocol, protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._tls.app


class TLSProtocol(asyncio.Protocol):
    """TLS between a network transport and an application protocol.

    The application protocol gets connection_made() once the handshake has
    finished and the peer is verified, then data_received() with plaintext.
    ``handshake_complete`` is a future that the handshake resolves, or
    fails with the TLSError that ended it.
    """

    def __init__(self, buffer: Any, app_protocol: asyncio.Protocol) -> None:
        self.buffer = buffer
        self.app = app_protocol
        self.network: Optional[asyncio.Transport] = None
        self.closing = False
        self.handshake_complete: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._app_transport = _TLSTransport(self)
        self._handshake_done = False
        self._eof_delivered = False

    # -- the network side --

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.network = transport  # type: ignore[assignment]
        self._handshake()

    def data_received(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                self.buffer.process_incoming(view)
                break
            except WantReadError:
                # The incoming queue is full: decrypting empties it.
                if not self._deliver():
                    return
        if not self._handshake_done:
            self._handshake()
        if self._handshake_done:
            self._deliver()

    def eof_received(self) -> bool:
        self.buffer.process_incoming(b"")
        if self._handshake_done:
            self._deliver()
        elif not self.handshake_complete.done():
            self._fail(ConnectionResetError("the peer closed the connection during the TLS handshake"))
        return False

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self.closing = True
        if not self.handshake_complete.done():
            self.handshake_complete.set_exception(
                exc or ConnectionResetError("the connection closed during the TLS handshake")
            )
        if self._handshake_done:
            self.app.connection_lost(exc)
        self.network = None

    def pause_writing(self) -> None:
        if self._handshake_done:
            self.app.pause_writing()

    def resume_writing(self) -> None:
        if self._handshake_done:
            self.app.resume_writing()

    # -- TLS --

    def _flush(self) -> None:
        pending = self.buffer.outgoing_bytes_buffered()
        if pending and self.network is not None and not self.network.is_closing():
            self.network.write(self.buffer.process_outgoing(pending))

    def _handshake(self) -> None:
        try:
            self.buffer.do_handshake()
        except WantReadError:
            self._flush()
            return
        except TLSError as e:
            self._flush()  # the alert
            self._fail(e)
            return
        self._handshake_done = True
        self._flush()
        self.app.connection_made(self._app_transport)
        if not self.handshake_complete.done():
            self.handshake_complete.set_result(None)

    def _deliver(self) -> bool:
        """Hand the application all plaintext there is; False once ended."""
        while True:
            try:
                data = self.buffer.read(_READ_SIZE)
            except WantReadError:
                break
            except RaggedEOF:
                # A truncation the application may care about; asyncio's own
                # TLS reports it as EOF too.
                self._deliver_eof()
                return False
            except TLSError as e:
                self._fail(e)
                return False
            if not data:
                self._deliver_eof()
                return False
            self.app.data_received(data)
        self._flush()
        return True

    def _deliver_eof(self) -> None:
        self._flush()
        if self._eof_delivered:
            return
        self._eof_delivered = True
        keep_open = self.app.eof_received() if hasattr(self.app, "eof_received") else False
        if not keep_open:
            self.close()

    def _fail(self, error: BaseException) -> None:
        if not self.handshake_complete.done():
            self.handshake_complete.set_exception(error)
        self.closing = True
        if self.network is not None:
            self.network.close()

    # -- the application side --

    def write(self, data: Any) -> None:
        if self.closing:
            raise RuntimeError("write() on a closing TLS transport")
        view = memoryview(data).cast("B")
        while view:
            try:
                sent = self.buffer.write(view)
            except WantWriteError:
                self._flush()  # the network transport buffers what it cannot send
                continue
            except TLSError as e:
                self._fail(e)
                raise
            view = view[sent:]
        self._flush()

    def close(self) -> None:
        if self.closing:
            return
        self.closing = True
        try:
            self.buffer.shutdown()
        except WantReadError:
            pass  # the peer's close_notify is not awaited
        except TLSError:
            pass
        self._flush()
        if self.network is not None:
            self.network.close()

    def abort(self) -> None:
        self.closing = True
        if self.network is not None:
            self.network.abort()


async def open_connection(
    host: str,
    port: int,
    *,
    context: Any,
    server_hostname: Optional[str] = None,
    limit: int = 2**16,
    **kwargs: Any,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect, run the TLS handshake, and return (reader, writer).

    ``context`` is a tls_nss client context. The server's certificate must
    name ``server_hostname`` (default: ``host``). Other keyword arguments go
    to loop.create_connection().
    """
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=limit, loop=loop)
    stream_protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
    tls = TLSProtocol(context.create_buffer(server_hostname or host), stream_protocol)
    transport, _ = await loop.create_connection(lambda: tls, host, port, **kwargs)
    try:
        await tls.handshake_complete
    except BaseException:
        transport.close()
        raise
    writer = asyncio.StreamWriter(tls._app_transport, stream_protocol, reader, loop)
    return reader, writer


async def start_server(
    client_connected_cb: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Any],
    host: Any = None,
    port: Optional[int] = None,
    *,
    context: Any,
    limit: int = 2**16,
    **kwargs: Any,
) -> asyncio.Server:
    """Serve TLS: ``client_connected_cb(reader, writer)`` runs for each
    client once its handshake has finished. ``context`` is a tls_nss
    server context; other keyword arguments go to loop.create_server()."""
    loop = asyncio.get_running_loop()

    def factory() -> TLSProtocol:
        reader = asyncio.StreamReader(limit=limit, loop=loop)
        stream_protocol = asyncio.StreamReaderProtocol(reader, client_connected_cb, loop=loop)
        return TLSProtocol(context.create_buffer(), stream_protocol)

    return await loop.create_server(factory, host, port, **kwargs)
