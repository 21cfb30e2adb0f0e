"""Throwaway SoftHSM2 tokens for the tests, made with SoftHSM's and OpenSC's
tools, and NSS databases made with certutil.

SoftHSM reads SOFTHSM2_CONF when its module initialises, so the token must
exist before NSS starts in the process that uses it: the tests use tokens
from child processes (token_child.py), never from the pytest process.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from cryptography.hazmat.primitives.serialization import load_der_public_key

from peers import peer_environment
from tls_nss._demo import softhsm_module

TOKEN = "tls-nss-test"
PIN = "1234"
SO_PIN = "12345678"


def missing_tools() -> list[str]:
    missing = [t for t in ("softhsm2-util", "pkcs11-tool", "certutil") if not shutil.which(t)]
    if softhsm_module() is None:
        missing.append("libsofthsm2.so")
    return missing


class SoftToken:
    """An initialised SoftHSM2 token in ``directory``, with user PIN ``PIN``."""

    def __init__(self, directory: Path, label: str = TOKEN) -> None:
        self.directory = directory
        self.label = label
        self.module = softhsm_module()
        (directory / "tokens").mkdir(parents=True, exist_ok=True)
        self.config = directory / "softhsm2.conf"
        self.config.write_text(
            f"directories.tokendir = {directory / 'tokens'}\n"
            "objectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n"
        )
        self._run("softhsm2-util", "--init-token", "--free", "--label", label,
                  "--pin", PIN, "--so-pin", SO_PIN)

    @property
    def env(self) -> dict[str, str]:
        return {"SOFTHSM2_CONF": str(self.config)}

    def _run(self, *argv: str) -> str:
        result = subprocess.run(
            argv, env={**peer_environment(), **self.env}, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True,
        )
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed: {result.stdout}")
        return result.stdout

    def _tool(self, *args: str) -> str:
        return self._run("pkcs11-tool", "--module", str(self.module), "--token-label",
                         self.label, "--login", "--pin", PIN, *args)

    def generate_key(self, label: str, cka_id: str, key_type: str = "EC:prime256v1",
                     always_authenticate: bool = False):
        """A key pair made inside the token (sensitive, never extractable);
        returns its public key. With ``always_authenticate``, each use of
        the private key needs the PIN again (CKA_ALWAYS_AUTHENTICATE)."""
        extra = ("--always-auth",) if always_authenticate else ()
        listing = self._tool("--keypairgen", "--key-type", key_type, "--id", cka_id,
                             "--label", label, *extra)
        assert "never extractable" in listing and "sensitive" in listing, listing
        der = self.directory / f"{label}.pub.der"
        self._tool("--read-object", "--type", "pubkey", "--id", cka_id, "-o", str(der))
        return load_der_public_key(der.read_bytes())

    def add_certificate(self, der: bytes, label: str, cka_id: str) -> None:
        path = self.directory / f"{label}-{cka_id}.der"
        path.write_bytes(der)
        self._tool("--write-object", str(path), "--type", "cert", "--id", cka_id,
                   "--label", label)

    def private_key_attributes(self, cka_id: str) -> str:
        """pkcs11-tool's description of the private key with CKA_ID ``cka_id``."""
        return self._tool("--list-objects", "--type", "privkey", "--id", cka_id)


def nss_database(directory: Path, ca_pem: Path, trust: str = "C,,") -> str:
    """An NSS database holding ``ca_pem`` with ``trust`` flags; returns sql:DIR."""
    directory.mkdir(parents=True, exist_ok=True)
    for argv in (
        ["certutil", "-N", "-d", f"sql:{directory}", "--empty-password"],
        ["certutil", "-A", "-d", f"sql:{directory}", "-n", "test-ca", "-t", trust,
         "-i", str(ca_pem)],
    ):
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       env=peer_environment())
    return f"sql:{directory}"
