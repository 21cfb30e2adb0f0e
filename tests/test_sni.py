"""A server with several signing chains: SNI picks the chain whose leaf
names the host the client asked for; RSA and ECDSA chains for one name
are both offered, and NSS picks by the client's signature algorithms."""

from __future__ import annotations

import pytest
from peers import ThreadedServer, need, run_client

import tls_nss as tls
from certgen import Issued

ECDSA_TLS12 = [tls.CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]
RSA_TLS12 = [tls.CipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]


@pytest.fixture(scope="module")
def sni_pki(pki):
    for name, names, kind in (
        ("a-rsa", ("a.test",), "rsa2048"),
        ("b-ec", ("b.test",), "ec256"),
        ("c-wild", ("*.c.test",), "ec256"),
        ("a-ec", ("a.test",), "ec256"),
    ):
        pki.add(name, pki.ca.issue(*names, key_kind=kind))
    return pki


def _server(pki, *names, **kwargs):
    config = tls.TLSServerConfiguration(
        certificate_chain=[pki.signing_chain(n) for n in names], **kwargs)
    return tls.NSS_IMPLEMENTATION.server_context(config)


def _handshake(client_buffer, server_buffer):
    for _ in range(20):
        done = []
        for end in (client_buffer, server_buffer):
            try:
                end.do_handshake()
                done.append(True)
            except tls.WantReadError:
                done.append(False)
        moved = 0
        for a, b in ((client_buffer, server_buffer), (server_buffer, client_buffer)):
            n = a.outgoing_bytes_buffered()
            if n:
                b.process_incoming(a.process_outgoing(n))
                moved += n
        if all(done) and not moved:
            return
    raise AssertionError("the handshake did not finish")


def _served_certificate(server_ctx, pki, hostname, **client_kwargs) -> bytes:
    client_ctx = tls.NSS_IMPLEMENTATION.client_context(
        tls.TLSClientConfiguration(trust_store=pki.trust(), **client_kwargs))
    client, server = client_ctx.create_buffer(hostname), server_ctx.create_buffer()
    _handshake(client, server)
    return client.getpeercert()


@pytest.mark.parametrize("hostname, expected", [
    ("a.test", "a-rsa"),
    ("b.test", "b-ec"),
    ("x.c.test", "c-wild"),
    ("deep.x.c.test", None),  # a wildcard covers one label only
])
def test_sni_picks_the_chain_that_names_the_host(sni_pki, hostname, expected):
    server_ctx = _server(sni_pki, "a-rsa", "b-ec", "c-wild")
    if expected is None:
        with pytest.raises(tls.CertificateVerificationError):
            _served_certificate(server_ctx, sni_pki, hostname)
        return
    assert _served_certificate(server_ctx, sni_pki, hostname) == sni_pki.issued[expected].cert_der


def test_unknown_name_gets_the_first_chain(sni_pki):
    server_ctx = _server(sni_pki, "a-rsa", "b-ec", "c-wild")
    client_ctx = tls.NSS_IMPLEMENTATION.client_context(tls.TLSClientConfiguration(
        trust_store=sni_pki.trust()))
    client, server = client_ctx.create_buffer("unknown.test"), server_ctx.create_buffer()
    with pytest.raises(tls.CertificateVerificationError) as info:
        _handshake(client, server)
    assert info.value.nss_name == "SSL_ERROR_BAD_CERT_DOMAIN"
    insecure = pytest.importorskip("tls_nss.insecure")
    with pytest.warns(insecure.SecurityWarning):
        options = insecure.InsecureConfiguration(disable_hostname_check=True)
        lax = insecure.NSSInsecureClientContext(
            tls.TLSClientConfiguration(trust_store=sni_pki.trust()), options)
    with pytest.warns(insecure.SecurityWarning):
        client = lax.create_buffer("unknown.test")
    server = server_ctx.create_buffer()
    _handshake(client, server)
    assert client.getpeercert() == sni_pki.issued["a-rsa"].cert_der


@pytest.mark.parametrize("ciphers, expected", [(ECDSA_TLS12, "a-ec"), (RSA_TLS12, "a-rsa")])
def test_rsa_and_ecdsa_chains_for_one_name(sni_pki, ciphers, expected):
    server_ctx = _server(sni_pki, "b-ec", "a-rsa", "a-ec")
    cert = _served_certificate(server_ctx, sni_pki, "a.test", ciphers=ciphers,
                               highest_supported_version=tls.TLSVersion.TLSv1_2)
    assert cert == sni_pki.issued[expected].cert_der


def test_sni_keeps_verifying_client_certificates(sni_pki):
    server_ctx = _server(sni_pki, "a-rsa", "b-ec", trust_store=sni_pki.trust())
    client_ctx = tls.NSS_IMPLEMENTATION.client_context(tls.TLSClientConfiguration(
        trust_store=sni_pki.trust(), certificate_chain=sni_pki.signing_chain("other-client")))
    client, server = client_ctx.create_buffer("b.test"), server_ctx.create_buffer()
    with pytest.raises(tls.TLSError):
        _handshake(client, server)
        client.write(b"x")
        _handshake(client, server)
        server.read(1)
    good = tls.NSS_IMPLEMENTATION.client_context(tls.TLSClientConfiguration(
        trust_store=sni_pki.trust(), certificate_chain=sni_pki.signing_chain("client")))
    client, server = good.create_buffer("b.test"), server_ctx.create_buffer()
    _handshake(client, server)
    assert server.getpeercert() == sni_pki.issued["client"].cert_der
    assert client.getpeercert() == sni_pki.issued["b-ec"].cert_der


@pytest.mark.parametrize("servername, expected", [("a.test", "a-rsa"), ("b.test", "b-ec"),
                                                  ("www.c.test", "c-wild")])
def test_sni_with_openssl_s_client(sni_pki, servername, expected):
    server = ThreadedServer(_server(sni_pki, "a-rsa", "b-ec", "c-wild"), lambda conn: conn.recv(10))
    result = run_client([need("openssl"), "s_client", "-connect", f"127.0.0.1:{server.port}",
                         "-servername", servername, "-CAfile", str(sni_pki.path("ca.pem")),
                         "-verify_return_error", "-verify_hostname", servername], data=b"hi\n")
    server.join()
    assert result.returncode == 0, result.stderr
    assert f"CN = {servername if expected != 'c-wild' else '*.c.test'}" in result.stdout.decode()


@pytest.mark.parametrize("sigalgs, expected", [("ecdsa_secp256r1_sha256", "a-ec"),
                                               ("rsa_pss_rsae_sha256", "a-rsa")])
def test_tls13_picks_the_chain_by_signature_algorithm(sni_pki, sigalgs, expected):
    """RSA and ECDSA chains for one name, in a group other than the first."""
    server = ThreadedServer(_server(sni_pki, "b-ec", "a-rsa", "a-ec"), lambda conn: conn.recv(10))
    result = run_client([need("openssl"), "s_client", "-connect", f"127.0.0.1:{server.port}",
                         "-servername", "a.test", "-tls1_3", "-sigalgs", sigalgs,
                         "-CAfile", str(sni_pki.path("ca.pem")), "-verify_return_error",
                         "-showcerts"], data=b"hi\n")
    server.join()
    assert result.returncode == 0, result.stderr
    from cryptography import x509

    pem = result.stdout.split(b"-----BEGIN CERTIFICATE-----")[1].split(b"-----END CERTIFICATE-----")[0]
    served = x509.load_pem_x509_certificate(
        b"-----BEGIN CERTIFICATE-----" + pem + b"-----END CERTIFICATE-----")
    from cryptography.hazmat.primitives.serialization import Encoding

    assert served.public_bytes(Encoding.DER) == sni_pki.issued[expected].cert_der


@pytest.mark.parametrize("version, group, openssl_name", [
    ("-tls1_2", "P-256", "prime256v1"),  # in TLS 1.2 the ECDSA leaf's curve must be listed
    ("-tls1_3", "P-256", "prime256v1"),
    ("-tls1_3", "P-384", "secp384r1"),
])
def test_switching_names_keeps_the_clients_groups(sni_pki, version, group, openssl_name):
    """NSS narrows a server's groups to the client's before it asks about
    SNI; switching to the group of another name must not widen them again,
    or a TLS 1.2 server picks a group the client never offered."""
    server = ThreadedServer(_server(sni_pki, "b-ec", "a-ec"), lambda conn: conn.recv(10))
    result = run_client([need("openssl"), "s_client", "-connect", f"127.0.0.1:{server.port}",
                         "-servername", "a.test", version, "-groups", group,
                         "-CAfile", str(sni_pki.path("ca.pem")), "-verify_return_error",
                         "-verify_hostname", "a.test"], data=b"hi\n")
    server.join()
    assert result.returncode == 0, result.stderr
    assert f"Server Temp Key: ECDH, {openssl_name}" in result.stdout.decode()
