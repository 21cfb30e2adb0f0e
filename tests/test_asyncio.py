"""tls_nss.asyncio: echo over loopback, against itself and against the
standard library's asyncio TLS (OpenSSL); STARTTLS; handshake bounds."""

from __future__ import annotations

import asyncio
import os
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

import tls_nss as tls
import tls_nss.asyncio as tls_asyncio

EXAMPLE = Path(__file__).parent.parent / "docs" / "asyncio_echo.py"
TIMEOUT = 20


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, TIMEOUT))


async def upper_echo(reader, writer):
    while True:
        data = await reader.read(65536)
        if not data:
            break
        writer.write(data.upper())
        await writer.drain()
    writer.close()
    await writer.wait_closed()


def _stdlib_server_context(pki):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki.path("rsa.pem"), pki.path("rsa.key"))
    return ctx


def _stdlib_client_context(pki):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(pki.path("ca.pem"))
    return ctx


async def _close(writer, server) -> None:
    writer.close()
    await writer.wait_closed()
    server.close()
    await server.wait_closed()


async def _exchange(reader, writer, payload: bytes) -> bytes:
    writer.write(payload)
    await writer.drain()
    received = b""
    while len(received) < len(payload):
        chunk = await reader.read(65536)
        assert chunk, "the connection ended early"
        received += chunk
    return received


def test_echo_ours_both_ends(server_context, client_context):
    async def main():
        server = await tls_asyncio.start_server(
            upper_echo, "127.0.0.1", 0,
            context=server_context(inner_protocols=[tls.NextProtocol.H2]))
        port = server.sockets[0].getsockname()[1]
        reader, writer = await tls_asyncio.open_connection(
            "localhost", port, context=client_context(inner_protocols=[tls.NextProtocol.H2]))
        # asyncio's own transport, and what it says of the connection.
        ssl_object = writer.get_extra_info("ssl_object")
        assert isinstance(ssl_object, ssl.SSLObject)
        assert ssl_object.selected_alpn_protocol() == "h2"
        assert writer.get_extra_info("cipher")[1] == "TLSv1.3"
        assert dict(writer.get_extra_info("peercert")["subjectAltName"])["DNS"] == "localhost"
        assert writer.get_extra_info("peername")[1] == port
        # The same, in PEP 748's terms.
        buffer = tls_asyncio.tls_buffer(writer)
        assert isinstance(buffer, tls.NSSTLSBuffer)
        assert buffer.negotiated_protocol() is tls.NextProtocol.H2
        assert buffer.negotiated_tls_version is tls.TLSVersion.TLSv1_3
        assert isinstance(buffer.cipher(), tls.CipherSuite)
        assert buffer.getpeercert()
        payload = os.urandom(3 << 20).hex().encode()  # 6 MiB of text
        assert await _exchange(reader, writer, payload) == payload.upper()
        await _close(writer, server)

    run(main())


class _Lines(asyncio.Protocol):
    """A protocol that queues what it receives, for the test to await."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.connected = asyncio.Event()
        self.received: asyncio.Queue[bytes] = asyncio.Queue()

    def connection_made(self, transport):
        self.transport = transport
        self.connected.set()

    def data_received(self, data):
        self.received.put_nowait(data)

    async def expect(self, wanted: bytes) -> None:
        got = b""
        while len(got) < len(wanted):
            got += await self.received.get()
        assert got == wanted


def test_starttls_on_both_sides(server_context, client_context):
    """A plaintext greeting, then TLS on the same connection: start_tls with
    a tls_nss context on each side, under plain asyncio protocols."""
    served = []

    async def serve(server_side: _Lines) -> None:
        await server_side.connected.wait()
        server_side.transport.write(b"220 ready\n")
        await server_side.expect(b"STARTTLS\n")
        server_side.transport.write(b"220 go ahead\n")
        transport = await tls_asyncio.start_tls(server_side.transport, server_side,
                                                server_context())
        await server_side.expect(b"secret\n")
        transport.write(b"SECRET\n")
        served.append(transport)

    async def main():
        loop = asyncio.get_running_loop()
        tasks = []

        def accepted() -> _Lines:
            protocol = _Lines()
            tasks.append(loop.create_task(serve(protocol)))
            return protocol

        server = await loop.create_server(accepted, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        plain, client = await loop.create_connection(_Lines, "127.0.0.1", port)
        await client.expect(b"220 ready\n")
        plain.write(b"STARTTLS\n")
        await client.expect(b"220 go ahead\n")
        transport = await tls_asyncio.start_tls(plain, client, client_context(),
                                                server_hostname="localhost")
        assert tls_asyncio.tls_buffer(transport).negotiated_tls_version is tls.TLSVersion.TLSv1_3
        transport.write(b"secret\n")
        await client.expect(b"SECRET\n")
        await asyncio.gather(*tasks)
        assert isinstance(served[0].get_extra_info("ssl_object"), ssl.SSLObject)
        transport.close()
        served[0].close()
        server.close()
        await server.wait_closed()

    run(main())


def test_a_silent_client_is_dropped_after_the_contexts_handshake_timeout(pki):
    context = tls.NSSServerContext(
        tls.TLSServerConfiguration(certificate_chain=[tls.SigningChain(leaf=(
            tls.Certificate.from_file(pki.path("ec.pem")),
            tls.PrivateKey.from_file(pki.path("ec.key"))))]),
        handshake_timeout=0.5)

    async def main():
        server = await tls_asyncio.start_server(upper_echo, "127.0.0.1", 0, context=context)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        started = asyncio.get_running_loop().time()
        assert await reader.read() == b""  # closed by the server, having said nothing
        assert 0.4 < asyncio.get_running_loop().time() - started < 10
        writer.close()
        server.close()
        await server.wait_closed()

    run(main())


def test_our_client_against_stdlib_asyncio_server(pki, client_context):
    async def main():
        server = await asyncio.start_server(upper_echo, "127.0.0.1", 0,
                                            ssl=_stdlib_server_context(pki))
        port = server.sockets[0].getsockname()[1]
        reader, writer = await tls_asyncio.open_connection("localhost", port,
                                                           context=client_context())
        assert await _exchange(reader, writer, b"nss to openssl\n") == b"NSS TO OPENSSL\n"
        await _close(writer, server)

    run(main())


def test_stdlib_asyncio_client_against_our_server(pki, server_context):
    async def main():
        server = await tls_asyncio.start_server(upper_echo, "127.0.0.1", 0,
                                                context=server_context())
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=_stdlib_client_context(pki), server_hostname="localhost")
        payload = b"openssl to nss\n" * 10000
        assert await _exchange(reader, writer, payload) == payload.upper()
        await _close(writer, server)

    run(main())


def test_open_connection_refuses_an_untrusted_server(server_context, client_context):
    async def main():
        server = await tls_asyncio.start_server(upper_echo, "127.0.0.1", 0,
                                                context=server_context("other"))
        port = server.sockets[0].getsockname()[1]
        with pytest.raises(tls.CertificateVerificationError):
            await tls_asyncio.open_connection("localhost", port, context=client_context())
        server.close()
        await server.wait_closed()

    run(main())


def test_server_sees_the_end_of_the_stream(server_context, client_context):
    ended = []

    async def record_eof(reader, writer):
        data = await reader.read()  # until EOF
        ended.append(data)
        writer.close()
        await writer.wait_closed()

    async def main():
        server = await tls_asyncio.start_server(record_eof, "127.0.0.1", 0,
                                                context=server_context())
        port = server.sockets[0].getsockname()[1]
        reader, writer = await tls_asyncio.open_connection("localhost", port,
                                                           context=client_context())
        writer.write(b"all of it")
        await writer.drain()
        writer.close()
        await writer.wait_closed()
        for _ in range(100):
            if ended:
                break
            await asyncio.sleep(0.02)
        server.close()
        await server.wait_closed()

    run(main())
    assert ended == [b"all of it"]


def test_a_peer_that_does_not_speak_tls_is_dropped_quietly(server_context, client_context):
    """Plain HTTP at a TLS server: the connection ends at once, nothing
    reaches the loop's exception handler, and the server serves on."""
    reported = []

    async def main():
        asyncio.get_running_loop().set_exception_handler(
            lambda loop, context: reported.append(context))
        server = await tls_asyncio.start_server(upper_echo, "127.0.0.1", 0,
                                                context=server_context())
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.0\r\n\r\n")
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
        reader, writer = await tls_asyncio.open_connection("localhost", port,
                                                           context=client_context())
        assert await _exchange(reader, writer, b"still here\n") == b"STILL HERE\n"
        await _close(writer, server)

    run(main())
    assert reported == []


def test_contexts_other_than_tls_nss_ones_are_refused(client_context):
    async def main():
        with pytest.raises(TypeError, match="NSSClientContext or NSSServerContext"):
            await tls_asyncio.open_connection("localhost", 1, context=ssl.create_default_context())

    run(main())


def test_documented_example_runs(pki):
    files = [str(pki.path(name)) for name in ("ec.pem", "ec.key", "ca.pem")]
    result = subprocess.run([sys.executable, str(EXAMPLE), *files], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "echoed: WITH ASYNCIO" in result.stdout
