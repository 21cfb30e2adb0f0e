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


def _hex(serial: int) -> str:
    """A serial number as OpenSSL prints it: upper-case hex, whole bytes."""
    text = f"{serial:X}"
    return "0" + text if len(text) % 2 else text


def _openssl_ocsp(pki, tmp_path, name: str) -> bytes:
    """A "good" response for pki's ``name`` leaf, made by `openssl ocsp`
    as a CA's responder would, signed by the test CA."""
    from cryptography.hazmat.primitives import serialization

    ca_key = tmp_path / "ca.key"
    ca_key.write_bytes(pki.ca.key.private_bytes(serialization.Encoding.PEM,
                                                serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption()))
    leaf = pki.issued[name].certificate
    index = tmp_path / f"{name}.index"
    index.write_text(f"V\t{leaf.not_valid_after:%y%m%d%H%M%S}Z\t\t{_hex(leaf.serial_number)}\t"
                     f"unknown\t/CN=localhost\n")
    out = tmp_path / f"{name}.ocsp"
    run_client([need("openssl"), "ocsp", "-index", str(index), "-rsigner",
                str(pki.path("ca.pem")), "-rkey", str(ca_key), "-CA", str(pki.path("ca.pem")),
                "-issuer", str(pki.path("ca.pem")), "-cert", str(pki.path(f"{name}.pem")),
                "-respout", str(out), "-ndays", "1"])
    return out.read_bytes()


def test_each_chain_gets_its_own_staple(pki, tmp_path):
    """An RSA and an ECDSA chain for one name, each with the response
    `openssl ocsp` made for it; s_client picks a chain by its signature
    algorithms and sees that chain's staple."""
    responses = [_openssl_ocsp(pki, tmp_path, "ec"), _openssl_ocsp(pki, tmp_path, "rsa")]
    config = tls.TLSServerConfiguration(
        certificate_chain=[pki.signing_chain("ec"), pki.signing_chain("rsa")])
    context = tls.NSSServerContext(config, ocsp_responses=responses)
    for sigalgs, name in (("ecdsa_secp256r1_sha256", "ec"), ("rsa_pss_rsae_sha256", "rsa")):
        server = ThreadedServer(context, echo_once)
        done = run_client([need("openssl"), "s_client", "-connect", f"127.0.0.1:{server.port}",
                           "-status", "-sigalgs", sigalgs, "-CAfile", str(pki.path("ca.pem"))],
                          data=b"x")
        server.join()
        serial = _hex(pki.issued[name].certificate.serial_number)
        assert b"Cert Status: good" in done.stdout, done.stdout[-3000:]
        assert f"Serial Number: {serial}".encode() in done.stdout, (name, done.stdout[-3000:])
