"""Handshakes with the server's key in a PKCS#11 token, against a key in memory.

    PYTHONPATH=<site-packages with tls_nss> python3 bench/tokens.py

Makes a throwaway SoftHSM2 token (as `python3 -m tls_nss demo` does; an NSS
database without softhsm2), then counts full handshakes per second over a
pair of our buffers (TLS 1.3, ECDSA P-256, verification on) with the
server's key in the token and with an equivalent key imported from memory.
Every handshake signs once with the server's key: inside the token for the
first, in NSS's internal token for the second.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import tls_nss as tls
from tls_nss import _demo

sys.path.insert(0, str(Path(__file__).parent))
from buffers import Ours, handshakes_per_second  # noqa: E402  (puts tests/ on the path too)
from certgen import Authority  # noqa: E402


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="tls-nss-bench-") as workdir:
        if shutil.which("certutil") is None:
            print("needs certutil (NSS tools)")
            return 1
        keystore = _demo._make_keystore(Path(workdir))
        os.environ.update(keystore.environment)  # read when NSS starts, just below
        in_token = Ours(keystore.server, keystore.trust_store)
        ca = Authority("bench CA")
        in_memory = Ours.from_files(ca, ca.issue("localhost"))
        print(f"NSS {tls.nss_version()}, Python {sys.version.split()[0]}")
        print(f"token: {keystore.where}")
        for name, impl in (("key in the token", in_token), ("key in memory", in_memory)):
            print(f"{name:17} {handshakes_per_second(impl):8.0f} handshakes/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
