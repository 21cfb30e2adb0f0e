"""Runs one crypto-policy scenario in a fresh process and prints JSON.

NSS's policy is per process, so each policy the tests try gets its own
process. The policy comes from the environment (TLS_NSS_POLICY_FILE,
NSS_IGNORE_SYSTEM_POLICY); the scenario from the arguments:

    report                              the effective policy
    connect PORT CA [LOWEST [CIPHER]]   our client, against a server on PORT
    server-key CERT KEY                 make a server context with that key
    pair CERT KEY CA                    our client against our server

With TLS_NSS_TEST_START_NSS_FIRST=1, NSS is started before tls_nss (as
another NSS user in the process would), through libnss3's NSS_NoDB_Init.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import sys
import threading
import warnings

import tls_nss as tls
from tls_nss import policy


def _error(e: BaseException) -> dict:
    return {"ok": False, "type": type(e).__name__, "message": str(e),
            "nss_name": getattr(e, "nss_name", None)}


def report() -> dict:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        p = policy.effective_policy()
    return {
        "ok": True,
        "source": p.source,
        "applied_by": p.applied_by,
        "name": p.name,
        "versions": list(p.versions),
        "cipher_suites": [int(s) for s in p.cipher_suites],
        "groups": list(p.groups),
        "signature_schemes": list(p.signature_schemes),
        "minimum_key_sizes": p.minimum_key_sizes,
        "ignored": list(p.ignored),
        "warnings": [f"{w.category.__name__}: {w.message}" for w in caught],
        "text": str(p),
    }


def connect(port: str, ca: str, lowest: str | None = None, cipher: str | None = None) -> dict:
    config = tls.TLSClientConfiguration(
        trust_store=tls.TrustStore.from_file(ca),
        lowest_supported_version=tls.TLSVersion(lowest) if lowest else None,
        ciphers=[int(cipher, 0)] if cipher else None,
    )
    with tls.NSSClientContext(config).connect(("localhost", int(port))) as sock:
        sock.sendall(b"policy\n")
        reply = sock.recv(100)
        version = sock.negotiated_tls_version
        return {"ok": True, "reply": reply.decode(), "cipher": int(sock.cipher()),
                "version": version.value if version else None,
                "group": sock.negotiated_group}


def server_key(cert: str, key: str) -> dict:
    tls.NSSServerContext(tls.TLSServerConfiguration(certificate_chain=[
        tls.SigningChain((tls.Certificate.from_file(cert), tls.PrivateKey.from_file(key)))]))
    return {"ok": True}


def pair(cert: str, key: str, ca: str) -> dict:
    server = tls.NSSServerContext(tls.TLSServerConfiguration(certificate_chain=[
        tls.SigningChain((tls.Certificate.from_file(cert), tls.PrivateKey.from_file(key)))]))
    client = tls.NSSClientContext(tls.TLSClientConfiguration(
        trust_store=tls.TrustStore.from_file(ca)))
    listener = server.connect(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.sendall(conn.recv(100))

    thread = threading.Thread(target=serve)
    thread.start()
    with client.connect(("localhost", listener.getsockname()[1])) as sock:
        sock.sendall(b"pair")
        reply = sock.recv(100)
        group = sock.negotiated_group
    thread.join()
    listener.close()
    return {"ok": True, "reply": reply.decode(), "group": group}


def main() -> int:
    command, *args = sys.argv[1:]
    if os.environ.get("TLS_NSS_TEST_START_NSS_FIRST") == "1":
        nss = ctypes.CDLL(ctypes.util.find_library("nss3") or "libnss3.so")
        assert nss.NSS_NoDB_Init(None) == 0
    try:
        result = {"report": report, "connect": connect, "server-key": server_key,
                  "pair": pair}[command](*args)
    except tls.TLSError as e:
        result = _error(e)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
