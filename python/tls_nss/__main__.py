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
    if args.command == "version":
        import tls_nss

        print(f"tls_nss {tls_nss.__version__}, NSS {tls_nss.nss_version()}")
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
