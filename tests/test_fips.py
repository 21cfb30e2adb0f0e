"""What RHEL's FIPS mode asks of the library, against real peers: keys from
PEM files serve and sign (NSS's FIPS token takes them only wrapped), the
report says FIPS mode, and what the report leaves out a handshake cannot
negotiate. The same tests run outside FIPS mode, where the report must
hold just as well."""

from __future__ import annotations

import subprocess
import sys

import pytest
from nss_mode import fips_mode, skip_outside_fips_mode
from peers import TIMEOUT, ThreadedServer, echo_once, free_port, need, openssl_server, run_client

import tls_nss as tls
from tls_nss import _nss
from tls_nss.policy import effective_policy

V12, V13 = tls.TLSVersion.TLSv1_2, tls.TLSVersion.TLSv1_3
OPENSSL_GROUPS = {"x25519": "X25519", "secp256r1": "P-256", "secp384r1": "P-384",
                  "secp521r1": "P-521"}


def test_the_report_says_whether_nss_is_in_fips_mode():
    policy = effective_policy()
    assert policy.fips_mode is fips_mode()
    assert f"FIPS mode:         {'yes' if fips_mode() else 'no'}" in str(policy)
    version = subprocess.run([sys.executable, "-m", "tls_nss", "version"], capture_output=True,
                             text=True, timeout=TIMEOUT)
    assert ("FIPS mode" in version.stdout) is fips_mode(), version


def test_the_report_names_every_suite():
    """Suites PEP 748's enum lacks are named by NSS's IANA names, not hex."""
    shown = str(effective_policy())
    for suite in effective_policy().cipher_suites:
        assert tls.policy.cipher_suite_name(suite) in shown
    assert "0x" not in shown.split("cipher suites:")[1].split("\n")[0]
    assert _nss.cipher_suite_name(0x000A) == "TLS_RSA_WITH_3DES_EDE_CBC_SHA"
    assert _nss.cipher_suite_name(0xFEFE) is None


@pytest.mark.parametrize("version", [V12, V13])
@pytest.mark.parametrize("cert", ["rsa", "ec"])
def test_a_key_from_a_pem_file_serves_openssl(pki, server_context, cert, version):
    server = ThreadedServer(server_context(cert), echo_once)
    result = run_client([need("openssl"), "s_client", "-connect", f"127.0.0.1:{server.port}",
                         "-tls1_3" if version is V13 else "-tls1_2", "-CAfile",
                         str(pki.path("ca.pem")), "-verify_return_error", "-verify_hostname",
                         "localhost"], data=b"from a PEM key\n")
    server.join()
    assert not server.errors, server.errors
    assert server.results[0]["version"] is version
    assert result.returncode == 0, result.stderr
    assert b"Verify return code: 0 (ok)" in result.stdout


@pytest.mark.parametrize("cert", ["rsa", "ec"])
def test_connect_verifies_a_server_whose_key_came_from_a_pem_file(pki, cert):
    port = free_port()
    serve = subprocess.Popen(
        [sys.executable, "-m", "tls_nss", "serve", "--once", "--port", str(port),
         "--cert", str(pki.path(f"{cert}.pem")), "--key", str(pki.path(f"{cert}.key"))],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # Ready once it says so: a probe of the port would be its one client.
        listening = serve.stdout.readline()
        connect = subprocess.run(
            [sys.executable, "-m", "tls_nss", "connect", f"localhost:{port}",
             "--cafile", str(pki.path("ca.pem"))], capture_output=True, text=True,
            timeout=TIMEOUT)
    finally:
        serve.communicate(timeout=TIMEOUT)
    assert connect.returncode == 0, connect.stderr
    assert "verification: OK" in connect.stdout
    assert f"FIPS mode: {'yes' if fips_mode() else 'no'}" in connect.stdout
    assert ("NSS in FIPS mode" in listening) is fips_mode(), listening


@pytest.mark.parametrize("version", ["-tls1_2", "-tls1_3"])
@pytest.mark.parametrize("cert", ["client", "chained-client"])
def test_a_client_key_from_a_pem_file_signs_for_openssl(pki, client_context, cert, version):
    server = openssl_server(pki, "ec", args=["-Verify", "1", "-CAfile", str(pki.path("ca.pem")),
                                             version])
    ctx = client_context(certificate_chain=pki.signing_chain(cert))
    with ctx.connect(("localhost", server.port)) as sock:
        sock.sendall(b"abc\n")
        assert sock.recv(10) == b"cba\n"
    output = server.output()
    assert "verify return:1" in output and "verify error" not in output, output


def _openssl_client(port: int, *options: str) -> subprocess.CompletedProcess:
    return run_client([need("openssl"), "s_client", "-connect", f"127.0.0.1:{port}",
                       *options], data=b"hi\n")


def test_what_the_report_leaves_out_no_handshake_negotiates(server_context):
    """One suite and one group the report leaves out are refused to a peer
    that offers only them; one of each it lists is negotiated."""
    skip_outside_fips_mode()
    policy = effective_policy()
    tls13 = [s for s in _nss.implemented_ciphers() if s < 0x1400]
    left_out_suite = next(s for s in tls13 if s not in policy.cipher_suites)
    listed_suite = next(s for s in policy.cipher_suites if s in tls13)
    left_out_group = next(g for g in OPENSSL_GROUPS if g not in policy.groups)
    listed_group = next(g for g in OPENSSL_GROUPS if g in policy.groups)

    def attempt(suite: int, group: str) -> subprocess.CompletedProcess:
        server = ThreadedServer(server_context("ec"), echo_once)
        result = _openssl_client(server.port, "-tls1_3", "-ciphersuites",
                                 tls.policy.cipher_suite_name(suite), "-groups",
                                 OPENSSL_GROUPS[group])
        server.join()
        return result

    assert attempt(left_out_suite, listed_group).returncode != 0
    assert attempt(listed_suite, left_out_group).returncode != 0
    accepted = attempt(listed_suite, listed_group)
    assert accepted.returncode == 0, accepted.stderr
    assert f"Cipher is {tls.policy.cipher_suite_name(listed_suite)}" in accepted.stdout.decode()
