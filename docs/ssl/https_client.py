"""Fetch a page over HTTPS with http.client, NSS doing the TLS.

    python3 https_client.py HOST PORT PATH [CAFILE]
"""

import http.client
import sys

import tls_nss

host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
# As ssl.create_default_context(): the system's trust (or CAFILE's),
# hostname checking, and the system crypto policy as the ceiling.
context = tls_nss.create_default_context(cafile=sys.argv[4] if len(sys.argv) > 4 else None)
connection = http.client.HTTPSConnection(host, port, context=context)
connection.request("GET", path)
print(connection.sock.version(), connection.sock.cipher()[0])
response = connection.getresponse()
print(response.status, response.read().decode().strip())
connection.close()
