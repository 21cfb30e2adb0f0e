"""The command line: one parser for `python3 -m tls_nss`, its --help and its
man page (build-aux/manpage.py renders this parser), and the options that
connect and serve share."""

from __future__ import annotations

import argparse
import sys

from ._cli_options import PROG, add_tls_options, fail

DESCRIPTION = "TLS through Mozilla NSS under the system crypto policy: try it, inspect it, debug it."
EPILOG = """\
exit status: 0 on success; for connect, 0 only when the server's certificate
was verified. 1: the certificate was refused; 2: bad usage; 3: the connection
or handshake failed.

environment: TLS_NSS_POLICY_FILE (the crypto policy to apply), TLS_NSS_DB (an
NSS database), NSS_IGNORE_SYSTEM_POLICY=1 (no policy; for debugging only).
"""

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    connect = commands.add_parser(
        "connect", help="connect to a TLS server and show what was negotiated and verified",
        description="Connect to HOST[:PORT] through the public API, as openssl s_client, "
        "gnutls-cli and NSS's tstclnt do, and show the negotiated version, cipher suite, "
        "ALPN protocol and key exchange group, whether the session was resumed, the "
        "server's chain, the verification verdict, and the crypto-policy entries that "
        "allowed each part.",
    )
    connect.add_argument("target", metavar="HOST[:PORT]",
                         help="server to connect to; port 443 unless given ([::1]:8443 for IPv6)")
    connect.add_argument("--servername", metavar="NAME",
                         help="name to send as SNI and to verify (default: HOST)")
    connect.add_argument("--insecure", action="store_true",
                         help="when the server's certificate is refused, connect again "
                         "without verification to show its chain and what was negotiated; "
                         "the exit status is still 1")
    connect.add_argument("--reconnect", action="store_true",
                         help="connect a second time and show whether that session resumed")
    add_tls_options(connect)

    serve = commands.add_parser(
        "serve", help="run a small TLS server to test clients against",
        description="Accept TLS connections and show what each negotiated. A client that "
        "sends an HTTP request gets a page describing its connection; any other client "
        "gets its lines echoed back.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on "
                       "(default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=4433, help="port (default: 4433; 0: any)")
    serve.add_argument("--chain", metavar="FILE", action="append", default=[],
                       help="an intermediate certificate to send after --cert; repeat for more")
    serve.add_argument("--once", action="store_true", help="exit after one connection")
    add_tls_options(serve)

    demo = commands.add_parser(
        "demo", help="run a TLS 1.3 server and client on loopback and show what they negotiated",
        description="Make a CA and a server certificate in a temporary NSS database, run a "
        "server and a client on loopback, and show what they negotiated.",
    )
    demo.add_argument("--asgi", action="store_true",
                      help="instead, run uvicorn with its key in the token, unmodified (through "
                      "'run'), and fetch a page from it with httpx")
    commands.add_parser("policy", help="show the crypto policy in force and where it comes from",
                        description="Show the crypto policy in force and where it comes from.")
    commands.add_parser(
        "tokens",
        help="list the PKCS#11 tokens NSS reaches, with their URIs and the certificates "
        "they show without a PIN",
        description="List the PKCS#11 tokens NSS reaches, with their URIs and the "
        "certificates they show without a PIN.",
    )
    commands.add_parser("version", help="show the versions of tls_nss and NSS",
                        description="Show the versions of tls_nss and NSS.")
    run = commands.add_parser(
        "run", help="run a Python program with every ssl.SSLContext it makes NSS's",
        description="Run a Python program as 'python3 -m MODULE' or 'python3 SCRIPT' would, "
        "after tls_nss.inject_into_ssl(): every ssl.SSLContext it makes, and what the "
        "standard library and its libraries build on it, is NSS's, under the system crypto "
        "policy. Everything after MODULE or SCRIPT goes to the program.",
        usage=f"{PROG} run [-h] [-m MODULE | SCRIPT] [ARGS...]",
    )
    run.add_argument("-m", metavar="MODULE", dest="module", help="run a module, as python3 -m")
    run.add_argument("program", nargs=argparse.REMAINDER, metavar="SCRIPT [ARGS...]",
                     help="the script and its arguments (after -m MODULE: the module's)")
    return parser


def main(argv: list[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else argv
    if words[:1] == ["run"]:
        # Everything after MODULE or SCRIPT is the program's, options too.
        from ._run import run as run_program

        return run_program(words[1:])
    args = build_parser().parse_args(argv)
    if args.command == "connect":
        from ._connect import run as run_connect

        return run_connect(args)
    if args.command == "serve":
        from ._serve import run as run_serve

        return run_serve(args)
    if args.command == "demo":
        from ._demo import run as run_demo

        return run_demo(asgi=args.asgi)
    if args.command == "policy":
        return _show_policy()
    if args.command == "tokens":
        return _list_tokens()
    return _show_version()


def _show_version() -> int:
    from . import __version__, nss_version
    from ._errors import TLSError
    from .policy import effective_policy

    try:
        mode = ", FIPS mode" if effective_policy().fips_mode else ""
    except TLSError as e:
        mode = f" (not started: {e})"
    print(f"tls_nss {__version__}, NSS {nss_version()}{mode}")
    return 0


def _show_policy() -> int:
    from ._errors import TLSError
    from .policy import effective_policy

    try:
        print(effective_policy())
    except TLSError as e:
        return fail("policy", str(e), 3)
    return 0


def _list_tokens() -> int:
    from . import tokens
    from ._errors import TLSError

    try:
        found = tokens.list_tokens()
    except TLSError as e:
        return fail("tokens", str(e), 3)
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
