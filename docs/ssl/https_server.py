"""Serve the current directory over HTTPS with http.server, the key read
from a PEM file or kept in a PKCS#11 token.

    python3 https_server.py CERT KEY [PORT] [PIN]

CERT and KEY are PEM files, or pkcs11: URIs (the key then signs inside its
token, and PIN is the token's PIN). The server prints "ready PORT".
"""

import http.server
import ssl
import sys

import tls_nss

cert, key = sys.argv[1], sys.argv[2]
port = int(sys.argv[3]) if len(sys.argv) > 3 else 0
pin = sys.argv[4] if len(sys.argv) > 4 else None

context = tls_nss.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key, password=pin)
context.set_alpn_protocols(["http/1.1"])

server = http.server.HTTPServer(("127.0.0.1", port), http.server.SimpleHTTPRequestHandler)
server.socket = context.wrap_socket(server.socket, server_side=True)
print("ready", server.server_address[1], flush=True)
server.serve_forever()
