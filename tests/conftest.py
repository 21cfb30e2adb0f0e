"""Shared fixtures: a throwaway PKI on disk and configuration builders."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from typing import Any

import pytest

import tls_nss as tls

sys.path.insert(0, os.path.dirname(__file__))
from certgen import Authority, Issued  # noqa: E402
from peers import TIMEOUT  # noqa: E402


def pytest_report_header(config: pytest.Config) -> str:
    extras = ", ".join(sorted(tls._nss.features() - {"x25519", "secp256r1", "secp384r1",
                                                       "secp521r1", "ffdhe2048", "ffdhe3072",
                                                       "ffdhe4096", "ffdhe6144", "ffdhe8192"}))
    own = os.environ.get("TLS_NSS_TEST_NSS_POLICY_FILE")
    return (f"NSS {tls.nss_version()} (beyond the classics: {extras or 'nothing'}); "
            f"system policy applied by NSS itself: {own or 'none'}")


@pytest.fixture(autouse=True)
def bounded_socket_timeouts():
    """No test may hang on a peer: every socket times out."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(TIMEOUT)
    yield
    socket.setdefaulttimeout(previous)


class PKI:
    """CAs and certificates, in memory and as files named <name>.pem/.key."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.ca = Authority("tls_nss test CA")
        self.other_ca = Authority("tls_nss other CA")
        self.intermediate_ca = self.ca.intermediate()
        self.issued: dict[str, Issued] = {}
        self.add("ca", self.ca)
        self.add("other-ca", self.other_ca)
        self.add("rsa", self.ca.issue("localhost", "127.0.0.1", key_kind="rsa2048"))
        self.add("ec", self.ca.issue("localhost", "127.0.0.1", key_kind="ec256"))
        self.add("ec384", self.ca.issue("localhost", "127.0.0.1", key_kind="ec384"))
        self.add("other", self.other_ca.issue("localhost", "127.0.0.1"))
        self.add("expired", self.ca.issue("localhost", "127.0.0.1", expired=True))
        self.add("wrongname", self.ca.issue("elsewhere.test"))
        self.add("chained", self.intermediate_ca.issue("localhost", "127.0.0.1"))
        self.add("client", self.ca.issue(client=True))
        self.add("chained-client", self.intermediate_ca.issue(client=True))
        self.add("other-client", self.other_ca.issue(client=True))

    def add(self, name: str, item: Any) -> None:
        if isinstance(item, Authority):
            self.path(f"{name}.pem").write_bytes(item.cert_pem)
            return
        self.issued[name] = item
        self.path(f"{name}.pem").write_bytes(item.cert_pem)
        self.path(f"{name}.key").write_bytes(item.key_pem())
        self.path(f"{name}-fullchain.pem").write_bytes(item.cert_pem + item.chain_pem)

    def path(self, name: str) -> Path:
        return self.root / name

    def signing_chain(self, name: str, with_chain: bool = True) -> tls.SigningChain:
        issued = self.issued[name]
        chain = [tls.Certificate.from_buffer(c_pem) for c_pem in _split_pem(issued.chain_pem)]
        return tls.SigningChain(
            leaf=(
                tls.Certificate.from_file(self.path(f"{name}.pem")),
                tls.PrivateKey.from_file(self.path(f"{name}.key")),
            ),
            chain=chain if with_chain else None,
        )

    def trust(self, name: str = "ca") -> tls.TrustStore:
        return tls.TrustStore.from_file(self.path(f"{name}.pem"))


def _split_pem(data: bytes) -> list[bytes]:
    marker = b"-----END CERTIFICATE-----"
    return [part + marker + b"\n" for part in data.split(marker) if part.strip()]


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return PKI(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def server_context(pki: PKI):
    def make(cert: str = "rsa", **kwargs: Any) -> tls.NSSServerContext:
        config = tls.TLSServerConfiguration(certificate_chain=[pki.signing_chain(cert)], **kwargs)
        return tls.NSS_IMPLEMENTATION.server_context(config)

    return make


@pytest.fixture
def client_context(pki: PKI):
    def make(trust: str | None = "ca", **kwargs: Any) -> tls.NSSClientContext:
        store = pki.trust(trust) if trust else None
        config = tls.TLSClientConfiguration(trust_store=store, **kwargs)
        return tls.NSS_IMPLEMENTATION.client_context(config)

    return make
