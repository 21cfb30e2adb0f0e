"""Non-blocking TLS sockets: WantReadError/WantWriteError instead of
blocking, driven through a selector against openssl s_server."""

from __future__ import annotations

import selectors
import time

import pytest
from peers import TIMEOUT, ThreadedServer, openssl_server

import tls_nss as tls


def _wait(sock, events) -> None:
    with selectors.DefaultSelector() as selector:
        selector.register(sock.fileno(), events)
        assert selector.select(TIMEOUT), "the socket never became ready"


def test_selector_driven_client_against_openssl(pki, client_context):
    server = openssl_server(pki)
    sock = client_context().connect(("localhost", server.port))
    sock.setblocking(False)
    assert sock.gettimeout() == 0.0 and not sock.getblocking()

    with pytest.raises(tls.WantReadError):
        sock.recv(100)  # nothing sent yet, nothing to read

    message = b"".join(b"line %d\n" % i for i in range(2000))
    sent = 0
    while sent < len(message):
        try:
            sent += sock.send(message[sent:])
        except tls.WantWriteError:
            _wait(sock, selectors.EVENT_WRITE)

    expected = b"".join((b"line %d" % i)[::-1] + b"\n" for i in range(2000))
    received = b""
    deadline = time.monotonic() + TIMEOUT
    while len(received) < len(expected) and time.monotonic() < deadline:
        try:
            received += sock.recv(65536)
        except tls.WantReadError:
            _wait(sock, selectors.EVENT_READ)
    assert received == expected

    # close(force=False): close_notify goes out, then WantReadError until
    # the peer's close_notify has been read.
    closed = False
    deadline = time.monotonic() + TIMEOUT
    while not closed and time.monotonic() < deadline:
        try:
            sock.close()
            closed = True
        except tls.WantReadError:
            _wait(sock, selectors.EVENT_READ)
    assert closed and sock.fileno() == -1
    server.stop()


def test_non_blocking_server_side(server_context, client_context):
    """accept() on a non-blocking listener, and a non-blocking connection."""
    listener = server_context().connect(("127.0.0.1", 0))
    listener.setblocking(False)
    with pytest.raises(tls.WantReadError):
        listener.accept()
    port = listener.getsockname()[1]

    import threading

    result = {}

    def client():
        with client_context().connect(("localhost", port)) as sock:
            sock.sendall(b"hello")
            result["reply"] = sock.recv(10)

    thread = threading.Thread(target=client)
    thread.start()
    _wait(listener, selectors.EVENT_READ)
    listener.settimeout(TIMEOUT)  # the handshake after accept may wait for the client
    conn, _ = listener.accept()
    conn.setblocking(False)
    data = b""
    while not data:
        try:
            data = conn.recv(10)
        except tls.WantReadError:
            _wait(conn, selectors.EVENT_READ)
    conn.send(data)
    thread.join(TIMEOUT)
    assert result["reply"] == b"hello"
    conn.close(force=True)
    listener.close()
