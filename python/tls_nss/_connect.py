"""`python3 -m tls_nss connect`: what openssl s_client, gnutls-cli and
tstclnt show, through this library's public API and in its terms."""

from __future__ import annotations

import argparse
import datetime
import json
import socket
import sys
import warnings
from typing import Any

from . import certinfo
from ._api import NextProtocol, TLSClientConfiguration, TLSVersion
from ._cli_options import fail, signing_chain, trust_store
from ._context import NSSClientContext
from ._errors import CertificateVerificationError, TLSError
from ._nss import NSSTLSSocket
from .policy import EffectivePolicy, cipher_suite_name, effective_policy

DEFAULT_PORT = 443


def parse_target(target: str) -> tuple[str, int]:
    """HOST, HOST:PORT, [IPv6]:PORT or a bare IPv6 address."""
    if target.startswith("["):
        host, _, rest = target[1:].partition("]")
        port = rest.removeprefix(":")
    elif target.count(":") == 1:
        host, port = target.split(":")
    else:
        host, port = target, ""
    if not host:
        raise ValueError(f"no host in {target!r}")
    try:
        number = int(port) if port else DEFAULT_PORT
    except ValueError:
        raise ValueError(f"bad port in {target!r}") from None
    if not 0 < number < 65536:
        raise ValueError(f"port {number} is out of range")
    return host, number


def _configuration(args: argparse.Namespace) -> TLSClientConfiguration:
    chain = signing_chain(args.cert, args.key) if args.cert else None
    return TLSClientConfiguration(
        certificate_chain=chain,
        ciphers=args.ciphers,
        inner_protocols=args.alpn,
        lowest_supported_version=args.min_version,
        highest_supported_version=args.max_version,
        trust_store=trust_store(args.cafile),
    )


def _open(context: NSSClientContext, host: str, port: int, servername: str,
          timeout: float) -> NSSTLSSocket:
    try:
        raw = socket.create_connection((host, port), timeout=timeout)
    except OSError as e:
        raise ConnectionError(f"connecting to {host}:{port}: {e}") from e
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return context.wrap_socket(raw, servername)


def display_name(value: Any) -> str | None:
    """A negotiated value as text: "TLSv1.3", "h2", a suite's IANA name."""
    if value is None:
        return None
    if isinstance(value, (TLSVersion, NextProtocol)):
        return value.value if isinstance(value.value, str) else value.value.decode()
    if isinstance(value, bytes):
        return value.decode("ascii", "replace")
    if isinstance(value, int):  # CipherSuite members are ints too
        return cipher_suite_name(value)
    return str(value)


def _policy_notes(info: dict[str, Any], chain: list[certinfo.CertificateInfo],
                  policy: EffectivePolicy) -> dict[str, str]:
    """Which entry of the crypto policy let each part through."""
    low, high = policy.version_names
    notes = {
        "version": f"{info['version']} is within the policy's {low} to {high}",
        "cipher": (f"{info['cipher']} is among the policy's {len(policy.cipher_suites)} "
                   "cipher suites"),
    }
    if info["group"]:
        notes["group"] = (f"{info['group']} is among the policy's groups"
                          if info["group"] in policy.groups
                          else f"{info['group']} (the policy lists {', '.join(policy.groups)})")
    minimum = policy.minimum_key_sizes.get("RSA", 0)
    for depth, cert in enumerate(chain):
        if cert.key_type.startswith("RSA"):
            notes[f"key {depth}"] = (f"RSA {cert.key_bits} bits meets the policy's minimum "
                                     f"of {minimum}")
    return notes


def _policy_hint(error: str | None, policy: EffectivePolicy) -> str | None:
    """For a handshake the policy may have refused: what the policy allows."""
    low, high = policy.version_names
    if error in ("SSL_ERROR_UNSUPPORTED_VERSION", "SSL_ERROR_PROTOCOL_VERSION_ALERT"):
        return f"the crypto policy allows {low} to {high} ({policy.describe()})"
    if error in ("SSL_ERROR_NO_CYPHER_OVERLAP", "SSL_ERROR_HANDSHAKE_FAILURE_ALERT"):
        return (f"the crypto policy allows {low} to {high}, {len(policy.cipher_suites)} "
                f"cipher suites and the groups {', '.join(policy.groups)} ({policy.describe()})")
    if error in ("SSL_ERROR_WEAK_SERVER_CERT_KEY", "SEC_ERROR_INVALID_KEY"):
        sizes = ", ".join(f"{k} {v}" for k, v in sorted(policy.minimum_key_sizes.items()))
        return f"the crypto policy's minimum key sizes are {sizes} ({policy.describe()})"
    return None


def _connection_info(sock: NSSTLSSocket) -> tuple[dict[str, Any], list[certinfo.CertificateInfo]]:
    chain = [certinfo.describe(der) for der in (sock.get_unverified_chain() or [])]
    info = {
        "version": display_name(sock.negotiated_tls_version),
        "cipher": display_name(sock.cipher()),
        "alpn": display_name(sock.negotiated_protocol()),
        "group": sock.negotiated_group,
        "resumed": sock.session_reused,
    }
    return info, chain


def _cert_json(cert: certinfo.CertificateInfo) -> dict[str, Any]:
    return {
        "subject": cert.subject, "issuer": cert.issuer, "serial_number": cert.serial_number,
        "not_before": cert.not_before.isoformat(), "not_after": cert.not_after.isoformat(),
        "key": cert.key_description, "signature_algorithm": cert.signature_algorithm,
        "dns_names": list(cert.dns_names), "ip_addresses": list(cert.ip_addresses),
        "is_ca": cert.is_ca, "sha256": cert.sha256,
    }


def _print_text(report: dict[str, Any], chain: list[certinfo.CertificateInfo]) -> None:
    now = datetime.datetime.now(datetime.timezone.utc)
    where = f"({report['address']})" if report["address"] else "(no connection shown)"
    print(f"connected to {report['server']} {where}, SNI {report['servername']}")
    info = report["connection"]
    if info:
        for label, key in (("version", "version"), ("cipher suite", "cipher"),
                           ("ALPN", "alpn"), ("group", "group"), ("resumed", "resumed")):
            value = info[key]
            shown = ("yes" if value else "no") if key == "resumed" else (value or "none")
            note = report["policy"].get(key)
            print(f"  {label + ':':14}{shown}" + (f"   [policy: {note}]" if note else ""))
    if report.get("reconnect") is not None:
        print(f"  {'reconnected:':14}{'resumed' if report['reconnect'] else 'not resumed'}")
    count = f"{len(chain)} certificate" + ("" if len(chain) == 1 else "s")
    if chain or info:
        print(f"server chain ({count}, as sent):")
    else:
        print("server chain: not shown; --insecure connects again to show a refused chain")
    for depth, cert in enumerate(chain):
        expired = " (EXPIRED)" if cert.not_after < now else ""
        print(f"  {depth}: subject {cert.subject}")
        print(f"     issuer  {cert.issuer}")
        print(f"     valid   {cert.not_before:%Y-%m-%d %H:%M} to "
              f"{cert.not_after:%Y-%m-%d %H:%M} UTC{expired}")
        note = report["policy"].get(f"key {depth}")
        print(f"     key     {cert.key_description}" + (f"   [policy: {note}]" if note else ""))
        names = [*cert.dns_names, *cert.ip_addresses]
        if names:
            print(f"     names   {', '.join(names)}")
    verdict = report["verdict"]
    if verdict["verified"]:
        print(f"verification: OK ({verdict['trust']})")
    else:
        print(f"verification: FAILED: {verdict['reason']} ({verdict['error']})")
        if verdict.get("certificate"):
            print(f"  concerning the certificate at {verdict['certificate']}")
    print(f"crypto policy: {report['policy_name']}")
    print(f"FIPS mode: {'yes' if report['fips_mode'] else 'no'}")


def _unverified_context(config: TLSClientConfiguration) -> NSSClientContext:
    """A context that skips verification, made on purpose and said so on
    stderr by the caller; the insecure module's own warnings are for
    libraries that reach it by accident."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from .insecure import InsecureConfiguration, NSSInsecureClientContext

        return NSSInsecureClientContext(
            config, InsecureConfiguration(disable_verification=True), session_cache_size=0
        )


def _await_ticket(sock: NSSTLSSocket) -> None:
    """A TLS 1.3 server sends its session ticket after the handshake; a
    short read takes it in, so that a second connection can resume."""
    sock.settimeout(0.5)
    try:
        sock.recv(1)
    except TLSError:
        pass


def run(args: argparse.Namespace) -> int:
    try:
        host, port = parse_target(args.target)
    except ValueError as e:
        return fail("connect", str(e), 2)
    servername = args.servername or host
    try:
        config = _configuration(args)
        context = NSSClientContext(config)
        policy = effective_policy()
    except TLSError as e:
        return fail("connect", str(e), 2)

    verdict: dict[str, Any] = {"verified": True,
                               "trust": args.cafile or "the system's trust store"}
    sock = None
    try:
        sock = _open(context, host, port, servername, args.timeout)
    except CertificateVerificationError as e:
        verdict = {"verified": False, "reason": e.reason, "error": e.nss_name,
                   "certificate": e.certificate, "message": str(e)}
    except (TLSError, ConnectionError) as e:
        hint = _policy_hint(getattr(e, "nss_name", None), policy)
        return fail("connect", f"{e}{'; ' + hint if hint else ''}", 3)

    if sock is None and args.insecure:
        print("WARNING: --insecure: the server's certificate was REFUSED; connecting again "
              "WITHOUT verification to show its chain. Nothing on that connection is "
              "authenticated, and no data is sent on it.", file=sys.stderr)
        try:
            sock = _open(_unverified_context(config), host, port, servername, args.timeout)
        except (TLSError, ConnectionError):
            sock = None

    info, chain = _connection_info(sock) if sock is not None else ({}, [])
    report: dict[str, Any] = {
        "server": f"{host}:{port}",
        "address": "%s:%d" % sock.getpeername()[:2] if sock is not None else None,
        "servername": servername,
        "connection": info,
        "chain": [_cert_json(cert) for cert in chain],
        "verdict": verdict,
        "policy": _policy_notes(info, chain, policy) if info else {},
        "policy_name": policy.describe(),
        "fips_mode": policy.fips_mode,
        "reconnect": None,
    }
    if sock is not None:
        if args.reconnect and verdict["verified"]:
            _await_ticket(sock)
        sock.close(force=True)
    if args.reconnect and verdict["verified"]:
        try:
            again = _open(context, host, port, servername, args.timeout)
            report["reconnect"] = again.session_reused
            again.close(force=True)
        except (TLSError, ConnectionError) as e:
            return fail("connect", f"reconnecting: {e}", 3)

    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_text(report, chain)
    if not verdict["verified"]:
        return fail("connect", verdict["message"], 1)
    return 0
