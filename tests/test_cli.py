"""`python3 -m tls_nss connect` and `serve` against real peers, and the
certificate descriptions and verification details they are built on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

import tls_nss as tls
from tls_nss import certinfo
from peers import TIMEOUT, free_port, gnutls_server, need, openssl_server, run_client, wait_for_port


def cli(*argv: str, timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tls_nss", *argv], capture_output=True,
                          text=True, timeout=timeout, env=dict(os.environ))


# ---- describing certificates ----


def test_describe_names_subject_issuer_key_and_sans(pki):
    info = certinfo.describe(pki.issued["ec"].cert_der)
    assert info.subject == "CN=localhost" and "tls_nss test CA" in info.issuer
    assert info.key_description == "EC P-256" and info.key_bits == 256
    assert info.dns_names == ("localhost",) and info.ip_addresses == ("127.0.0.1",)
    assert not info.is_ca and info.not_before < info.not_after
    rsa = certinfo.describe(pki.issued["rsa"].cert_der)
    assert (rsa.key_type, rsa.key_bits, rsa.curve) == ("RSA", 2048, None)
    assert certinfo.describe(pki.issued["ec384"].cert_der).curve == "P-384"


def test_describe_refuses_what_is_not_a_certificate():
    with pytest.raises(tls.ConfigurationError):
        certinfo.describe(b"\x30\x03\x02\x01\x00")
    with pytest.raises(TypeError):
        tls._nss.describe_certificate("not bytes")


# ---- what a refusal concerns, and the chain as sent ----


def test_refusal_names_the_certificate_it_concerns(pki, client_context):
    server = openssl_server(pki, "expired", rev=False)
    try:
        with pytest.raises(tls.CertificateVerificationError) as caught:
            client_context().connect(("localhost", server.port))
    finally:
        server.stop()
    assert caught.value.reason == "expired or not yet valid"
    assert caught.value.certificate == "depth 0: CN=localhost"
    assert "the certificate at depth 0: CN=localhost" in str(caught.value)


def test_hostname_mismatch_concerns_the_leaf(pki, client_context):
    server = openssl_server(pki, "wrongname", rev=False)
    try:
        with pytest.raises(tls.CertificateVerificationError) as caught:
            client_context().connect(("localhost", server.port))
    finally:
        server.stop()
    assert caught.value.nss_name == "SSL_ERROR_BAD_CERT_DOMAIN"
    assert caught.value.certificate == "depth 0: CN=elsewhere.test"


def test_unverified_chain_is_the_chain_as_sent(pki, client_context, tmp_path):
    intermediates = tmp_path / "intermediates.pem"
    intermediates.write_bytes(pki.issued["chained"].chain_pem)
    server = openssl_server(pki, "chained", rev=False, args=["-cert_chain", str(intermediates)])
    try:
        with client_context().connect(("localhost", server.port)) as sock:
            chain = sock.get_unverified_chain()
    finally:
        server.stop()
    assert chain[0] == pki.issued["chained"].cert_der
    intermediate = pki.issued["chained"].chain[0].public_bytes(serialization.Encoding.DER)
    assert chain[1:] == [intermediate]
    assert certinfo.describe(chain[1]).is_ca


# ---- connect ----


def test_connect_reports_a_verified_connection_to_openssl(pki):
    server = openssl_server(pki, "ec", rev=False, args=["-alpn", "h2"])
    try:
        done = cli("connect", f"localhost:{server.port}", "--cafile", str(pki.path("ca.pem")),
                   "--alpn", "h2", "--json")
    finally:
        server.stop()
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["verdict"]["verified"] is True
    assert report["connection"]["version"] == "TLSv1.3"
    assert report["connection"]["alpn"] == "h2"
    assert report["connection"]["group"] and report["connection"]["resumed"] is False
    assert report["chain"][0]["subject"] == "CN=localhost"
    assert report["chain"][0]["key"] == "EC P-256"
    assert "within the policy" in report["policy"]["version"]


def test_connect_shows_resumption_on_reconnect(pki):
    server = gnutls_server(pki, "ec")
    try:
        done = cli("connect", f"localhost:{server.port}", "--cafile", str(pki.path("ca.pem")),
                   "--reconnect")
    finally:
        server.stop()
    assert done.returncode == 0, done.stderr
    assert "reconnected:  resumed" in done.stdout


def test_connect_refused_certificate_exits_1_with_one_line(pki):
    server = openssl_server(pki, "other", rev=False)
    try:
        done = cli("connect", f"localhost:{server.port}", "--cafile", str(pki.path("ca.pem")))
    finally:
        server.stop()
    assert done.returncode == 1
    assert "FAILED: unknown issuer (SEC_ERROR_UNKNOWN_ISSUER)" in done.stdout
    assert "depth 0: CN=localhost" in done.stdout
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    # Without --insecure nothing connects again unverified.
    assert "not shown" in done.stdout


def test_connect_insecure_says_so_and_shows_the_refused_chain(pki):
    server = gnutls_server(pki, "other")
    try:
        done = cli("connect", f"localhost:{server.port}", "--cafile", str(pki.path("ca.pem")),
                   "--insecure")
    finally:
        server.stop()
    assert done.returncode == 1
    assert "WITHOUT verification" in done.stderr
    assert "tls_nss other CA" in done.stdout and "version:      TLSv1.3" in done.stdout


def test_connect_policy_refusal_says_what_the_policy_allows(pki):
    server = openssl_server(pki, "rsa", rev=False, args=["-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"])
    try:
        done = cli("connect", f"localhost:{server.port}", "--cafile", str(pki.path("ca.pem")))
    finally:
        server.stop()
    assert done.returncode == 3
    assert "the crypto policy allows TLSv1.2 to TLSv1.3" in done.stderr


def test_connect_options_reach_the_handshake(pki):
    server = openssl_server(pki, "ec", rev=False)
    try:
        done = cli("connect", f"127.0.0.1:{server.port}", "--servername", "localhost",
                   "--cafile", str(pki.path("ca.pem")), "--max-version", "1.2",
                   "--ciphers", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "--json")
    finally:
        server.stop()
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["servername"] == "localhost"
    assert report["connection"]["version"] == "TLSv1.2"
    assert report["connection"]["cipher"] == "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"


def test_connect_bad_usage_exits_2():
    assert cli("connect", "localhost:99999").returncode == 2
    done = cli("connect", "localhost", "--ciphers", "NOT_A_SUITE")
    assert done.returncode == 2 and "unknown cipher suite" in done.stderr
    done = cli("connect", f"localhost:{free_port()}")
    assert done.returncode == 3 and "refused" in done.stderr.lower()


# ---- serve ----


def _serve(pki, *extra: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tls_nss", "serve", "--cert", str(pki.path("ec.pem")),
         "--key", str(pki.path("ec.key")), "--port", str(port), "--once", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    assert "listening on" in process.stdout.readline()
    return process, port


def test_serve_answers_an_http_client_with_its_connection(pki):
    process, port = _serve(pki, "--alpn", "http/1.1")
    done = run_client([need("openssl"), "s_client", "-connect", f"127.0.0.1:{port}", "-quiet",
                       "-alpn", "http/1.1", "-CAfile", str(pki.path("ca.pem"))],
                      data=b"GET / HTTP/1.0\r\n\r\n")
    out, err = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 0, err
    assert b"HTTP/1.0 200 OK" in done.stdout and b"alpn: http/1.1" in done.stdout
    assert "TLSv1.3" in out and "full handshake" in out


def test_serve_echoes_to_gnutls_and_asks_for_client_certificates(pki):
    process, port = _serve(pki, "--cafile", str(pki.path("ca.pem")), "--json")
    done = run_client([need("gnutls-cli"), "--x509cafile", str(pki.path("ca.pem")),
                       "--x509certfile", str(pki.path("client.pem")),
                       "--x509keyfile", str(pki.path("client.key")), "-p", str(port),
                       "localhost"], data=b"hello from gnutls\n")
    out, err = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 0, err
    assert b"hello from gnutls" in done.stdout
    line = json.loads(out.splitlines()[0])
    assert line["client_certificate"] and line["version"] == "TLSv1.3"


def test_connect_and_serve_talk_to_each_other(pki):
    process, port = _serve(pki)
    done = cli("connect", f"localhost:{port}", "--cafile", str(pki.path("ca.pem")))
    process.communicate(timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr
    assert "verification: OK" in done.stdout


def test_serve_without_a_certificate_is_bad_usage():
    done = cli("serve", "--port", "0")
    assert done.returncode == 2 and "--cert" in done.stderr


# ---- the man page ----


def test_man_page_is_rendered_from_the_current_parser():
    """docs/python3-tls-nss.1 is what build-aux/manpage.py makes of the
    parser behind --help: 'make manpage' after changing an option."""
    root = Path(__file__).parent.parent
    rendered = subprocess.run([sys.executable, str(root / "build-aux" / "manpage.py")],
                              capture_output=True, text=True, check=True).stdout
    assert rendered == (root / "docs" / "python3-tls-nss.1").read_text(), "run 'make manpage'"
    for option in ("--servername", "--insecure", "--reconnect", "--json", "--once"):
        assert option.replace("-", "\\-") in rendered


# ---- connect's verdicts against every kind of peer ----

CASES = {
    # case: (certificate, expected exit status, words in the output)
    "good chain": ("ec", 0, "verification: OK"),
    "untrusted CA": ("other", 1, "unknown issuer (SEC_ERROR_UNKNOWN_ISSUER)"),
    "wrong name": ("wrongname", 1, "hostname mismatch (SSL_ERROR_BAD_CERT_DOMAIN)"),
    "expired": ("expired", 1, "expired or not yet valid (SEC_ERROR_EXPIRED_CERTIFICATE)"),
    "forbidden version": ("ec", 3, "the crypto policy allows TLSv1.2 to TLSv1.3"),
}


def _peer(pki, kind: str, cert: str, old_version: bool):
    if kind == "openssl":
        args = ["-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"] if old_version else []
        return openssl_server(pki, cert, rev=False, args=args)
    if kind == "gnutls":
        args = ["--priority", "NORMAL:-VERS-ALL:+VERS-TLS1.1"] if old_version else []
        return gnutls_server(pki, cert, args=args)
    # our own serve, which the policy keeps from TLS 1.1: it serves 1.2
    # only, and connect asks for 1.3 only.
    port = free_port()
    extra = ["--max-version", "1.2"] if old_version else []
    process = subprocess.Popen(
        [sys.executable, "-m", "tls_nss", "serve", "--cert", str(pki.path(f"{cert}.pem")),
         "--key", str(pki.path(f"{cert}.key")), "--port", str(port), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert "listening on" in process.stdout.readline()

    class Served:
        def __init__(self) -> None:
            self.port = port

        def stop(self) -> None:
            process.terminate()
            process.communicate(timeout=TIMEOUT)

    return Served()


@pytest.mark.parametrize("peer", ["openssl", "gnutls", "serve"])
@pytest.mark.parametrize("case", list(CASES))
def test_connect_verdicts(pki, peer, case):
    cert, status, words = CASES[case]
    old = case == "forbidden version"
    server = _peer(pki, peer, cert, old)
    extra = ["--min-version", "1.3"] if old and peer == "serve" else []
    try:
        done = cli("connect", f"localhost:{server.port}", "--cafile", str(pki.path("ca.pem")),
                   *extra)
    finally:
        server.stop()
    assert done.returncode == status, (done.stdout, done.stderr)
    assert words in done.stdout + done.stderr, (done.stdout, done.stderr)
    if status:
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
