"""Exported keying material, channel bindings and verified chains: equal at
both ends, equal to what OpenSSL derives, and refused where they do not
apply."""

from __future__ import annotations

import re

import pytest

import tls_nss as tls
from peers import ThreadedServer, handshake_buffers, need, run_client

LABEL = "EXPORTER-tls_nss-test"


def _exports(conn):
    conn.recv(10)
    result = {
        "ekm": conn.export_keying_material(LABEL, b"context", 48),
        "binding": conn.get_channel_binding(),
        "verified": conn.get_verified_chain(),
    }
    conn.sendall(b"ok")
    return result


@pytest.mark.parametrize("version", [tls.TLSVersion.TLSv1_2, tls.TLSVersion.TLSv1_3])
def test_both_ends_export_the_same_bytes(pki, server_context, client_context, version):
    server = ThreadedServer(server_context("ec", highest_supported_version=version), _exports)
    with client_context(highest_supported_version=version).connect(("localhost", server.port)) as sock:
        sock.sendall(b"go")
        assert sock.recv(10) == b"ok"
        ours = sock.export_keying_material(LABEL, b"context", 48)
        binding = sock.get_channel_binding("tls-exporter")
        other_label = sock.export_keying_material(LABEL + "x", b"context", 48)
        other_context = sock.export_keying_material(LABEL, b"another", 48)
        no_context = sock.export_keying_material(LABEL, None, 48)
    server.join()
    assert not server.errors, server.errors
    theirs = server.results[0]
    assert ours == theirs["ekm"] and len(ours) == 48
    assert binding == theirs["binding"] and len(binding) == 32
    assert len({ours, other_label, other_context, no_context}) == 4
    assert theirs["verified"] is None     # the server asked for no client certificate


def _openssl_keying_material(pki, server, label: str, version: str) -> bytes:
    done = run_client([need("openssl"), "s_client", "-connect", f"127.0.0.1:{server.port}",
                       f"-{version}", "-keymatexport", label, "-keymatexportlen", "32",
                       "-CAfile", str(pki.path("ca.pem")), "-servername", "localhost"],
                      data=b"go")
    found = re.search(rb"Keying material: ([0-9A-F]+)", done.stdout)
    assert found, done.stdout[-2000:]
    return bytes.fromhex(found.group(1).decode())


@pytest.mark.parametrize("version", ["tls1_2", "tls1_3"])
def test_tls_exporter_matches_openssl(pki, server_context, version):
    def binding(conn):
        conn.recv(10)
        return conn.get_channel_binding(), conn.export_keying_material(LABEL, None, 32)

    server = ThreadedServer(server_context("ec"), binding)
    expected = _openssl_keying_material(pki, server, "EXPORTER-Channel-Binding", version)
    server.join()
    assert not server.errors, server.errors
    assert server.results[0][0] == expected

    server = ThreadedServer(server_context("ec"), binding)
    expected = _openssl_keying_material(pki, server, LABEL, version)
    server.join()
    assert server.results[0][1] == expected


def test_what_does_not_apply_is_refused(pki, server_context, client_context):
    buffer = client_context().create_buffer("localhost")
    assert buffer.get_channel_binding() is None
    assert buffer.get_verified_chain() is None
    with pytest.raises(ValueError, match="handshake"):
        buffer.export_keying_material(LABEL, None, 32)

    server = ThreadedServer(server_context("ec"), lambda conn: conn.recv(10))
    with client_context().connect(("localhost", server.port)) as sock:
        with pytest.raises(ValueError, match="TLS 1.3"):
            sock.get_channel_binding("tls-unique")
        with pytest.raises(ValueError, match="unsupported"):
            sock.get_channel_binding("tls-server-end-point")
        with pytest.raises(ValueError, match="length"):
            sock.export_keying_material(LABEL, None, 0)
        with pytest.raises(ValueError, match="label"):
            sock.export_keying_material("", None, 32)
        with pytest.raises(TypeError):
            sock.export_keying_material(LABEL, 5, 32)
        sock.sendall(b"bye")
    server.join()


def test_verified_chain_runs_to_the_anchor(pki, server_context, client_context):
    server = ThreadedServer(server_context("chained"), lambda conn: conn.recv(10))
    with client_context().connect(("localhost", server.port)) as sock:
        verified = sock.get_verified_chain()
        sent = sock.get_unverified_chain()
        sock.sendall(b"bye")
    server.join()
    assert verified[0] == sent[0] == pki.issued["chained"].cert_der
    assert len(verified) == 3          # leaf, intermediate, the test CA
    assert tls.certinfo.describe(verified[-1]).subject == "CN=tls_nss test CA"


def test_server_sees_the_verified_client_chain(pki, server_context, client_context):
    server = ThreadedServer(server_context("ec", trust_store=pki.trust()),
                            lambda conn: (conn.recv(10), conn.get_verified_chain())[1])
    config_chain = pki.signing_chain("client")
    with client_context(certificate_chain=config_chain).connect(("localhost", server.port)) as sock:
        sock.sendall(b"hi")
    server.join()
    assert not server.errors, server.errors
    chain = server.results[0]
    assert chain[0] == pki.issued["client"].cert_der and len(chain) == 2


def test_tls_exporter_on_tls12_needs_the_extended_master_secret(pki, server_context):
    """OpenSSL (through the ssl module) without extended master secret."""
    import socket
    import ssl

    def binding(conn):
        conn.recv(10)
        try:
            return conn.get_channel_binding()
        except ValueError as e:
            return e

    for without_ems in (False, True):
        server = ThreadedServer(server_context("ec"), binding)
        client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        client.load_verify_locations(pki.path("ca.pem"))
        client.maximum_version = ssl.TLSVersion.TLSv1_2
        if without_ems:
            client.options |= 0x1      # SSL_OP_NO_EXTENDED_MASTER_SECRET, OpenSSL 3
        with client.wrap_socket(socket.create_connection(("127.0.0.1", server.port)),
                                server_hostname="localhost") as sock:
            sock.sendall(b"go")
        server.join()
        result = server.results[0]
        if without_ems:
            assert isinstance(result, ValueError) and "extended master secret" in str(result)
        else:
            assert isinstance(result, bytes) and len(result) == 32


@pytest.mark.parametrize("version", [tls.TLSVersion.TLSv1_2, tls.TLSVersion.TLSv1_3])
def test_buffers_export_the_same_bytes(pki, server_context, client_context, version):
    a, b = handshake_buffers(client_context(highest_supported_version=version).create_buffer(
                                 "localhost"),
                             server_context("ec", highest_supported_version=version).create_buffer())
    assert a.negotiated_tls_version == version
    assert a.get_channel_binding() == b.get_channel_binding() != None
    assert a.export_keying_material(LABEL, b"c", 20) == b.export_keying_material(LABEL, b"c", 20)
    assert a.get_verified_chain()[0] == pki.issued["ec"].cert_der


@pytest.mark.parametrize("version", ["tls1_2", "tls1_3"])
def test_our_client_matches_openssl_s_server(pki, client_context, version):
    """openssl s_server -keymatexport prints what it exported for the
    connection; our client's tls-exporter binding is the same bytes."""
    from peers import openssl_server

    server = openssl_server(pki, "ec", rev=False, args=[
        f"-{version}", "-keymatexport", "EXPORTER-Channel-Binding", "-keymatexportlen", "32"])
    try:
        with client_context().connect(("localhost", server.port)) as sock:
            binding = sock.get_channel_binding()
            sock.sendall(b"x\n")
            # s_server reports once it has read the client's Finished.
            sock.settimeout(1)
            try:
                sock.recv(10)
            except tls.TLSError:
                pass
    finally:
        output = server.output()
    found = re.search(r"Keying material: ([0-9A-F]+)", output)
    assert found, output[-2000:]
    assert binding == bytes.fromhex(found.group(1))
