"""A TLS server handed its listening socket by systemd (socket activation)
or by a supervisor: descriptor 3, announced by LISTEN_FDS and LISTEN_PID.

    python3 socket_activation.py CERT KEY
"""

import os
import socket
import sys

import tls_nss as tls

SD_LISTEN_FDS_START = 3


def inherited_listener() -> socket.socket:
    if os.environ.get("LISTEN_PID") != str(os.getpid()) or os.environ.get("LISTEN_FDS") != "1":
        sys.exit("expected one listening socket from systemd")
    return socket.socket(fileno=SD_LISTEN_FDS_START)


if __name__ == "__main__":
    cert, key = sys.argv[1], sys.argv[2]
    chain = tls.SigningChain((tls.Certificate.from_file(cert), tls.PrivateKey.from_file(key)))
    context = tls.NSSServerContext(tls.TLSServerConfiguration(certificate_chain=[chain]))
    listener = context.wrap_socket(inherited_listener())   # a listening TLS socket
    conn, peer = listener.accept()
    with conn:
        conn.sendall(conn.recv(1024).upper())
    listener.close()
