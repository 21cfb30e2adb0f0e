"""An echo server and client over NSS TLS, with asyncio and tls_nss.asyncio.

Run it with the distribution's interpreter and the package on the path:

    python3 docs/asyncio_echo.py

It makes a throwaway CA (python3-cryptography), serves TLS on a loopback
port, sends a few lines through it, and prints what came back.
"""

import asyncio

import tls_nss as tls
import tls_nss.asyncio
from tls_nss._certgen import Authority


def contexts():
    ca = Authority("asyncio example CA")
    leaf = ca.issue("localhost", "127.0.0.1")
    server = tls.NSS_IMPLEMENTATION.server_context(tls.TLSServerConfiguration(
        certificate_chain=[tls.SigningChain(leaf=(
            tls.Certificate.from_buffer(leaf.cert_pem),
            tls.PrivateKey.from_buffer(leaf.key_pem())))],
        inner_protocols=[tls.NextProtocol.HTTP1]))
    client = tls.NSS_IMPLEMENTATION.client_context(tls.TLSClientConfiguration(
        trust_store=tls.TrustStore.from_buffer(ca.cert_pem),
        inner_protocols=[tls.NextProtocol.HTTP1]))
    return server, client


async def echo(reader, writer):
    while line := await reader.readline():
        writer.write(line.upper())
        await writer.drain()
    writer.close()
    await writer.wait_closed()


async def main():
    server_context, client_context = contexts()
    server = await tls_nss.asyncio.start_server(echo, "127.0.0.1", 0, context=server_context)
    port = server.sockets[0].getsockname()[1]

    reader, writer = await tls_nss.asyncio.open_connection(
        "localhost", port, context=client_context)
    version = writer.get_extra_info("tls_version")
    print(f"connected: {version.value}, {writer.get_extra_info('cipher').name}, "
          f"ALPN {writer.get_extra_info('negotiated_protocol')}")
    for line in (b"hello\n", b"over nss\n", b"with asyncio\n"):
        writer.write(line)
        await writer.drain()
        print("echoed:", (await reader.readline()).decode().rstrip())
    writer.close()
    await writer.wait_closed()

    server.close()
    await server.wait_closed()


if __name__ == "__main__":
    asyncio.run(main())
