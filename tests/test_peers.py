"""Interoperability with real peers: OpenSSL's and GnuTLS's command-line
clients and servers, on loopback."""

from __future__ import annotations

import ssl

import pytest
from nss_mode import skip_unless_suite_usable
from peers import (
    ThreadedServer,
    echo_once,
    gnutls_server,
    need,
    openssl_server,
    run_client,
)

import tls_nss as tls
from tls_nss import _nss

V12, V13 = tls.TLSVersion.TLSv1_2, tls.TLSVersion.TLSv1_3

IMPLEMENTED = set(_nss.implemented_ciphers())
NSS_SUITES = [suite for suite in tls.CipherSuite if suite in IMPLEMENTED]
TLS13_SUITES = [s for s in NSS_SUITES if s < 0x1400]
TLS12_SUITES = [s for s in NSS_SUITES if s >= 0x1400]


def _openssl_names() -> dict[int, str]:
    """OpenSSL's name for each suite, as OpenSSL itself reports it."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    return {c["id"] & 0xFFFF: c["name"] for c in ctx.get_ciphers()}


OPENSSL_NAMES = _openssl_names()


def _cert_for(suite: tls.CipherSuite) -> str:
    return "ec" if "ECDSA" in suite.name else "rsa"


def test_every_enum_suite_nss_lacks_is_known():
    """Documents which of the PEP's suites NSS 3.87 cannot negotiate (CCM)."""
    missing = {s.name for s in tls.CipherSuite} - {s.name for s in NSS_SUITES}
    assert all("CCM" in name for name in missing)
    assert len(NSS_SUITES) >= 9


# ---- our client against openssl s_server ----


@pytest.mark.parametrize("suite", NSS_SUITES, ids=lambda s: s.name)
def test_client_each_cipher_against_openssl(pki, client_context, suite):
    skip_unless_suite_usable(suite)
    version = V13 if suite in TLS13_SUITES else V12
    server = openssl_server(
        pki, _cert_for(suite), args=["-tls1_3" if version is V13 else "-tls1_2"]
    )
    ctx = client_context(ciphers=[suite], lowest_supported_version=version,
                         highest_supported_version=version)
    with ctx.connect(("localhost", server.port)) as sock:
        sock.sendall(b"hello\n")
        assert sock.recv(100) == b"olleh\n"
        assert sock.cipher() is suite
        assert sock.negotiated_tls_version is version
    output = server.output()
    assert f"Ciphersuite: {OPENSSL_NAMES[suite]}" in output


@pytest.mark.parametrize("version", [V12, V13])
def test_client_alpn_against_openssl(pki, client_context, version):
    server = openssl_server(pki, args=["-alpn", "http/1.1,h2"])
    ctx = client_context(inner_protocols=[tls.NextProtocol.H2],
                         highest_supported_version=version)
    with ctx.connect(("localhost", server.port)) as sock:
        sock.sendall(b"abc\n")
        assert sock.recv(100) == b"cba\n"
        assert sock.negotiated_protocol() is tls.NextProtocol.H2
        assert sock.negotiated_tls_version is version
    assert f"Protocol version: {version.value}" in server.output()


def test_client_sni_accepted_by_openssl(pki, client_context):
    server = openssl_server(
        pki, args=["-servername", "localhost", "-servername_fatal",
                   "-cert2", str(pki.path("rsa.pem")), "-key2", str(pki.path("rsa.key"))],
    )
    with client_context().connect(("localhost", server.port)) as sock:
        sock.sendall(b"sni\n")
        assert sock.recv(100) == b"ins\n"
    server.stop()


def test_client_sends_the_requested_server_name(pki, client_context):
    """openssl refuses any name but the one it expects: proof of SNI."""
    server = openssl_server(
        pki, args=["-servername", "not-localhost.test", "-servername_fatal",
                   "-cert2", str(pki.path("rsa.pem")), "-key2", str(pki.path("rsa.key"))],
    )
    with pytest.raises(tls.TLSError) as info:
        client_context().connect(("localhost", server.port))
    assert info.value.nss_name == "SSL_ERROR_UNRECOGNIZED_NAME_ALERT"
    server.stop()


def test_client_certificate_to_openssl(pki, client_context):
    server = openssl_server(pki, args=["-Verify", "1", "-CAfile", str(pki.path("ca.pem"))])
    ctx = client_context(certificate_chain=pki.signing_chain("client"))
    with ctx.connect(("localhost", server.port)) as sock:
        sock.sendall(b"xyz\n")
        assert sock.recv(100) == b"zyx\n"
    server.stop()


def test_client_refuses_openssl_with_untrusted_certificate(pki, client_context):
    server = openssl_server(pki, "other")
    with pytest.raises(tls.CertificateVerificationError):
        client_context().connect(("localhost", server.port))
    server.stop()


# ---- our client against gnutls-serv ----


@pytest.mark.parametrize("version", [V12, V13])
@pytest.mark.parametrize("cert", ["rsa", "ec"])
def test_client_against_gnutls(pki, client_context, version, cert):
    server = gnutls_server(pki, cert, args=["--alpn", "h2"])
    ctx = client_context(inner_protocols=[b"h2"], lowest_supported_version=version,
                         highest_supported_version=version)
    with ctx.connect(("localhost", server.port)) as sock:
        sock.sendall(b"echo me\n")
        assert sock.recv(100) == b"echo me\n"
        assert sock.negotiated_tls_version is version
        assert sock.negotiated_protocol() is tls.NextProtocol.H2
    server.stop()


def test_client_certificate_to_gnutls(pki, client_context):
    server = gnutls_server(pki, args=["--require-client-cert", "--verify-client-cert",
                                      "--x509cafile", str(pki.path("ca.pem"))])
    ctx = client_context(certificate_chain=pki.signing_chain("client"))
    with ctx.connect(("localhost", server.port)) as sock:
        sock.sendall(b"with a certificate\n")
        assert sock.recv(100) == b"with a certificate\n"
    server.stop()


# ---- our server against openssl s_client and gnutls-cli ----


def _openssl_client(pki, port, *args):
    return run_client(
        [need("openssl"), "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "localhost",
         "-CAfile", str(pki.path("ca.pem")), "-verify_return_error", "-brief", "-ign_eof",
         *args],
        data=b"over the wire\n",
    )


@pytest.mark.parametrize("suite", NSS_SUITES, ids=lambda s: s.name)
def test_server_each_cipher_against_openssl(pki, server_context, suite):
    skip_unless_suite_usable(suite)
    version = V13 if suite in TLS13_SUITES else V12
    server = ThreadedServer(server_context(_cert_for(suite), ciphers=[suite]), echo_once)
    result = _openssl_client(pki, server.port, "-tls1_3" if version is V13 else "-tls1_2")
    server.join()
    assert not server.errors, server.errors
    assert server.results[0]["data"] == b"over the wire\n"
    assert server.results[0]["cipher"] is suite
    assert result.stdout == b"over the wire\n"
    assert f"Ciphersuite: {OPENSSL_NAMES[suite]}" in result.stderr.decode()


def test_server_alpn_and_client_certificate_against_openssl(pki, server_context):
    server = ThreadedServer(
        server_context(inner_protocols=[tls.NextProtocol.H2], trust_store=pki.trust()), echo_once
    )
    result = _openssl_client(pki, server.port, "-alpn", "h2",
                             "-cert", str(pki.path("client.pem")),
                             "-key", str(pki.path("client.key")))
    server.join()
    assert not server.errors, server.errors
    assert result.stdout == b"over the wire\n"
    assert server.results[0]["protocol"] is tls.NextProtocol.H2
    assert server.results[0]["peercert"] == pki.issued["client"].cert_der


def test_server_chain_verifies_in_openssl(pki, server_context):
    """The intermediate must come from us: openssl knows only the root."""
    server = ThreadedServer(server_context("chained"), echo_once)
    result = _openssl_client(pki, server.port)
    server.join()
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"over the wire\n"


@pytest.mark.parametrize("priority", ["NORMAL:-VERS-ALL:+VERS-TLS1.2", "NORMAL:-VERS-ALL:+VERS-TLS1.3"])
def test_server_against_gnutls_cli(pki, server_context, priority):
    server = ThreadedServer(server_context("ec", inner_protocols=[tls.NextProtocol.HTTP1]), echo_once)
    result = run_client(
        [need("gnutls-cli"), "--port", str(server.port), "--x509cafile", str(pki.path("ca.pem")),
         "--priority", priority, "--alpn", "http/1.1", "localhost"],
        data=b"from gnutls\n",
    )
    server.join()
    assert not server.errors, server.errors
    assert server.results[0]["data"] == b"from gnutls\n"
    expected = V12 if "TLS1.2" in priority else V13
    assert server.results[0]["version"] is expected
    assert server.results[0]["protocol"] is tls.NextProtocol.HTTP1
    assert b"from gnutls" in result.stdout
