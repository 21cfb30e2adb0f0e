"""python3 -m tls_nss: the package's command line."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m tls_nss", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "demo", help="run a TLS 1.3 server and client on loopback and show what they negotiated"
    )
    commands.add_parser("policy", help="show the crypto policy in force and where it comes from")
    commands.add_parser(
        "tokens",
        help="list the PKCS#11 tokens NSS reaches, with their URIs and the certificates "
        "they show without a PIN",
    )
    commands.add_parser("version", help="show the versions of tls_nss and NSS")
    args = parser.parse_args(argv)

    if args.command == "demo":
        from ._demo import run

        return run()
    if args.command == "policy":
        from . import TLSError
        from .policy import effective_policy

        try:
            print(effective_policy())
        except TLSError as e:
            print(f"python3 -m tls_nss policy: {e}", file=sys.stderr)
            return 1
        return 0
    if args.command == "tokens":
        return _list_tokens()
    if args.command == "version":
        import tls_nss

        print(f"tls_nss {tls_nss.__version__}, NSS {tls_nss.nss_version()}")
        return 0
    return 2


def _list_tokens() -> int:
    from . import TLSError, tokens

    try:
        found = tokens.list_tokens()
    except TLSError as e:
        print(f"python3 -m tls_nss tokens: {e}", file=sys.stderr)
        return 1
    startup = tokens.startup()
    print(f"p11-kit proxy: {startup.get('p11_kit_proxy') or 'not loaded'}")
    print(f"NSS database:  {startup.get('nss_db') or 'none (set TLS_NSS_DB)'}")
    for token in found:
        login = "needs a PIN" if token.needs_login else "no PIN"
        print(f"\n{token.name!r} ({token.manufacturer} {token.model}, {login})")
        print(f"  module: {token.module} ({token.library or 'built in'})")
        print(f"  uri:    {token.uri}")
        for nickname in token.certificates:
            print(f"  certificate: {nickname}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
