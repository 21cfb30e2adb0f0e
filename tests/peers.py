"""Real TLS peers on loopback: OpenSSL and GnuTLS command-line tools, and
this package's own server running in a thread."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Optional

import pytest

import tls_nss as tls

TIMEOUT = 10.0


def peer_environment() -> dict[str, str]:
    """The environment for peer tools: without a sanitizer preloaded into
    this interpreter, which some of them do not survive (gnutls-cli hangs)."""
    return {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "ASAN_OPTIONS")}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            out = process.stdout.read() if process.stdout else ""
            raise RuntimeError(f"peer exited with {process.returncode}: {out}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


def stop_process(process: subprocess.Popen) -> str:
    """Terminates a server started for a test (killed if it will not go);
    what it printed."""
    process.terminate()
    try:
        out, _ = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        out, _ = process.communicate()
    return str(out)


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed")
    return path


class ServerProcess:
    """A command-line TLS server, stopped when the test ends.

    It is ready once it prints ``ready_line``, or, without one, once its
    port accepts a connection.
    """

    def __init__(self, argv: Sequence[str], port: int, ready_line: str | None = None) -> None:
        self.port = port
        self.process = subprocess.Popen(
            list(argv),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=peer_environment(),
        )
        if ready_line is None:
            wait_for_port(port, self.process)
        else:
            _wait_for_line(self, ready_line)

    def output(self) -> str:
        self._end()
        assert self.process.stdout is not None
        text = self.process.stdout.read()
        self._close_pipes()
        return text

    def stop(self) -> None:
        self._end()
        self._close_pipes()

    def _end(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def _close_pipes(self) -> None:
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()


def openssl_server(pki: Any, cert: str = "rsa", *, args: Sequence[str] = (), rev: bool = True) -> ServerProcess:
    """openssl s_server on loopback, reversing each line it receives.

    It is ready when it says ACCEPT: a probe of its port would be taken as
    its only client when -naccept is given.
    """
    port = free_port()
    argv = [
        need("openssl"), "s_server", "-accept", f"127.0.0.1:{port}",
        "-cert", str(pki.path(f"{cert}.pem")), "-key", str(pki.path(f"{cert}.key")),
        "-naccept", "1",
    ]
    if rev:
        argv.append("-rev")
    return ServerProcess(argv + list(args), port, ready_line="ACCEPT")


def gnutls_server(pki: Any, cert: str = "rsa", *, args: Sequence[str] = ()) -> ServerProcess:
    """gnutls-serv on loopback, echoing what it receives."""
    port = free_port()
    argv = [
        need("gnutls-serv"), "--port", str(port), "--echo",
        "--x509certfile", str(pki.path(f"{cert}.pem")),
        "--x509keyfile", str(pki.path(f"{cert}.key")),
    ]
    return ServerProcess(argv + list(args), port)


def _wait_for_line(server: ServerProcess, text: str) -> None:
    assert server.process.stdout is not None
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        line = server.process.stdout.readline()
        if text in line:
            return
        if not line and server.process.poll() is not None:
            break
    raise RuntimeError(f"the server never said {text!r}")


def run_client(argv: Sequence[str], data: bytes = b"", timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    """A command-line TLS client; returns its exit status and output."""
    return subprocess.run(
        list(argv), input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
        env=peer_environment(),
    )


class ThreadedServer:
    """One of our server sockets, accepting connections in a thread and
    handing each to ``handler``. Errors in the thread are kept for the test."""

    def __init__(self, context: Any, handler: Callable[[Any], None], connections: int = 1) -> None:
        self.listener = context.connect(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.errors: list[BaseException] = []
        self.results: list[Any] = []
        self._handler = handler
        self._thread = threading.Thread(target=self._serve, args=(connections,), daemon=True)
        self._thread.start()

    def _serve(self, connections: int) -> None:
        for _ in range(connections):
            try:
                conn, _ = self.listener.accept()
            except BaseException as e:  # noqa: BLE001 - reported to the test
                self.errors.append(e)
                continue
            try:
                with conn:
                    self.results.append(self._handler(conn))
            except BaseException as e:  # noqa: BLE001
                self.errors.append(e)

    def join(self) -> None:
        self._thread.join(TIMEOUT)
        assert not self._thread.is_alive(), "the server thread did not finish"
        self.listener.close()


def echo_once(conn: Any) -> dict[str, Any]:
    """Echo one message back and report what the server side saw."""
    data = conn.recv(65536)
    conn.sendall(data)
    return {
        "data": data,
        "cipher": conn.cipher(),
        "version": conn.negotiated_tls_version,
        "protocol": conn.negotiated_protocol(),
        "peercert": conn.getpeercert(),
    }


def handshake_buffers(client: Any, server: Any) -> tuple[Any, Any]:
    """Run the handshake between a client and a server TLSBuffer, carrying
    the bytes between them; b"" would say the network ended, so none is
    passed on."""
    for _ in range(10):
        for side in (client, server):
            try:
                side.do_handshake()
            except tls.WantReadError:
                pass
        for source, sink in ((client, server), (server, client)):
            data = source.process_outgoing(source.outgoing_bytes_buffered())
            if data:
                sink.process_incoming(data)
        if client.negotiated_tls_version and server.negotiated_tls_version:
            return client, server
    raise AssertionError("the buffers did not finish their handshake")


def handshake_ssl_objects(client_ctx: ssl.SSLContext, server_ctx: ssl.SSLContext,
                          bios: Optional[tuple[ssl.MemoryBIO, ...]] = None
                          ) -> tuple[ssl.SSLObject, ssl.SSLObject, Callable[[], None]]:
    """A client and a server ssl.SSLObject over MemoryBIOs, past the
    handshake, and the function that moves what each side has sent. The
    BIOs are `bios` if given (the client's incoming and outgoing, then the
    server's), for a caller that carries bytes itself afterwards."""
    c_in, c_out, s_in, s_out = bios or tuple(ssl.MemoryBIO() for _ in range(4))
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname="localhost")
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)

    def move() -> None:
        s_in.write(c_out.read())
        c_in.write(s_out.read())

    for _ in range(10):
        for side in (client, server):
            try:
                side.do_handshake()
            except ssl.SSLWantReadError:
                pass
        move()
    return client, server, move
