"""A smoke test for any interpreter the package is built for, without
pytest or third-party modules: a handshake over loopback, a TLSBuffer
pair, and the policy report. `make check-interpreters` runs it under each
interpreter found; it exits non-zero on the first failure.

    PYTHONPATH=<site with tls_nss> python3.X tests/smoke.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import tls_nss as tls


def make_certificates(root: Path) -> None:
    """A CA and a server certificate for localhost, made by openssl."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", str(root / "ca.key"), "-out", str(root / "ca.pem"),
            "-subj", "/CN=smoke CA", "-days", "2",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign")
    openssl("req", *ec, "-keyout", str(root / "leaf.key"), "-out", str(root / "leaf.csr"),
            "-subj", "/CN=localhost")
    (root / "ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                              "extendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", str(root / "leaf.csr"), "-CA", str(root / "ca.pem"),
            "-CAkey", str(root / "ca.key"), "-CAcreateserial", "-days", "2",
            "-extfile", str(root / "ext"), "-out", str(root / "leaf.pem"))


def contexts(root: Path) -> tuple[tls.NSSClientContext, tls.NSSServerContext]:
    chain = tls.SigningChain((tls.Certificate.from_file(root / "leaf.pem"),
                              tls.PrivateKey.from_file(root / "leaf.key")))
    server = tls.NSSServerContext(tls.TLSServerConfiguration(certificate_chain=[chain]))
    client = tls.NSSClientContext(tls.TLSClientConfiguration(
        trust_store=tls.TrustStore.from_file(root / "ca.pem")))
    return client, server


def handshake(client: tls.NSSClientContext, server: tls.NSSServerContext) -> str:
    listener = server.connect(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        conn.sendall(conn.recv(100).upper())
        conn.close()

    thread = threading.Thread(target=serve)
    thread.start()
    with client.connect(("localhost", port)) as sock:
        sock.sendall(b"ping")
        assert sock.recv(100) == b"PING"
        version = sock.negotiated_tls_version
    thread.join(10)
    listener.close()
    assert version == tls.TLSVersion.TLSv1_3, version
    return f"socket handshake: {version.value}"


def pump(source: tls.NSSTLSBuffer, sink: tls.NSSTLSBuffer) -> None:
    # b"" would tell the sink that the network reached EOF.
    data = source.process_outgoing(source.outgoing_bytes_buffered())
    if data:
        sink.process_incoming(data)


def buffers(client: tls.NSSClientContext, server: tls.NSSServerContext) -> str:
    a, b = client.create_buffer("localhost"), server.create_buffer()
    for _ in range(10):
        for side in (a, b):
            try:
                side.do_handshake()
            except tls.WantReadError:
                pass
        pump(a, b)
        pump(b, a)
        if a.negotiated_tls_version and b.negotiated_tls_version:
            break
    a.write(b"over buffers")
    pump(a, b)
    assert b.read(100) == b"over buffers"
    cipher = a.cipher()
    return f"buffer pair: {getattr(cipher, 'name', cipher)}"


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_certificates(root)
        client, server = contexts(root)
        print(f"Python {sys.version.split()[0]}, tls_nss {tls.__version__}, NSS {tls.nss_version()}")
        print(handshake(client, server))
        print(buffers(client, server))
        report = tls.policy.effective_policy()
        assert report.version_names[1] == "TLSv1.3", report
        print(f"policy: {report.describe()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
