"""In-memory TLS: our buffer pair against an ssl.SSLObject pair, one process.

    PYTHONPATH=<site-packages with tls_nss> python3 bench/buffers.py

Prints full handshakes per second (TLS 1.3, ECDSA P-256, certificate
verification on) and bulk throughput (MB/s of plaintext, 16 KiB writes)
for both, measured in the same run.
"""

from __future__ import annotations

import os
import ssl
import sys
import tempfile
import time

import tls_nss as tls

# The tests' throwaway PKI (python3-cryptography).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from certgen import Authority  # noqa: E402

HANDSHAKES = 300
BULK_MB = 256
CHUNK = 16384


class Ours:
    def __init__(self, server_chain, trust_store):
        self.server_ctx = tls.NSSServerContext(tls.TLSServerConfiguration(
            certificate_chain=[server_chain]))
        self.client_ctx = tls.NSSClientContext(tls.TLSClientConfiguration(
            trust_store=trust_store))

    @classmethod
    def from_files(cls, ca, leaf):
        return cls(tls.SigningChain((tls.Certificate.from_buffer(leaf.cert_pem),
                                     tls.PrivateKey.from_buffer(leaf.key_pem()))),
                   tls.TrustStore.from_buffer(ca.cert_pem))

    def pair(self):
        return self.client_ctx.create_buffer("localhost"), self.server_ctx.create_buffer()

    @staticmethod
    def step(end):
        try:
            end.do_handshake()
            return True
        except tls.WantReadError:
            return False

    @staticmethod
    def move(a, b):
        n = a.outgoing_bytes_buffered()
        if n:
            b.process_incoming(a.process_outgoing(n))
        return n

    @staticmethod
    def read_all(end, target):
        total = 0
        while True:
            try:
                total += end.read(len(target), target)
            except tls.WantReadError:
                return total


class Stdlib:
    def __init__(self, ca, leaf):
        directory = tempfile.mkdtemp()
        cert, key = os.path.join(directory, "c.pem"), os.path.join(directory, "k.pem")
        with open(cert, "wb") as f:
            f.write(leaf.cert_pem)
        with open(key, "wb") as f:
            f.write(leaf.key_pem())
        self.server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.server_ctx.load_cert_chain(cert, key)
        self.client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self.client_ctx.load_verify_locations(cadata=ca.cert_pem.decode())

    class End:
        def __init__(self, ctx, server):
            self.i, self.o = ssl.MemoryBIO(), ssl.MemoryBIO()
            self.obj = ctx.wrap_bio(self.i, self.o, server_side=server,
                                    server_hostname=None if server else "localhost")

    def pair(self):
        return self.End(self.client_ctx, False), self.End(self.server_ctx, True)

    @staticmethod
    def step(end):
        try:
            end.obj.do_handshake()
            return True
        except ssl.SSLWantReadError:
            return False

    @staticmethod
    def move(a, b):
        data = a.o.read()
        if data:
            b.i.write(data)
        return len(data)

    @staticmethod
    def read_all(end, target):
        total = 0
        while True:
            try:
                total += end.obj.read(len(target), target)
            except ssl.SSLWantReadError:
                return total
            except ssl.SSLZeroReturnError:
                return total


def connected_pair(impl):
    client, server = impl.pair()
    done_c = done_s = False
    while not (done_c and done_s):
        done_c = done_c or impl.step(client)
        impl.move(client, server)
        done_s = done_s or impl.step(server)
        impl.move(server, client)
    return client, server


def handshakes_per_second(impl):
    start = time.perf_counter()
    for _ in range(HANDSHAKES):
        connected_pair(impl)
    return HANDSHAKES / (time.perf_counter() - start)


def bulk_mb_per_second(impl):
    client, server = connected_pair(impl)
    chunk = os.urandom(CHUNK)
    target = bytearray(65536)
    write = client.write if hasattr(client, "write") else client.obj.write
    total = BULK_MB << 20
    received = 0
    start = time.perf_counter()
    while received < total:
        for _ in range(16):
            write(chunk)
        impl.move(client, server)
        received += impl.read_all(server, target)
    return (received / (1 << 20)) / (time.perf_counter() - start)


def main() -> int:
    ca = Authority("bench CA")
    leaf = ca.issue("localhost")
    ours, stdlib = Ours.from_files(ca, leaf), Stdlib(ca, leaf)
    print(f"NSS {tls.nss_version()}, {ssl.OPENSSL_VERSION}, Python {sys.version.split()[0]}")
    for name, impl in (("tls_nss buffers", ours), ("ssl.SSLObject", stdlib)):
        hs = handshakes_per_second(impl)
        mb = bulk_mb_per_second(impl)
        print(f"{name:16} {hs:8.0f} handshakes/s {mb:8.0f} MB/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
