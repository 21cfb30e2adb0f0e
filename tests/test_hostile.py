"""Peers that are silent, slow, hostile or not TLS at all, and the user's
own Ctrl-C: every blocking call ends when it should, with an error that
says what happened.

Bounds on elapsed time here are correctness (a call must end within its
timeout), asserted with a wide margin; performance is in bench/.
"""

from __future__ import annotations

import errno
import json
import os
import resource
import selectors
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from peers import TIMEOUT, ThreadedServer, echo_once, need, openssl_server, peer_environment

import tls_nss as tls

def test_a_trickling_client_times_out_a_server_wrap_socket(server_context):
    with socket.create_server(("127.0.0.1", 0)) as plain_listener:
        client = socket.create_connection(plain_listener.getsockname())
        conn, _ = plain_listener.accept()
    conn.settimeout(2.0)
    threading.Thread(target=_trickle, args=(client, b"\x16\x03\x01\x02\x00"), daemon=True).start()
    elapsed, error = _timed(lambda: server_context().wrap_socket(conn))
    client.close()
    assert 1.5 < elapsed < 2 + SLACK, elapsed
    assert "handshake" in str(error)


HERE = Path(__file__).parent
SLACK = 1.5  # seconds beyond a bound that a loaded machine may need


# ---- Ctrl-C and raising signal handlers ----


def _child(call: str, port: int, pki) -> subprocess.Popen:
    argv = [sys.executable, str(HERE / "hostile_child.py"), call, str(port),
            str(pki.path("ca.pem")), str(pki.path("ec.pem")), str(pki.path("ec.key"))]
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert child.stdout is not None
    line = child.stdout.readline()
    assert line.strip() == "ready", line + child.stderr.read()
    return child


@pytest.fixture
def silent_tcp_server():
    """A TCP server that lets clients connect and never says a word."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server.getsockname()[1]


@pytest.mark.parametrize("call", ["connect", "recv", "accept", "accept-silent", "serve"])
@pytest.mark.parametrize("signum, expected", [
    (signal.SIGINT, "KeyboardInterrupt"),
    (signal.SIGUSR1, "Interrupted"),
])
def test_a_signal_ends_a_blocking_call(pki, silent_tcp_server, call, signum, expected):
    child = _child(call, silent_tcp_server, pki)
    try:
        time.sleep(0.3)  # into the call
        sent = time.monotonic()
        child.send_signal(signum)
        out, err = child.communicate(timeout=TIMEOUT)
    finally:
        child.kill()
    result = json.loads(out)
    assert result["outcome"] == expected, err
    assert result["seconds"] < 0.3 + SLACK and time.monotonic() - sent < SLACK + 1


# ---- timeouts bound whole operations ----


def _trickle(conn: socket.socket, first: bytes, seconds: float = 8.0) -> None:
    """Sends `first`, then one byte a second: never a whole record."""
    try:
        conn.sendall(first)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(1)
            conn.sendall(b"\x00")
    except OSError:
        pass


# A TLS record header announcing 16 KiB: NSS waits for all of it.
RECORD_HEADER = b"\x16\x03\x03\x40\x00"


def _timed(call):
    started = time.monotonic()
    with pytest.raises(tls.TLSTimeoutError) as info:
        call()
    return time.monotonic() - started, info.value


def test_a_trickling_server_times_out_connect():
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]

        def serve():
            conn, _ = server.accept()
            with conn:
                _trickle(conn, RECORD_HEADER)

        threading.Thread(target=serve, daemon=True).start()
        socket.setdefaulttimeout(2.0)
        ctx = tls.NSSClientContext(tls.TLSClientConfiguration())
        elapsed, error = _timed(lambda: ctx.connect(("localhost", port)))
    assert 1.5 < elapsed < 2 + SLACK, elapsed
    assert "handshake" in str(error) and "timed out after 2 s" in str(error)


def test_a_trickling_client_times_out_accept(server_context):
    listener = server_context().connect(("127.0.0.1", 0))
    listener.settimeout(2.0)
    client = socket.create_connection(listener.getsockname()[:2])
    threading.Thread(target=_trickle, args=(client, b"\x16\x03\x01\x02\x00"), daemon=True).start()
    elapsed, error = _timed(listener.accept)
    client.close()
    listener.close()
    assert 1.5 < elapsed < 2 + SLACK, elapsed
    assert "handshake" in str(error)


def _serve_a_trickled_record(pki, server: socket.socket) -> None:
    """The stdlib's TLS over a raw socket, so that its records can leave one
    byte a second after a real handshake."""
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(pki.path("ec.pem"), pki.path("ec.key"))

    def serve():
        raw, _ = server.accept()
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls_end = server_ctx.wrap_bio(incoming, outgoing, server_side=True)
        with raw:
            while True:
                try:
                    tls_end.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    raw.sendall(outgoing.read())
                    incoming.write(raw.recv(65536))
            raw.sendall(outgoing.read())
            tls_end.write(b"x" * 1000)
            record = outgoing.read()
            _trickle(raw, record[:10])

    threading.Thread(target=serve, daemon=True).start()


def test_a_trickling_server_times_out_recv(pki, client_context):
    with socket.create_server(("127.0.0.1", 0)) as server:
        _serve_a_trickled_record(pki, server)
        sock = client_context().connect(("localhost", server.getsockname()[1]))
        sock.settimeout(2.0)
        elapsed, error = _timed(lambda: sock.recv(100))
        sock.close(force=True)
    assert 1.5 < elapsed < 2 + SLACK, elapsed
    assert "receiving from" in str(error)


def test_a_trickling_server_times_out_an_sslsocket_recv(pki):
    """The same under the ssl module's API: the SSLSocket's timeout, set
    after the handshake, bounds the whole recv()."""
    context = tls.create_default_context(cafile=str(pki.path("ca.pem")))
    with socket.create_server(("127.0.0.1", 0)) as server:
        _serve_a_trickled_record(pki, server)
        raw = socket.create_connection(server.getsockname()[:2], timeout=10)
        sock = context.wrap_socket(raw, server_hostname="localhost")
        sock.settimeout(2.0)
        started = time.monotonic()
        with pytest.raises(socket.timeout, match="read operation timed out"):
            sock.recv(100)
        elapsed = time.monotonic() - started
        sock.close()
    assert 1.5 < elapsed < 2 + SLACK, elapsed


# ---- a silent client cannot stop a server ----


@pytest.fixture
def many_descriptors():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 4096
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"the hard limit of open files is {hard}; 1,000 connections need {wanted}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _serve_real_clients_among_silent_ones(ctx, port: int, stop: threading.Event) -> None:
    """1,000 clients connect and say nothing; then 20 real ones are served."""
    silent = [socket.create_connection(("127.0.0.1", port)) for _ in range(1000)]
    replies = []
    try:
        for i in range(20):
            with ctx.connect(("localhost", port)) as sock:
                sock.sendall(b"real %d" % i)
                replies.append(sock.recv(100))
    finally:
        stop.set()
        for s in silent:
            s.close()
    assert replies == [b"real %d" % i for i in range(20)]


def test_a_threaded_server_serves_while_1000_clients_are_silent(
        many_descriptors, server_context, client_context):
    """The documented pattern: accept(handshake=False) in one thread, the
    handshake in the connection's own thread, bounded by handshake_timeout."""
    server = tls.NSSServerContext(server_context().configuration, handshake_timeout=5.0)
    listener = server.connect(("127.0.0.1", 0))
    listener.listen(1024)
    port = listener.getsockname()[1]
    stop = threading.Event()

    def handle(conn):
        with conn:
            try:
                conn.do_handshake()
                conn.sendall(conn.recv(100))
            except tls.TLSError:
                pass

    def accept_loop():
        while not stop.is_set():
            try:
                conn, _ = listener.accept(handshake=False)
            except tls.TLSError:
                continue
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    listener.settimeout(0.5)
    threading.Thread(target=accept_loop, daemon=True).start()
    _serve_real_clients_among_silent_ones(client_context(), port, stop)
    listener.close()


def test_a_non_blocking_server_serves_while_1000_clients_are_silent(
        many_descriptors, server_context, client_context):
    """The documented pattern: a non-blocking listener and a selector; each
    connection's handshake goes on when its socket is readable."""
    listener = server_context().connect(("127.0.0.1", 0))
    listener.listen(1024)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    stop = threading.Event()

    def event_loop():
        selector = selectors.DefaultSelector()
        selector.register(listener.fileno(), selectors.EVENT_READ, None)
        while not stop.is_set():
            for key, _ in selector.select(timeout=0.2):
                if key.data is None:
                    try:
                        conn, _ = listener.accept()
                    except tls.WantReadError:
                        continue
                    selector.register(conn.fileno(), selectors.EVENT_READ, conn)
                    continue
                conn = key.data
                try:
                    conn.do_handshake()
                    data = conn.recv(100)
                except tls.WantReadError:
                    continue
                except tls.TLSError:
                    data = b""
                selector.unregister(key.fd)
                if data:
                    conn.setblocking(True)
                    conn.sendall(data)
                conn.close(force=True)
        selector.close()

    threading.Thread(target=event_loop, daemon=True).start()
    _serve_real_clients_among_silent_ones(client_context(), port, stop)


def test_accept_bounds_a_silent_clients_handshake_by_the_context(server_context):
    server = tls.NSSServerContext(server_context().configuration, handshake_timeout=1.0)
    listener = server.connect(("127.0.0.1", 0))
    listener.settimeout(None)
    silent = socket.create_connection(listener.getsockname()[:2])
    elapsed, error = _timed(listener.accept)
    silent.close()
    listener.close()
    assert 0.5 < elapsed < 1 + SLACK, elapsed
    assert "timed out after 1 s" in str(error)


# ---- peers that do not speak TLS ----


@pytest.mark.parametrize("banner", [b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n",
                                    b"\x8a\x11\xe3\x05random bytes, not a record"])
def test_a_server_that_does_not_speak_tls_fails_at_once(client_context, banner):
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]

        def serve():
            conn, _ = server.accept()
            with conn:
                conn.sendall(banner)
                time.sleep(3)

        threading.Thread(target=serve, daemon=True).start()
        started = time.monotonic()
        with pytest.raises(tls.TLSError, match="does not speak TLS") as info:
            client_context().connect(("localhost", port))
    assert time.monotonic() - started < SLACK
    assert repr(banner[:8]) in str(info.value)


def test_a_client_that_does_not_speak_tls_fails_at_once(server_context):
    listener = server_context().connect(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname()[:2])
    client.sendall(b"GET / HTTP/1.1\r\nHost: example.test\r\n\r\n")
    started = time.monotonic()
    with pytest.raises(tls.TLSError, match="does not speak TLS") as info:
        listener.accept()
    assert time.monotonic() - started < SLACK
    assert "b'GET / HT'" in str(info.value)
    client.close()
    listener.close()


def test_a_buffer_tells_a_peer_that_does_not_speak_tls(server_context, client_context):
    client = client_context().create_buffer("localhost")
    with pytest.raises(tls.WantReadError):
        client.do_handshake()
    client.process_incoming(b"SSH-2.0-OpenSSH_9.2p1\r\n")
    with pytest.raises(tls.TLSError, match="does not speak TLS"):
        client.do_handshake()
    server = server_context().create_buffer()
    server.process_incoming(b"\x16\x03\x01")  # a TLS start is not judged wrong
    with pytest.raises(tls.WantReadError):
        server.do_handshake()


# ---- closing from another thread ----


def test_a_recv_woken_by_a_local_close_says_so(server_context, client_context):
    server = ThreadedServer(server_context(), lambda conn: time.sleep(1))
    sock = client_context().connect(("localhost", server.port))
    sock.settimeout(None)
    threading.Timer(0.3, sock.close).start()
    with pytest.raises(tls.TLSConnectionError) as info:
        sock.recv(100)
    assert info.value.errno == errno.EBADF
    assert not isinstance(info.value, tls.RaggedEOF)
    assert "closed by another thread" in str(info.value)
    with pytest.raises(tls.TLSConnectionError) as after:
        sock.recv(100)
    assert after.value.errno == errno.EBADF
    server.join()


# ---- client chains are sent whole ----


def _chained_client_context(pki, **kwargs):
    issued = pki.issued["chained-client"]
    chain = tls.SigningChain(
        leaf=(tls.Certificate.from_file(pki.path("chained-client.pem")),
              tls.PrivateKey.from_file(pki.path("chained-client.key"))),
        chain=[tls.Certificate.from_buffer(issued.chain_pem)])
    return tls.NSSClientContext(tls.TLSClientConfiguration(
        certificate_chain=chain, trust_store=pki.trust(), **kwargs))


@pytest.mark.parametrize("version", [tls.TLSVersion.TLSv1_2, tls.TLSVersion.TLSv1_3])
def test_a_client_chain_reaches_openssl_whole(pki, version):
    server = openssl_server(pki, "ec", args=["-Verify", "2", "-CAfile", str(pki.path("ca.pem"))])
    ctx = _chained_client_context(pki, highest_supported_version=version)
    with ctx.connect(("localhost", server.port)) as sock:
        sock.sendall(b"chain\n")
        assert sock.recv(100) == b"niahc\n"
    output = server.output()
    assert "unable to get local issuer certificate" not in output


def test_a_client_chain_reaches_our_server_whole(pki, server_context):
    server = ThreadedServer(server_context("ec", trust_store=pki.trust()), echo_once)
    with _chained_client_context(pki).connect(("localhost", server.port)) as sock:
        sock.sendall(b"chain")
        assert sock.recv(100) == b"chain"
    server.join()
    assert not server.errors
    assert server.results[0]["peercert"] == pki.issued["chained-client"].cert_der


# ---- the insecure module warns at every step ----


def test_insecure_buffers_warn(pki, server_context):
    insecure = pytest.importorskip("tls_nss.insecure")
    with pytest.warns(insecure.SecurityWarning):
        options = insecure.InsecureConfiguration(disable_verification=True)
        client_ctx = insecure.NSSInsecureClientContext(tls.TLSClientConfiguration(), options)
        server_ctx = insecure.NSSInsecureServerContext(server_context().configuration, options)
    with pytest.warns(insecure.SecurityWarning, match="buffer"):
        client_ctx.create_buffer("localhost")
    with pytest.warns(insecure.SecurityWarning, match="buffer"):
        server_ctx.create_buffer()


# ---- errors name the right culprit ----


def _buffers(client_ctx, server_ctx):
    return client_ctx.create_buffer("localhost"), server_ctx.create_buffer()


def _run_handshake(client, server, tamper_client=None, tamper_server=None):
    """Drives a pair of buffers; the tamper functions may change a flight."""
    ends = [(client, server, tamper_client), (server, client, tamper_server)]
    for _ in range(20):
        for end, other, tamper in ends:
            try:
                end.do_handshake()
            except tls.WantReadError:
                pass
            data = end.process_outgoing(end.outgoing_bytes_buffered())
            if data:
                other.process_incoming(tamper(data) if tamper else data)
        if client.negotiated_tls_version and server.negotiated_tls_version:
            return


def test_a_bad_key_share_is_no_certificate_error(server_context, client_context):
    def zero_x25519_share(flight: bytes) -> bytes:
        # The key_share extension's x25519 entry (group 0x001d, length 32);
        # where the policy leaves x25519 out (FIPS), the X25519 half of an
        # X25519MLKEM768 entry (group 0x11ec, 1184 bytes of ML-KEM first).
        at = flight.find(b"\x00\x1d\x00\x20")
        if at > 0:
            return flight[: at + 4] + bytes(32) + flight[at + 36:]
        at = flight.find(b"\x11\xec\x04\xc0")
        assert at > 0, "no x25519 key share in the ClientHello"
        start = at + 4 + 1184
        return flight[:start] + bytes(32) + flight[start + 32:]

    client, server = _buffers(client_context(), server_context("ec"))
    with pytest.raises(tls.TLSError) as info:
        _run_handshake(client, server, tamper_client=zero_x25519_share)
    assert not isinstance(info.value, tls.CertificateVerificationError), info.value


def test_a_bad_handshake_signature_is_no_certificate_error(server_context, client_context):
    """TLS 1.2 signs the ServerKeyExchange in the clear: a flipped bit of
    that signature is a bad signature over the handshake, not a bad
    certificate."""
    def flip_server_key_exchange_signature(flight: bytes) -> bytes:
        at = flight.find(b"\x0c\x00")  # handshake type server_key_exchange
        if at < 0:
            return flight
        last = at + 4 + int.from_bytes(flight[at + 1:at + 4], "big") - 1
        return flight[:last] + bytes([flight[last] ^ 1]) + flight[last + 1:]

    client, server = _buffers(
        client_context(highest_supported_version=tls.TLSVersion.TLSv1_2),
        server_context("ec"))
    with pytest.raises(tls.TLSError) as info:
        _run_handshake(client, server, tamper_server=flip_server_key_exchange_signature)
    assert not isinstance(info.value, tls.CertificateVerificationError), info.value


def test_a_bad_certificate_is_a_certificate_error(server_context, client_context):
    client, server = _buffers(client_context(trust="other-ca"), server_context("ec"))
    with pytest.raises(tls.CertificateVerificationError) as info:
        _run_handshake(client, server)
    assert info.value.reason in ("unknown issuer", "untrusted issuer")


# ---- renegotiation ----


def test_a_refused_renegotiation_leaves_the_connection_to_the_peer(pki, server_context):
    """NSS answers a TLS 1.2 renegotiation with no_renegotiation and goes on;
    recv() reads on, and what ends the connection is the peer's own choice
    (OpenSSL's s_client gives up with a handshake_failure alert)."""
    listener = server_context("ec").connect(("127.0.0.1", 0))
    client = subprocess.Popen(
        [need("openssl"), "s_client", "-connect", f"127.0.0.1:{listener.getsockname()[1]}",
         "-tls1_2"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, env=peer_environment())
    try:
        conn, _ = listener.accept()
        assert client.stdin is not None
        client.stdin.write(b"before\n")
        client.stdin.flush()
        assert conn.recv(100) == b"before\n"
        client.stdin.write(b"R\n")  # s_client's command: renegotiate
        client.stdin.flush()
        with pytest.raises(tls.TLSError) as info:
            conn.recv(100)
        assert info.value.nss_name != "SSL_ERROR_RENEGOTIATION_NOT_ALLOWED", info.value
        assert info.value.nss_name == "SSL_ERROR_HANDSHAKE_FAILURE_ALERT", info.value
    finally:
        client.kill()
        client.wait()
        if client.stdin is not None:
            client.stdin.close()
        listener.close()
