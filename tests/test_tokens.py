"""Certificates, keys and trust stores from PKCS#11 tokens: a SoftHSM2 token
reached through p11-kit's proxy, and NSS databases made with certutil.

Each scenario runs in its own process (token_child.py): SoftHSM must see
the token when NSS starts there.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import softhsm
from softhsm import PIN, TOKEN, SoftToken

HERE = Path(__file__).parent
MISSING = softhsm.missing_tools()
pytestmark = pytest.mark.skipif(
    bool(MISSING), reason=f"PKCS#11 token tests need {', '.join(MISSING)}"
)

# Objects in the test token: label -> CKA_ID.
SERVER_EC, SERVER_RSA, CLIENT, ORPHAN, CA = "01", "02", "03", "04", "10"


@pytest.fixture(scope="module")
def token(pki, tmp_path_factory) -> SoftToken:
    """The test token: server keys made inside it (EC and RSA), a client
    key, a certificate whose key is elsewhere, two certificates with one
    label, and the test CA."""
    hsm = SoftToken(tmp_path_factory.mktemp("softhsm"))
    ec = hsm.generate_key("server", SERVER_EC)
    hsm.add_certificate(pki.ca.issue("localhost", "127.0.0.1", public_key=ec).cert_der,
                        "server", SERVER_EC)
    rsa = hsm.generate_key("rsa-server", SERVER_RSA, "rsa:2048")
    hsm.add_certificate(pki.ca.issue("localhost", public_key=rsa).cert_der,
                        "rsa-server", SERVER_RSA)
    client = hsm.generate_key("client", CLIENT)
    hsm.add_certificate(pki.ca.issue(client=True, public_key=client).cert_der,
                        "client", CLIENT)
    hsm.add_certificate(pki.issued["ec"].cert_der, "orphan", ORPHAN)
    hsm.add_certificate(pki.issued["rsa"].cert_der, "twin", "05")
    hsm.add_certificate(pki.issued["ec384"].cert_der, "twin", "06")
    hsm.add_certificate(pki.ca.certificate.public_bytes(_DER), "ca", CA)
    return hsm


from cryptography.hazmat.primitives.serialization import Encoding  # noqa: E402

_DER = Encoding.DER


def run(token: SoftToken, scenario: str, env: dict[str, str] | None = None,
        **params: Any) -> dict[str, Any]:
    environment = {**os.environ, **token.env, **(env or {})}
    done = subprocess.run(
        [sys.executable, str(HERE / "token_child.py"), scenario, json.dumps(params)],
        capture_output=True, text=True, env=environment, timeout=120, cwd=HERE,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def uri(**attributes: str) -> str:
    path = ";".join(f"{k}={v}" for k, v in attributes.items() if not k.startswith("q_"))
    query = "&".join(f"{k[2:].replace('_', '-')}={v}" for k, v in attributes.items()
                     if k.startswith("q_"))
    return f"pkcs11:{path}" + (f"?{query}" if query else "")


def chain(leaf: Any, key: Any = None) -> dict[str, Any]:
    return {"leaf": leaf, "key": key}


# ---- the key stays in the token ----


def test_the_server_keys_are_sensitive_and_never_extractable(token):
    for cka_id in (SERVER_EC, SERVER_RSA):
        attributes = token.private_key_attributes(cka_id)
        assert "sensitive" in attributes and "never extractable" in attributes


def test_server_key_in_token_by_nickname_serves_openssl_gnutls_and_ours(token, pki):
    """The leaf is (Certificate.from_id(nickname), None): the key is the one
    paired with it in the token, and signs inside it."""
    result = run(token, "serve", pki=str(pki.root), peers=["openssl", "gnutls", "ours"],
                 chains=[chain({"id": f"{TOKEN}:server"})], pin_answers=[PIN])
    for peer, outcome in result["peers"].items():
        assert outcome["returncode"] == 0, (peer, outcome)
        assert outcome["server_errors"] == [], (peer, outcome)
        assert outcome["server_data"] == "from the token's server\n", peer
        assert "from the token's server" in outcome["stdout"], peer
    assert result["pin_calls"] == [[TOKEN, False]]


def test_ssl_context_load_cert_chain_takes_token_uris(token, pki):
    """The ssl module's API: load_cert_chain() with pkcs11: URIs, and the
    password as the token's PIN; the key signs inside the token."""
    result = run(token, "ssl-serve", pki=str(pki.root),
                 cert=uri(token=TOKEN, object="server", type="cert"),
                 key=uri(token=TOKEN, object="server", type="private"), password=PIN)
    assert result["served"] == {"data": "from the token's server\n", "type": "SSLSocket"}
    # SSLSocket.close() sends no close_notify, as with the ssl module, so
    # s_client reports an unexpected EOF once it has read the echo.
    assert "from the token's server" in result["peer"]["stdout"], result["peer"]


def test_server_key_in_token_by_uri_with_pin_value(token, pki):
    cert = uri(token=TOKEN, object="server", type="cert")
    key = uri(token=TOKEN, object="server", type="private", q_pin_value=PIN)
    result = run(token, "serve", pki=str(pki.root), peers=["openssl", "ours"],
                 chains=[chain({"id": cert}, {"id": key})])
    for peer, outcome in result["peers"].items():
        assert outcome["returncode"] == 0, (peer, outcome)
        assert outcome["server_data"] == "from the token's server\n", peer


def test_rsa_server_key_by_id_attribute_with_pin_source(token, pki, tmp_path):
    pin_file = tmp_path / "pin"
    pin_file.write_text(PIN + "\n")
    cert = uri(token=TOKEN, id="%02", type="cert", q_pin_source=f"file:{pin_file}")
    result = run(token, "serve", pki=str(pki.root), peers=["openssl"],
                 chains=[chain({"id": cert})])
    outcome = result["peers"]["openssl"]
    assert outcome["returncode"] == 0, outcome
    assert "Signature type: RSA-PSS" in outcome["stderr"], outcome["stderr"]


def test_rsa_and_ec_chains_from_the_token_together(token, pki):
    result = run(token, "serve", pki=str(pki.root), peers=["openssl", "gnutls"],
                 chains=[chain({"id": f"{TOKEN}:rsa-server"}), chain({"id": f"{TOKEN}:server"})],
                 pin_answers=[PIN])
    for peer, outcome in result["peers"].items():
        assert outcome["returncode"] == 0, (peer, outcome)


# ---- PINs ----


def _context(token: SoftToken, leaf: str, key: Any = None, env: dict[str, str] | None = None,
             **params: Any) -> dict[str, Any]:
    return run(token, "context", env=env, chains=[chain({"id": leaf}, key)], **params)


def test_a_uri_may_name_the_token_by_manufacturer_and_model_too(token):
    result = _context(token, uri(token=TOKEN, manufacturer="SoftHSM%20project",
                                 model="SoftHSM%20v2", object="server", q_pin_value=PIN))
    assert result["ok"], result


def test_pin_from_the_callback_is_asked_once(token):
    result = _context(token, f"{TOKEN}:server", pin_answers=[PIN])
    assert result["ok"], result
    assert result["pin_calls"] == [[TOKEN, False]]


def test_pin_in_the_uri_wins_over_the_callback(token):
    result = _context(token, uri(token=TOKEN, object="server", q_pin_value=PIN),
                      pin_answers=["raise"])
    assert result["ok"], result
    assert result["pin_calls"] == []


def test_missing_pin_is_a_configuration_error_naming_the_token(token):
    result = _context(token, f"{TOKEN}:server")
    assert result["is_configuration_error"], result
    assert TOKEN in result["message"] and "needs a PIN" in result["message"]
    assert result["nss_name"] == "SEC_ERROR_TOKEN_NOT_LOGGED_IN"


def test_wrong_pin_in_the_uri_is_not_retried(token):
    result = _context(token, uri(token=TOKEN, object="server", q_pin_value="0000"),
                      pin_answers=[PIN])
    assert result["is_configuration_error"], result
    assert "pin-value is wrong" in result["message"]
    assert "0000" not in result["message"]  # a PIN never reaches a message
    assert result["nss_name"] == "SEC_ERROR_BAD_PASSWORD"
    assert result["pin_calls"] == []


def test_wrong_pin_from_the_callback_gets_one_retry(token):
    result = _context(token, f"{TOKEN}:server", pin_answers=["0000", PIN])
    assert result["ok"], result
    assert result["pin_calls"] == [[TOKEN, False], [TOKEN, True]]


def test_wrong_pin_twice_stops_without_looping(token):
    result = _context(token, f"{TOKEN}:server", pin_answers=["0000", "0000", PIN])
    assert result["is_configuration_error"], result
    assert "wrong" in result["message"] and TOKEN in result["message"]
    assert result["pin_calls"] == [[TOKEN, False], [TOKEN, True]]


def test_a_callback_that_declines(token):
    result = _context(token, f"{TOKEN}:server", pin_answers=[None])
    assert result["is_configuration_error"], result
    assert "gave no PIN" in result["message"]


def test_an_exception_in_the_callback_propagates(token):
    result = _context(token, f"{TOKEN}:server", pin_answers=["raise"])
    assert result["type"] == "RuntimeError", result
    assert "the PIN callback failed" in result["message"]


# ---- how tokens are reached ----


def test_without_p11_kit_proxy_the_token_is_not_reached(token):
    result = _context(token, f"{TOKEN}:server", env={"TLS_NSS_P11_KIT_PROXY": "0"},
                      pin_answers=[PIN])
    assert "unknown token" in result["message"], result


def test_a_module_added_before_nss_starts(token):
    result = _context(token, f"{TOKEN}:server", env={"TLS_NSS_P11_KIT_PROXY": "0"},
                      modules=[token.module], pin_answers=[PIN])
    assert result["ok"], result


# ---- errors that name their case ----


@pytest.mark.parametrize("leaf, key, expected", [
    ("nosuch:server", None, "unknown token"),
    (uri(token="nosuch", object="server"), None, "unknown token"),
    # A misspelt label: the message names the token present.
    (uri(token="tls-nss-tset", object="server"), None, 'no present token matches it; present: "'),
    (uri(token="tls-nss-tset", object="server"), None, f'"{TOKEN}"'),
    (uri(token=TOKEN, manufacturer="Nobody", object="server"), None, "unknown token"),
    (uri(token=TOKEN, object="nosuch", q_pin_value=PIN), None, "unknown object"),
    (f"{TOKEN}:nosuch", None, "unknown object"),
    (uri(token=TOKEN, object="twin", q_pin_value=PIN), None, "matches several certificates"),
    (uri(token=TOKEN, object="orphan", q_pin_value=PIN), None,
     "certificate without a matching key"),
    (uri(token=TOKEN, objetc="server"), None, 'unknown PKCS#11 URI attribute "objetc"'),
    (uri(token=TOKEN, object="server", q_module_path="/lib/x.so"), None,
     'unsupported PKCS#11 URI attribute "module-path"'),
    (uri(token=TOKEN, object="server", q_pin_value=PIN),
     {"id": uri(token=TOKEN, object="server", type="cert", q_pin_value=PIN)},
     "names no private object"),
    (uri(token=TOKEN, object="server", q_pin_value=PIN),
     {"id": uri(token=TOKEN, object="nosuch", q_pin_value=PIN)},
         "unknown object: token \"tls-nss-test\" holds no private key that matches the id"),
    (uri(token=TOKEN, object="server", q_pin_value=PIN),
     {"id": uri(token=TOKEN, object="rsa-server", q_pin_value=PIN)},
     "the private key is RSA but the certificate's key is EC"),
])
def test_lookup_errors_say_which_case(token, leaf, key, expected):
    result = _context(token, leaf, key)
    assert result["is_configuration_error"], result
    assert expected in result["message"], result["message"]


# ---- client certificates ----


def test_client_certificate_and_key_from_the_token(token, pki):
    result = run(token, "client", pki=str(pki.root),
                 chains=[chain({"id": uri(token=TOKEN, object="client", type="cert",
                                          q_pin_value=PIN)})])
    assert result["echoed"] == "client from the token"[::-1] + "\n"  # s_server -rev
    assert "tls_nss test client" in result["server_output"], result["server_output"]


# ---- trust stores ----


def test_trust_store_from_an_nss_database(token, pki, tmp_path):
    database = softhsm.nss_database(tmp_path / "db", pki.path("ca.pem"), "C,,")
    result = run(token, "trust", pki=str(pki.root), trust={"id": database})
    assert result["ok"], result


def test_nss_database_without_trusted_cas_is_refused(token, pki, tmp_path):
    database = softhsm.nss_database(tmp_path / "db", pki.path("ca.pem"), ",,")
    result = run(token, "trust", pki=str(pki.root), trust={"id": database})
    assert result["is_configuration_error"], result
    assert "trusted for TLS servers" in result["message"]


def test_nss_database_trust_is_only_that_contexts(token, pki, tmp_path):
    """Opening a database for one context lends its trust to no other: a
    context with another CA still refuses the server."""
    database = softhsm.nss_database(tmp_path / "db", pki.path("ca.pem"), "C,,")
    assert run(token, "trust", pki=str(pki.root), trust={"id": database})["ok"]
    result = run(token, "trust", pki=str(pki.root),
                 trust={"file": str(pki.path("other-ca.pem"))})
    assert result["type"] == "CertificateVerificationError", result


def test_trust_store_from_a_token_uri(token, pki):
    result = run(token, "trust", pki=str(pki.root),
                 trust={"id": uri(token=TOKEN, object="ca", type="cert")})
    assert result["ok"], result


def test_trust_store_from_a_token_with_other_anchors_refuses(token, pki):
    result = run(token, "trust", pki=str(pki.root), server_cert="other",
                 trust={"id": uri(token=TOKEN, object="ca", type="cert")})
    assert result["type"] == "CertificateVerificationError", result


def test_tls_nss_db_is_the_database_of_nicknames(token, pki, tmp_path):
    """With TLS_NSS_DB, a plain nickname names a certificate in that
    database, and the database can be a trust store."""
    database = softhsm.nss_database(tmp_path / "db", pki.path("ca.pem"), "C,,")
    bare_directory = database[len("sql:"):]
    result = run(token, "trust", env={"TLS_NSS_DB": bare_directory}, pki=str(pki.root),
                 trust={"id": database + "/"})
    assert result["ok"], result
    result = run(token, "context", env={"TLS_NSS_DB": database}, role="client",
                 chains=[chain({"id": "test-ca"})], trust=None)
    assert "certificate without a matching key" in result["message"], result


# ---- the demo ----


def _demo(env: dict[str, str], *options: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tls_nss", "demo", *options],
                          capture_output=True, text=True, env={**os.environ, **env}, timeout=120)


def _demo_directories() -> set[str]:
    import tempfile

    return {p.name for p in Path(tempfile.gettempdir()).glob("tls-nss-demo-*")}


def test_demo_serves_from_a_throwaway_softhsm_token():
    before = _demo_directories()
    done = _demo({})
    assert done.returncode == 0, done.stderr
    assert 'in SoftHSM2 token "tls-nss-demo"' in done.stdout, done.stdout
    assert "b'hello from the NSS server'" in done.stdout
    assert _demo_directories() == before  # cleaned up


def test_asgi_demo_serves_uvicorn_from_the_token_to_httpx():
    pytest.importorskip("uvicorn", reason="needs uvicorn (python3-uvicorn)")
    pytest.importorskip("httpx", reason="needs httpx (python3-httpx)")
    before = _demo_directories()
    done = _demo({}, "--asgi")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "-> 200 'hello from an ASGI application on uvicorn, over NSS'" in done.stdout
    assert 'in SoftHSM2 token "tls-nss-demo"' in done.stdout
    assert _demo_directories() == before


def test_demo_uses_an_nss_database_without_softhsm(tmp_path):
    """Where softhsm2 is missing (here: not on PATH), an NSS database."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "certutil").symlink_to(shutil.which("certutil"))
    before = _demo_directories()
    done = _demo({"PATH": str(bin_dir)})
    assert done.returncode == 0, done.stderr
    assert "in NSS database sql:" in done.stdout, done.stdout
    assert _demo_directories() == before


def test_the_tokens_command_lists_the_token_and_its_certificates(token):
    done = subprocess.run([sys.executable, "-m", "tls_nss", "tokens"], capture_output=True,
                          text=True, env={**os.environ, **token.env}, timeout=60)
    assert done.returncode == 0, done.stderr
    assert f"'{TOKEN}' (SoftHSM project SoftHSM v2, needs a PIN)" in done.stdout, done.stdout
    assert f"certificate: {TOKEN}:server" in done.stdout
    assert "p11-kit-proxy" in done.stdout


# ---- logins that last: after the token forgot it ----


def test_a_token_that_logs_out_is_logged_in_again_with_the_kept_pin(token, pki):
    """Each connection starts after every token was logged out, as after
    an HSM failover: the handshake logs in again with the PIN the callback
    gave when the context was made, without asking the callback again."""
    result = run(token, "serve", pki=str(pki.root), peers=["ours", "openssl", "ours"],
                 chains=[chain({"id": f"{TOKEN}:server"})], pin_answers=[PIN],
                 logout_first=True)
    for peer, outcome in result["peers"].items():
        assert outcome["returncode"] == 0, (peer, outcome)
        assert outcome["server_errors"] == [], (peer, outcome)
    assert result["pin_calls"] == [[TOKEN, False]]


def test_every_context_finds_its_keys_again_after_one_logout(token, pki):
    """Two contexts with keys in one token, one logout: the first context's
    connection logs the token in again, and the second context, which then
    finds the token logged in, must still find its own key again, as its
    handle died with the logout."""
    result = run(token, "serve", pki=str(pki.root), peers=["ours", "openssl"], contexts=2,
                 chains=[chain({"id": f"{TOKEN}:server"})], pin_answers=[PIN],
                 logout_once=True)
    for peer, outcome in result["peers"].items():
        assert outcome["returncode"] == 0, (peer, outcome)
        assert outcome["server_errors"] == [], (peer, outcome)


def test_connections_started_together_after_a_logout_find_the_key_once(token, pki):
    """Eight client connections start at once after a logout: one finds the
    key again while the others wait for it, and all of them sign with it."""
    result = run(token, "client", pki=str(pki.root), threads=8,
                 chains=[chain({"id": f"{TOKEN}:client"})], pin_answers=[PIN])
    for outcome in result["connections"]:
        assert outcome == {"echoed": "client from the token"[::-1] + "\n"}, outcome
    assert result["pin_calls"] == [[TOKEN, False]]


def test_a_refused_login_fails_that_connection_and_the_next_asks_again(token, pki):
    """The token's PIN changes while the server runs. After a logout, the
    kept PIN is refused: that connection fails with an error naming the
    token, and the PIN is dropped. The next connection asks the callback,
    which now gives the new PIN, and is served."""
    new_pin = "7654"
    result = run(token, "serve", pki=str(pki.root), peers=["ours", "openssl"],
                 chains=[chain({"id": f"{TOKEN}:server"})], pin_answers=[PIN, new_pin],
                 logout_first=True, change_pin=[TOKEN, PIN, new_pin])
    refused, served = result["peers"]["ours"], result["peers"]["openssl"]
    assert refused["returncode"] != 0, refused
    assert len(refused["server_errors"]) == 1, refused
    assert f"logging in again to token '{TOKEN}'" in refused["server_errors"][0], refused
    assert served["returncode"] == 0, served
    assert served["server_errors"] == [], served
    assert "from the token's server" in served["server_data"], served
    assert result["pin_calls"] == [[TOKEN, False], [TOKEN, False]]


@pytest.mark.parametrize("pin_from", ["callback", "uri"])
def test_a_client_key_in_a_token_survives_a_logout(token, pki, pin_from):
    """The same for a client's own key: each connection starts after every
    token was logged out, and the client still signs its CertificateVerify
    with the key in the token."""
    if pin_from == "callback":
        leaf, pins = {"id": f"{TOKEN}:client"}, {"pin_answers": [PIN]}
    else:
        leaf, pins = {"id": uri(token=TOKEN, object="client", type="cert", q_pin_value=PIN)}, {}
    result = run(token, "client", pki=str(pki.root), connections=3, logout_first=True,
                 chains=[chain(leaf)], **pins)
    for outcome in result["connections"]:
        assert "error" not in outcome, outcome
        assert outcome["echoed"] == "client from the token"[::-1] + "\n", outcome
        assert "tls_nss test client" in outcome["server_output"], outcome
    assert result["pin_calls"] == ([[TOKEN, False]] if pins else [])


def test_a_buffer_refuses_calls_from_a_pin_callback_inside_its_handshake(pki, tmp_path):
    """A key that wants its PIN for every signature, and a kept PIN that
    turned wrong: NSS asks the PIN callback from inside the server buffer's
    handshake. Buffers run NSS without its socket locks, one call at a
    time; the callback's calls into the same buffer, from its thread or
    another, are refused, and the handshake completes."""
    hsm = SoftToken(tmp_path)
    public_key = hsm.generate_key("always", "20", always_authenticate=True)
    assert "always authenticate" in hsm.private_key_attributes("20")
    hsm.add_certificate(pki.ca.issue("localhost", public_key=public_key).cert_der,
                        "always", "20")
    result = run(hsm, "reentry", pki=str(pki.root), token_name=TOKEN, pin=PIN, new_pin="7654",
                 chains=[chain({"id": f"{TOKEN}:always"})])
    assert "SEC_ERROR_TOKEN_NOT_LOGGED_IN" in result["kept_pin_refused"], result
    assert result["served"] == "hello", result
    attempts = result["attempts"]
    assert set(attempts) == {"process_incoming", "do_handshake", "write from another thread"}
    for label, outcome in attempts.items():
        assert outcome.startswith("RuntimeError: "), (label, outcome)
        assert "in a TLS handshake with" in outcome and "PIN callback" in outcome, outcome


def test_a_pin_callback_after_the_handshake_cannot_ask_the_buffer_what_it_negotiated(
        pki, tmp_path):
    """A client key that wants its PIN for every signature, asked for it
    when an OpenSSL server requests a certificate after the handshake:
    NSS runs the PIN callback inside the client SSLObject's read. What the
    callback asks of that SSLObject would have NSS read state the read is
    changing, without its socket locks: it is refused, and the exchange
    completes."""
    hsm = SoftToken(tmp_path)
    public_key = hsm.generate_key("always", "20", always_authenticate=True)
    hsm.add_certificate(pki.ca.issue(client=True, public_key=public_key).cert_der,
                        "always", "20")
    result = run(hsm, "reentry-after", pki=str(pki.root), token_name=TOKEN, pin=PIN,
                 new_pin="7654", cert=uri(token=TOKEN, object="always"))
    assert result["before"].startswith("who? me "), result
    assert any(outcome.startswith("who? me ") for outcome in result["after"]), result
    attempts = result["attempts"]
    assert set(attempts) == {"cipher", "version", "getpeercert", "pending",
                             "selected_alpn_protocol"}, result
    for name, outcome in attempts.items():
        assert outcome.startswith("RuntimeError: "), (name, outcome)
        assert "is reading from" in outcome and "PIN callback" in outcome, outcome


def test_a_uri_pin_logs_in_again_after_a_logout(token, pki):
    result = run(token, "serve", pki=str(pki.root), peers=["ours", "gnutls"],
                 chains=[chain({"id": uri(token=TOKEN, object="server", type="cert",
                                          q_pin_value=PIN)})],
                 logout_first=True)
    for peer, outcome in result["peers"].items():
        assert outcome["returncode"] == 0, (peer, outcome)
        assert outcome["server_errors"] == [], (peer, outcome)

