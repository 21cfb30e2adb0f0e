"""The recipes of docs/integration.md, run against real peers: STARTTLS,
socket activation, certificate rotation under load, optional client
certificates; and the page shows each recipe as it is."""

from __future__ import annotations

import importlib.util
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import tls_nss as tls
from peers import TIMEOUT, ThreadedServer, echo_once, free_port, need, run_client

RECIPES = Path(__file__).parent.parent / "docs" / "integration"


def _recipe(name: str):
    spec = importlib.util.spec_from_file_location(name, RECIPES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_page_shows_every_recipe_as_it_is():
    page = (RECIPES.parent / "integration.md").read_text()
    for path in sorted(RECIPES.glob("*.py")):
        assert path.read_text() in page, f"docs/integration.md does not show {path.name}"


def test_starttls_server_against_openssl_s_client(pki):
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, str(RECIPES / "starttls_server.py"), str(pki.path("ec.pem")),
         str(pki.path("ec.key")), str(port)], stdout=subprocess.PIPE, text=True)
    assert server.stdout.readline().strip() == "ready"
    done = run_client([need("openssl"), "s_client", "-connect", f"127.0.0.1:{port}",
                       "-starttls", "smtp", "-crlf", "-CAfile", str(pki.path("ca.pem")),
                       "-verify_return_error", "-quiet"], data=b"QUIT\n")
    out, _ = server.communicate(timeout=TIMEOUT)
    assert out.strip() == "QUIT"
    assert b"over TLS now" in done.stdout and b"221 Bye" in done.stdout


def test_socket_activation_in_a_child(pki, client_context):
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    # As systemd does: the socket as descriptor 3, and LISTEN_PID the
    # process's own, which exec keeps.
    systemd = ("import os, sys; os.dup2(int(sys.argv[1]), 3); "
               "os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS='1'); "
               "os.execv(sys.executable, [sys.executable, *sys.argv[2:]])")
    child = subprocess.Popen(
        [sys.executable, "-c", systemd, str(listener.fileno()),
         str(RECIPES / "socket_activation.py"), str(pki.path("ec.pem")), str(pki.path("ec.key"))],
        pass_fds=(listener.fileno(),))
    listener.close()
    with client_context().connect(("localhost", port)) as sock:
        sock.sendall(b"hello")
        assert sock.recv(10) == b"HELLO"
    assert child.wait(TIMEOUT) == 0


def test_rotation_under_load(pki, client_context):
    rotation = _recipe("rotation")
    listener = rotation.server_context(pki.path("ec.pem"), pki.path("ec.key")).connect(
        ("127.0.0.1", 0))
    listener.listen(64)
    port = listener.getsockname()[1]
    stop = threading.Event()
    failures: list[BaseException] = []
    seen: list[tuple[float, bytes]] = []

    def echo(conn):
        conn.settimeout(TIMEOUT)
        with conn:
            conn.sendall(conn.recv(10))

    def serve():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except tls.TLSError:
                continue
            threading.Thread(target=echo, args=(conn,)).start()

    def connect_in_a_loop():
        client = tls.NSSClientContext(tls.TLSClientConfiguration(trust_store=pki.trust()),
                                      session_cache_size=0)
        while not stop.is_set():
            started = time.monotonic()
            try:
                with client.connect(("localhost", port)) as sock:
                    sock.sendall(b"x")
                    assert sock.recv(10) == b"x"
                    seen.append((started, sock.getpeercert()))
            except BaseException as e:  # noqa: BLE001 - reported below
                failures.append(e)

    listener.settimeout(0.2)
    threads = [threading.Thread(target=serve), threading.Thread(target=connect_in_a_loop)]
    for t in threads:
        t.start()
    # A connection open across the rotation keeps working.
    held = client_context().connect(("localhost", port))
    time.sleep(0.5)
    rotation.rotate(listener, pki.path("ec384.pem"), pki.path("ec384.key"))
    rotated_at = time.monotonic()
    time.sleep(0.5)
    held.sendall(b"still")
    assert held.recv(10) == b"still"
    held.close(force=True)
    stop.set()
    for t in threads:
        t.join(TIMEOUT)
    listener.close()
    assert not failures, failures[:3]
    before = [cert for started, cert in seen if started < rotated_at]
    after = [cert for started, cert in seen if started > rotated_at]
    assert before and after
    assert set(after) == {pki.issued["ec384"].cert_der}
    assert before[0] == pki.issued["ec"].cert_der


def test_context_can_be_set_only_on_listeners_and_only_to_server_contexts(pki, server_context,
                                                                          client_context):
    listener = server_context("ec").connect(("127.0.0.1", 0))
    with pytest.raises(TypeError, match="NSSServerContext"):
        listener.context = client_context()
    with pytest.raises(TypeError, match="NSSServerContext"):
        listener.context = "not a context"
    server = ThreadedServer(server_context("ec"), echo_once)
    with client_context().connect(("localhost", server.port)) as sock:
        with pytest.raises(TypeError, match="listening"):
            sock.context = server_context("ec")
        sock.sendall(b"x")
        sock.recv(1)
    server.join()
    listener.close()


def test_optional_client_certificates(pki, client_context):
    recipe = _recipe("optional_client_certificates")
    ctx = recipe.server_context(pki.path("ec.pem"), pki.path("ec.key"), pki.path("ca.pem"))
    for chain, expected in ((None, "anonymous"), (pki.signing_chain("client"), "CN=tls_nss test client")):
        server = ThreadedServer(ctx, lambda conn: (conn.recv(1), recipe.who(conn))[1])
        with client_context(certificate_chain=chain).connect(("localhost", server.port)) as sock:
            sock.sendall(b"x")
        server.join()
        assert server.results == [expected], server.errors
    # A certificate that does not verify is refused, even though one is optional.
    server = ThreadedServer(ctx, echo_once)
    with pytest.raises(tls.TLSError):
        with client_context(certificate_chain=pki.signing_chain("other-client")).connect(
                ("localhost", server.port)) as sock:
            sock.sendall(b"x")
            sock.recv(1)
    server.join()
    assert any(isinstance(e, tls.CertificateVerificationError) for e in server.errors)


def test_client_certificate_modes_that_make_no_sense_are_refused(pki):
    chain = [pki.signing_chain("ec")]
    with_trust = tls.TLSServerConfiguration(certificate_chain=chain, trust_store=pki.trust())
    without = tls.TLSServerConfiguration(certificate_chain=chain)
    with pytest.raises(tls.ConfigurationError, match="unused"):
        tls.NSSServerContext(with_trust, client_certificate="none")
    for mode in ("required", "optional"):
        with pytest.raises(tls.ConfigurationError, match="needs a trust store"):
            tls.NSSServerContext(without, client_certificate=mode)
    with pytest.raises(ValueError):
        tls.NSSServerContext(with_trust, client_certificate="sometimes")
    assert tls.NSSServerContext(without, client_certificate="none")


def test_server_wrap_socket_refuses_what_it_cannot_use(server_context):
    ctx = server_context("ec")
    unconnected = socket.socket()
    with pytest.raises(ValueError, match="not connected"):
        ctx.wrap_socket(unconnected)
    assert unconnected.fileno() >= 0
    unconnected.close()
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with pytest.raises(ValueError, match="TCP"):
        ctx.wrap_socket(udp)
    udp.close()
    with pytest.raises(TypeError):
        ctx.wrap_socket(os.getpid())


def test_server_wrap_socket_bounds_a_silent_client(server_context):
    """A connected client that never sends its ClientHello: the server
    handshake ends at the socket's timeout, not never."""
    listener = socket.create_server(("127.0.0.1", 0))
    silent = socket.create_connection(listener.getsockname())
    conn, _ = listener.accept()
    conn.settimeout(0.5)
    started = time.monotonic()
    with pytest.raises(tls.TLSTimeoutError):
        server_context("ec").wrap_socket(conn)
    assert time.monotonic() - started < TIMEOUT
    silent.close()
    listener.close()


def _line_within(stream, seconds: float) -> str:
    """The next line of a child's output, or TimeoutError: a parent or
    worker that hangs fails the test instead of stalling it."""
    ready, _, _ = select.select([stream], [], [], seconds)
    if not ready:
        raise TimeoutError(f"no line within {seconds} s")
    return stream.readline()


def test_prefork_parent_exits_when_a_worker_cannot_start(pki):
    """A worker whose context fails (here: a key that does not match the
    certificate) exits; the parent notices instead of waiting for it."""
    done = subprocess.run(
        [sys.executable, str(RECIPES / "prefork_server.py"), str(pki.path("ec.pem")),
         str(pki.path("rsa.key")), "2"], capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 1, done
    assert "only 0 of 2 workers started" in done.stderr, done.stderr
    assert "ConfigurationError" in done.stderr, done.stderr


@pytest.mark.parametrize("key", ["rsa", "ec"])
def test_prefork_workers_share_sessions(pki, key):
    """Four workers, each serving one connection: every connection after
    the first lands in another worker, and resumes the session the worker
    before it issued (a ticket whose keys every worker can unwrap), whether
    the certificate's key is RSA or EC."""
    server = subprocess.Popen(
        [sys.executable, str(RECIPES / "prefork_server.py"), str(pki.path(f"{key}.pem")),
         str(pki.path(f"{key}.key")), "4"], stdout=subprocess.PIPE, text=True,
        start_new_session=True)
    seen = []
    try:
        port = int(_line_within(server.stdout, TIMEOUT))
        client = tls.NSSClientContext(tls.TLSClientConfiguration(trust_store=pki.trust()))
        for _ in range(4):
            with client.connect(("localhost", port)) as sock:
                sock.sendall(b"hello")
                served_by = sock.recv(100)
                seen.append((served_by, sock.session_reused))
        assert server.wait(TIMEOUT) == 0
    finally:
        if server.poll() is None:               # the parent and its workers
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        if server.stdout is not None:
            server.stdout.close()
    assert len({served_by for served_by, _ in seen}) == 4      # four workers
    assert [resumed for _, resumed in seen] == [False, True, True, True], seen
