"""`python3 -m tls_nss serve`: a small TLS server to test clients against,
as openssl s_server, gnutls-serv and NSS's selfserv are."""

from __future__ import annotations

import argparse
import json
import socket
import sys
import threading
from typing import Any

from . import certinfo
from ._api import TLSServerConfiguration
from ._cli_options import fail, signing_chain, trust_store
from ._connect import display_name
from ._context import NSSServerContext
from ._errors import ConfigurationError, TLSError
from ._nss import NSSTLSSocket
from .policy import effective_policy

_HTTP_METHODS = (b"GET ", b"HEAD ", b"POST ", b"PUT ", b"OPTIONS ")


def _describe(conn: NSSTLSSocket, peer: Any) -> dict[str, Any]:
    client_cert = conn.getpeercert()
    return {
        "peer": "%s:%d" % tuple(peer[:2]),
        "version": display_name(conn.negotiated_tls_version),
        "cipher": display_name(conn.cipher()),
        "alpn": display_name(conn.negotiated_protocol()),
        "group": conn.negotiated_group,
        "resumed": conn.session_reused,
        "client_certificate": certinfo.describe(client_cert).subject if client_cert else None,
    }


def _summary(info: dict[str, Any]) -> str:
    return (f"{info['peer']}: {info['version']} {info['cipher']} group {info['group']} "
            f"ALPN {info['alpn'] or 'none'} {'resumed' if info['resumed'] else 'full handshake'}"
            + (f", client {info['client_certificate']}" if info["client_certificate"] else ""))


def _respond(conn: NSSTLSSocket, info: dict[str, Any]) -> None:
    """An HTTP request gets a page about the connection; anything else is
    echoed until the client closes."""
    first = conn.recv(16384)
    if first.startswith(_HTTP_METHODS):
        body = "\n".join(f"{key}: {value}" for key, value in info.items()).encode() + b"\n"
        conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                     b"Connection: close\r\n\r\n" % len(body) + body)
        return
    data = first
    while data:
        conn.sendall(data)
        data = conn.recv(16384)


def _handle(conn: NSSTLSSocket, peer: Any, as_json: bool) -> None:
    try:
        info = _describe(conn, peer)
        print(json.dumps(info) if as_json else _summary(info), flush=True)
        _respond(conn, info)
        conn.close()
    except (TLSError, OSError) as e:
        print(f"{'%s:%d' % tuple(peer[:2])}: {e}", file=sys.stderr, flush=True)
        conn.close(force=True)


def run(args: argparse.Namespace) -> int:
    if not args.cert:
        return fail("serve", "--cert is needed: a certificate file, pkcs11: URI or nickname", 2)
    try:
        config = TLSServerConfiguration(
            certificate_chain=[signing_chain(args.cert, args.key, args.chain)],
            ciphers=args.ciphers,
            inner_protocols=args.alpn,
            lowest_supported_version=args.min_version,
            highest_supported_version=args.max_version,
            trust_store=trust_store(args.cafile) if args.cafile else None,
        )
        context = NSSServerContext(config, handshake_timeout=args.timeout)
        socket.setdefaulttimeout(args.timeout)
        listener = context.connect((args.host, args.port))
        listener.listen(128)
    except TLSError as e:
        return fail("serve", str(e), 2 if isinstance(e, ConfigurationError) else 3)
    host, port = listener.getsockname()[:2]
    print(f"listening on {host}:{port}" + (" (one connection)" if args.once else "")
          + (", NSS in FIPS mode" if effective_policy().fips_mode else ""), flush=True)
    try:
        while True:
            try:
                conn, peer = listener.accept()
            except TLSError as e:
                print(f"handshake failed: {e}", file=sys.stderr, flush=True)
                if args.once:
                    return 3
                continue
            if args.once:
                _handle(conn, peer, args.json)
                return 0
            threading.Thread(target=_handle, args=(conn, peer, args.json), daemon=True).start()
    except KeyboardInterrupt:
        return 0
    finally:
        listener.close()
