"""Our client against our server, and against the standard library's
OpenSSL-backed ssl module, on loopback."""

from __future__ import annotations

import socket
import ssl
import threading

import pytest
from peers import TIMEOUT, ThreadedServer, echo_once, free_port

import tls_nss as tls

V12, V13 = tls.TLSVersion.TLSv1_2, tls.TLSVersion.TLSv1_3


def _round_trip(server_ctx, client_ctx, host="localhost", message=b"ping"):
    server = ThreadedServer(server_ctx, echo_once)
    try:
        with client_ctx.connect((host, server.port)) as sock:
            sock.sendall(message)
            reply = sock.recv(1024)
            client_view = {
                "reply": reply,
                "cipher": sock.cipher(),
                "version": sock.negotiated_tls_version,
                "protocol": sock.negotiated_protocol(),
                "peercert": sock.getpeercert(),
            }
    finally:
        server.join()
    return client_view, server


@pytest.mark.parametrize("version", [V12, V13])
@pytest.mark.parametrize("cert", ["rsa", "ec"])
def test_round_trip_each_version(server_context, client_context, pki, version, cert):
    client, server = _round_trip(
        server_context(cert, lowest_supported_version=version, highest_supported_version=version),
        client_context(),
    )
    assert not server.errors
    assert client["reply"] == b"ping"
    assert client["version"] is version
    assert server.results[0]["version"] is version
    assert client["cipher"] == server.results[0]["cipher"]
    assert isinstance(client["cipher"], tls.CipherSuite)
    assert client["peercert"] == pki.issued[cert].cert_der
    assert server.results[0]["peercert"] is None


def test_default_negotiates_tls13(server_context, client_context):
    client, server = _round_trip(server_context(), client_context())
    assert client["version"] is V13
    assert client["cipher"] in tls.DEFAULT_CIPHER_LIST


def test_connect_by_ip_address_checks_ip_san(server_context, client_context):
    client, _ = _round_trip(server_context(), client_context(), host="127.0.0.1")
    assert client["reply"] == b"ping"


@pytest.mark.parametrize(
    "server_protocols, client_protocols, expected",
    [
        ([tls.NextProtocol.H2, tls.NextProtocol.HTTP1], [tls.NextProtocol.H2], tls.NextProtocol.H2),
        # The server's preference order decides; it must survive NSS's NPN-era
        # reordering of the list.
        (
            [tls.NextProtocol.HTTP1, tls.NextProtocol.H2],
            [tls.NextProtocol.H2, tls.NextProtocol.HTTP1],
            tls.NextProtocol.HTTP1,
        ),
        ([b"x-custom/1", tls.NextProtocol.H2], [b"x-custom/1"], b"x-custom/1"),
        ([], [tls.NextProtocol.H2], None),
        ([tls.NextProtocol.H2], [], None),
    ],
)
def test_alpn(server_context, client_context, server_protocols, client_protocols, expected):
    client, server = _round_trip(
        server_context(inner_protocols=server_protocols),
        client_context(inner_protocols=client_protocols),
    )
    assert not server.errors
    assert client["protocol"] == expected
    assert server.results[0]["protocol"] == expected


def test_alpn_without_overlap_fails_the_handshake(server_context, client_context):
    # RFC 7301: a server that shares no protocol with the client refuses.
    server = ThreadedServer(server_context(inner_protocols=[tls.NextProtocol.H2]), echo_once)
    with pytest.raises(tls.TLSError) as info:
        client_context(inner_protocols=[tls.NextProtocol.FTP]).connect(("localhost", server.port))
    server.join()
    assert info.value.nss_name == "SSL_ERROR_NEXT_PROTOCOL_NO_PROTOCOL"
    assert len(server.errors) == 1 and isinstance(server.errors[0], tls.TLSError)


def test_intermediates_are_sent(server_context, client_context, pki):
    client, server = _round_trip(server_context("chained"), client_context())
    assert not server.errors
    assert client["reply"] == b"ping"


def _handshake_error(server_ctx, client_ctx, host="localhost"):
    server = ThreadedServer(server_ctx, echo_once)
    try:
        with pytest.raises(tls.TLSError) as info:
            with client_ctx.connect((host, server.port)) as sock:
                sock.sendall(b"x")
                sock.recv(10)
    finally:
        server.join()
    return info.value, server


def test_untrusted_ca_is_refused(server_context, client_context):
    error, _ = _handshake_error(server_context("other"), client_context())
    assert isinstance(error, tls.CertificateVerificationError)
    assert error.nss_name in ("SEC_ERROR_UNKNOWN_ISSUER", "SEC_ERROR_UNTRUSTED_ISSUER")
    assert error.reason in ("unknown issuer", "untrusted issuer")
    assert "localhost" in str(error) and error.nss_name in str(error)


def test_hostname_mismatch_is_refused(server_context, client_context):
    error, _ = _handshake_error(server_context("wrongname"), client_context())
    assert isinstance(error, tls.CertificateVerificationError)
    assert error.nss_name == "SSL_ERROR_BAD_CERT_DOMAIN"
    assert error.reason == "hostname mismatch"


def test_ip_address_not_in_certificate_is_refused(server_context, client_context):
    # "wrongname" has only a DNS SAN, so 127.0.0.1 must not match.
    error, _ = _handshake_error(server_context("wrongname"), client_context(), host="127.0.0.1")
    assert isinstance(error, tls.CertificateVerificationError)
    assert error.nss_name == "SSL_ERROR_BAD_CERT_DOMAIN"


def test_expired_certificate_is_refused(server_context, client_context):
    error, _ = _handshake_error(server_context("expired"), client_context())
    assert isinstance(error, tls.CertificateVerificationError)
    assert error.nss_name == "SEC_ERROR_EXPIRED_CERTIFICATE"


def test_trust_is_isolated_between_contexts(server_context, client_context):
    """Two contexts in one process never accept each other's CAs, in
    either order, and a session verified by one is not resumed by the other."""
    trusts_ca = client_context("ca")
    trusts_other = client_context("other-ca")
    for _ in range(2):
        client, _ = _round_trip(server_context("rsa"), trusts_ca)
        assert client["reply"] == b"ping"
        client, _ = _round_trip(server_context("other"), trusts_other)
        assert client["reply"] == b"ping"
        error, _ = _handshake_error(server_context("other"), trusts_ca)
        assert isinstance(error, tls.CertificateVerificationError)
        error, _ = _handshake_error(server_context("rsa"), trusts_other)
        assert isinstance(error, tls.CertificateVerificationError)


def test_session_is_not_resumed_across_contexts(pki, client_context):
    """The same server, two client contexts: the second must verify afresh."""
    server_ctx = tls.NSS_IMPLEMENTATION.server_context(
        tls.TLSServerConfiguration(certificate_chain=[pki.signing_chain("other")])
    )
    server = ThreadedServer(server_ctx, echo_once, connections=2)
    try:
        with client_context("other-ca").connect(("localhost", server.port)) as sock:
            sock.sendall(b"a")
            assert sock.recv(10) == b"a"
        with pytest.raises(tls.CertificateVerificationError):
            with client_context("ca").connect(("localhost", server.port)) as sock:
                sock.sendall(b"b")
                sock.recv(10)
    finally:
        server.join()


def test_client_certificate_is_required_and_verified(pki, server_context, client_context):
    server_ctx = server_context(trust_store=pki.trust("ca"))
    client, server = _round_trip(
        server_ctx, client_context(certificate_chain=pki.signing_chain("client"))
    )
    assert not server.errors
    assert server.results[0]["peercert"] == pki.issued["client"].cert_der


def test_missing_client_certificate_is_refused(pki, server_context, client_context):
    server = ThreadedServer(server_context(trust_store=pki.trust("ca")), echo_once)
    with pytest.raises(tls.TLSError):
        with client_context().connect(("localhost", server.port)) as sock:
            sock.sendall(b"x")
            sock.recv(10)
    server.join()
    assert len(server.errors) == 1
    assert isinstance(server.errors[0], tls.TLSError)
    assert server.errors[0].nss_name == "SSL_ERROR_NO_CERTIFICATE"


def test_client_certificate_from_other_ca_is_refused(pki, server_context, client_context):
    server = ThreadedServer(server_context(trust_store=pki.trust("ca")), echo_once)
    with pytest.raises(tls.TLSError):
        with client_context(certificate_chain=pki.signing_chain("other-client")).connect(
            ("localhost", server.port)
        ) as sock:
            sock.sendall(b"x")
            sock.recv(10)
    server.join()
    assert len(server.errors) == 1
    assert isinstance(server.errors[0], tls.CertificateVerificationError)
    # The other CA may be known to NSS from another context's trust store,
    # and so be reported as untrusted rather than unknown.
    assert server.errors[0].nss_name in ("SEC_ERROR_UNKNOWN_ISSUER", "SEC_ERROR_UNTRUSTED_ISSUER")


def test_graceful_close_waits_for_peer_close_notify(server_context, client_context):
    def close_gracefully(conn):
        conn.sendall(b"bye")
        conn.close()  # force=False: sends close_notify and waits for the client's
        return "closed"

    server = ThreadedServer(server_context(), close_gracefully)
    with client_context().connect(("localhost", server.port)) as sock:
        assert sock.recv(10) == b"bye"
        assert sock.recv(10) == b""  # the server's close_notify
        assert sock.recv(10) == b""
        sock.close()
        assert sock.fileno() == -1
    server.join()
    assert server.results == ["closed"] and not server.errors


def test_large_transfer_and_sendall(server_context, client_context):
    payload = bytes(range(256)) * 4096  # 1 MiB

    def drain(conn):
        received = bytearray()
        while len(received) < len(payload):
            received += conn.recv(65536)
        conn.sendall(b"%d" % len(received))
        return bytes(received)

    server = ThreadedServer(server_context(), drain)
    with client_context().connect(("localhost", server.port)) as sock:
        sock.sendall(payload)
        assert sock.recv(100) == b"%d" % len(payload)
    server.join()
    assert server.results[0] == payload


def test_recv_timeout(server_context, client_context):
    release = threading.Event()

    def stall(conn):
        release.wait(TIMEOUT)

    server = ThreadedServer(server_context(), stall)
    with client_context().connect(("localhost", server.port)) as sock:
        sock.settimeout(0.2)
        assert sock.gettimeout() == 0.2
        with pytest.raises(tls.TLSTimeoutError) as info:
            sock.recv(10)
        assert isinstance(info.value, TimeoutError)
        sock.setblocking(False)
        with pytest.raises(tls.WantReadError):
            sock.recv(10)
        assert not sock.getblocking()
    release.set()
    server.join()


def test_socket_surface(server_context, client_context):
    server_ctx = server_context()
    client_ctx = client_context()
    server = ThreadedServer(server_ctx, echo_once)
    with client_ctx.connect(("localhost", server.port)) as sock:
        assert sock.context is client_ctx
        assert sock.getpeername() == ("127.0.0.1", server.port)
        assert sock.getsockname()[0] == "127.0.0.1"
        assert sock.fileno() > 2
        assert "localhost" in repr(sock)
        sock.sendall(b"x")
        sock.recv(1)
    server.join()
    assert server.listener.context is server_ctx
    with pytest.raises(TypeError):
        tls.NSSTLSSocket()


# ---- the standard library's ssl module (OpenSSL) as the peer ----


def _stdlib_server(pki, handler):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki.path("rsa.pem"), pki.path("rsa.key"))
    listener = socket.create_server(("127.0.0.1", 0))
    errors = []

    def serve():
        try:
            raw, _ = listener.accept()
            with ctx.wrap_socket(raw, server_side=True) as conn:
                handler(conn)
        except Exception as e:  # noqa: BLE001
            errors.append(e)
        finally:
            listener.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return listener.getsockname()[1], thread, errors


def test_close_notify_from_openssl_gives_empty_reads(pki, client_context):
    def send_and_unwrap(conn):
        conn.sendall(b"data")
        conn.unwrap()

    port, thread, errors = _stdlib_server(pki, send_and_unwrap)
    with client_context().connect(("localhost", port)) as sock:
        assert sock.recv(10) == b"data"
        assert sock.recv(10) == b""
        sock.close()  # answers the close_notify; unwrap() returns
    thread.join(TIMEOUT)
    assert not errors


def test_ragged_eof_is_reported(pki, client_context):
    def send_and_drop(conn):
        conn.sendall(b"data")
        # Closing an ssl.SSLSocket sends no close_notify: a ragged EOF.

    port, thread, errors = _stdlib_server(pki, send_and_drop)
    with client_context().connect(("localhost", port)) as sock:
        assert sock.recv(10) == b"data"
        with pytest.raises(tls.RaggedEOF) as info:
            sock.recv(10)
        assert "close_notify" in str(info.value)
    thread.join(TIMEOUT)
    assert not errors


def test_connection_refused_is_a_tls_error(client_context):
    port = free_port()
    with pytest.raises(tls.TLSConnectionError) as info:
        client_context().connect(("127.0.0.1", port))
    assert isinstance(info.value, ConnectionError)
    assert isinstance(info.value, tls.TLSError)


def test_close_from_another_thread_wakes_a_blocked_recv(server_context, client_context):
    release = threading.Event()

    def stall(conn):
        release.wait(TIMEOUT)

    server = ThreadedServer(server_context(), stall)
    sock = client_context().connect(("localhost", server.port))
    outcome = []

    def reader():
        try:
            outcome.append(sock.recv(10))
        except tls.TLSError as e:
            outcome.append(e)

    thread = threading.Thread(target=reader)
    thread.start()
    thread.join(0.2)
    assert thread.is_alive()  # blocked in recv
    sock.close()
    thread.join(TIMEOUT / 2)
    assert not thread.is_alive(), "close() did not wake the blocked recv"
    assert sock.fileno() == -1
    assert len(outcome) == 1 and not isinstance(outcome[0], tls.TLSTimeoutError)
    release.set()
    server.join()


def test_p384_certificate(server_context, client_context):
    client, server = _round_trip(server_context("ec384"), client_context())
    assert not server.errors and client["reply"] == b"ping"


def test_version_ranges_that_do_not_meet(server_context, client_context):
    server = ThreadedServer(
        server_context(highest_supported_version=tls.TLSVersion.TLSv1_2), echo_once
    )
    with pytest.raises(tls.TLSError) as info:
        client_context(lowest_supported_version=tls.TLSVersion.TLSv1_3).connect(
            ("localhost", server.port)
        )
    server.join()
    assert info.value.nss_name is not None
    assert len(server.errors) == 1


def test_system_trust_store_does_not_know_a_private_ca(server_context, pki):
    """The system store loads (p11-kit's trust module or NSS's roots) and,
    like any trust store, refuses a CA it does not hold."""
    for store in (None, tls.TrustStore.system()):
        ctx = tls.NSS_IMPLEMENTATION.client_context(tls.TLSClientConfiguration(trust_store=store))
        server = ThreadedServer(server_context(), echo_once)
        with pytest.raises(tls.CertificateVerificationError) as info:
            ctx.connect(("localhost", server.port))
        server.join()
        assert info.value.nss_name in ("SEC_ERROR_UNKNOWN_ISSUER", "SEC_ERROR_UNTRUSTED_ISSUER")


def test_system_trust_store_is_loaded_once(client_context):
    import os

    tls.NSS_IMPLEMENTATION.client_context(tls.TLSClientConfiguration())
    tls.NSS_IMPLEMENTATION.client_context(tls.TLSClientConfiguration(trust_store=tls.TrustStore.system()))
    info = tls._nss.system_trust()
    assert info["has_roots"]
    assert info["library"] is None or os.path.basename(info["library"]) in (
        "p11-kit-trust.so", "libnssckbi.so")
