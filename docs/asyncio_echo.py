"""An echo server and client over NSS TLS, with asyncio and tls_nss.asyncio.

Run it with the distribution's interpreter and the package on the path,
given a certificate and key for "localhost" and the CA that issued it:

    python3 docs/asyncio_echo.py server.pem server.key ca.pem

(for instance, with OpenSSL:
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \\
        -subj /CN=localhost -addext subjectAltName=DNS:localhost \\
        -keyout server.key -out server.pem -days 1
and server.pem as the CA too). It serves TLS on a loopback port, sends a
few lines through it, and prints what came back.
"""

import asyncio
import sys

import tls_nss as tls
import tls_nss.asyncio


def contexts(cert_file, key_file, ca_file):
    server = tls.NSS_IMPLEMENTATION.server_context(tls.TLSServerConfiguration(
        certificate_chain=[tls.SigningChain(leaf=(
            tls.Certificate.from_file(cert_file), tls.PrivateKey.from_file(key_file)))],
        inner_protocols=[tls.NextProtocol.HTTP1]))
    client = tls.NSS_IMPLEMENTATION.client_context(tls.TLSClientConfiguration(
        trust_store=tls.TrustStore.from_file(ca_file),
        inner_protocols=[tls.NextProtocol.HTTP1]))
    return server, client


async def echo(reader, writer):
    while line := await reader.readline():
        writer.write(line.upper())
        await writer.drain()
    writer.close()
    await writer.wait_closed()


async def main(cert_file, key_file, ca_file):
    server_context, client_context = contexts(cert_file, key_file, ca_file)
    server = await tls_nss.asyncio.start_server(echo, "127.0.0.1", 0, context=server_context)
    port = server.sockets[0].getsockname()[1]

    reader, writer = await tls_nss.asyncio.open_connection(
        "localhost", port, context=client_context)
    # What was negotiated, in PEP 748's terms.
    negotiated = tls_nss.asyncio.tls_buffer(writer)
    print(f"connected: {negotiated.negotiated_tls_version.value}, {negotiated.cipher().name}, "
          f"ALPN {negotiated.negotiated_protocol()}")
    for line in (b"hello\n", b"over nss\n", b"with asyncio\n"):
        writer.write(line)
        await writer.drain()
        print("echoed:", (await reader.readline()).decode().rstrip())
    writer.close()
    await writer.wait_closed()

    server.close()
    await server.wait_closed()


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(f"usage: {sys.argv[0]} CERT KEY CA")
    asyncio.run(main(*sys.argv[1:]))
