"""The key log: NSS Key Log Format lines equal to what OpenSSL logs for
the same connection, on either side, from sockets and buffers."""

from __future__ import annotations

import os
import re
import stat
import threading

import pytest

import tls_nss as tls
from nss_mode import skip_in_fips_mode, skip_outside_fips_mode
from peers import ThreadedServer, echo_once, handshake_buffers, need, openssl_server, run_client

LINE = re.compile(r"^[A-Z_0-9]+ [0-9a-f]{64} [0-9a-f]{64,128}$")


@pytest.fixture(autouse=True)
def key_log_possible(request):
    if request.function is not test_fips_mode_has_no_key_log:
        skip_in_fips_mode("its token never gives out TLS secrets, so there is no key log "
                          "(test_fips_mode_has_no_key_log shows what happens instead)")


def _lines(path) -> set[str]:
    text = path.read_text()
    assert all(LINE.match(line) for line in text.splitlines() if not line.startswith("#")), text
    return {line for line in text.splitlines() if not line.startswith("#")}


def test_client_logs_what_openssl_logs(pki, client_context, tmp_path):
    theirs, ours = tmp_path / "openssl.log", tmp_path / "ours.log"
    server = openssl_server(pki, "ec", args=["-keylogfile", str(theirs)])
    ctx = tls.NSSClientContext(tls.TLSClientConfiguration(trust_store=pki.trust()),
                               keylog_filename=ours)
    with ctx.connect(("localhost", server.port)) as sock:
        sock.sendall(b"abc\n")
        assert sock.recv(10) == b"cba\n"
    server.stop()
    logged = _lines(ours)
    assert {line.split()[0] for line in logged} == {
        "CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET",
        "CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0"}
    assert logged <= _lines(theirs)
    assert stat.S_IMODE(os.stat(ours).st_mode) == 0o600


def test_server_logs_what_openssl_s_client_logs(pki, server_context, tmp_path):
    theirs, ours = tmp_path / "openssl.log", tmp_path / "ours.log"
    config = tls.TLSServerConfiguration(certificate_chain=[pki.signing_chain("ec")])
    server = ThreadedServer(tls.NSSServerContext(config, keylog_filename=str(ours)), echo_once)
    run_client([need("openssl"), "s_client", "-connect", f"127.0.0.1:{server.port}",
                "-keylogfile", str(theirs), "-CAfile", str(pki.path("ca.pem"))], data=b"hi\n")
    server.join()
    logged = _lines(ours)
    assert len(logged) == 4 and logged <= _lines(theirs)


def test_sslkeylogfile_is_read_when_a_context_is_made(pki, tmp_path, monkeypatch):
    path = tmp_path / "env.log"
    monkeypatch.setenv("SSLKEYLOGFILE", str(path))
    client = tls.NSSClientContext(tls.TLSClientConfiguration(trust_store=pki.trust()))
    silent = tls.NSSClientContext(tls.TLSClientConfiguration(trust_store=pki.trust()),
                                  keylog_filename="")
    monkeypatch.delenv("SSLKEYLOGFILE")
    server = tls.NSSServerContext(tls.TLSServerConfiguration(
        certificate_chain=[pki.signing_chain("ec")]))
    for ctx, expected in ((client, 4), (silent, 0)):
        before = len(_lines(path)) if path.exists() else 0
        a, b = ctx.create_buffer("localhost"), server.create_buffer()
        handshake_buffers(a, b)
        assert len(_lines(path)) - before == expected


def test_buffers_on_both_sides_log_the_same_secrets(pki, tmp_path):
    path = tmp_path / "both.log"
    client = tls.NSSClientContext(tls.TLSClientConfiguration(trust_store=pki.trust()),
                                  keylog_filename=path)
    server = tls.NSSServerContext(tls.TLSServerConfiguration(
        certificate_chain=[pki.signing_chain("ec")]), keylog_filename=path)
    handshake_buffers(client.create_buffer("localhost"), server.create_buffer())
    lines = path.read_text().splitlines()
    assert len(lines) == 8 and len(set(lines)) == 4


def test_many_threads_write_whole_lines(pki, tmp_path):
    path = tmp_path / "threads.log"
    config = tls.TLSServerConfiguration(certificate_chain=[pki.signing_chain("ec")])
    server = ThreadedServer(tls.NSSServerContext(config, keylog_filename=path), echo_once,
                            connections=16)
    client = tls.NSSClientContext(tls.TLSClientConfiguration(trust_store=pki.trust()),
                                  keylog_filename=path, session_cache_size=0)

    def connect():
        with client.connect(("localhost", server.port)) as sock:
            sock.sendall(b"x")
            sock.recv(1)

    threads = [threading.Thread(target=connect) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    server.join()
    lines = path.read_text().splitlines()
    assert len(lines) == 16 * 8 and all(LINE.match(line) for line in lines)
    assert len(set(lines)) == 16 * 4


def test_tls12_writes_nothing_and_bad_names_are_refused(pki, tmp_path):
    path = tmp_path / "tls12.log"
    client = tls.NSSClientContext(tls.TLSClientConfiguration(
        trust_store=pki.trust(), highest_supported_version=tls.TLSVersion.TLSv1_2),
        keylog_filename=path)
    server = tls.NSSServerContext(tls.TLSServerConfiguration(
        certificate_chain=[pki.signing_chain("ec")]))
    handshake_buffers(client.create_buffer("localhost"), server.create_buffer())
    assert path.read_text() == ""
    with pytest.raises(tls.ConfigurationError, match="key log"):
        tls.NSSClientContext(tls.TLSClientConfiguration(), keylog_filename=tmp_path / "no" / "x")
    with pytest.raises(TypeError):
        tls.NSSClientContext(tls.TLSClientConfiguration(), keylog_filename=3)


def test_client_matches_an_ssl_module_server(pki, tmp_path):
    """Our client against a server of the ssl module (OpenSSL) that logs to
    its own keylog_filename: the same lines for the same client random."""
    import socket
    import ssl

    theirs, ours = tmp_path / "ssl.log", tmp_path / "ours.log"
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(pki.path("ec.pem"), pki.path("ec.key"))
    server_ctx.keylog_filename = str(theirs)
    listener = socket.create_server(("127.0.0.1", 0))

    def serve():
        conn, _ = listener.accept()
        with server_ctx.wrap_socket(conn, server_side=True) as secure:
            secure.sendall(secure.recv(10))

    thread = threading.Thread(target=serve)
    thread.start()
    client = tls.NSSClientContext(tls.TLSClientConfiguration(trust_store=pki.trust()),
                                  keylog_filename=ours)
    with client.connect(("localhost", listener.getsockname()[1])) as sock:
        sock.sendall(b"ping")
        assert sock.recv(10) == b"ping"
    thread.join(10)
    listener.close()
    logged = _lines(ours)
    assert len(logged) == 4 and logged <= _lines(theirs)


def test_fips_mode_has_no_key_log(pki, tmp_path, monkeypatch):
    """In FIPS mode a key log asked for by name is a ConfigurationError, and
    SSLKEYLOGFILE is ignored with a warning: never an empty file that looks
    like a log of nothing."""
    skip_outside_fips_mode()
    named, from_environment = tmp_path / "named.log", tmp_path / "env.log"
    config = tls.TLSClientConfiguration(trust_store=pki.trust())
    with pytest.raises(tls.ConfigurationError, match="FIPS mode"):
        tls.NSSClientContext(config, keylog_filename=named)
    monkeypatch.setenv("SSLKEYLOGFILE", str(from_environment))
    with pytest.warns(RuntimeWarning, match="SSLKEYLOGFILE is ignored.*FIPS mode"):
        client = tls.NSSClientContext(config)
    server = tls.NSSServerContext(tls.TLSServerConfiguration(
        certificate_chain=[pki.signing_chain("ec")]), keylog_filename="")
    handshake_buffers(client.create_buffer("localhost"), server.create_buffer())
    assert not named.exists() and not from_environment.exists()
