"""Revocation lists, per context: they revoke for the context given them
and no other, on clients and on servers."""

from __future__ import annotations

import pytest

import tls_nss as tls
from certgen import crl
from peers import ThreadedServer, echo_once, openssl_server


def _client(pki, **kwargs) -> tls.NSSClientContext:
    return tls.NSSClientContext(tls.TLSClientConfiguration(trust_store=pki.trust()), **kwargs)


def _reaches(ctx, port) -> bool:
    with ctx.connect(("localhost", port)) as sock:
        sock.sendall(b"abc\n")
        return sock.recv(10) == b"cba\n"


def test_a_crl_revokes_for_its_context_only(pki):
    revoking = _client(pki, crls=[crl(pki.ca, pki.issued["ec"])])
    unaware = _client(pki)
    server = openssl_server(pki, "ec")
    try:
        with pytest.raises(tls.CertificateVerificationError) as caught:
            revoking.connect(("localhost", server.port))
    finally:
        server.stop()
    assert caught.value.reason == "revoked"
    assert caught.value.certificate == "depth 0: CN=localhost"
    server = openssl_server(pki, "ec")
    try:
        assert _reaches(unaware, server.port)       # never process-wide
    finally:
        server.stop()


def test_a_crl_that_lists_others_lets_the_peer_through(pki, tmp_path):
    path = tmp_path / "ca.crl"
    path.write_bytes(crl(pki.ca, pki.issued["rsa"], pem=True))
    server = openssl_server(pki, "ec")
    try:
        assert _reaches(_client(pki, crls=[path]), server.port)
    finally:
        server.stop()


def test_an_intermediate_crl_is_checked_against_the_chain(pki, server_context):
    listing = crl(pki.intermediate_ca, pki.issued["chained"])
    forged = crl(pki.intermediate_ca, pki.issued["chained"], signer=pki.other_ca)
    for crls, revoked in (([listing], True), ([forged], False)):
        server = ThreadedServer(server_context("chained"), echo_once)
        ctx = _client(pki, crls=crls)
        if revoked:
            with pytest.raises(tls.CertificateVerificationError) as caught:
                ctx.connect(("localhost", server.port))
            assert caught.value.certificate == "depth 0: CN=localhost"
        else:   # a CRL its issuer did not sign counts for nothing
            with ctx.connect(("localhost", server.port)) as sock:
                sock.sendall(b"x")
                assert sock.recv(1) == b"x"
        server.join()


def test_a_revoked_intermediate_fails_at_depth_1(pki, server_context):
    server = ThreadedServer(server_context("chained"), echo_once)
    revoking = _client(pki, crls=[crl(pki.ca, pki.intermediate_ca)])
    with pytest.raises(tls.CertificateVerificationError) as caught:
        revoking.connect(("localhost", server.port))
    server.join()
    assert caught.value.certificate.startswith("depth 1: CN=tls_nss test intermediate")


def test_servers_check_client_certificates(pki, client_context):
    config = tls.TLSServerConfiguration(certificate_chain=[pki.signing_chain("ec")],
                                        trust_store=pki.trust())
    server_ctx = tls.NSSServerContext(config, crls=[crl(pki.ca, pki.issued["client"])])
    server = ThreadedServer(server_ctx, echo_once)
    with pytest.raises(tls.TLSError):
        with client_context(certificate_chain=pki.signing_chain("client")).connect(
                ("localhost", server.port)) as sock:
            sock.sendall(b"x")
            sock.recv(1)
    server.join()
    assert any(isinstance(e, tls.CertificateVerificationError) and e.reason == "revoked"
               for e in server.errors), server.errors


def test_bad_crls_are_configuration_errors(pki, tmp_path):
    forged = crl(pki.ca, pki.issued["ec"], signer=pki.other_ca)
    with pytest.raises(tls.ConfigurationError, match="CRL 1"):
        _client(pki, crls=[forged])
    with pytest.raises(tls.ConfigurationError, match="CRL 2"):
        _client(pki, crls=[crl(pki.ca), b"\x30\x03garbage"])
    with pytest.raises(tls.ConfigurationError, match="no PEM X509 CRL"):
        _client(pki, crls=[pki.issued["ec"].cert_pem])
    with pytest.raises(tls.ConfigurationError, match="nope.crl"):
        _client(pki, crls=[tmp_path / "nope.crl"])
    with pytest.raises(TypeError):
        _client(pki, crls=b"not a list")
    with pytest.raises(TypeError):
        _client(pki, crls=[42])
