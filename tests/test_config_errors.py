"""Bad input: each case is a clear TLSError (or TypeError/ValueError for a
wrong type), names what was being done, and crashes nothing."""

from __future__ import annotations

import pytest
from peers import ThreadedServer, echo_once

import tls_nss as tls

CLIENT = tls.NSS_IMPLEMENTATION.client_context
SERVER = tls.NSS_IMPLEMENTATION.server_context


def _server_config(leaf, key, **kwargs):
    return tls.TLSServerConfiguration(certificate_chain=[tls.SigningChain(leaf=(leaf, key))], **kwargs)


def _config_error(factory, config) -> tls.NSSConfigurationError:
    with pytest.raises(tls.ConfigurationError) as info:
        factory(config)
    assert isinstance(info.value, tls.NSSConfigurationError)
    assert isinstance(info.value, tls.TLSError)
    return info.value


def test_missing_certificate_file(pki, tmp_path):
    missing = tmp_path / "nope.pem"
    error = _config_error(SERVER, _server_config(
        tls.Certificate.from_file(missing), tls.PrivateKey.from_file(pki.path("rsa.key"))))
    assert str(missing) in str(error) and "No such file" in str(error)


def test_missing_trust_store_file(tmp_path):
    missing = tmp_path / "ca.pem"
    error = _config_error(CLIENT, tls.TLSClientConfiguration(trust_store=tls.TrustStore.from_file(missing)))
    assert str(missing) in str(error)


def test_unreadable_key_file(pki, tmp_path):
    # A directory cannot be read as a file, even by root.
    error = _config_error(SERVER, _server_config(
        tls.Certificate.from_file(pki.path("rsa.pem")), tls.PrivateKey.from_file(tmp_path)))
    assert "private key file" in str(error) and str(tmp_path) in str(error)


@pytest.mark.parametrize("garbage", [
    b"-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n",
    b"-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n",
    b"\x30\x03\x02\x01\x00",
    b"just some text",
    b"",
])
def test_garbage_certificate(pki, garbage):
    error = _config_error(SERVER, _server_config(
        tls.Certificate.from_buffer(garbage), tls.PrivateKey.from_file(pki.path("rsa.key"))))
    assert "certificate" in str(error)


def test_pem_without_certificate_block(pki):
    error = _config_error(SERVER, _server_config(
        tls.Certificate.from_file(pki.path("rsa.key")), tls.PrivateKey.from_file(pki.path("rsa.key"))))
    assert "no PEM CERTIFICATE block" in str(error)


@pytest.mark.parametrize("garbage", [b"garbage", b"\x30\x03\x02\x01\x00",
                                     b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"])
def test_garbage_private_key(pki, garbage):
    error = _config_error(SERVER, _server_config(
        tls.Certificate.from_file(pki.path("rsa.pem")), tls.PrivateKey.from_buffer(garbage)))
    assert "private key" in str(error)


def test_garbage_trust_store():
    error = _config_error(CLIENT, tls.TLSClientConfiguration(
        trust_store=tls.TrustStore.from_buffer(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")))
    assert "trust store" in str(error)


def test_empty_trust_store_is_not_the_system_store():
    error = _config_error(CLIENT, tls.TLSClientConfiguration(trust_store=tls.TrustStore.from_buffer(b"")))
    assert "no certificates" in str(error)


@pytest.mark.parametrize("key", ["ec", "other"])
def test_key_that_does_not_match_its_certificate(pki, key):
    error = _config_error(SERVER, _server_config(
        tls.Certificate.from_file(pki.path("rsa.pem") if key == "ec" else pki.path("ec.pem")),
        tls.PrivateKey.from_file(pki.path(f"{key}.key"))))
    assert "does not match" in str(error) or "certificate's key is" in str(error)


def test_same_type_key_that_does_not_match(pki):
    error = _config_error(SERVER, _server_config(
        tls.Certificate.from_file(pki.path("ec.pem")), tls.PrivateKey.from_file(pki.path("other.key"))))
    assert "the private key does not match the certificate" in str(error)
    assert error.nss_name == "SEC_ERROR_BAD_SIGNATURE"


@pytest.mark.parametrize("form", ["pkcs8", "traditional"])
def test_encrypted_private_key(pki, form):
    key_pem = pki.issued["rsa"].key_pem(form, password=b"secret")
    error = _config_error(SERVER, _server_config(
        tls.Certificate.from_file(pki.path("rsa.pem")), tls.PrivateKey.from_buffer(key_pem)))
    assert "encrypted" in str(error) and "from_id" in str(error)


@pytest.mark.parametrize("cert", ["rsa", "ec"])
@pytest.mark.parametrize("form", ["pkcs8", "traditional"])
@pytest.mark.parametrize("encoding", ["pem", "der"])
def test_key_formats_are_accepted(pki, client_context, cert, form, encoding):
    """Every accepted key format serves a handshake: the key really signs."""
    issued = pki.issued[cert]
    key = issued.key_pem(form) if encoding == "pem" else issued.key_der(form)
    leaf = issued.cert_pem if encoding == "pem" else issued.cert_der
    server = ThreadedServer(
        SERVER(_server_config(tls.Certificate.from_buffer(leaf), tls.PrivateKey.from_buffer(key))),
        echo_once)
    with client_context().connect(("localhost", server.port)) as sock:
        sock.sendall(b"signed")
        assert sock.recv(100) == b"signed"
        assert sock.getpeercert() == issued.cert_der
    server.join()
    assert not server.errors, server.errors


@pytest.mark.parametrize("protocols, problem", [
    ([b""], "0 bytes long"),
    ([b"x" * 256], "256 bytes long"),
])
def test_bad_alpn_entries(protocols, problem):
    error = _config_error(CLIENT, tls.TLSClientConfiguration(inner_protocols=protocols))
    assert problem in str(error)


def test_alpn_entry_of_wrong_type():
    with pytest.raises(TypeError):
        CLIENT(tls.TLSClientConfiguration(inner_protocols=["h2"]))


def test_lowest_version_above_highest():
    error = _config_error(CLIENT, tls.TLSClientConfiguration(
        lowest_supported_version=tls.TLSVersion.TLSv1_3,
        highest_supported_version=tls.TLSVersion.TLSv1_2))
    assert "TLSv1.3" in str(error) and "TLSv1.2" in str(error)


def test_no_usable_cipher_suite():
    error = _config_error(CLIENT, tls.TLSClientConfiguration(
        ciphers=[tls.CipherSuite.TLS_AES_128_CCM_8_SHA256, tls.CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CCM, 0xFEFE]))
    assert "none of" in str(error)


def test_cipher_of_wrong_type():
    with pytest.raises(TypeError):
        CLIENT(tls.TLSClientConfiguration(ciphers=["TLS_AES_128_GCM_SHA256"]))


def test_unusable_suites_are_skipped(pki, server_context):
    """A list with some usable suites works; NSS skips the rest."""
    ctx = CLIENT(tls.TLSClientConfiguration(
        trust_store=pki.trust(),
        ciphers=[0xFEFE, tls.CipherSuite.TLS_AES_128_CCM_8_SHA256, tls.CipherSuite.TLS_AES_256_GCM_SHA384]))
    server = ThreadedServer(server_context(), echo_once)
    with ctx.connect(("localhost", server.port)) as sock:
        sock.sendall(b"x")
        assert sock.recv(1) == b"x"
        assert sock.cipher() is tls.CipherSuite.TLS_AES_256_GCM_SHA384
    server.join()


def test_server_needs_a_certificate():
    error = _config_error(SERVER, tls.TLSServerConfiguration())
    assert "signing chain" in str(error)


def test_from_id_passes_validate_config_and_fails_at_lookup():
    """Ids are looked up when the context is made: an unknown token fails
    then, naming the case."""
    config = tls.TLSClientConfiguration(trust_store=tls.TrustStore.from_id(b"pkcs11:token=x"))
    tls.NSS_IMPLEMENTATION.validate_config(config)
    with pytest.raises(tls.ConfigurationError, match="unknown token"):
        CLIENT(config)


def test_an_unknown_token_lists_the_present_ones():
    """So that a misspelt label shows beside the right one."""
    config = tls.TLSClientConfiguration(
        trust_store=tls.TrustStore.from_id(b"pkcs11:token=NSS%20Certificate%20BD"))
    error = _config_error(CLIENT, config)
    assert 'unknown token: no present token matches it; present: ' in str(error), error
    # "NSS Certificate DB"; in FIPS mode, "NSS FIPS 140-2 Certificate DB".
    assert 'Certificate DB"' in str(error), error


@pytest.mark.parametrize("key_id", [
    b"pkcs11:token=nosuch;object=server?pin-value=S3CRET",
    b"pkcs11:token=nosuch;object=server;pin-value=S3CRET",
    b"pkcs11:token=nosuch;object=server?pin-value=S3CRET&module-path=/lib/x.so",
    b"pkcs11:token=nosuch;object=server?pin-value=S3CRET\0",
])
def test_a_pin_in_an_id_never_reaches_a_message(key_id):
    for config in (_server_config(tls.Certificate.from_id(key_id), None),
                   tls.TLSClientConfiguration(trust_store=tls.TrustStore.from_id(key_id))):
        error = _config_error(CLIENT if isinstance(config, tls.TLSClientConfiguration)
                              else SERVER, config)
        assert "S3CRET" not in str(error), error


@pytest.mark.parametrize("key_id", [
    b"pkcs11:token=nosuch;object=server?pin-value=S3CRET",
    b"pkcs11:token=nosuch;object=server;pin-value=S3CRET",
    b"pkcs11:token=nosuch;object=server?Pin-Value=S3CRET",
    b"pkcs11:token=nosuch;object=server?pin-value=S3;CRET&module-path=/lib/x.so",
    b"pkcs11:pin-value=S3CRET;token=nosuch",
])
def test_a_repr_masks_an_ids_pin_as_the_messages_do(key_id):
    """The types mask an id in Python, the extension in C: the two agree."""
    store = tls.TrustStore.from_id(key_id)
    shown = repr(store)
    assert "CRET" not in shown and shown.startswith("TrustStore.from_id(b'"), shown
    error = _config_error(CLIENT, tls.TLSClientConfiguration(trust_store=store))
    assert shown[len("TrustStore.from_id(b'"):-len("')")] in str(error), (shown, error)
    for text_id in (key_id.decode(), bytearray(key_id)):
        assert "CRET" not in repr(tls.PrivateKey.from_id(text_id))


@pytest.mark.parametrize("bad_id, reason", [
    (b"\xff\xfe", "not UTF-8"),
    (b"", "empty"),
    (b"/etc/pki/nssdb", "sql:/path/to/nssdb"),
])
def test_validate_config_refuses_malformed_trust_store_ids(bad_id, reason):
    config = tls.TLSClientConfiguration(trust_store=tls.TrustStore.from_id(bad_id))
    with pytest.raises(tls.ConfigurationError, match=reason):
        tls.NSS_IMPLEMENTATION.validate_config(config)


def test_pkcs11_modules_must_be_added_before_nss_starts(tmp_path):
    from tls_nss.policy import effective_policy

    effective_policy()  # starts NSS, if no test did yet
    library = tmp_path / "libmodule.so"
    library.write_bytes(b"")
    with pytest.raises(tls.ConfigurationError, match="already started"):
        tls.add_pkcs11_module(library)
    with pytest.raises(tls.ConfigurationError, match="no such file"):
        tls.add_pkcs11_module(tmp_path / "missing.so")
    with pytest.raises(tls.ConfigurationError, match="absolute path"):
        tls.add_pkcs11_module("libsofthsm2.so")


def test_set_pin_callback_needs_a_callable():
    with pytest.raises(TypeError):
        tls.set_pin_callback("1234")


def test_a_file_certificate_without_a_key_is_refused(pki):
    chain = tls.SigningChain(leaf=(tls.Certificate.from_file(pki.path("rsa.pem")), None))
    config = tls.TLSServerConfiguration(certificate_chain=[chain])
    with pytest.raises(tls.ConfigurationError, match="no private key"):
        tls.NSS_IMPLEMENTATION.validate_config(config)


def test_client_needs_a_host_name_to_verify(client_context):
    with pytest.raises(tls.ConfigurationError):
        client_context().connect((None, 443))


def test_send_after_close(server_context, client_context):
    server = ThreadedServer(server_context(), echo_once)
    sock = client_context().connect(("localhost", server.port))
    sock.sendall(b"x")
    sock.recv(1)
    sock.close(force=True)
    sock.close()  # closing twice is harmless
    for call in (lambda: sock.send(b"x"), lambda: sock.sendall(b"x"), lambda: sock.recv(1),
                 sock.getpeername, sock.getsockname):
        with pytest.raises(tls.TLSError) as info:
            call()
        assert "closed" in str(info.value)
    assert sock.cipher() is None and sock.getpeercert() is None and sock.fileno() == -1
    server.join()


def test_recv_on_listening_socket(server_context):
    listener = server_context().connect(("127.0.0.1", 0))
    for call in (lambda: listener.recv(1), lambda: listener.send(b"x")):
        with pytest.raises(tls.TLSError) as info:
            call()
        assert "listening" in str(info.value)
    assert listener.cipher() is None and listener.negotiated_protocol() is None
    listener.close()
    with pytest.raises(tls.TLSError):
        listener.accept()


def test_accept_on_connected_socket(server_context, client_context):
    server = ThreadedServer(server_context(), echo_once)
    with client_context().connect(("localhost", server.port)) as sock:
        with pytest.raises(tls.TLSError):
            sock.accept()
        with pytest.raises(tls.TLSError):
            sock.listen(5)
        sock.sendall(b"x")
        sock.recv(1)
    server.join()


@pytest.mark.parametrize("bad", ["1", -1.0, float("nan")])
def test_bad_timeouts(server_context, bad):
    listener = server_context().connect(("127.0.0.1", 0))
    with pytest.raises((TypeError, ValueError)):
        listener.settimeout(bad)
    listener.close()


def test_bad_recv_sizes(server_context, client_context):
    server = ThreadedServer(server_context(), echo_once)
    with client_context().connect(("localhost", server.port)) as sock:
        with pytest.raises(ValueError):
            sock.recv(-1)
        with pytest.raises(TypeError):
            sock.recv("10")
        with pytest.raises(TypeError):
            sock.send("text")
        assert sock.recv(0) == b""
        sock.sendall(b"x")
        sock.recv(1)
    server.join()


def test_nothing_half_done_after_a_failure(pki):
    """A failing context leaves NSS usable for the next one."""
    for _ in range(20):
        with pytest.raises(tls.ConfigurationError):
            SERVER(_server_config(tls.Certificate.from_file(pki.path("ec.pem")),
                                  tls.PrivateKey.from_file(pki.path("other.key"))))
    SERVER(_server_config(tls.Certificate.from_file(pki.path("ec.pem")),
                          tls.PrivateKey.from_file(pki.path("ec.key"))))
