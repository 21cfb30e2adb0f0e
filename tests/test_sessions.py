"""Session resumption, owned by each client context and bounded; tickets
on servers; TCP_NODELAY on every socket the library makes."""

from __future__ import annotations

import os
import socket

import pytest
from peers import ThreadedServer, echo_once

import tls_nss as tls

V12, V13 = tls.TLSVersion.TLSv1_2, tls.TLSVersion.TLSv1_3


def _exchange(ctx, port, host="localhost"):
    """One connection with a round trip (which also reads a TLS 1.3 ticket)."""
    with ctx.connect((host, port)) as sock:
        sock.sendall(b"ping")
        assert sock.recv(100) == b"ping"
        return sock.session_reused


def _server(server_context, connections, **kwargs):
    config = server_context("ec").configuration
    return ThreadedServer(tls.NSSServerContext(config, **kwargs), echo_once, connections)


def _client(pki, size=100, **config):
    return tls.NSSClientContext(tls.TLSClientConfiguration(trust_store=pki.trust(), **config),
                                session_cache_size=size)


@pytest.mark.parametrize("version", [V12, V13])
def test_a_second_connection_resumes(pki, server_context, version):
    server = _server(server_context, 2)
    client = _client(pki, highest_supported_version=version)
    assert _exchange(client, server.port) is False
    assert client.cached_sessions == 1
    assert _exchange(client, server.port) is True
    server.join()
    assert [r["version"] for r in server.results] == [version, version]


def test_a_cache_of_zero_never_resumes(pki, server_context):
    server = _server(server_context, 3)
    client = _client(pki, size=0)
    assert [_exchange(client, server.port) for _ in range(3)] == [False] * 3
    assert client.cached_sessions == 0
    server.join()


def test_the_cache_keeps_the_most_recent_servers(pki, server_context):
    servers = [_server(server_context, n) for n in (2, 1, 1, 2)]
    client = _client(pki, size=3)
    for server in servers:
        assert _exchange(client, server.port) is False
    assert client.cached_sessions == 3
    # The first server's session went first; the last one's is there.
    assert _exchange(client, servers[0].port) is False
    assert _exchange(client, servers[3].port) is True
    assert client.cached_sessions == 3
    for server in servers:
        server.join()


def test_a_session_is_used_once(pki, server_context):
    """Offering a ticket takes it out of the cache; the server's next ticket,
    read after the handshake, takes its place."""
    server = _server(server_context, 2)
    client = _client(pki, highest_supported_version=V13)
    _exchange(client, server.port)
    assert client.cached_sessions == 1
    with client.connect(("localhost", server.port)) as sock:
        assert sock.session_reused
        assert client.cached_sessions == 0
        sock.sendall(b"ping")
        sock.recv(100)
        assert client.cached_sessions == 1
    server.join()


def test_sessions_are_kept_per_server_name(pki, server_context):
    server = _server(server_context, 2)
    client = _client(pki)
    _exchange(client, server.port, "localhost")
    assert _exchange(client, server.port, "127.0.0.1") is False
    server.join()


@pytest.mark.parametrize("version", [V12, V13])
def test_a_server_without_tickets_resumes_nothing(pki, server_context, version):
    """Our clients resume from tickets only: NSS hands out no session ID
    of TLS 1.2 to an application's cache."""
    server = _server(server_context, 2, session_tickets=False)
    client = _client(pki, highest_supported_version=version)
    assert [_exchange(client, server.port) for _ in range(2)] == [False, False]
    assert client.cached_sessions == 0
    server.join()


def test_the_cache_stays_bounded_over_many_handshakes(pki, server_context):
    server = _server(server_context, 200)
    client = _client(pki, size=5)
    for _ in range(200):
        _exchange(client, server.port)
        assert client.cached_sessions <= 1
    server.join()


def test_session_cache_size_is_checked(pki):
    with pytest.raises(ValueError):
        _client(pki, size=-1)
    with pytest.raises(TypeError):
        _client(pki, size="100")


def _no_delay(fd: int) -> bool:
    with socket.socket(fileno=os.dup(fd)) as view:
        return bool(view.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))


def test_sockets_send_without_nagle(pki, server_context):
    seen = []
    config = server_context("ec").configuration
    server = ThreadedServer(tls.NSSServerContext(config),
                            lambda conn: seen.append(_no_delay(conn.fileno())) or echo_once(conn))
    with _client(pki).connect(("localhost", server.port)) as sock:
        assert _no_delay(sock.fileno())
        sock.sendall(b"x")
        sock.recv(10)
    server.join()
    assert seen == [True]
