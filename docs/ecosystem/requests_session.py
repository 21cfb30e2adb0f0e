"""requests (and urllib3 under it) on NSS, unchanged: inject first.

    python3 requests_session.py URL CAFILE
"""

import sys

import tls_nss

tls_nss.inject_into_ssl()  # before requests makes its first context

import requests  # noqa: E402

url, cafile = sys.argv[1], sys.argv[2]
with requests.Session() as session:  # one kept-alive connection
    for _ in range(3):
        print(session.get(url, verify=cafile).status_code)
