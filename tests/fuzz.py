"""Seeded, reproducible fuzzing of what tls_nss parses and what it reads
from peers.

    python3 tests/fuzz.py [--cases N] [--seed S] [--target NAME]... [--work DIR]

Each target takes a byte string, made by mutating its seed corpus with a
random.Random(seed): certificates, private keys (encrypted ones included)
and trust stores from buffers; PKCS#11 ids (nicknames and pkcs11: URIs,
with and without PINs); crypto-policy files (parsed here, and applied by
NSS in child processes); and TLSBuffer.process_incoming on either side, fed
real handshake flights and post-handshake records of which one is mutated.

Every input must end in success or a TLSError. Anything else is a finding:
another exception is reported with its input; a crash (a signal) is
reported by the parent from the input written to WORK/<target>.current
before each case. Inputs under tests/fuzz-regressions/<target>/ are run
first, every time. `make check` runs a bounded pass (test_fuzz.py); `make
fuzz` a long one.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

import tls_nss as tls  # noqa: E402
from tls_nss import _policy_file  # noqa: E402

from certgen import Authority  # noqa: E402

REGRESSIONS = HERE / "fuzz-regressions"
POLICIES = HERE / "data" / "policies"


# ---- the mutator ----

INTERESTING = [0x00, 0x01, 0x02, 0x03, 0x04, 0x16, 0x17, 0x30, 0x3f, 0x40, 0x7f, 0x80, 0x81,
               0x82, 0xfe, 0xff]


class Mutator:
    """A few random edits of one input, now and then spliced with another."""

    def __init__(self, seed: int, corpus: list[bytes]) -> None:
        self.random = random.Random(seed)
        self.corpus = corpus

    def mutate(self, data: bytes) -> bytes:
        out = bytearray(data)
        for _ in range(self.random.choice((1, 1, 2, 3, 4, 8))):
            edit = self.random.randrange(8)
            at = self.random.randrange(len(out) + 1)
            if edit == 0 and out:
                out[at % len(out)] ^= 1 << self.random.randrange(8)
            elif edit == 1 and out:
                out[at % len(out)] = self.random.choice(INTERESTING)
            elif edit == 2:
                out[at:at] = self.random.randbytes(self.random.randrange(1, 16))
            elif edit == 3:
                del out[at:at + self.random.randrange(1, 64)]
            elif edit == 4 and out:
                start = self.random.randrange(len(out))
                out[at:at] = out[start:start + self.random.randrange(1, 64)]
            elif edit == 5:
                del out[at:]
            elif edit == 6 and self.corpus:
                other = self.random.choice(self.corpus)
                cut = self.random.randrange(len(other) + 1)
                out[at:] = other[cut:]
            elif edit == 7 and len(out) >= 2:
                # A length field's worth: two bytes made big or small.
                at = at % (len(out) - 1)
                out[at:at + 2] = self.random.choice((b"\xff\xff", b"\x00\x00", b"\x7f\xff",
                                                     b"\x80\x00"))
        return bytes(out)


# ---- targets ----


class Material:
    """Certificates and keys shared by the targets."""

    def __init__(self) -> None:
        self.ca = Authority("fuzz CA")
        self.leaf = self.ca.issue("localhost", "127.0.0.1")
        self.rsa = self.ca.issue("localhost", key_kind="rsa2048")
        self.cert = tls.Certificate.from_buffer(self.leaf.cert_pem)
        self.key = tls.PrivateKey.from_buffer(self.leaf.key_pem())
        self.server = tls.NSSServerContext(tls.TLSServerConfiguration(
            certificate_chain=[tls.SigningChain((self.cert, self.key))]))
        self.client = tls.NSSClientContext(tls.TLSClientConfiguration(
            trust_store=tls.TrustStore.from_buffer(self.ca.cert_pem)))


def _server_with(cert: tls.Certificate, key: tls.PrivateKey) -> None:
    tls.NSSServerContext(tls.TLSServerConfiguration(
        certificate_chain=[tls.SigningChain((cert, key))]))


def certificate_target(m: Material) -> tuple[list[bytes], Callable[[bytes], None]]:
    corpus = [m.leaf.cert_pem, m.leaf.cert_der, m.rsa.cert_der, m.ca.cert_pem]
    return corpus, lambda data: _server_with(tls.Certificate.from_buffer(data), m.key)


def private_key_target(m: Material) -> tuple[list[bytes], Callable[[bytes], None]]:
    corpus = [m.leaf.key_pem(), m.leaf.key_der(), m.leaf.key_pem("traditional"),
              m.leaf.key_der("traditional"), m.rsa.key_der(), m.rsa.key_pem("traditional"),
              m.leaf.key_pem(password=b"secret"), m.rsa.key_pem("traditional", password=b"pw")]
    return corpus, lambda data: _server_with(m.cert, tls.PrivateKey.from_buffer(data))


def trust_store_target(m: Material) -> tuple[list[bytes], Callable[[bytes], None]]:
    corpus = [m.ca.cert_pem, m.ca.cert_pem + m.leaf.cert_pem, m.leaf.cert_der]
    return corpus, lambda data: tls.NSSClientContext(tls.TLSClientConfiguration(
        trust_store=tls.TrustStore.from_buffer(data)))


def pkcs11_id_target(m: Material) -> tuple[list[bytes], Callable[[bytes], None]]:
    corpus = [b"pkcs11:token=tls-nss-test;object=server;type=cert",
              b"pkcs11:token=t%20n;id=%01%02;object=x?pin-value=1234",
              b"pkcs11:manufacturer=SoftHSM%20project;serial=abc;library-version=2.6",
              b"pkcs11:slot-id=1;slot-description=x?pin-source=file:/nonexistent",
              b"token:nickname", b"nickname", b"sql:/nonexistent"]

    def run(data: bytes) -> None:
        leaf = tls.Certificate.from_id(data)
        tls.NSSClientContext(tls.TLSClientConfiguration(
            certificate_chain=tls.SigningChain((leaf, tls.PrivateKey.from_id(data)))))
    return corpus, run


def _policy_corpus() -> list[bytes]:
    return [p.read_bytes() for p in sorted(POLICIES.glob("*.config"))]


def _as_file(data: bytes, use: Callable[[str], None]) -> None:
    with tempfile.NamedTemporaryFile(suffix=".config") as f:
        f.write(data)
        f.flush()
        use(f.name)


def policy_parse_target(m: Material) -> tuple[list[bytes], Callable[[bytes], None]]:
    return _policy_corpus(), lambda data: _as_file(data, _policy_file.read)


def policy_apply_target(m: Material) -> tuple[list[bytes], Callable[[bytes], None]]:
    """NSS itself parses the policy: a child process per input, as the
    policy is per process. Slow: few cases."""
    child = ("import sys, tls_nss as tls\n"
             "try:\n    tls.policy.effective_policy()\n"
             "except tls.TLSError:\n    pass\n")

    def apply(path: str) -> None:
        done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True,
                              env={**os.environ, "TLS_NSS_POLICY_FILE": path}, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"the child ended with {done.returncode}: {done.stderr[-2000:]}")
    return _policy_corpus(), lambda data: _as_file(data, apply)


def _pump(client, server, tamper_to: str, tamper: Callable[[bytes], bytes], index: int) -> None:
    """A whole connection over buffers: handshake, data both ways,
    close_notify; the `index`th chunk sent to `tamper_to` is tampered with."""
    chunks = {"client": 0, "server": 0}

    def move(src, dst, name):
        data = src.process_outgoing(src.outgoing_bytes_buffered())
        if not data:
            return
        if name == tamper_to and chunks[name] == index:
            data = tamper(data)
        chunks[name] += 1
        dst.process_incoming(data)

    def both(step: Callable[[Any], Any]) -> None:
        for end in (client, server):
            try:
                step(end)
            except tls.WantReadError:
                pass
        move(client, server, "server")
        move(server, client, "client")

    for _ in range(12):
        both(lambda end: end.do_handshake())
    client.write(b"request")
    server.write(b"response")
    move(client, server, "server")
    move(server, client, "client")
    both(lambda end: end.read(1024))
    both(lambda end: end.shutdown())
    both(lambda end: end.shutdown())


def _buffer_target(m: Material, receiver: str) -> tuple[list[bytes], Callable[[bytes], None]]:
    """The input is a recipe: which chunk to mutate (first byte) and a seed
    for the mutation (the rest), so that mutations apply to live flights."""
    corpus = [bytes([i]) + os.urandom(8) for i in range(6)]

    def run(data: bytes) -> None:
        if not data:
            return
        index = data[0] % 8
        mutator = Mutator(int.from_bytes(hashlib.sha256(data).digest()[:8], "big"), [])
        _pump(m.client.create_buffer("localhost"), m.server.create_buffer(), receiver,
              mutator.mutate, index)
    return corpus, run


TARGETS: dict[str, Callable[[Material], tuple[list[bytes], Callable[[bytes], None]]]] = {
    "certificate": certificate_target,
    "private-key": private_key_target,
    "trust-store": trust_store_target,
    "pkcs11-id": pkcs11_id_target,
    "policy-parse": policy_parse_target,
    "policy-apply": policy_apply_target,
    "buffer-server": lambda m: _buffer_target(m, "server"),
    "buffer-client": lambda m: _buffer_target(m, "client"),
}
# NSS's own policy parser runs once per process: each case costs a child,
# so this target gets one case in a hundred (and at least ten).
SLOW = {"policy-apply": 100}


# ---- the runner ----


def run_target(name: str, m: Material, cases: int, seed: int, work: Path) -> tuple[int, list[str]]:
    corpus, run = TARGETS[name](m)
    mutator = Mutator(seed, corpus)
    current = work / f"{name}.current"
    findings = []
    regressions = sorted((REGRESSIONS / name).glob("*")) if (REGRESSIONS / name).is_dir() else []
    inputs = [p.read_bytes() for p in regressions]
    inputs += [mutator.mutate(mutator.random.choice(corpus)) for _ in range(cases)]
    for data in inputs:
        current.write_bytes(data)
        try:
            run(data)
        except tls.TLSError:
            pass
        except Exception:  # noqa: BLE001 - anything but TLSError is a finding
            findings.append(f"{name}: input {data[:64]!r}...\n{traceback.format_exc()}")
            save(name, data)
    current.unlink()
    return len(inputs), findings


def save(name: str, data: bytes) -> Path:
    folder = REGRESSIONS / name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / hashlib.sha256(data).hexdigest()[:16]
    path.write_bytes(data)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=1000, help="mutated inputs per target")
    parser.add_argument("--seed", type=int, default=748)
    parser.add_argument("--target", action="append", choices=sorted(TARGETS))
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args()
    material = Material()
    findings = []
    for name in args.target or TARGETS:
        cases = max(10, args.cases // SLOW[name]) if name in SLOW else args.cases
        started = time.monotonic()
        count, found = run_target(name, material, cases, args.seed, args.work)
        findings += found
        print(f"{name}: {count} executions, {len(found)} findings, "
              f"{time.monotonic() - started:.1f} s", flush=True)
    for finding in findings:
        print(finding, file=sys.stderr)
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
