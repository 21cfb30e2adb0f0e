"""PEP 748's open revisions (the configuration and the context and socket
pull requests), beside the published names, which keep working: against
openssl s_server and s_client."""

from __future__ import annotations

import threading

import pytest
from peers import need, openssl_server, run_client

import tls_nss as tls


def test_create_connection_verifies_the_name_it_is_given(pki, client_context):
    server = openssl_server(pki, "ec")
    ctx = client_context()
    with ctx.create_connection(("127.0.0.1", server.port), timeout=10,
                               server_hostname="localhost") as sock:
        sock.sendall(b"abc\n")
        assert sock.recv(10) == b"cba\n"
        assert sock.gettimeout() == 10
    server.stop()
    wrong = openssl_server(pki, "ec")
    with pytest.raises(tls.CertificateVerificationError, match="hostname mismatch"):
        ctx.create_connection(("127.0.0.1", wrong.port), server_hostname="elsewhere.test")
    wrong.stop()


def test_create_server_hands_out_tls_connections(pki, server_context):
    listener = server_context("ec").create_server(("127.0.0.1", 0), backlog=4)
    port = listener.getsockname()[1]
    result = {}

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            result["data"] = conn.recv(100)
            result["version"] = conn.negotiated_tls_version
            conn.sendall(b"served")

    thread = threading.Thread(target=serve)
    thread.start()
    done = run_client([need("openssl"), "s_client", "-connect", f"127.0.0.1:{port}",
                       "-CAfile", str(pki.path("ca.pem")), "-verify_return_error", "-quiet"],
                      data=b"hello\n")
    thread.join(10)
    listener.close()
    assert result["data"] == b"hello\n" and result["version"] is tls.TLSVersion.TLSv1_3
    assert b"served" in done.stdout


def test_shutdown_writes_close_notify_and_keeps_reading(pki, client_context):
    """SHUT_WR: close_notify goes out, and the reply still comes in."""
    server = openssl_server(pki, "ec")
    sock = client_context().create_connection(("localhost", server.port))
    sock.sendall(b"half\n")
    sock.shutdown(tls.TLSShutdownMode.SHUT_WR)
    assert sock.recv(10) == b"flah\n"
    with pytest.raises(tls.TLSError):
        sock.sendall(b"after")
    with pytest.raises(ValueError):
        sock.shutdown(7)
    sock.shutdown(tls.TLSShutdownMode.SHUT_RD)
    sock.close()
    server.stop()


def test_configurations_as_the_revision_has_them(pki):
    assert isinstance(tls.TLSClientConfiguration().trust_store, tls.TrustStore)
    with pytest.raises(ValueError):
        tls.TLSServerConfiguration(certificate_chain=[])
    # An invalid configuration is a ValueError and, as published, a TLSError.
    config = tls.TLSServerConfiguration(certificate_chain=[tls.SigningChain(
        leaf=(tls.Certificate.from_file(pki.path("ec.pem")),
              tls.PrivateKey.from_file(pki.path("rsa.key"))))])
    with pytest.raises(ValueError) as info:
        tls.NSSServerContext(config)
    assert isinstance(info.value, tls.ConfigurationError)
    assert isinstance(info.value, tls.TLSError)
