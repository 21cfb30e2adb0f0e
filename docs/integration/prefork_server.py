"""A pre-fork server: workers share one listening socket and one session
cache, so a client resumes in whichever worker accepts it.

    python3 prefork_server.py CERT KEY WORKERS
"""

import os
import signal
import socket
import sys
import traceback

import tls_nss as tls


def worker(listener: socket.socket, cert: str, key: str, ready: int) -> None:
    # Each worker starts NSS itself and makes its context as usual.
    chain = tls.SigningChain((tls.Certificate.from_file(cert), tls.PrivateKey.from_file(key)))
    context = tls.NSSServerContext(tls.TLSServerConfiguration(certificate_chain=[chain]))
    tls_listener = context.wrap_socket(listener)
    os.write(ready, b".")                  # tell the parent this worker can serve
    os.close(ready)
    conn, _ = tls_listener.accept()
    with conn:
        conn.recv(100)
        conn.sendall(b"served by %d" % os.getpid())


if __name__ == "__main__":
    cert, key, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
    tls.prepare_workers()                  # before anything starts NSS here
    listener = socket.create_server(("127.0.0.1", 0), backlog=64)
    port = listener.getsockname()[1]
    ready_in, ready_out = os.pipe()
    children = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:                       # one connection per worker, then exit
            try:
                worker(listener, cert, key, ready_out)
            except BaseException:
                traceback.print_exc()
                os._exit(1)
            os._exit(0)
        children.append(pid)
    listener.close()
    os.close(ready_out)                    # a worker that dies closes its end too
    ready = b""
    while len(ready) < workers:            # wait until every worker can serve
        got = os.read(ready_in, workers)
        if not got:                        # all ends closed: some worker failed
            for pid in children:
                os.kill(pid, signal.SIGTERM)
            sys.exit(f"only {len(ready)} of {workers} workers started")
        ready += got
    print(port, flush=True)
    for pid in children:
        os.waitpid(pid, 0)
