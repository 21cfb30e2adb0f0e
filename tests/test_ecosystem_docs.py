"""The recipes of docs/ecosystem.md, run against real peers."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import threading
import http.server
from pathlib import Path

import pytest
from peers import TIMEOUT, free_port, need, peer_environment, wait_for_port

from tls_nss._ssl_context import _ORIGINAL_SSLCONTEXT

RECIPES = Path(__file__).parent.parent / "docs" / "ecosystem"


def test_the_page_shows_every_recipe_as_it_is():
    page = (RECIPES.parent / "ecosystem.md").read_text()
    for path in sorted(RECIPES.glob("*.py")):
        assert path.read_text() in page, f"docs/ecosystem.md does not show {path.name}"


def _run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-W", "error", *argv], capture_output=True,
                          text=True, timeout=60, env=dict(os.environ))


@pytest.fixture
def openssl_http11(pki):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    context = _ORIGINAL_SSLCONTEXT(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.path("ec.pem"), pki.path("ec.key"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://localhost:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_requests_recipe(pki, openssl_http11):
    pytest.importorskip("requests")
    done = _run(str(RECIPES / "requests_session.py"), openssl_http11, str(pki.path("ca.pem")))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["200"] * 3


def test_httpx_recipe(pki, openssl_http11):
    pytest.importorskip("httpx")
    pytest.importorskip("h2")
    done = _run(str(RECIPES / "httpx_client.py"), openssl_http11, str(pki.path("ca.pem")))
    assert done.returncode == 0, done.stderr
    # OpenSSL's http.server speaks HTTP/1.1 only: ALPN settles on it.
    assert done.stdout.split() == ["HTTP/1.1", "200", "200"]


def test_aiohttp_recipe_renews_its_certificate_on_sighup(pki, tmp_path):
    pytest.importorskip("aiohttp")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_bytes(pki.issued["ec"].cert_pem)
    key.write_bytes(pki.issued["ec"].key_pem())
    port = free_port()
    server = subprocess.Popen([sys.executable, "-W", "error", str(RECIPES / "aiohttp_server.py"),
                               str(cert), str(key), str(port)], env=dict(os.environ),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def served() -> bytes:
        done = subprocess.run([need("openssl"), "s_client", "-connect", f"127.0.0.1:{port}",
                               "-servername", "localhost"], input=b"", capture_output=True,
                              timeout=TIMEOUT, env=peer_environment())
        pem = done.stdout.split(b"-----BEGIN CERTIFICATE-----")[1]
        return b"-----BEGIN CERTIFICATE-----" + pem.split(b"-----END CERTIFICATE-----")[0]

    try:
        wait_for_port(port, server)
        first = served()
        renewed = pki.ca.issue("localhost", "127.0.0.1")
        cert.write_bytes(renewed.cert_pem)
        key.write_bytes(renewed.key_pem())
        server.send_signal(signal.SIGHUP)
        for _ in range(50):
            second = served()
            if second != first:
                break
    finally:
        server.terminate()
        server.communicate(timeout=TIMEOUT)
    assert first in pki.issued["ec"].cert_pem
    assert second in renewed.cert_pem
