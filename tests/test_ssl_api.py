"""tls_nss.SSLContext against the ssl module's own behaviour: what each
setting does, what is refused, the exceptions and their attributes, the
reporting methods' formats, and sockets blocking, timed and non-blocking.
Peers are openssl s_server and the ssl module's own (OpenSSL) contexts;
where the ssl module answers, its answer is the one expected."""

from __future__ import annotations

import contextlib
import signal
import socket
import ssl
import threading
import time
from typing import Any, Callable, Iterator

import pytest
from peers import TIMEOUT, handshake_ssl_objects, need, openssl_server

import tls_nss
from tls_nss import _ssl_engine
from tls_nss._ssl_context import _ORIGINAL_SSLCONTEXT

# Programs run with python3 -W error must not see a warning from the layer.
pytestmark = pytest.mark.filterwarnings("error")


def nss_client(pki, **kwargs: Any) -> tls_nss.SSLContext:
    return tls_nss.create_default_context(cafile=str(pki.path("ca.pem")), **kwargs)


def openssl_client(pki) -> ssl.SSLContext:
    context = _ORIGINAL_SSLCONTEXT(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(pki.path("ca.pem"))
    return context


def nss_server(pki, cert: str = "ec") -> tls_nss.SSLContext:
    context = tls_nss.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.path(f"{cert}-fullchain.pem"), pki.path(f"{cert}.key"))
    return context


class PairServer:
    """A server context accepting one connection in a thread and handing
    the SSLSocket (or the exception) to ``handler``."""

    def __init__(self, context: ssl.SSLContext, handler: Callable[[Any], Any],
                 connections: int = 1) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.result: Any = None
        self.error: BaseException | None = None
        self._context, self._handler = context, handler
        self._thread = threading.Thread(target=self._run, args=(connections,), daemon=True)
        self._thread.start()

    def _run(self, connections: int) -> None:
        try:
            for _ in range(connections):
                conn, _ = self.listener.accept()
                conn.settimeout(TIMEOUT)
                with self._context.wrap_socket(conn, server_side=True) as tls:
                    self.result = self._handler(tls)
        except BaseException as e:  # noqa: BLE001 - the test reads it
            self.error = e

    def join(self) -> Any:
        self._thread.join(TIMEOUT)
        self.listener.close()
        return self.result


def echo(tls: ssl.SSLSocket) -> bytes:
    data = tls.recv(1024)
    tls.sendall(data)
    return data


def connect(context: ssl.SSLContext, port: int, hostname: str | None = "localhost",
            **kwargs: Any) -> ssl.SSLSocket:
    raw = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    return context.wrap_socket(raw, server_hostname=hostname, **kwargs)


# ---- the classes callers check for ----


def test_contexts_sockets_and_objects_are_the_ssl_modules(pki):
    context = nss_client(pki)
    assert isinstance(context, ssl.SSLContext)
    server = PairServer(nss_server(pki), echo)
    with connect(context, server.port) as tls:
        # ssl.py's SSLSocket, but for three calls that go straight to NSS.
        assert isinstance(tls, ssl.SSLSocket) and type(tls).__mro__[1] is ssl.SSLSocket
        assert isinstance(tls._sslobj, _ssl_engine.SocketEngine)
        tls.sendall(b"ping")
        assert tls.recv(4) == b"ping"
    server.join()
    bio = context.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_hostname="localhost")
    assert type(bio) is ssl.SSLObject


# ---- reporting, compared with the ssl module on the same server ----


@pytest.mark.parametrize("cert", ["rsa", "ec"])
def test_reports_match_the_ssl_modules(pki, cert):
    def report(context: ssl.SSLContext) -> dict[str, Any]:
        server = openssl_server(pki, cert)
        with connect(context, server.port) as tls:
            # Each call gives a dictionary of the caller's own.
            tls.getpeercert().clear()
            answer = {"cert": tls.getpeercert(), "der": tls.getpeercert(True),
                      "version": tls.version(), "cipher": tls.cipher(),
                      "alpn": tls.selected_alpn_protocol(), "compression": tls.compression()}
        server.stop()
        return answer

    ours, theirs = report(nss_client(pki)), report(openssl_client(pki))
    # Each client prefers its own TLS 1.3 suite; both come in OpenSSL's form.
    assert ours.pop("cipher") in {("TLS_AES_128_GCM_SHA256", "TLSv1.3", 128),
                                  ("TLS_AES_256_GCM_SHA384", "TLSv1.3", 256)}
    theirs.pop("cipher")
    assert ours == theirs


def test_alpn_is_negotiated(pki):
    server_ctx = nss_server(pki)
    server_ctx.set_alpn_protocols(["h2", "http/1.1"])
    server = PairServer(server_ctx, lambda tls: tls.selected_alpn_protocol())
    client = openssl_client(pki)
    client.set_alpn_protocols(["http/1.1"])
    with connect(client, server.port) as tls:
        assert tls.selected_alpn_protocol() == "http/1.1"
    assert server.join() == "http/1.1"


# ---- verification failures, with OpenSSL's codes ----


def _verify_failure(pki, server_args: list[str], cert: str = "ec",
                    hostname: str = "localhost") -> ssl.SSLCertVerificationError:
    server = openssl_server(pki, cert, args=server_args)
    try:
        with pytest.raises(ssl.SSLCertVerificationError) as info:
            connect(nss_client(pki), server.port, hostname)
    finally:
        server.stop()
    assert info.value.reason == "CERTIFICATE_VERIFY_FAILED" and info.value.library == "SSL"
    return info.value


def test_unknown_issuer_is_20(pki):
    error = _verify_failure(pki, [], cert="other")
    assert (error.verify_code, error.verify_message) == (20, "unable to get local issuer certificate")


def test_self_signed_leaf_is_18(pki, tmp_path):
    from cryptography.hazmat.primitives import serialization

    # A CA's own certificate, served as a leaf: self-signed, and not trusted.
    (tmp_path / "self.key").write_bytes(pki.other_ca.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    (tmp_path / "self.pem").write_bytes(pki.other_ca.cert_pem)
    server = openssl_server(_Files(tmp_path), "self")
    try:
        with pytest.raises(ssl.SSLCertVerificationError) as info:
            connect(nss_client(pki), server.port, "localhost")
    finally:
        server.stop()
    assert (info.value.verify_code, info.value.verify_message) == (18, "self-signed certificate")


def test_self_signed_in_chain_is_19(pki):
    error = _verify_failure(pki, ["-cert_chain", str(pki.path("other-ca.pem"))], cert="other")
    assert error.verify_code == 19
    assert error.verify_message == "self-signed certificate in certificate chain"


def test_expired_is_10(pki):
    error = _verify_failure(pki, [], cert="expired")
    assert (error.verify_code, error.verify_message) == (10, "certificate has expired")


def test_hostname_mismatch_is_62(pki):
    error = _verify_failure(pki, [], cert="wrongname")
    assert error.verify_code == 62
    assert error.verify_message == "Hostname mismatch, certificate is not valid for 'localhost'."


class _Files:
    def __init__(self, root: Any) -> None:
        self.root = root

    def path(self, name: str) -> Any:
        return self.root / name


# ---- settings: honoured, narrowed or refused ----


def _deprecated(setting: Callable[[], None]) -> None:
    """Sets what the ssl module deprecates (and still honours) without its
    warning escaping the test."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        setting()


def test_maximum_version_and_options_choose_the_version(pki):
    for configure, expected in (
        (lambda c: setattr(c, "maximum_version", ssl.TLSVersion.TLSv1_2), "TLSv1.2"),
        (lambda c: _deprecated(lambda: setattr(c, "options", c.options | ssl.OP_NO_TLSv1_3)),
         "TLSv1.2"),
        (lambda c: None, "TLSv1.3"),
    ):
        server = PairServer(nss_server(pki), lambda tls: tls.version())
        client = nss_client(pki)
        configure(client)
        with connect(client, server.port) as tls:
            assert tls.version() == expected
        assert server.join() == expected


def test_versions_below_the_policy_are_narrowed_and_nothing_left_fails(pki):
    client = nss_client(pki)
    _deprecated(lambda: setattr(client, "minimum_version", ssl.TLSVersion.TLSv1))
    server = PairServer(nss_server(pki), lambda tls: tls.version())
    with connect(client, server.port) as tls:
        assert tls.version() == "TLSv1.3"
    server.join()
    _deprecated(lambda: setattr(client, "maximum_version", ssl.TLSVersion.TLSv1_1))
    with pytest.raises(ssl.SSLError, match="crypto policy") as info:
        client.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_hostname="localhost")
    assert info.value.reason == "NO_PROTOCOLS_AVAILABLE"


def test_set_ciphers_maps_openssl_strings_to_nss_suites(pki):
    server_ctx = nss_server(pki)
    server_ctx.set_ciphers("ECDHE-ECDSA-AES256-GCM-SHA384")
    server = PairServer(server_ctx, lambda tls: tls.cipher())
    client = nss_client(pki)
    client.maximum_version = ssl.TLSVersion.TLSv1_2
    with connect(client, server.port) as tls:
        assert tls.cipher() == ("ECDHE-ECDSA-AES256-GCM-SHA384", "TLSv1.2", 256)
    server.join()
    names = {c["name"] for c in server_ctx.get_ciphers()}
    assert "ECDHE-ECDSA-AES256-GCM-SHA384" in names and "ECDHE-ECDSA-AES128-GCM-SHA256" not in names


def test_uvicorns_tlsv1_cipher_string_still_connects(pki):
    """uvicorn's default ssl_ciphers is "TLSv1": OpenSSL's TLS 1.0 suites,
    narrowed to those NSS has and the policy allows."""
    server_ctx = nss_server(pki)
    server_ctx.set_ciphers("TLSv1")
    server = PairServer(server_ctx, lambda tls: tls.version())
    with connect(nss_client(pki), server.port) as tls:
        assert tls.version() == "TLSv1.3"
    server.join()


def test_a_cipher_string_the_policy_leaves_nothing_of_fails_naming_it(pki):
    from nss_mode import facts

    client = nss_client(pki)
    client.maximum_version = ssl.TLSVersion.TLSv1_2
    # Suites OpenSSL offers that the policy leaves out (on Fedora's DEFAULT,
    # RSA key exchange with CBC and SHA-1).
    client.set_ciphers("ALL:@SECLEVEL=0")
    left_out = [c["name"] for c in _ORIGINAL_SSLCONTEXT.get_ciphers(client)
                if c["protocol"] != "TLSv1.3" and c["id"] & 0xFFFF not in facts()["cipher_suites"]]
    if not left_out:
        pytest.skip("the crypto policy leaves out no suite OpenSSL offers")
    client.set_ciphers(left_out[0])
    with pytest.raises(ssl.SSLError, match="crypto policy") as info:
        client.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_hostname="localhost")
    assert info.value.reason == "NO_CIPHER_MATCH"


#: ssl.SSLContext's public names that tls_nss.SSLContext leaves to it, and
#: why NSS honours them so.
_LEFT_TO_THE_SSL_MODULE = {
    "check_hostname": "read for every connection, raw",
    "hostname_checks_common_name": "read for every connection, raw",
    "num_tickets": "read for every connection, raw",
    "cert_store_stats": "OpenSSL's store holds what load_verify_locations() gave NSS",
    "get_ca_certs": "OpenSSL's store holds what load_verify_locations() gave NSS",
    "protocol": "the role, which wrapping checks",
    "security_level": "read-only: OpenSSL's level; NSS's floor is the policy",
    "set_servername_callback": "sets sni_callback, which is ours",
    "sslobject_class": "ssl.SSLObject itself, over our _wrap_bio",
    "wrap_bio": "ssl.py's, over our _wrap_bio",
    "wrap_socket": "ssl.py's, over our sslsocket_class and _wrap_socket",
}


def test_every_setting_is_ours_or_known_to_need_no_counterpart():
    """A setting Python adds to ssl.SSLContext must not go silently to
    OpenSSL: it fails this test until it is honoured or refused."""
    public = {name for name in dir(ssl.SSLContext) if not name.startswith("_")}
    left = {name for name in public if name not in vars(tls_nss.SSLContext)}
    assert left == set(_LEFT_TO_THE_SSL_MODULE)


def test_refused_settings_are_loud(pki):
    context = tls_nss.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with pytest.raises(NotImplementedError):
        context.set_npn_protocols(["h2"])
    with pytest.raises(NotImplementedError, match="policy"):
        context.set_ecdh_curve("prime256v1")
    with pytest.raises(NotImplementedError, match="DH parameters"):
        context.load_dh_params("dhparams.pem")
    if hasattr(ssl.SSLContext, "set_psk_server_callback"):
        with pytest.raises(NotImplementedError, match="PSK"):
            context.set_psk_server_callback(lambda identity: b"k" * 32)
    with pytest.raises(ValueError):
        context.verify_flags = ssl.VERIFY_ALLOW_PROXY_CERTS


def test_no_trust_anchors_fails_as_a_verification_error(pki):
    client = tls_nss.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    server = openssl_server(pki, "ec")
    try:
        with pytest.raises(ssl.SSLCertVerificationError) as info:
            connect(client, server.port)
    finally:
        server.stop()
    assert info.value.verify_code == 20


def test_cert_none_connects_without_verifying(pki):
    client = tls_nss.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.check_hostname = False
    client.verify_mode = ssl.CERT_NONE
    server = openssl_server(pki, "other")
    with connect(client, server.port) as tls:
        assert tls.getpeercert() == {}
        assert tls.getpeercert(True) == pki.issued["other"].cert_der
    server.stop()


# ---- load_cert_chain ----


@pytest.mark.parametrize("password", ["secret", b"secret", lambda: "secret", lambda: b"secret"])
def test_encrypted_keys_load_with_every_kind_of_password(pki, tmp_path, password):
    key = tmp_path / "key.pem"
    key.write_bytes(pki.issued["rsa"].key_pem(password=b"secret"))
    server_ctx = tls_nss.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(pki.path("rsa.pem"), key, password=password)
    server = PairServer(server_ctx, echo)
    with connect(openssl_client(pki), server.port) as tls:
        tls.sendall(b"k")
        assert tls.recv(1) == b"k"
    server.join()


def test_a_wrong_password_or_none_is_an_ssl_error(pki, tmp_path):
    key = tmp_path / "key.pem"
    key.write_bytes(pki.issued["ec"].key_pem(password=b"secret"))
    context = tls_nss.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with pytest.raises(ssl.SSLError):
        context.load_cert_chain(pki.path("ec.pem"), key)
    # As the ssl module: at load_cert_chain(), not at the first connection.
    with pytest.raises(ssl.SSLError, match="password"):
        context.load_cert_chain(pki.path("ec.pem"), key, password="wrong")
    with pytest.raises(ssl.SSLError, match="does not match"):
        context.load_cert_chain(pki.path("ec.pem"), pki.path("other.key"))
    assert not context._nss_chains
    with pytest.raises(FileNotFoundError):
        context.load_cert_chain(tmp_path / "missing.pem")


@pytest.mark.parametrize("key_id", [
    "pkcs11:token=nosuch;object=server;type=private?pin-value=S3CRET",
    "pkcs11:token=nosuch;object=server?pin-value=S3;CRET",  # ";" inside the value
    "pkcs11:token=nosuch;object=server;pin-value=S3CRET",  # ";" for "?": refused
    "pkcs11:token=nosuch;object=server?Pin-Value=S3CRET",  # misspelt: refused
    "pkcs11:token=nosuch?pin-value=S3CRET&pin-value=S3CRET",
])
def test_a_token_id_is_named_once_and_its_pin_never(key_id):
    """load_cert_chain()'s errors quote the id they could not use, with
    its PIN masked: messages end up in logs."""
    context = tls_nss.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    for certfile, keyfile in ((key_id, None), ("pkcs11:token=nosuch;object=server", key_id)):
        with pytest.raises(ssl.SSLError) as info:
            context.load_cert_chain(certfile, keyfile)
        message = str(info.value)
        assert "CRET" not in message and "pkcs11:token=nosuch" in message, message
        assert message.count("pkcs11:") == 1, message
    assert not context._nss_chains


def test_an_rsa_and_an_ecdsa_chain_are_both_served(pki):
    server_ctx = nss_server(pki, "rsa")
    server_ctx.load_cert_chain(pki.path("ec-fullchain.pem"), pki.path("ec.key"))
    for sigalgs, expected in (("ECDSA+SHA256", "ec"), ("RSA-PSS+SHA256", "rsa")):
        client = openssl_client(pki)
        client.maximum_version = ssl.TLSVersion.TLSv1_2
        client.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256" if expected == "ec"
                           else "ECDHE-RSA-AES128-GCM-SHA256")
        server = PairServer(server_ctx, echo)
        with connect(client, server.port) as tls:
            assert tls.getpeercert(True) == pki.issued[expected].cert_der, sigalgs
            tls.sendall(b"x")
            tls.recv(1)
        server.join()


# ---- sockets: timeouts, non-blocking, unwrap, threads ----


def test_a_silent_server_times_out_as_socket_timeout(pki):
    listener = socket.create_server(("127.0.0.1", 0))
    raw = socket.create_connection(listener.getsockname(), timeout=0.5)
    started = time.monotonic()
    with pytest.raises(socket.timeout):
        nss_client(pki).wrap_socket(raw, server_hostname="localhost")
    assert time.monotonic() - started < 5
    raw.close()
    listener.close()


def test_a_timeout_set_after_wrapping_bounds_each_call(pki):
    """Programs set the timeout on the SSLSocket, whenever they like; every
    recv() and send() goes by the one it has at that moment."""
    released = threading.Event()

    def server_side(tls: ssl.SSLSocket) -> bytes:
        data = tls.recv(10)
        released.wait(TIMEOUT)
        tls.sendall(data)
        return data

    server = PairServer(nss_server(pki), server_side)
    tls = connect(nss_client(pki), server.port)
    tls.sendall(b"late")
    tls.settimeout(0.3)
    started = time.monotonic()
    with pytest.raises(socket.timeout, match="read operation timed out"):
        tls.recv(10)
    assert 0.25 < time.monotonic() - started < 5
    tls.settimeout(None)
    released.set()
    # As _ssl: a length beyond the buffer's means the buffer's.
    into = bytearray(2)
    assert tls.recv_into(into, 100) == 2 and into == b"la"
    assert tls.recv(10) == b"te"
    tls.close()
    assert server.join() == b"late"


def stdlib_server(pki) -> ssl.SSLContext:
    context = _ORIGINAL_SSLCONTEXT(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.path("ec-fullchain.pem"), pki.path("ec.key"))
    return context


@pytest.mark.parametrize("suppress", [True, False])
def test_an_eof_without_close_notify_reads_as_suppress_ragged_eofs_says(pki, suppress):
    """recv() and recv_into() go straight to NSS, and still answer a peer
    that ends TCP without close_notify as SSLSocket.read() does (as on
    Python 3.12 and later, where the ssl module makes OpenSSL 3's
    unexpected EOF an SSLEOFError too)."""

    def server_side(tls: ssl.SSLSocket) -> None:
        tls.sendall(b"one")
        tls.recv(1)  # until the client has read it
        tls.shutdown(socket.SHUT_RDWR)  # ssl.py: TCP's FIN, no close_notify

    client = nss_client(pki)
    client.options &= ~getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)
    for read in ("recv", "recv_into"):
        server = PairServer(stdlib_server(pki), server_side)
        tls = client.wrap_socket(
            socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT),
            server_hostname="localhost", suppress_ragged_eofs=suppress)
        assert tls.recv(3) == b"one"
        tls.sendall(b"!")
        server.join()
        into = bytearray(10)
        if suppress:
            assert (tls.recv(10) if read == "recv" else tls.recv_into(into)) in (b"", 0)
        else:
            with pytest.raises(ssl.SSLEOFError) as raised:
                tls.recv(10) if read == "recv" else tls.recv_into(into)
            assert raised.value.args[0] == ssl.SSL_ERROR_EOF
        tls.close()


def test_sendall_recv_and_recv_into_refuse_and_accept_as_ssl_py_does(pki):
    """The three calls that skip ssl.py's Python take what it takes and
    refuse what it refuses, with its errors."""
    import array

    def server_side(tls: ssl.SSLSocket) -> bytes:
        got = b""
        while len(got) < 18:
            got += tls.recv(100)
        tls.sendall(b"abcdef")
        return got

    server = PairServer(nss_server(pki), server_side)
    tls = connect(nss_client(pki), server.port)
    for call in (lambda: tls.sendall(b"x", 1), lambda: tls.recv(10, 1),
                 lambda: tls.recv_into(bytearray(10), 10, 1)):
        with pytest.raises(ValueError, match="non-zero flags not allowed"):
            call()
    with pytest.raises(TypeError):
        tls.sendall("text")  # type: ignore[arg-type]
    tls.sendall(b"bytes-")
    tls.sendall(bytearray(b"array-"))
    tls.sendall(array.array("B", b"view!!"))  # any buffer, through ssl.py's code
    assert tls.recv(2) == b"ab"
    into = bytearray(10)
    assert tls.recv_into(memoryview(into)[:2]) == 2 and into[:2] == b"cd"
    assert tls.recv_into(into, 2) == 2 and into[:2] == b"ef"
    tls.close()
    assert server.join() == b"bytes-array-view!!"


def test_sendall_to_a_peer_that_never_reads_times_out_as_a_whole(pki):
    """One deadline for all of sendall(), as the ssl module's one write()."""
    gate = threading.Event()

    def server_side(tls: ssl.SSLSocket) -> None:
        gate.wait(TIMEOUT)

    server = PairServer(nss_server(pki), server_side)
    tls = connect(nss_client(pki), server.port)
    tls.settimeout(0.5)
    started = time.monotonic()
    with pytest.raises(socket.timeout, match="write operation timed out"):
        tls.sendall(b"x" * (64 << 20))
    assert time.monotonic() - started < 5
    gate.set()
    tls.close()
    server.join()


@contextlib.contextmanager
def alarm(handler: Callable[[int, Any], None], after: float) -> Iterator[None]:
    """SIGALRM to ``handler`` once, ``after`` seconds on; the previous
    handler back afterwards."""
    previous = signal.signal(signal.SIGALRM, handler)
    try:
        signal.setitimer(signal.ITIMER_REAL, after)
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("blocking", [False, True])
@pytest.mark.parametrize("call", ["recv", "sendall"])
def test_a_signal_handlers_exception_ends_a_blocked_call(pki, call, blocking):
    """recv() and sendall() wait without the GIL; a signal wakes them, and
    what the handler raises comes out as it is, not dressed as a TLS
    failure. Also on a blocking SSLSocket (timeout None), whose descriptor,
    shared with NSS's, is then in blocking mode: a send never waits in the
    kernel, where no signal would end it (the peer here never reads)."""

    class Interrupted(Exception):
        pass

    def interrupt(signum: int, frame: Any) -> None:
        raise Interrupted()

    done = threading.Event()
    server = PairServer(nss_server(pki), lambda tls: done.wait(TIMEOUT))
    tls = connect(nss_client(pki), server.port)
    if blocking:
        tls.settimeout(None)
    try:
        with alarm(interrupt, 0.3):
            started = time.monotonic()
            with pytest.raises(Interrupted) as raised:
                tls.recv(10) if call == "recv" else tls.sendall(b"x" * (64 << 20))
        assert time.monotonic() - started < 5
        assert raised.value.__cause__ is None
    finally:
        done.set()
        tls.close()
        server.join()


def test_a_signal_whose_handler_returns_leaves_a_blocking_read_waiting(pki):
    """On a blocking SSLSocket a signal interrupts the read in the kernel;
    when its handler returns, the read goes on, as Python's socket calls
    do (PEP 475), and returns what arrives later."""
    handled = []
    released = threading.Event()

    def late_reply(tls: ssl.SSLSocket) -> None:
        released.wait(TIMEOUT)
        tls.sendall(b"late")
        tls.recv(1)

    server = PairServer(nss_server(pki), late_reply)
    tls = connect(nss_client(pki), server.port)
    tls.settimeout(None)
    try:
        with alarm(lambda signum, frame: handled.append(signum), 0.2):
            threading.Timer(0.6, released.set).start()
            assert tls.recv(10) == b"late"
        assert handled == [signal.SIGALRM]
        tls.sendall(b"!")
    finally:
        released.set()
        tls.close()
        server.join()


def test_an_outgoing_bio_that_refuses_writes_fails_the_call(pki):
    """What NSS wrote is handed to the outgoing MemoryBIO; when the BIO
    refuses it (after write_eof()), the call fails with the BIO's own
    error, and the next call fails the same way."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = nss_client(pki).wrap_bio(incoming, outgoing, server_hostname="localhost")
    outgoing.write_eof()
    for _ in range(2):
        with pytest.raises(ssl.SSLError, match="write_eof"):
            client.do_handshake()


def test_dropped_sockets_and_objects_are_freed_at_once(pki):
    """As with the ssl module, nothing but the garbage collector's own
    cycles keeps a dropped SSLSocket or SSLObject (and its descriptor, its
    NSS connection) alive."""
    import gc
    import weakref

    a, b = socket.socketpair()
    gc.disable()
    try:
        tls = nss_server(pki).wrap_socket(a, server_side=True, do_handshake_on_connect=False)
        obj = nss_server(pki).wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_side=True)
        tls.close()
        dropped = [weakref.ref(tls), weakref.ref(obj)]
        del tls, obj
        assert [ref() for ref in dropped] == [None, None]
    finally:
        gc.enable()
        a.close()
        b.close()


def test_non_blocking_sockets_want_read(pki):
    server = PairServer(nss_server(pki), echo)
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT)
    tls = nss_client(pki).wrap_socket(raw, server_hostname="localhost",
                                      do_handshake_on_connect=False)
    tls.setblocking(False)
    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            time.sleep(0.01)
    with pytest.raises(ssl.SSLWantReadError):
        tls.recv(10)
    tls.setblocking(True)
    tls.sendall(b"nb")
    assert tls.recv(2) == b"nb"
    tls.close()
    server.join()


def test_unwrap_goes_on_in_the_clear(pki):
    def server_side(tls: ssl.SSLSocket) -> bytes:
        assert tls.recv(5) == b"plain"
        plain = tls.unwrap()
        return plain.recv(100)

    server = PairServer(nss_server(pki), server_side)
    tls = connect(nss_client(pki), server.port)
    tls.sendall(b"plain")
    plain = tls.unwrap()
    assert isinstance(plain, ssl.SSLSocket) and plain._sslobj is None
    plain.sendall(b"in the clear")
    plain.close()
    assert server.join() == b"in the clear"


def test_shutdown_from_another_thread_wakes_a_blocked_read(pki):
    server = PairServer(nss_server(pki), lambda tls: tls.recv(10))
    tls = connect(nss_client(pki), server.port)
    threading.Timer(0.3, tls.shutdown, args=(socket.SHUT_RDWR,)).start()
    started = time.monotonic()
    with pytest.raises((OSError, ssl.SSLError, ValueError)):
        while True:
            if not tls.recv(10):
                raise OSError("EOF")
    assert time.monotonic() - started < 5
    tls.close()
    server.join()


def test_a_read_and_a_write_in_two_threads(pki):
    def server_side(tls: ssl.SSLSocket) -> int:
        total = 0
        while total < 1 << 20:
            data = tls.recv(65536)
            if not data:
                break
            total += len(data)
            tls.sendall(data)
        return total

    server = PairServer(nss_server(pki), server_side)
    tls = connect(nss_client(pki), server.port)
    received = bytearray()

    def reader() -> None:
        while len(received) < 1 << 20:
            received.extend(tls.recv(65536))

    thread = threading.Thread(target=reader)
    thread.start()
    tls.sendall(b"x" * (1 << 20))
    thread.join(TIMEOUT)
    assert len(received) == 1 << 20
    tls.close()
    assert server.join() == 1 << 20


def test_makefile_and_sendfile(pki, tmp_path):
    content = b"line one\nline two\n" * 1000
    path = tmp_path / "f"
    path.write_bytes(content)

    def server_side(tls: ssl.SSLSocket) -> bytes:
        with tls.makefile("rb") as f:
            return f.read(len(content))

    server = PairServer(nss_server(pki), server_side)
    with connect(nss_client(pki), server.port) as tls, open(path, "rb") as f:
        assert tls.sendfile(f) == len(content)
    assert server.join() == content


def test_unix_domain_sockets_carry_tls_as_tcp_does(pki, tmp_path):
    """The ssl module wraps any stream socket; so must the layer. NSS,
    which keys sessions by IP address, still resumes over a path."""
    path = str(tmp_path / "tls.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen()
    listener.settimeout(TIMEOUT)
    server_context = nss_server(pki)
    seen: list[Any] = []

    def serve() -> None:
        for _ in range(2):
            conn, _ = listener.accept()
            conn.settimeout(TIMEOUT)
            with server_context.wrap_socket(conn, server_side=True) as tls:
                seen.append((tls.getsockname(), tls.version()))
                echo(tls)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    client = nss_client(pki)
    session = None
    for round_ in range(2):
        raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        raw.settimeout(TIMEOUT)
        raw.connect(path)
        with client.wrap_socket(raw, server_hostname="localhost", session=session) as tls:
            assert tls.getpeername() == path
            tls.sendall(b"over a path")
            assert tls.recv(100) == b"over a path"
            assert tls.session_reused is (round_ > 0)
            session = tls.session
    thread.join(TIMEOUT)
    listener.close()
    assert seen == [(path, "TLSv1.3")] * 2

    # And against OpenSSL, over a socket pair: each side ours in turn.
    for ours_serves in (True, False):
        a, b = socket.socketpair()
        a.settimeout(TIMEOUT)
        b.settimeout(TIMEOUT)
        server = nss_server(pki) if ours_serves else _ORIGINAL_SSLCONTEXT(ssl.PROTOCOL_TLS_SERVER)
        if not ours_serves:
            server.load_cert_chain(pki.path("ec-fullchain.pem"), pki.path("ec.key"))
        def serve_pair(server: ssl.SSLContext = server, a: socket.socket = a) -> None:
            with server.wrap_socket(a, server_side=True) as tls:
                echo(tls)

        peer = threading.Thread(target=serve_pair, daemon=True)
        peer.start()
        client = openssl_client(pki) if ours_serves else nss_client(pki)
        with client.wrap_socket(b, server_hostname="localhost") as tls:
            tls.sendall(b"pair")
            assert tls.recv(100) == b"pair"
        peer.join(TIMEOUT)
        assert not peer.is_alive()


# ---- asyncio's SSLObject, through the BIO engine ----


def bio_pair(pki, client: ssl.SSLContext
             ) -> tuple[ssl.SSLObject, ssl.SSLObject, Callable[[], None]]:
    """An SSLObject of ``client`` and one of the ssl module's server, past
    the handshake, and the function that moves what each side sent."""
    return handshake_ssl_objects(client, stdlib_server(pki))


def test_memory_bios_between_ours_and_openssl(pki):
    client, server, move = bio_pair(pki, nss_client(pki))
    assert client.version() == server.version() == "TLSv1.3"
    client.write(b"through memory")
    move()
    assert server.read(100) == b"through memory"
    with pytest.raises(ssl.SSLWantReadError):
        client.read(10)


def test_sslobject_reads_and_writes_take_what_ssl_py_takes(pki):
    """SSLObject.read() and write() go to C at once; they take ssl.py's
    arguments, by position or by name, and refuse the same."""
    ours, theirs, move = bio_pair(pki, nss_client(pki))
    assert type(ours) is ssl.SSLObject
    assert ours.write(data=b"abc") == 3 and ours.write(b"def") == 3
    move()
    assert theirs.read(6) + theirs.read(6) == b"abcdef"  # a record each
    theirs.write(b"0123456789")
    move()
    assert ours.read(len=2) == b"01"
    into = bytearray(3)
    assert ours.read(3, buffer=into) == 3 and into == b"234"
    assert ours.read(buffer=into, len=2) == 2 and into == b"564"
    assert ours.read() == b"789"
    with pytest.raises(ssl.SSLWantReadError):
        ours.read(10)
    for call in (lambda: ours.read(size=1), lambda: ours.read(1, len=1),
                 lambda: ours.write(), lambda: ours.write(b"x", b"y"),
                 lambda: ours.write("text")):
        with pytest.raises(TypeError):
            call()


def test_an_sslobject_reads_records_however_their_bytes_arrive(pki):
    """asyncio hands an SSLObject whatever the socket gave: records cut
    anywhere, several at once. Reads answer SSLWantReadError until a
    record is whole; once it is, reads give all of it before the next
    SSLWantReadError, whatever its size and however its last bytes came,
    none lost or repeated; the peer's close_notify then reads as b''."""
    c_in, c_out, s_in, s_out = bios = tuple(ssl.MemoryBIO() for _ in range(4))
    client, server, _ = handshake_ssl_objects(openssl_client(pki), nss_server(pki), bios)

    def read_all() -> bytes:
        received = bytearray()
        while True:
            try:
                received += server.read(65536)
            except ssl.SSLWantReadError:
                return bytes(received)

    messages = [b"a" * 100, bytes(range(256)) * 64, b"c" * 3000, b"d"]
    for message in messages:
        client.write(message)
        record = c_out.read()
        for last in (1, 10, len(record) // 2):
            s_in.write(record[:-last])
            assert read_all() == b""
            s_in.write(record[-last:])
            assert read_all() == message, (len(message), last)
            client.write(message)
            record = c_out.read()
        s_in.write(record)
        assert read_all() == message
    for piece_size in (1, 7, 1000, 4096):
        for message in messages:
            client.write(message)
        wire = c_out.read()
        received = b""
        for start in range(0, len(wire), piece_size):
            s_in.write(wire[start:start + piece_size])
            received += read_all()
        assert received == b"".join(messages), piece_size
    try:
        client.unwrap()
    except ssl.SSLWantReadError:
        pass
    s_in.write(c_out.read())
    assert server.read(10) == b""


def test_the_nss_connection_under_an_ssl_object_is_bound_once(pki):
    """What an SSLObject's or SSLSocket's NSS connection pumps from and
    answers to is given once; a buffer given none refuses the bio_* calls."""
    ours, _, _ = bio_pair(pki, nss_client(pki))
    with pytest.raises(ValueError, match="already bound"):
        ours._sslobj._tls.bind_ssl(ssl.MemoryBIO(), ssl.MemoryBIO(), lambda *args: None)
    a, b = socket.socketpair()
    with a, b:
        wrapped = nss_client(pki).wrap_socket(a, server_hostname="localhost",
                                              do_handshake_on_connect=False)
        with pytest.raises(ValueError, match="already bound"):
            wrapped._sslobj._tls.bind_ssl(lambda: None, lambda *args: None)
        wrapped.close()
    unbound = nss_client(pki)._core(False, "localhost").buffer(hostname="localhost", owner=None)
    for call in (unbound.bio_read, unbound.bio_do_handshake, lambda: unbound.bio_write(b"x")):
        with pytest.raises(TypeError, match="not under an ssl.SSLObject"):
            call()
    with pytest.raises(TypeError, match="must be callable"):
        unbound.bind_ssl(ssl.MemoryBIO(), ssl.MemoryBIO(), "not callable")


def test_an_sslobject_subclass_keeps_its_own_read_and_write(pki):
    calls = []

    class Counted(ssl.SSLObject):
        def read(self, len: int = 1024, buffer: Any = None) -> Any:
            calls.append("read")
            return super().read(len, buffer)

        def write(self, data: Any) -> int:
            calls.append("write")
            return super().write(data)

    client = nss_client(pki)
    client.sslobject_class = Counted
    ours, theirs, move = bio_pair(pki, client)
    assert type(ours) is Counted
    ours.write(b"ping")
    move()
    theirs.write(theirs.read(4))
    move()
    assert ours.read(4) == b"ping"
    assert calls == ["write", "read"]


def test_injection_survives_contexts_made_before_it(pki):
    before = ssl.create_default_context()
    tls_nss.inject_into_ssl()
    try:
        before.minimum_version = ssl.TLSVersion.TLSv1_2  # ssl.py's setter, rebound name
        before.options |= ssl.OP_NO_TICKET
        before.verify_mode = ssl.CERT_REQUIRED
        assert type(before) is _ORIGINAL_SSLCONTEXT
        made = ssl.create_default_context()
        assert type(made) is tls_nss.SSLContext
        made.minimum_version = ssl.TLSVersion.TLSv1_2
    finally:
        tls_nss.extract_from_ssl()
    assert ssl.SSLContext is _ORIGINAL_SSLCONTEXT
    before.minimum_version = ssl.TLSVersion.TLSv1_3


# ---- sni_callback ----


def _sni_pki(pki):
    # Each on its own: another module's test may have issued one of them.
    for name, host, kind in (("a-site", "a.test", "ec256"), ("b-site", "b.test", "rsa2048")):
        if name not in pki.issued:
            pki.add(name, pki.ca.issue(host, key_kind=kind))
    return pki


@pytest.mark.parametrize("server_name, expected", [("a.test", "a-site"), ("b.test", "b-site")])
def test_sni_callback_switches_the_context(pki, server_name, expected):
    """The 2017 design: SNI picks a whole context, certificates and all."""
    _sni_pki(pki)
    sites = {name: nss_server(pki, name) for name in ("a-site", "b-site")}
    sites["b-site"].maximum_version = ssl.TLSVersion.TLSv1_2
    seen = []

    def choose(sslsocket: Any, name: str, context: ssl.SSLContext) -> None:
        seen.append((type(sslsocket).__name__, name, context is front))
        sslsocket.context = sites["a-site" if name == "a.test" else "b-site"]

    front = nss_server(pki, "ec")
    front.sni_callback = choose
    server = PairServer(front, lambda tls: (tls.version(), tls.context is sites[expected]))
    with connect(openssl_client(pki), server.port, server_name) as tls:
        assert tls.getpeercert(True) == pki.issued[expected].cert_der
        version = tls.version()
    assert version == ("TLSv1.2" if expected == "b-site" else "TLSv1.3")
    assert server.join() == (version, True)
    assert seen == [("SSLSocket", server_name, True)]


def test_sni_callback_alert_and_no_name(pki):
    front = nss_server(pki, "ec")
    names = []

    def refuse_unknown(sslsocket: Any, name: Any, context: Any) -> Any:
        names.append(name)
        return None if name is None else ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME

    front.sni_callback = refuse_unknown
    server = PairServer(front, echo)
    with pytest.raises((ssl.SSLError, OSError)):
        connect(openssl_client(pki), server.port, "unknown.test")
    server.join()
    assert isinstance(server.error, ssl.SSLError) and "unknown.test" in str(server.error)
    plain = openssl_client(pki)
    plain.check_hostname = False
    server = PairServer(front, echo)
    with connect(plain, server.port, None) as tls:
        tls.sendall(b"n")
        assert tls.recv(1) == b"n"
    server.join()
    assert names == ["unknown.test", None]


def test_a_server_with_sni_callback_may_send_first(pki):
    """With sni_callback and no handshake on connect, NSS starts in the
    server's first call, here sendall(), then recv_into() goes on."""
    front = nss_server(pki)
    seen: list[Any] = []
    front.sni_callback = lambda sslsocket, name, context: seen.append(name)
    listener = socket.create_server(("127.0.0.1", 0))
    got = bytearray(4)

    def serve() -> None:
        conn, _ = listener.accept()
        conn.settimeout(TIMEOUT)
        with front.wrap_socket(conn, server_side=True, do_handshake_on_connect=False) as tls:
            tls.sendall(b"first")
            tls.recv_into(got)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    with connect(openssl_client(pki), listener.getsockname()[1]) as tls:
        assert tls.recv(5) == b"first"
        tls.sendall(b"then")
        thread.join(TIMEOUT)
    listener.close()
    assert seen == ["localhost"] and got == b"then"


def test_sni_callback_under_asyncio(pki):
    import asyncio

    _sni_pki(pki)
    site = nss_server(pki, "a-site")
    front = nss_server(pki, "ec")
    front.sni_callback = lambda obj, name, ctx: setattr(obj, "context", site)

    async def main() -> bytes:
        async def handle(reader: Any, writer: Any) -> None:
            writer.write(await reader.read(10))
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=front)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=openssl_client(pki), server_hostname="a.test")
        der = writer.get_extra_info("ssl_object").getpeercert(True)
        writer.write(b"hi")
        assert await reader.read(10) == b"hi"
        writer.close()
        server.close()
        await server.wait_closed()
        return der

    assert asyncio.run(asyncio.wait_for(main(), 20)) == pki.issued["a-site"].cert_der


def test_sni_callback_waits_for_a_trickling_hello_only_as_long_as_the_timeout(pki):
    front = nss_server(pki, "ec")
    front.sni_callback = lambda *args: None
    listener = socket.create_server(("127.0.0.1", 0))
    peer = socket.create_connection(listener.getsockname())
    conn, _ = listener.accept()
    conn.settimeout(1.0)
    stop = threading.Event()

    def trickle() -> None:
        for byte in b"\x16\x03\x01\x02\x00\x01":
            if stop.wait(0.3):
                return
            peer.send(bytes([byte]))

    threading.Thread(target=trickle, daemon=True).start()
    started = time.monotonic()
    with pytest.raises(socket.timeout):
        front.wrap_socket(conn, server_side=True)
    assert time.monotonic() - started < 3
    stop.set()
    for s in (conn, peer, listener):
        s.close()


def test_sni_callback_over_memory_bios_fed_a_few_bytes_at_a_time(pki):
    _sni_pki(pki)
    site = nss_server(pki, "a-site")
    front = nss_server(pki, "ec")
    front.sni_callback = lambda obj, name, ctx: setattr(obj, "context", site)
    s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO()
    server = front.wrap_bio(s_in, s_out, server_side=True)
    c_in, c_out = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = openssl_client(pki).wrap_bio(c_in, c_out, server_hostname="a.test")
    with pytest.raises(ssl.SSLWantReadError):
        client.do_handshake()
    hello = c_out.read()
    for at in range(0, len(hello), 7):
        s_in.write(hello[at:at + 7])
        with pytest.raises(ssl.SSLWantReadError):
            server.do_handshake()
        assert server.context is (site if at + 7 >= len(hello) else front)
    for _ in range(5):
        c_in.write(s_out.read())
        for side in (client, server):
            try:
                side.do_handshake()
            except ssl.SSLWantReadError:
                pass
        s_in.write(c_out.read())
    assert client.getpeercert(True) == pki.issued["a-site"].cert_der


def test_post_handshake_auth_answers_an_openssl_server(pki):
    server_ctx = _ORIGINAL_SSLCONTEXT(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(pki.path("ec.pem"), pki.path("ec.key"))
    server_ctx.load_verify_locations(pki.path("ca.pem"))
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    server_ctx.post_handshake_auth = True

    def server_side(tls: ssl.SSLSocket) -> Any:
        assert tls.getpeercert() is None  # not asked in the handshake
        tls.verify_client_post_handshake()
        tls.sendall(b"who are you?")
        assert tls.recv(10) == b"me"
        return tls.getpeercert(True)

    server = PairServer(server_ctx, server_side)
    client = nss_client(pki)
    client.load_cert_chain(pki.path("client.pem"), pki.path("client.key"))
    assert client.post_handshake_auth is None
    client.post_handshake_auth = True
    with connect(client, server.port) as tls:
        assert tls.recv(20) == b"who are you?"
        tls.sendall(b"me")
        assert server.join() == pki.issued["client"].cert_der
    assert server.error is None


def test_sessions_resume_and_can_be_offered_back(pki):
    client = nss_client(pki)
    sessions = []
    server = PairServer(nss_server(pki), echo, connections=3)
    for round_ in range(3):
        with connect(client, server.port, session=sessions[-1] if sessions else None) as tls:
            tls.sendall(b"s")
            tls.recv(1)  # takes the TLS 1.3 ticket in with the reply
            assert tls.session_reused is (round_ > 0)
            sessions.append(tls.session)
    server.join()
    assert sessions[0] == sessions[1] and sessions[0].has_ticket
    other = nss_client(pki)
    with pytest.raises(ValueError, match="different SSLContext"):
        other.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_hostname="localhost",
                       session=sessions[0])
    fresh = nss_client(pki)
    fresh.options |= ssl.OP_NO_TICKET
    server = PairServer(nss_server(pki), echo, connections=2)
    for _ in range(2):
        with connect(fresh, server.port) as tls:
            tls.sendall(b"s")
            tls.recv(1)
            assert not tls.session_reused
    server.join()


def _records(wire: bytes) -> int:
    count = 0
    while wire:
        wire = wire[5 + int.from_bytes(wire[3:5], "big"):]
        count += 1
    return count


def _tickets_sent(server_context: ssl.SSLContext, client_context: ssl.SSLContext,
                  session: Any = None) -> tuple[int, Any]:
    """The records a TLS 1.3 server sends once it has the client's
    Finished (its session tickets), and the session the client is left
    with, taking them."""
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client = client_context.wrap_bio(c_in, c_out, server_hostname="localhost",
                                     session=session)
    server = server_context.wrap_bio(s_in, s_out, server_side=True)
    for _ in range(3):  # a HelloRetryRequest takes a second round
        try:
            client.do_handshake()
            break  # with its Finished sent
        except ssl.SSLWantReadError:
            pass
        s_in.write(c_out.read())
        with contextlib.suppress(ssl.SSLWantReadError):
            server.do_handshake()
        c_in.write(s_out.read())
    s_in.write(c_out.read())
    server.do_handshake()
    tickets = s_out.read()
    c_in.write(tickets)
    with pytest.raises(ssl.SSLWantReadError):
        client.read(1)
    assert client.version() == "TLSv1.3" and client.session_reused is (session is not None)
    return _records(tickets), client.session


@pytest.mark.parametrize("ours", [True, False], ids=["tls_nss", "ssl"])
def test_num_tickets_is_how_many_tickets_a_server_sends(pki, ours):
    """As OpenSSL: num_tickets after a full handshake (2 unless set), at
    most one after a resumption, none at all with 0."""
    def server(tickets: int | None) -> ssl.SSLContext:
        if not ours:
            context = stdlib_server(pki)
        else:
            context = nss_server(pki)
        if tickets is not None:
            context.num_tickets = tickets
        return context

    assert server(None).num_tickets == 2
    for tickets, expected in ((None, 2), (0, 0), (1, 1), (3, 3)):
        assert _tickets_sent(server(tickets), openssl_client(pki))[0] == expected
    client = openssl_client(pki)
    context = server(3)
    _, session = _tickets_sent(context, client)
    assert _tickets_sent(context, client, session)[0] == 1
    with pytest.raises(ValueError):
        server(-1)
    with pytest.raises(ValueError):
        nss_client(pki).num_tickets = 2


def test_loading_a_chain_again_replaces_the_one_of_its_key_type(pki):
    """A running server takes a renewed certificate: load_cert_chain() again
    replaces the chain of that key type, as with OpenSSL, and the next
    connection gets it; a chain of another type stays beside it."""
    if "renewed" not in pki.issued:
        pki.add("renewed", pki.ca.issue("localhost", "127.0.0.1", key_kind="ec256"))
    context = nss_server(pki, "ec")
    context.load_cert_chain(pki.path("rsa-fullchain.pem"), pki.path("rsa.key"))
    server = PairServer(context, echo, connections=2)
    served = []
    for _ in range(2):
        with connect(openssl_client(pki), server.port) as tls:
            served.append(tls.getpeercert(True))
            tls.sendall(b"r")
            tls.recv(1)
        context.load_cert_chain(pki.path("renewed-fullchain.pem"), pki.path("renewed.key"))
    server.join()
    assert served == [pki.issued["ec"].cert_der, pki.issued["renewed"].cert_der]
    assert len(context._nss_chains) == 2
