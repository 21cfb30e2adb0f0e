"""TLSBuffer: in-memory TLS, against our own buffers and against the
standard library's ssl.SSLObject over MemoryBIOs (OpenSSL), in one process."""

from __future__ import annotations

import os
import ssl

import pytest

import tls_nss as tls

V12, V13 = tls.TLSVersion.TLSv1_2, tls.TLSVersion.TLSv1_3


# ---- two ends of a connection, and moving bytes between them ----


class NSSEnd:
    """One of our buffers as a connection end."""

    def __init__(self, buffer):
        self.buffer = buffer

    def handshake(self) -> bool:
        try:
            self.buffer.do_handshake()
            return True
        except tls.WantReadError:
            return False

    def take_outgoing(self) -> bytes:
        return self.buffer.process_outgoing(self.buffer.outgoing_bytes_buffered())

    def give_incoming(self, data: bytes) -> None:
        if data:
            self.buffer.process_incoming(data)

    def write(self, data: bytes) -> int:
        return self.buffer.write(data)

    def read(self, n: int) -> bytes:
        try:
            return self.buffer.read(n)
        except tls.WantReadError:
            return b""


class SSLEnd:
    """ssl.SSLObject over MemoryBIOs as a connection end."""

    def __init__(self, context: ssl.SSLContext, server_side: bool, hostname: str | None = None):
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = context.wrap_bio(self.incoming, self.outgoing, server_side=server_side,
                                    server_hostname=hostname)

    def handshake(self) -> bool:
        try:
            self.obj.do_handshake()
            return True
        except ssl.SSLWantReadError:
            return False

    def take_outgoing(self) -> bytes:
        return self.outgoing.read()

    def give_incoming(self, data: bytes) -> None:
        if data:
            self.incoming.write(data)

    def write(self, data: bytes) -> int:
        return self.obj.write(data)

    def read(self, n: int) -> bytes:
        try:
            return self.obj.read(n)
        except ssl.SSLWantReadError:
            return b""


def pump(a, b) -> int:
    moved = 0
    for src, dst in ((a, b), (b, a)):
        data = src.take_outgoing()
        dst.give_incoming(data)
        moved += len(data)
    return moved


def handshake(a, b) -> None:
    done_a = done_b = False
    for _ in range(20):
        done_a = done_a or a.handshake()
        done_b = done_b or b.handshake()
        moved = pump(a, b)
        if done_a and done_b and not moved:
            return
    raise AssertionError("the handshake did not finish")


# ---- contexts ----


@pytest.fixture
def nss_pair(pki, server_context, client_context):
    def make(server_kwargs=None, client_kwargs=None, hostname="localhost"):
        server = server_context(**(server_kwargs or {})).create_buffer()
        client = client_context(**(client_kwargs or {})).create_buffer(hostname)
        return NSSEnd(client), NSSEnd(server)

    return make


def _ssl_server_context(pki, version=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki.path("rsa.pem"), pki.path("rsa.key"))
    if version is not None:
        ctx.minimum_version = ctx.maximum_version = version
    return ctx


def _ssl_client_context(pki, version=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(pki.path("ca.pem"))
    if version is not None:
        ctx.minimum_version = ctx.maximum_version = version
    return ctx


SSL_VERSIONS = {V12: ssl.TLSVersion.TLSv1_2, V13: ssl.TLSVersion.TLSv1_3}


# ---- against ourselves ----


@pytest.mark.parametrize("version", [V12, V13])
def test_buffer_pair(nss_pair, pki, version):
    client, server = nss_pair(
        server_kwargs={"lowest_supported_version": version, "highest_supported_version": version,
                       "inner_protocols": [tls.NextProtocol.H2]},
        client_kwargs={"inner_protocols": [tls.NextProtocol.H2]},
    )
    handshake(client, server)
    for end in (client, server):
        assert end.buffer.negotiated_tls_version is version
        assert end.buffer.negotiated_protocol() is tls.NextProtocol.H2
        assert isinstance(end.buffer.cipher(), tls.CipherSuite)
    assert client.buffer.getpeercert() == pki.issued["rsa"].cert_der
    assert server.buffer.getpeercert() is None
    assert client.write(b"ping") == 4
    pump(client, server)
    assert server.read(100) == b"ping"
    assert isinstance(client.buffer.context, tls.NSSClientContext)
    assert "localhost" in repr(client.buffer)


def test_buffer_verifies_like_a_socket(nss_pair):
    client, server = nss_pair(hostname="elsewhere.test")
    with pytest.raises(tls.CertificateVerificationError) as info:
        handshake(client, server)
    assert info.value.nss_name == "SSL_ERROR_BAD_CERT_DOMAIN"


def test_buffer_refuses_an_untrusted_server(pki, client_context, server_context):
    client = NSSEnd(client_context("other-ca").create_buffer("localhost"))
    server = NSSEnd(server_context().create_buffer())
    with pytest.raises(tls.CertificateVerificationError):
        handshake(client, server)


def test_buffer_client_certificates(pki, client_context, server_context):
    server = NSSEnd(server_context(trust_store=pki.trust()).create_buffer())
    client = NSSEnd(client_context(certificate_chain=pki.signing_chain("client")).create_buffer("localhost"))
    handshake(client, server)
    client.write(b"x")
    pump(client, server)
    assert server.read(1) == b"x"
    assert server.buffer.getpeercert() == pki.issued["client"].cert_der


# ---- against the standard library's SSLObject (OpenSSL) ----


@pytest.mark.parametrize("version", [V12, V13])
def test_nss_client_openssl_server(pki, client_context, version):
    client = NSSEnd(client_context(lowest_supported_version=version,
                                   highest_supported_version=version).create_buffer("localhost"))
    server = SSLEnd(_ssl_server_context(pki, SSL_VERSIONS[version]), server_side=True)
    handshake(client, server)
    assert client.buffer.negotiated_tls_version is version
    assert server.obj.version() == version.value
    client.write(b"to openssl")
    pump(client, server)
    assert server.read(100) == b"to openssl"
    server.write(b"to nss")
    pump(client, server)
    assert client.read(100) == b"to nss"


@pytest.mark.parametrize("version", [V12, V13])
def test_openssl_client_nss_server(pki, server_context, version):
    server = NSSEnd(server_context(lowest_supported_version=version,
                                   highest_supported_version=version).create_buffer())
    client = SSLEnd(_ssl_client_context(pki, SSL_VERSIONS[version]), server_side=False,
                    hostname="localhost")
    handshake(client, server)
    assert server.buffer.negotiated_tls_version is version
    assert client.obj.version() == version.value
    assert client.obj.cipher()[0]
    client.write(b"to nss")
    pump(client, server)
    assert server.read(100) == b"to nss"
    server.write(b"to openssl")
    pump(client, server)
    assert client.read(100) == b"to openssl"


def test_large_transfer_in_odd_chunks(nss_pair):
    """64 MiB of random data, written and read in odd sizes, arrives exact."""
    client, server = nss_pair()
    handshake(client, server)
    payload = os.urandom(64 << 20)
    view = memoryview(payload)
    sent = 0
    received = bytearray()
    target = bytearray(70001)
    write_sizes = [1, 17, 999, 16383, 16385, 65537, 131071, 1 << 20]
    i = 0
    while len(received) < len(payload):
        if sent < len(payload):
            try:
                sent += client.buffer.write(view[sent:sent + write_sizes[i % len(write_sizes)]])
            except tls.WantWriteError:
                pass
            i += 1
        data = client.buffer.process_outgoing(77777)
        if data:
            try:
                server.buffer.process_incoming(data)
            except tls.WantReadError:
                # Full: hand the bytes back to the client's side of the
                # pump by reading first, then retry.
                while True:
                    try:
                        n = server.buffer.read(len(target), target)
                    except tls.WantReadError:
                        break
                    received += target[:n]
                server.buffer.process_incoming(data)
        while True:
            try:
                n = server.buffer.read(len(target), target)
            except tls.WantReadError:
                break
            received += target[:n]
    assert bytes(received) == payload


# ---- the Want* contract ----


def test_want_read_before_data_arrives(nss_pair):
    client, server = nss_pair()
    with pytest.raises(tls.WantReadError):
        client.buffer.do_handshake()
    assert client.buffer.outgoing_bytes_buffered() > 0  # the ClientHello
    with pytest.raises(tls.WantReadError):
        server.buffer.read(10)
    handshake(client, server)
    with pytest.raises(tls.WantReadError):
        client.buffer.read(10)


def test_write_raises_want_write_when_outgoing_is_full(nss_pair):
    client, server = nss_pair()
    handshake(client, server)
    chunk = b"x" * 65536
    written = 0
    with pytest.raises(tls.WantWriteError):
        for _ in range(100):
            written += client.buffer.write(chunk)
    assert written >= 1 << 19
    buffered = client.buffer.outgoing_bytes_buffered()
    assert buffered <= (1 << 20) + 17 * 1024
    client.buffer.process_outgoing(buffered)
    assert client.buffer.write(chunk) > 0  # room again


def test_process_incoming_refuses_past_the_limit(nss_pair):
    client, server = nss_pair()
    handshake(client, server)
    server.buffer.process_incoming(b"\x17" * (1 << 19))
    before = server.buffer.incoming_bytes_buffered()
    with pytest.raises(tls.WantReadError):
        server.buffer.process_incoming(b"\x17" * (1 << 20))
    assert server.buffer.incoming_bytes_buffered() == before  # stored nothing


def test_process_outgoing_takes_at_most_what_is_asked(nss_pair):
    client, server = nss_pair()
    with pytest.raises(tls.WantReadError):
        client.buffer.do_handshake()
    total = client.buffer.outgoing_bytes_buffered()
    first = client.buffer.process_outgoing(10)
    assert len(first) == 10 and client.buffer.outgoing_bytes_buffered() == total - 10
    assert client.buffer.process_outgoing(0) == b""
    rest = client.buffer.process_outgoing(1 << 30)
    assert len(rest) == total - 10 and client.buffer.outgoing_bytes_buffered() == 0


# ---- end of stream ----


def test_shutdown_started_by_the_client(nss_pair):
    client, server = nss_pair()
    handshake(client, server)
    with pytest.raises(tls.WantReadError):
        client.buffer.shutdown()
    pump(client, server)
    assert server.buffer.read(10) == b""  # the client's close_notify
    assert server.buffer.read(10) == b""  # for ever
    server.buffer.shutdown()  # answers; complete at once
    pump(client, server)
    client.buffer.shutdown()  # now complete
    assert client.buffer.read(10) == b""


def test_shutdown_started_by_the_server(nss_pair):
    client, server = nss_pair()
    handshake(client, server)
    server.buffer.write(b"last words")
    with pytest.raises(tls.WantReadError):
        server.buffer.shutdown()
    pump(client, server)
    assert client.buffer.read(100) == b"last words"
    assert client.buffer.read(100) == b""
    client.buffer.shutdown()
    pump(client, server)
    server.buffer.shutdown()


def test_shutdown_against_openssl(pki, client_context):
    client = NSSEnd(client_context().create_buffer("localhost"))
    server = SSLEnd(_ssl_server_context(pki), server_side=True)
    handshake(client, server)
    with pytest.raises(tls.WantReadError):
        client.buffer.shutdown()
    pump(client, server)
    server.obj.unwrap()  # OpenSSL sees our close_notify and answers
    pump(client, server)
    client.buffer.shutdown()


def test_transport_eof_without_close_notify_is_ragged(nss_pair):
    client, server = nss_pair()
    handshake(client, server)
    client.buffer.process_incoming(b"")  # the network's EOF
    with pytest.raises(tls.RaggedEOF):
        client.buffer.read(10)
    with pytest.raises(tls.RaggedEOF):
        client.buffer.shutdown()


def test_methods_after_shutdown(nss_pair):
    client, server = nss_pair()
    handshake(client, server)
    with pytest.raises(tls.WantReadError):
        client.buffer.shutdown()
    with pytest.raises(tls.TLSError) as info:
        client.buffer.write(b"more")
    assert "shut down" in str(info.value)
    pump(client, server)
    server.buffer.read(1)
    server.buffer.shutdown()
    pump(client, server)
    client.buffer.shutdown()
    client.buffer.shutdown()  # again: still complete
    assert client.buffer.read(5) == b""
    assert client.buffer.cipher() is not None


# ---- reading into caller buffers ----


@pytest.mark.parametrize("kind", ["bytearray", "memoryview"])
def test_read_into_a_buffer(nss_pair, kind):
    client, server = nss_pair()
    handshake(client, server)
    client.buffer.write(b"0123456789")
    pump(client, server)
    storage = bytearray(32)
    target = storage if kind == "bytearray" else memoryview(storage)[4:]
    n = server.buffer.read(6, target)
    assert n == 6
    start = 0 if kind == "bytearray" else 4
    assert bytes(storage[start:start + 6]) == b"012345"
    assert server.buffer.read(100, buffer=bytearray(100)) == 4
    with pytest.raises(TypeError):
        server.buffer.read(4, b"read-only")


def test_a_read_larger_than_a_record_returns_the_whole_record(nss_pair):
    # NSS hands out one record per read, and a read's bytes are allocated
    # no larger than a record: a full record must still come whole.
    client, server = nss_pair()
    handshake(client, server)
    message = os.urandom(3 * 16384 + 100)
    client.buffer.write(message)
    pump(client, server)
    reads = []
    while sum(map(len, reads)) < len(message):
        reads.append(server.buffer.read(1 << 20))
    assert b"".join(reads) == message
    assert [len(r) for r in reads] == [16384, 16384, 16384, 100]


# ---- bad input ----


@pytest.mark.parametrize("garbage", [b"\x16\x03\x01\x00\x05hello", os.urandom(4096),
                                     b"GET / HTTP/1.1\r\n\r\n"])
def test_garbage_is_a_tls_error(nss_pair, garbage):
    client, server = nss_pair()
    server.buffer.process_incoming(garbage)
    server.buffer.process_incoming(b"")  # and the network's EOF: no more is coming
    with pytest.raises(tls.TLSError) as info:
        server.buffer.do_handshake()
    assert not isinstance(info.value, (tls.WantReadError, tls.WantWriteError))


def test_garbage_after_the_handshake(nss_pair):
    client, server = nss_pair()
    handshake(client, server)
    server.buffer.process_incoming(b"\x17\x03\x03\x00\x20" + b"\x00" * 32)
    with pytest.raises(tls.TLSError) as info:
        server.buffer.read(100)
    assert not isinstance(info.value, (tls.WantReadError, tls.WantWriteError))


def test_buffer_type_cannot_be_constructed():
    with pytest.raises(TypeError):
        tls.NSSTLSBuffer()


def test_bad_arguments(nss_pair):
    client, server = nss_pair()
    with pytest.raises(TypeError):
        client.buffer.write("text")
    with pytest.raises(ValueError):
        client.buffer.read(-1)
    with pytest.raises(ValueError):
        client.buffer.process_outgoing(-1)
    with pytest.raises(TypeError):
        client.buffer.process_incoming("text")
    with pytest.raises(TypeError):
        tls.NSS_IMPLEMENTATION.client_context(tls.TLSClientConfiguration()).create_buffer(None)
