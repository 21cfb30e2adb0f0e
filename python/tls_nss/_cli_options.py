"""What the command line's commands share: the program's name, the TLS
options of connect and serve and how their values are read, and how a
command fails. Below _commandline, _connect and _serve, which all use it."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ._api import (
    Certificate,
    CipherSuite,
    NextProtocol,
    PrivateKey,
    SigningChain,
    TLSVersion,
    TrustStore,
)
from ._pem import is_token_id

PROG = "python3 -m tls_nss"

_VERSIONS = {"1.2": TLSVersion.TLSv1_2, "1.3": TLSVersion.TLSv1_3}


def tls_version(text: str) -> TLSVersion:
    """"1.2", "TLSv1.2", "tls1.3" and the like."""
    key = text.lower().removeprefix("tlsv").removeprefix("tls")
    try:
        return _VERSIONS[key]
    except KeyError:
        raise argparse.ArgumentTypeError(f"unknown TLS version {text!r}; use 1.2 or 1.3") from None


def cipher_list(text: str) -> list[CipherSuite | int]:
    """IANA names (TLS_AES_128_GCM_SHA256) or ids (0x1301), comma-separated."""
    suites: list[CipherSuite | int] = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        if item.lower().startswith("0x"):
            try:
                suites.append(int(item, 16))
                continue
            except ValueError:
                pass
        try:
            suites.append(CipherSuite[item])
        except KeyError:
            raise argparse.ArgumentTypeError(
                f"unknown cipher suite {item!r}; use IANA names such as "
                "TLS_AES_128_GCM_SHA256, or ids such as 0x1301"
            ) from None
    if not suites:
        raise argparse.ArgumentTypeError("no cipher suites given")
    return suites


def protocol(text: str) -> NextProtocol | bytes:
    try:
        return NextProtocol(text.encode())
    except ValueError:
        return text.encode()


def signing_chain(cert: str, key: str | None, extra: Sequence[str] = ()) -> SigningChain:
    """--cert and --key: each a PEM/DER file, or a PKCS#11 URI or NSS
    nickname (the key then stays in its token). Without --key, the key is
    looked for under the certificate's own id."""
    if is_token_id(cert):
        leaf = Certificate.from_id(cert.encode())
    else:
        leaf = Certificate.from_file(Path(cert))
    key = key or cert
    private_key = PrivateKey.from_id(key.encode()) if is_token_id(key) else PrivateKey.from_file(Path(key))
    return SigningChain((leaf, private_key), tuple(Certificate.from_file(Path(p)) for p in extra))


def trust_store(cafile: str | None) -> TrustStore:
    return TrustStore.from_file(Path(cafile)) if cafile else TrustStore.system()


def add_tls_options(parser: argparse.ArgumentParser) -> None:
    """What connect and serve both take."""
    parser.add_argument("--cert", metavar="FILE|ID",
                        help="certificate to present: a PEM or DER file, a pkcs11: URI, "
                        "or an NSS nickname")
    parser.add_argument("--key", metavar="FILE|ID",
                        help="its private key: a file, a pkcs11: URI or an NSS nickname "
                        "(default: looked up like --cert)")
    parser.add_argument("--cafile", metavar="FILE",
                        help="trust only these PEM certificates (default for connect: the "
                        "system's trust store; for serve: ask for no client certificate)")
    parser.add_argument("--alpn", metavar="PROTOCOL", action="append", type=protocol,
                        help="offer this ALPN protocol (h2, http/1.1, ...); repeat for more")
    parser.add_argument("--min-version", metavar="VERSION", type=tls_version,
                        help="lowest TLS version to allow: 1.2 or 1.3")
    parser.add_argument("--max-version", metavar="VERSION", type=tls_version,
                        help="highest TLS version to allow: 1.2 or 1.3")
    parser.add_argument("--ciphers", metavar="LIST", type=cipher_list,
                        help="comma-separated cipher suites, by IANA name or id, in order "
                        "of preference")
    parser.add_argument("--timeout", metavar="SECONDS", type=float, default=10.0,
                        help="limit for connecting and each handshake (default: 10)")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object per connection instead of text")


def fail(command: str, reason: str, status: int) -> int:
    """One line on stderr saying why, and the exit status."""
    print(f"{PROG} {command}: {reason}", file=sys.stderr)
    return status
