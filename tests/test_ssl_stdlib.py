"""The ssl module's API on NSS, under the standard library's own clients
and servers: urllib, http.client, http.server, asyncio, smtplib and ftplib,
against real peers on loopback (openssl, gnutls, aiosmtpd, pyftpdlib).

Each test runs twice: with a tls_nss.SSLContext handed to the standard
library ("class"), and after tls_nss.inject_into_ssl(), where the
standard library makes its contexts itself ("injected"). Each checks that
NSS carried the connection, so none passes on the ssl module alone.
"""

from __future__ import annotations

import asyncio
import ftplib
import http.client
import http.server
import smtplib
import socket
import socketserver
import ssl
import subprocess
import threading
import urllib.request
from pathlib import Path
from typing import Any, Callable

import pytest
from peers import (TIMEOUT, free_port, need, peer_environment, run_client, stop_process,
                   wait_for_port)

import tls_nss
from tls_nss import _ssl_engine

# Programs run with python3 -W error must not see a warning from the layer.
pytestmark = pytest.mark.filterwarnings("error")


@pytest.fixture(params=["class", "injected"])
def client_context(request, pki) -> Callable[..., ssl.SSLContext]:
    """A client context trusting the test CA: made by tls_nss, or, once
    injected, by the ssl module's own create_default_context()."""
    if request.param == "injected":
        tls_nss.inject_into_ssl()
        request.addfinalizer(tls_nss.extract_from_ssl)

        def make(**kwargs: Any) -> ssl.SSLContext:
            return ssl.create_default_context(cafile=str(pki.path("ca.pem")), **kwargs)
    else:
        def make(**kwargs: Any) -> ssl.SSLContext:
            return tls_nss.create_default_context(cafile=str(pki.path("ca.pem")), **kwargs)
    return make


def server_context(pki, cert: str = "ec") -> tls_nss.SSLContext:
    context = tls_nss.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.path(f"{cert}-fullchain.pem"), pki.path(f"{cert}.key"))
    return context


def assert_nss(sslsock: Any) -> None:
    """The connection under this SSLSocket or SSLObject is NSS's."""
    assert isinstance(sslsock._sslobj, (_ssl_engine.SocketEngine, _ssl_engine.BIOEngine)), \
        type(sslsock._sslobj)


class Process:
    def __init__(self, argv: list[str], port: int, cwd: Path | None = None) -> None:
        self.process = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        text=True, env=peer_environment())
        self.port = port
        wait_for_port(port, self.process)

    def stop(self) -> str:
        return stop_process(self.process)


# ---- clients: urllib and http.client ----


def test_urllib_against_openssl_www(pki, client_context, tmp_path):
    (tmp_path / "hello.txt").write_text("served by openssl\n")
    port = free_port()
    server = Process([need("openssl"), "s_server", "-accept", f"127.0.0.1:{port}", "-WWW",
                      "-cert", str(pki.path("ec.pem")), "-key", str(pki.path("ec.key"))],
                     port, cwd=tmp_path)
    try:
        with urllib.request.urlopen(f"https://localhost:{port}/hello.txt",
                                    context=client_context(), timeout=TIMEOUT) as response:
            assert_nss(response.fp.raw._sock)
            assert response.read() == b"served by openssl\n"
    finally:
        server.stop()


def test_http_client_against_gnutls_serv(pki, client_context):
    port = free_port()
    server = Process([need("gnutls-serv"), "--http", "--port", str(port),
                      "--x509certfile", str(pki.path("rsa.pem")),
                      "--x509keyfile", str(pki.path("rsa.key"))], port)
    try:
        connection = http.client.HTTPSConnection("localhost", port, context=client_context(),
                                                 timeout=TIMEOUT)
        connection.request("GET", "/")
        assert_nss(connection.sock)
        assert connection.sock.version() in ("TLSv1.2", "TLSv1.3")
        response = connection.getresponse()
        body = response.read()
        assert response.status == 200 and b"GnuTLS" in body
        connection.close()
    finally:
        server.stop()


# ---- servers: http.server over a wrapped listening socket ----


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"{self.request.version()} {self.request.cipher()[0]}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def https_server(pki):
    server = http.server.HTTPServer(("127.0.0.1", 0), _Handler)
    server.socket = server_context(pki).wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(TIMEOUT)


def test_http_server_answers_openssl_s_client(pki, https_server):
    port = https_server.server_address[1]
    result = run_client([need("openssl"), "s_client", "-connect", f"127.0.0.1:{port}",
                         "-CAfile", str(pki.path("ca.pem")), "-verify_return_error",
                         "-verify_hostname", "localhost", "-quiet"],
                        data=b"GET / HTTP/1.0\r\n\r\n")
    # http.server ends a connection without close_notify, as over the ssl
    # module, so s_client reports an unexpected EOF once it has the answer.
    assert b"200 OK" in result.stdout and b"TLSv1.3 TLS_AES_128_GCM_SHA256" in result.stdout, \
        result.stderr


def test_http_server_answers_gnutls_cli(pki, https_server):
    port = https_server.server_address[1]
    result = run_client([need("gnutls-cli"), "--port", str(port), "--x509cafile",
                         str(pki.path("ca.pem")), "localhost"],
                        data=b"GET / HTTP/1.0\r\n\r\n")
    assert b"200 OK" in result.stdout, result.stderr
    assert isinstance(https_server.socket, ssl.SSLSocket)


# Python 3.12 and later warn about fork() while any thread runs; earlier
# tests may have left daemon threads behind.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forking_server_hands_each_connection_to_a_child(pki):
    """socketserver.ForkingMixIn accepts a connection (the handshake
    included), forks, closes the parent's copy and lets the child answer.
    Closing that copy must leave the child's connection alone, as with
    the ssl module: no close_notify."""
    context = server_context(pki)

    class Echo(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            self.wfile.write(self.rfile.readline())

    class Server(socketserver.ForkingTCPServer):
        def get_request(self) -> tuple[socket.socket, Any]:
            sock, address = self.socket.accept()
            return context.wrap_socket(sock, server_side=True), address

    with Server(("127.0.0.1", 0), Echo) as server:
        port = server.server_address[1]
        client = subprocess.Popen(
            [need("openssl"), "s_client", "-connect", f"127.0.0.1:{port}", "-CAfile",
             str(pki.path("ca.pem")), "-verify_return_error", "-quiet"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=peer_environment())
        try:
            server.handle_request()  # the parent's part: accept, fork, close
            out, err = client.communicate(b"answered by the child\n", timeout=TIMEOUT)
        finally:
            if client.poll() is None:
                stop_process(client)
    assert out == b"answered by the child\n", err


# ---- asyncio ----


def test_asyncio_streams_carry_10_mib_each_way(pki, client_context):
    payload = bytes(range(256)) * (10 * 4096)  # 10 MiB
    server_ctx = server_context(pki)

    async def main() -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            assert_nss(writer.get_extra_info("ssl_object"))
            got = await reader.readexactly(len(payload))
            writer.write(got)
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_ctx)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client_context(),
                                                       server_hostname="localhost")
        assert_nss(writer.get_extra_info("ssl_object"))
        writer.write(payload)
        await writer.drain()
        assert await reader.readexactly(len(payload)) == payload
        writer.close()
        server.close()
        await server.wait_closed()

    asyncio.run(asyncio.wait_for(main(), 60))


def test_asyncio_start_tls_on_both_sides(pki, client_context):
    server_ctx = server_context(pki)

    async def main() -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            assert await reader.readline() == b"STARTTLS\n"
            writer.write(b"GO\n")
            await writer.drain()
            await writer.start_tls(server_ctx)
            assert_nss(writer.get_extra_info("ssl_object"))
            writer.write((await reader.readline()).upper())
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"STARTTLS\n")
        assert await reader.readline() == b"GO\n"
        await writer.start_tls(client_context(), server_hostname="localhost")
        assert_nss(writer.get_extra_info("ssl_object"))
        writer.write(b"secret\n")
        assert await reader.readline() == b"SECRET\n"
        writer.close()
        server.close()
        await server.wait_closed()

    if not hasattr(asyncio.StreamWriter, "start_tls"):
        pytest.skip("StreamWriter.start_tls is Python 3.11's")
    asyncio.run(asyncio.wait_for(main(), 30))


# ---- smtplib and ftplib ----


def test_smtplib_starttls_against_aiosmtpd(pki, client_context):
    controller_module = pytest.importorskip("aiosmtpd.controller")
    received: list[bytes] = []

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            received.append(envelope.content)
            return "250 OK"

    # The server's side stays OpenSSL's, injected or not: a peer not ours.
    openssl_side = tls_nss._ssl_context._ORIGINAL_SSLCONTEXT(ssl.PROTOCOL_TLS_SERVER)
    openssl_side.load_cert_chain(pki.path("ec.pem"), pki.path("ec.key"))
    port = free_port()
    controller = controller_module.Controller(Handler(), hostname="127.0.0.1", port=port,
                                              tls_context=openssl_side, require_starttls=True)
    controller.start()
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=TIMEOUT) as client:
            # SNI and the name check are for 127.0.0.1, which the
            # certificate names as an IP address.
            client.starttls(context=client_context())
            assert_nss(client.sock)
            client.sendmail("a@example.test", ["b@example.test"], "Subject: hi\r\n\r\nover NSS")
    finally:
        controller.stop()
    assert received and b"over NSS" in received[0]


def test_ftplib_ftp_tls_against_pyftpdlib(pki, client_context, tmp_path):
    import os

    if "libasan" in os.environ.get("LD_PRELOAD", ""):
        # pyftpdlib imports crypt, which calls libcrypt's crypt() at import;
        # GCC's AddressSanitizer interceptor for it crashes the process.
        pytest.skip("under AddressSanitizer: its crypt() interceptor crashes on importing "
                    "pyftpdlib (the other runs of the suite cover this test)")
    authorizers = pytest.importorskip("pyftpdlib.authorizers")
    handlers = pytest.importorskip("pyftpdlib.handlers")
    servers = pytest.importorskip("pyftpdlib.servers")
    (tmp_path / "file.txt").write_bytes(b"over NSS, on the data connection too\n")
    authorizer = authorizers.DummyAuthorizer()
    authorizer.add_user("user", "secret", str(tmp_path), perm="elr")

    class Handler(handlers.TLS_FTPHandler):
        certfile = str(pki.path("ec-fullchain.pem"))
        keyfile = str(pki.path("ec.key"))
        tls_control_required = True
        tls_data_required = True

    Handler.authorizer = authorizer
    server = servers.FTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"timeout": 0.1},
                              daemon=True)
    thread.start()
    try:
        client = ftplib.FTP_TLS(context=client_context(), timeout=TIMEOUT)
        client.connect("127.0.0.1", server.address[1])
        client.auth()
        assert_nss(client.sock)
        client.login("user", "secret")
        client.prot_p()
        lines: list[bytes] = []
        client.retrbinary("RETR file.txt", lines.append)
        assert b"".join(lines) == b"over NSS, on the data connection too\n"
        client.quit()
    finally:
        server.close_all()
        thread.join(TIMEOUT)


# ---- python3 -m tls_nss run ----

_PROGRAM = '''\
import ssl, sys, urllib.request
context = ssl.create_default_context(cafile=sys.argv[2])
with urllib.request.urlopen(sys.argv[1], context=context) as response:
    print(type(context).__module__, type(response.fp.raw._sock._sslobj).__name__,
          response.read().decode().strip())
'''


@pytest.mark.parametrize("how", ["script", "module"])
def test_run_puts_an_unmodified_program_on_nss(pki, tmp_path, how):
    import sys

    (tmp_path / "hello.txt").write_text("hello\n")
    (tmp_path / "fetch.py").write_text(_PROGRAM)
    port = free_port()
    server = Process([need("openssl"), "s_server", "-accept", f"127.0.0.1:{port}", "-WWW",
                      "-cert", str(pki.path("ec.pem")), "-key", str(pki.path("ec.key"))],
                     port, cwd=tmp_path)
    program = [str(tmp_path / "fetch.py")] if how == "script" else ["-m", "fetch"]
    import os

    env = {**os.environ, "PYTHONPATH": f"{tmp_path}:{os.environ.get('PYTHONPATH', '')}"}
    try:
        done = subprocess.run([sys.executable, "-W", "error", "-m", "tls_nss", "run", *program,
                               f"https://localhost:{port}/hello.txt", str(pki.path("ca.pem"))],
                              capture_output=True, text=True, timeout=TIMEOUT, env=env)
    finally:
        server.stop()
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["tls_nss._ssl_context", "SocketEngine", "hello"]


def test_ftplib_ccc_goes_back_to_the_clear(pki, client_context):
    """FTP_TLS.ccc() unwraps the control connection (pyftpdlib has no CCC,
    so the server here is the ssl module's, OpenSSL): close_notify both
    ways, then the same TCP connection in the clear."""
    server_ctx = tls_nss._ssl_context._ORIGINAL_SSLCONTEXT(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(pki.path("ec.pem"), pki.path("ec.key"))
    listener = socket.create_server(("127.0.0.1", 0))
    seen: list[str] = []

    def line(sock: Any) -> str:
        data = b""
        while not data.endswith(b"\r\n"):
            chunk = sock.recv(1)
            if not chunk:
                break
            data += chunk
        seen.append(data.decode().strip())
        return seen[-1]

    def serve() -> None:
        conn, _ = listener.accept()
        conn.settimeout(TIMEOUT)
        conn.sendall(b"220 ready\r\n")
        assert line(conn) == "AUTH TLS"
        conn.sendall(b"234 go\r\n")
        secure = server_ctx.wrap_socket(conn, server_side=True)
        assert line(secure) == "CCC"
        secure.sendall(b"200 back to the clear\r\n")
        plain = secure.unwrap()
        assert line(plain) == "NOOP"
        plain.sendall(b"200 in the clear\r\n")
        line(plain)
        plain.sendall(b"221 bye\r\n")
        plain.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    client = ftplib.FTP_TLS(context=client_context(), timeout=TIMEOUT)
    client.connect("127.0.0.1", listener.getsockname()[1])
    client.auth()
    assert_nss(client.sock)
    client.ccc()
    assert isinstance(client.sock, ssl.SSLSocket) and client.sock._sslobj is None
    assert client.voidcmd("NOOP").startswith("200 in the clear")
    client.quit()
    thread.join(TIMEOUT)
    listener.close()
    assert seen == ["AUTH TLS", "CCC", "NOOP", "QUIT"]
