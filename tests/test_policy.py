"""The system crypto policy: each policy in its own process (NSS's policy
is per process), against real peers where a handshake is involved."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from peers import gnutls_server, openssl_server

import tls_nss as tls
from certgen import Authority

HERE = Path(__file__).parent
POLICIES = HERE / "data" / "policies"
FIXTURES = sorted(p.name for p in POLICIES.glob("*.config"))
VERSIONS = {"0": None, "tls1.0": 0x0301, "tls1.1": 0x0302, "tls1.2": 0x0303, "tls1.3": 0x0304}
# Policy entries for algorithms older NSS releases lack (3.87 has none of
# them, 3.123 all), by the feature of tls_nss._nss.features() that says
# the NSS in use has them.
NEWER_ENTRIES = {"mlkem768x25519": "X25519MLKEM768", "ML-DSA-44": "ML-DSA",
                 "ML-DSA-65": "ML-DSA", "ML-DSA-87": "ML-DSA"}
UNKNOWN_HERE = {entry for entry, feature in NEWER_ENTRIES.items()
                if feature not in tls._nss.features()}


# Set by `make check-nss NSS_POLICY_FILE=...` for an NSS that applies a
# system policy file itself, as Fedora's does.
NSS_OWN_POLICY = os.environ.get("TLS_NSS_TEST_NSS_POLICY_FILE")


def run_child(*args: str, policy: str | None = None, env: dict | None = None) -> dict:
    environment = {k: v for k, v in os.environ.items()
                   if k not in ("TLS_NSS_POLICY_FILE", "NSS_IGNORE_SYSTEM_POLICY")}
    if policy is not None:
        environment["TLS_NSS_POLICY_FILE"] = str(POLICIES / policy) if "/" not in policy else policy
    environment.update(env or {})
    result = subprocess.run([sys.executable, str(HERE / "policy_child.py"), *args],
                            capture_output=True, text=True, env=environment, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _file_setting(name: str, key: str) -> str | None:
    text = (POLICIES / name).read_text()
    match = re.search(rf"[:= ]{re.escape(key)}=([^:\"\s]+)", text)
    return match.group(1) if match else None


@pytest.mark.parametrize("name", FIXTURES)
def test_every_fixture_applies_and_reports_what_it_says(name):
    report = run_child("report", policy=name)
    assert report["ok"], report
    assert report["source"].endswith(name)
    assert report["name"] == name[: -len(".config")].replace("+", ":")
    expected_min = VERSIONS[_file_setting(name, "tls-version-min")]
    if expected_min is not None:
        assert report["versions"][0] == expected_min
    for key in ("RSA", "DH", "DSA"):
        assert report["minimum_key_sizes"][key] == int(_file_setting(name, f"{key}-MIN"))
    text = (POLICIES / name).read_text()
    entries = set(re.search(r"allow=(\S*?)\"", text).group(1).split(":"))
    ignored = set(report["ignored"])
    assert ignored <= entries
    assert UNKNOWN_HERE & entries <= ignored
    assert not (set(NEWER_ENTRIES) - UNKNOWN_HERE) & ignored
    known = {"SECP256R1", "SHA256", "ECDSA", "HMAC-SHA256"} & entries
    assert not known & ignored
    assert any(f"tls-version-min" in e for e in entries)
    assert not any("tls-version-min" in e for e in ignored)
    assert "TLS versions" in report["text"]


def test_future_and_legacy_differ_as_their_files_do():
    future = run_child("report", policy="FUTURE.config")
    legacy = run_child("report", policy="LEGACY.config")
    assert future["versions"][0] == 0x0303 and legacy["versions"][0] == 0x0301
    assert future["minimum_key_sizes"]["RSA"] == 3072
    # LEGACY allows SHA-1 MACs; FUTURE does not.
    assert 0xC013 in legacy["cipher_suites"] and 0xC013 not in future["cipher_suites"]
    assert set(future["cipher_suites"]) < set(legacy["cipher_suites"])


def test_empty_policy_allows_nothing():
    report = run_child("report", policy="EMPTY.config")
    assert report["ok"] and report["cipher_suites"] == []


@pytest.fixture(scope="module")
def weak_pki(tmp_path_factory):
    root = tmp_path_factory.mktemp("weak")
    ca = Authority("policy test CA", key_kind="ec256")
    (root / "ca.pem").write_bytes(ca.cert_pem)
    for name, kind in (("rsa1024", "rsa1024"), ("rsa2048", "rsa2048"), ("ec", "ec256")):
        issued = ca.issue("localhost", key_kind=kind)
        (root / f"{name}.pem").write_bytes(issued.cert_pem)
        (root / f"{name}.key").write_bytes(issued.key_pem())

    class Files:
        def path(self, name):
            return root / name

    return Files()


def _connect(policy, server, pki, *extra):
    return run_child("connect", str(server.port), str(pki.path("ca.pem")), *extra, policy=policy)


def test_default_refuses_tls11_even_with_minimum_supported(weak_pki):
    server = gnutls_server(weak_pki, "ec", args=["--priority", "NORMAL:-VERS-ALL:+VERS-TLS1.1"])
    result = _connect("DEFAULT.config", server, weak_pki, "MINIMUM_SUPPORTED")
    server.stop()
    assert not result["ok"] and result["type"] != "NSSConfigurationError", result


@pytest.mark.parametrize("version", ["TLS1.2", "TLS1.3"])
def test_default_allows_tls12_and_tls13(weak_pki, version):
    server = gnutls_server(weak_pki, "ec", args=["--priority", f"NORMAL:-VERS-ALL:+VERS-{version}"])
    result = _connect("DEFAULT.config", server, weak_pki, "MINIMUM_SUPPORTED")
    server.stop()
    assert result["ok"], result
    assert result["version"] == version.replace("TLS", "TLSv")


def test_legacy_minimum_supported_reaches_tls11(weak_pki):
    server = gnutls_server(weak_pki, "ec", args=["--priority", "NORMAL:-VERS-ALL:+VERS-TLS1.1"])
    result = _connect("LEGACY.config", server, weak_pki, "MINIMUM_SUPPORTED")
    server.stop()
    assert result["ok"], result
    assert result["reply"] == "policy\n"
    assert result["version"] is None  # the PEP's TLSVersion has no TLS 1.1


def test_default_refuses_a_1024_bit_rsa_server(weak_pki):
    server = openssl_server(weak_pki, "rsa1024", args=["-tls1_2", "-cipher", "ALL:@SECLEVEL=0"])
    result = _connect("DEFAULT.config", server, weak_pki)
    server.stop()
    assert not result["ok"], result
    assert result["type"] == "CertificateVerificationError"
    assert result["nss_name"] == "SSL_ERROR_WEAK_SERVER_CERT_KEY", result


def test_future_refuses_a_2048_bit_rsa_server(weak_pki):
    server = openssl_server(weak_pki, "rsa2048")
    result = _connect("FUTURE.config", server, weak_pki)
    server.stop()
    assert not result["ok"], result
    assert result["nss_name"] == "SSL_ERROR_WEAK_SERVER_CERT_KEY", result


def test_future_accepts_an_ecdsa_p256_server(weak_pki):
    server = openssl_server(weak_pki, "ec")
    result = _connect("FUTURE.config", server, weak_pki)
    server.stop()
    assert result["ok"], result
    assert result["reply"] == "ycilop\n"


def test_future_refuses_our_own_2048_bit_rsa_key(weak_pki):
    result = run_child("server-key", str(weak_pki.path("rsa2048.pem")),
                       str(weak_pki.path("rsa2048.key")), policy="FUTURE.config")
    assert not result["ok"] and result["type"] == "NSSConfigurationError"
    assert "RSA-MIN=3072" in result["message"] and "FUTURE" in result["message"]
    assert run_child("server-key", str(weak_pki.path("rsa2048.pem")),
                     str(weak_pki.path("rsa2048.key")), policy="DEFAULT.config")["ok"]


def test_forbidden_cipher_is_a_configuration_error(weak_pki):
    server = openssl_server(weak_pki, "ec")
    result = _connect("DEFAULT.config", server, weak_pki, "", "0x000a")
    server.stop()
    assert not result["ok"] and result["type"] == "NSSConfigurationError"
    # Named as IANA names it, though PEP 748's CipherSuite lacks it.
    assert "TLS_RSA_WITH_3DES_EDE_CBC_SHA forbidden" in result["message"]
    assert '"DEFAULT"' in result["message"] and "DEFAULT.config" in result["message"]


def test_without_a_policy_file_the_system_or_embedded_policy_applies():
    report = run_child("report")
    if NSS_OWN_POLICY:
        # An NSS that applies the system policy itself (Fedora's): it is in
        # force, and the report names the file NSS applied.
        assert report["applied_by"] == "nss" and report["source"] == NSS_OWN_POLICY, report
        same = run_child("report", policy=NSS_OWN_POLICY)
    elif os.path.exists(tls.policy.SYSTEM_POLICY_FILE):
        pytest.skip("this machine has a system crypto policy file")
    else:
        assert report["source"] == "embedded" and report["name"] == "DEFAULT"
        assert report["applied_by"] == "tls_nss"
        same = run_child("report", policy="DEFAULT.config")
    assert report["versions"][0] == 0x0303
    for key in ("versions", "cipher_suites", "groups", "signature_schemes"):
        assert report[key] == same[key], key


def test_a_policy_file_replaces_the_one_nss_applies_itself():
    report = run_child("report", policy="FUTURE.config")
    assert report["applied_by"] == "tls_nss" and report["source"].endswith("FUTURE.config")
    assert report["minimum_key_sizes"]["RSA"] == 3072


def test_a_policy_file_that_cannot_take_effect_is_an_error():
    """NSS started by another user of it, before tls_nss: where NSS applied
    the system policy then, TLS_NSS_POLICY_FILE cannot replace it, and says so."""
    report = run_child("report", policy="FUTURE.config",
                       env={"TLS_NSS_TEST_START_NSS_FIRST": "1"})
    if NSS_OWN_POLICY:
        assert not report["ok"] and report["type"] == "NSSConfigurationError", report
        assert "FUTURE.config" in report["message"] and NSS_OWN_POLICY in report["message"]
    else:
        assert report["ok"] and report["source"].endswith("FUTURE.config"), report


def test_the_report_names_every_group_nss_offers():
    report = run_child("report", policy="DEFAULT.config")
    expected = ["x25519", "secp256r1", "secp384r1", "secp521r1"]
    if "X25519MLKEM768" in tls._nss.features():
        expected.insert(0, "X25519MLKEM768")
    assert report["groups"][: len(expected)] == expected
    no_pq = run_child("report", policy="DEFAULT+NO-PQ.config")
    assert "X25519MLKEM768" not in no_pq["groups"] and "x25519" in no_pq["groups"]


@pytest.mark.parametrize("policy", ["DEFAULT.config", "DEFAULT+NO-PQ.config"])
def test_our_peers_negotiate_the_hybrid_group_unless_the_policy_says_no(weak_pki, policy):
    result = run_child("pair", *(str(weak_pki.path(n)) for n in ("ec.pem", "ec.key", "ca.pem")),
                       policy=policy)
    assert result["ok"], result
    hybrid = "X25519MLKEM768" in tls._nss.features() and "NO-PQ" not in policy
    assert result["group"] == ("X25519MLKEM768" if hybrid else "x25519")


def test_a_classic_server_needs_no_hello_retry(weak_pki):
    """OpenSSL 3.0 knows no hybrid group: our client's x25519 share, sent
    beside the hybrid one, is taken at once."""
    server = openssl_server(weak_pki, "ec", args=["-msg"])
    result = _connect("DEFAULT.config", server, weak_pki)
    output = server.output()
    assert result["ok"], result
    assert result["group"] == "x25519"
    assert output.count("ClientHello") == 1, output


def test_garbage_policy_file_names_the_file(tmp_path):
    garbage = tmp_path / "garbage.config"
    garbage.write_bytes(b"\x00\xff not a policy at all")
    result = run_child("report", policy=str(garbage))
    assert not result["ok"] and str(garbage) in result["message"]
    no_stanza = tmp_path / "no-stanza.config"
    no_stanza.write_text("library=p11-kit-proxy.so\nname=p11-kit-proxy\n")
    result = run_child("report", policy=str(no_stanza))
    assert not result["ok"] and "policy stanza" in result["message"]


@pytest.mark.parametrize("content", [
    (POLICIES / "DEFAULT.config").read_bytes().replace(b"allow=", b"allow=\x00", 1),
    (POLICIES / "DEFAULT.config").read_bytes().replace(b"allow=", b"allow=\x1b[31m", 1),
    bytes(range(256)) * 4,
    (POLICIES / "DEFAULT.config").read_bytes()[:150],
    b"# " + b"x" * (2 << 20),
], ids=["nul", "escape", "binary", "truncated", "huge"])
def test_absurd_policy_files_are_configuration_errors(tmp_path, content):
    bad = tmp_path / "bad.config"
    bad.write_bytes(content)
    result = run_child("report", policy=str(bad))
    assert not result["ok"] and result["type"] == "NSSConfigurationError", result
    assert str(bad) in result["message"]


def test_missing_policy_file_names_the_path(tmp_path):
    missing = tmp_path / "nope.config"
    result = run_child("report", policy=str(missing))
    assert not result["ok"] and str(missing) in result["message"]
    cli = subprocess.run([sys.executable, "-m", "tls_nss", "policy"], capture_output=True,
                         text=True, env={**os.environ, "TLS_NSS_POLICY_FILE": str(missing)})
    assert cli.returncode != 0 and str(missing) in cli.stderr


def test_ignore_system_policy_warns_and_reports_disabled():
    report = run_child("report", env={"NSS_IGNORE_SYSTEM_POLICY": "1"})
    assert report["source"] == "disabled"
    assert any("PolicyDisabledWarning" in w for w in report["warnings"])


def test_policy_command_prints_the_policy():
    cli = subprocess.run([sys.executable, "-m", "tls_nss", "policy"], capture_output=True,
                         text=True, env={**os.environ, "TLS_NSS_POLICY_FILE": str(POLICIES / "FUTURE.config")})
    assert cli.returncode == 0, cli.stderr
    assert "FUTURE" in cli.stdout and "RSA 3072" in cli.stdout
