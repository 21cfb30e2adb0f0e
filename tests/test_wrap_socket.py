"""NSSClientContext.wrap_socket: TLS over a socket the program already has
(STARTTLS), against the ssl module's server side (OpenSSL)."""

from __future__ import annotations

import socket
import ssl
import threading

import pytest

import tls_nss as tls


def _starttls_server(pki, listener: socket.socket, outcome: dict) -> None:
    """A line-based server: greets, takes STARTTLS, then speaks TLS."""
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(pki.path("ec.pem"), pki.path("ec.key"))
    conn, _ = listener.accept()
    with conn:
        conn.sendall(b"220 plain text here\r\n")
        outcome["command"] = conn.recv(100)
        conn.sendall(b"220 go ahead\r\n")
        with server.wrap_socket(conn, server_side=True) as secure:
            outcome["secret"] = secure.recv(100)
            secure.sendall(b"250 secret received\r\n")


def test_starttls_line_by_line(pki, client_context):
    listener = socket.create_server(("127.0.0.1", 0))
    outcome: dict = {}
    thread = threading.Thread(target=_starttls_server, args=(pki, listener, outcome))
    thread.start()
    plain = socket.create_connection(listener.getsockname())
    plain.settimeout(5)
    reader = plain.makefile("rb", buffering=0)   # unbuffered: no reading ahead
    assert reader.readline() == b"220 plain text here\r\n"
    plain.sendall(b"STARTTLS\r\n")
    assert reader.readline() == b"220 go ahead\r\n"
    reader.close()
    sock = client_context().wrap_socket(plain, "localhost")
    assert plain.fileno() == -1            # detached: the TLS socket owns it
    assert sock.gettimeout() == 5
    assert sock.negotiated_tls_version == tls.TLSVersion.TLSv1_3
    sock.sendall(b"the secret\r\n")
    assert sock.recv(100) == b"250 secret received\r\n"
    sock.close(force=True)
    thread.join(5)
    listener.close()
    assert outcome == {"command": b"STARTTLS\r\n", "secret": b"the secret\r\n"}


def test_wrap_socket_verifies_the_name_it_is_given(pki, client_context):
    listener = socket.create_server(("127.0.0.1", 0))
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(pki.path("ec.pem"), pki.path("ec.key"))

    def serve():
        conn, _ = listener.accept()
        try:
            server.wrap_socket(conn, server_side=True).close()
        except (ssl.SSLError, OSError):
            conn.close()

    thread = threading.Thread(target=serve)
    thread.start()
    plain = socket.create_connection(listener.getsockname())
    with pytest.raises(tls.CertificateVerificationError) as caught:
        client_context().wrap_socket(plain, "elsewhere.test")
    assert caught.value.nss_name == "SSL_ERROR_BAD_CERT_DOMAIN"
    thread.join(5)
    listener.close()


@pytest.mark.parametrize("make, error, words", [
    (lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM), ValueError, "TCP"),
    (lambda: socket.create_server(("127.0.0.1", 0)), ValueError, "listening"),
    (lambda: socket.socket(), ValueError, "not connected"),
])
def test_bad_sockets_are_refused_and_left_usable(client_context, make, error, words):
    sock = make()
    with pytest.raises(error, match=words):
        client_context().wrap_socket(sock, "localhost")
    assert sock.fileno() >= 0     # not detached: still the caller's
    sock.close()


def test_closed_socket_and_wrong_types_are_refused(client_context):
    sock = socket.socket()
    sock.close()
    with pytest.raises(ValueError, match="closed"):
        client_context().wrap_socket(sock, "localhost")
    with pytest.raises(TypeError, match="socket.socket"):
        client_context().wrap_socket(3, "localhost")
    listener = socket.create_server(("127.0.0.1", 0))
    plain = socket.create_connection(listener.getsockname())
    with pytest.raises(TypeError, match="server_hostname"):
        client_context().wrap_socket(plain, b"localhost")
    with pytest.raises(ValueError, match="server_hostname is needed"):
        client_context().wrap_socket(plain, None)
    assert plain.fileno() >= 0
    plain.close()
    listener.close()
