"""Blocks in one call against a silent peer, on the main thread, and
reports how it ended: run by test_hostile.py, which interrupts it.

    hostile_child.py connect|recv|accept|accept-silent|serve PORT CA CERT KEY

It prints "ready" when the call is about to block, then, when the call
ends, one JSON line: the exception's type and the seconds it took.
SIGUSR1 raises Interrupted, a handler's own exception.
"""

from __future__ import annotations

import json
import signal
import socket
import sys
import threading
import time

import tls_nss as tls


class Interrupted(Exception):
    pass


def on_usr1(signum, frame):
    raise Interrupted("SIGUSR1")


def main() -> int:
    call, port, ca, cert, key = sys.argv[1], int(sys.argv[2]), *sys.argv[3:6]
    signal.signal(signal.SIGUSR1, on_usr1)
    # Python leaves SIGINT ignored when it starts ignored (a job started in
    # the background): Ctrl-C must reach this child whatever started it.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    socket.setdefaulttimeout(None)
    client = tls.NSSClientContext(tls.TLSClientConfiguration(
        trust_store=tls.TrustStore.from_file(ca)))
    server = tls.NSSServerContext(tls.TLSServerConfiguration(certificate_chain=[
        tls.SigningChain((tls.Certificate.from_file(cert), tls.PrivateKey.from_file(key)))]),
        handshake_timeout=None)
    keep = []
    if call == "connect":
        blocking = lambda: client.connect(("localhost", port))  # noqa: E731
    elif call == "recv":
        listener = server.connect(("127.0.0.1", 0))
        # Our server completes the handshake and then says nothing.
        thread = threading.Thread(target=lambda: keep.append(listener.accept()), daemon=True)
        thread.start()
        sock = client.connect(("localhost", listener.getsockname()[1]))
        thread.join()
        blocking = lambda: sock.recv(100)  # noqa: E731
    elif call == "serve":
        # A connected socket whose client never sends its ClientHello.
        plain = socket.create_connection(("127.0.0.1", port))
        blocking = lambda: server.wrap_socket(plain)  # noqa: E731
    else:
        listener = server.connect(("127.0.0.1", 0))
        if call == "accept-silent":
            keep.append(socket.create_connection(("127.0.0.1", listener.getsockname()[1])))
        blocking = listener.accept
    print("ready", flush=True)
    started = time.monotonic()
    try:
        blocking()
        outcome = "returned"
    except BaseException as e:  # noqa: BLE001 - what ended the call is the result
        outcome = type(e).__name__
    print(json.dumps({"outcome": outcome, "seconds": time.monotonic() - started}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
