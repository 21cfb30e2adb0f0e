"""One listening socket, one context per site: sni_callback picks the
context by the name the client asks for, certificates and settings alike.

    python3 sni_server.py DEFAULT_CERT DEFAULT_KEY NAME=CERT,KEY [...]

It prints "ready PORT", then, for each connection, the name asked for.
"""

import socket
import ssl
import sys
import threading

import tls_nss


def server_context(cert, key):
    context = tls_nss.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


sites = {}
for argument in sys.argv[3:]:
    name, files = argument.split("=", 1)
    sites[name] = server_context(*files.split(","))


def choose_site(sslsocket, server_name, default):
    # Runs before the handshake goes on: the site's context takes over.
    if server_name in sites:
        sslsocket.context = sites[server_name]
    print("asked for", server_name, flush=True)


front = server_context(sys.argv[1], sys.argv[2])
front.sni_callback = choose_site

listener = socket.create_server(("127.0.0.1", 0))
print("ready", listener.getsockname()[1], flush=True)


def serve(conn):
    with front.wrap_socket(conn, server_side=True) as tls:
        tls.sendall(tls.recv(1024))
        # close_notify, and the client's in return: close() sends none, as
        # the ssl module's does not, and a client still reading would take
        # the bare end of the connection for a cut.
        tls.unwrap()


while True:
    conn, _ = listener.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
