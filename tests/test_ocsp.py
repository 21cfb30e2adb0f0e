"""OCSP stapling on both sides, against OpenSSL: our client judges what
s_server staples, and s_client reads what our server staples."""

from __future__ import annotations

import pytest

import tls_nss as tls
from certgen import ocsp_response
from peers import ThreadedServer, echo_once, need, openssl_server, run_client


def _staple(pki, tmp_path, der: bytes):
    path = tmp_path / "staple.der"
    path.write_bytes(der)
    return openssl_server(pki, "ec", args=["-status_file", str(path)])


def _connect(client_context, server):
    try:
        with client_context().connect(("localhost", server.port)) as sock:
            sock.sendall(b"abc\n")
            assert sock.recv(10) == b"cba\n"
            return sock.ocsp_status
    finally:
        server.stop()


def test_a_good_staple_is_reported(pki, client_context, tmp_path):
    good = ocsp_response(pki.ca, pki.issued["ec"])
    assert _connect(client_context, _staple(pki, tmp_path, good)) == "good"


def test_no_staple_is_none(pki, client_context):
    assert _connect(client_context, openssl_server(pki, "ec")) is None


def test_a_revoked_staple_fails_the_handshake(pki, client_context, tmp_path):
    revoked = ocsp_response(pki.ca, pki.issued["ec"], "revoked")
    server = _staple(pki, tmp_path, revoked)
    try:
        with pytest.raises(tls.CertificateVerificationError) as caught:
            client_context().connect(("localhost", server.port))
    finally:
        server.stop()
    assert caught.value.reason == "revoked"
    assert caught.value.nss_name == "SEC_ERROR_REVOKED_CERTIFICATE"
    assert caught.value.certificate == "depth 0: CN=localhost"


@pytest.mark.parametrize("kind", ["expired", "badly signed", "for another certificate"])
def test_an_unusable_staple_counts_as_none(pki, client_context, tmp_path, kind):
    if kind == "expired":
        der = ocsp_response(pki.ca, pki.issued["ec"], "good", expired=True)
    elif kind == "badly signed":
        der = ocsp_response(pki.ca, pki.issued["ec"], "revoked", signer=pki.other_ca)
    else:
        der = ocsp_response(pki.ca, pki.issued["rsa"], "revoked")
    assert _connect(client_context, _staple(pki, tmp_path, der)) is None


def test_an_expired_revocation_still_counts(pki, client_context, tmp_path):
    """Revocation is for good: NSS reads an old "revoked" as revoked."""
    stale = ocsp_response(pki.ca, pki.issued["ec"], "revoked", expired=True)
    server = _staple(pki, tmp_path, stale)
    try:
        with pytest.raises(tls.CertificateVerificationError, match="revoked"):
            client_context().connect(("localhost", server.port))
    finally:
        server.stop()


def _stapling_server(pki, response: bytes | None, **kwargs):
    config = tls.TLSServerConfiguration(certificate_chain=[pki.signing_chain("chained")],
                                        **kwargs)
    return tls.NSSServerContext(config, ocsp_responses=[response])


@pytest.mark.parametrize("version", ["tls1_2", "tls1_3"])
def test_our_staple_reaches_openssl(pki, version):
    good = ocsp_response(pki.intermediate_ca, pki.issued["chained"])
    server = ThreadedServer(_stapling_server(pki, good), echo_once)
    done = run_client([need("openssl"), "s_client", "-connect", f"127.0.0.1:{server.port}",
                       f"-{version}", "-status", "-CAfile", str(pki.path("ca.pem"))], data=b"x")
    server.join()
    assert b"OCSP Response Status: successful" in done.stdout, done.stdout[-3000:]
    assert b"Cert Status: good" in done.stdout


def test_our_client_reads_our_staple(pki, client_context):
    revoked = ocsp_response(pki.intermediate_ca, pki.issued["chained"], "revoked")
    server = ThreadedServer(_stapling_server(pki, revoked), echo_once)
    with pytest.raises(tls.CertificateVerificationError, match="revoked"):
        client_context().connect(("localhost", server.port))
    server.join()


def test_bad_responses_are_refused_when_the_context_is_made(pki):
    chain = pki.signing_chain("chained")
    config = tls.TLSServerConfiguration(certificate_chain=[chain])
    with pytest.raises(tls.ConfigurationError, match="OCSP"):
        tls.NSSServerContext(config, ocsp_responses=[b"\x30\x03\x0a\x01\x00garbage"])
    foreign = ocsp_response(pki.intermediate_ca, pki.issued["chained-client"])
    with pytest.raises(tls.ConfigurationError, match="OCSP"):
        tls.NSSServerContext(config, ocsp_responses=[foreign])
    with pytest.raises(tls.ConfigurationError, match="2 items for 1"):
        tls.NSSServerContext(config, ocsp_responses=[None, None])
    with pytest.raises(TypeError):
        tls.NSSServerContext(config, ocsp_responses=["not bytes"])
    with pytest.raises(TypeError):
        tls.NSSServerContext(config, ocsp_responses=b"bytes, not a list")
    assert tls.NSSServerContext(config, ocsp_responses=[None])
