"""The PEP 748 surface: names, shapes, immutability, foreign configuration
objects, the implementation object and the insecure module."""

from __future__ import annotations

import enum
import importlib.metadata
import inspect
import warnings

import pytest
from peers import ThreadedServer, echo_once

import tls_nss as tls

PEP_NAMES = [
    "TLSClientConfiguration", "TLSServerConfiguration", "ClientContext", "ServerContext",
    "TLSSocket", "TLSBuffer", "CipherSuite", "DEFAULT_CIPHER_LIST", "NextProtocol",
    "TLSVersion", "TLSError", "WantWriteError", "WantReadError", "RaggedEOF",
    "ConfigurationError", "Certificate", "PrivateKey", "SigningChain", "TrustStore",
    "TLSImplementation",
]
FIELDS = ["certificate_chain", "ciphers", "inner_protocols", "lowest_supported_version",
          "highest_supported_version", "trust_store"]


@pytest.mark.parametrize("name", PEP_NAMES)
def test_every_pep_name_is_exported(name):
    assert hasattr(tls, name)
    assert name in tls.__all__


@pytest.mark.parametrize("cls", [tls.TLSClientConfiguration, tls.TLSServerConfiguration])
def test_configurations_are_immutable_with_fields_in_pep_order(cls):
    assert list(inspect.signature(cls).parameters) == FIELDS
    assert cls.__slots__ == tuple(f"_{f}" for f in FIELDS)
    config = cls()
    assert config.inner_protocols == []
    for field in FIELDS:
        with pytest.raises(AttributeError):
            setattr(config, field, None)
    with pytest.raises(AttributeError):
        config.extra = 1


def test_errors_hierarchy():
    for name in ["WantWriteError", "WantReadError", "RaggedEOF", "ConfigurationError"]:
        assert issubclass(getattr(tls, name), tls.TLSError)
    assert issubclass(tls.TLSError, Exception)
    assert issubclass(tls.CertificateVerificationError, tls.NSSError)
    assert issubclass(tls.NSSConfigurationError, tls.ConfigurationError)
    assert issubclass(tls.TLSTimeoutError, TimeoutError)


def test_enums_match_the_pep():
    assert tls.CipherSuite.TLS_AES_128_GCM_SHA256 == 0x1301
    assert tls.CipherSuite.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 == 0xCCA9
    assert len(tls.CipherSuite) == 15
    assert tls.NextProtocol.HTTP1.value == b"http/1.1"
    assert [v.value for v in tls.TLSVersion] == ["MINIMUM_SUPPORTED", "TLSv1.2", "TLSv1.3",
                                                  "MAXIMUM_SUPPORTED"]
    for suite in tls.DEFAULT_CIPHER_LIST:
        assert "GCM" in suite.name or "CHACHA20" in suite.name or suite < 0x1400


@pytest.mark.parametrize("cls", [tls.Certificate, tls.PrivateKey])
def test_empty_certificates_and_keys_are_refused(cls):
    with pytest.raises(ValueError):
        cls()


def test_trust_store_constructors():
    assert tls.TrustStore.system()._path is None
    assert tls.TrustStore.from_file("x")._path == "x"
    assert tls.TrustStore.from_buffer(b"x")._buffer == b"x"
    assert tls.TrustStore.from_id(b"x")._id == b"x"
    assert "system" in repr(tls.TrustStore.system())


def test_private_key_repr_hides_key_material():
    assert b"SECRET".decode() not in repr(tls.PrivateKey.from_buffer(b"SECRET"))


def test_signing_chain():
    cert = tls.Certificate.from_buffer(b"x")
    chain = tls.SigningChain((cert, None), (cert,))
    assert chain.leaf == (cert, None) and chain.chain == [cert]
    assert tls.SigningChain((cert, None)).chain == []


def test_implementation_object():
    impl = tls.NSS_IMPLEMENTATION
    assert isinstance(impl, tls.TLSImplementation)
    assert impl.client_context is tls.NSSClientContext
    assert impl.server_context is tls.NSSServerContext
    assert impl.validate_config is tls.validate_config
    assert impl.validate_config(tls.TLSClientConfiguration()) is None


def test_contexts_expose_their_configuration(pki, server_context):
    config = tls.TLSClientConfiguration(trust_store=pki.trust())
    assert tls.NSSClientContext(config).configuration is config
    assert server_context().configuration.certificate_chain


def test_socket_type_cannot_be_constructed():
    with pytest.raises(TypeError):
        tls.NSSTLSSocket()


def test_package_metadata():
    assert importlib.metadata.version("tls-nss") == tls.__version__
    assert tls.nss_version().startswith("3.")


# ---- configuration objects of another PEP 748 implementation ----


class ForeignVersion(enum.Enum):
    MINIMUM_SUPPORTED = "MINIMUM_SUPPORTED"
    TLSv1_2 = "TLSv1.2"
    TLSv1_3 = "TLSv1.3"
    MAXIMUM_SUPPORTED = "MAXIMUM_SUPPORTED"


class ForeignProtocol(enum.Enum):
    H2 = b"h2"


class ForeignSuite(enum.IntEnum):
    TLS_AES_256_GCM_SHA384 = 0x1302


class ForeignSource:
    __slots__ = ("_buffer", "_path", "_id")

    def __init__(self, buffer=None, path=None, id=None):
        self._buffer, self._path, self._id = buffer, path, id


class ForeignChain:
    def __init__(self, leaf, chain=()):
        self.leaf, self.chain = leaf, list(chain)


class ForeignConfig:
    def __init__(self, **fields):
        for field in FIELDS:
            setattr(self, field, fields.get(field))
        self.inner_protocols = self.inner_protocols or []


def test_foreign_configuration_objects_are_accepted(pki):
    server_config = ForeignConfig(
        certificate_chain=[ForeignChain((ForeignSource(path=str(pki.path("rsa.pem"))),
                                         ForeignSource(buffer=pki.path("rsa.key").read_bytes())))],
        inner_protocols=[ForeignProtocol.H2],
        lowest_supported_version=ForeignVersion.TLSv1_3,
    )
    client_config = ForeignConfig(
        trust_store=ForeignSource(path=str(pki.path("ca.pem"))),
        inner_protocols=[ForeignProtocol.H2],
        ciphers=[ForeignSuite.TLS_AES_256_GCM_SHA384],
        highest_supported_version=ForeignVersion.MAXIMUM_SUPPORTED,
    )
    tls.validate_config(server_config)
    tls.validate_config(client_config)
    server = ThreadedServer(tls.NSSServerContext(server_config), echo_once)
    with tls.NSSClientContext(client_config).connect(("localhost", server.port)) as sock:
        sock.sendall(b"foreign")
        assert sock.recv(10) == b"foreign"
        assert sock.negotiated_protocol() is tls.NextProtocol.H2
        assert sock.cipher() is tls.CipherSuite.TLS_AES_256_GCM_SHA384
        assert sock.negotiated_tls_version is tls.TLSVersion.TLSv1_3
    server.join()
    assert not server.errors


# ---- the insecure module ----


def test_insecure_module_warns_at_every_step(pki, server_context):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from tls_nss import insecure

    assert issubclass(insecure.SecurityWarning, Warning)
    with pytest.warns(insecure.SecurityWarning):
        insecure.InsecureTLSImplementation()
    with pytest.warns(insecure.SecurityWarning):
        options = insecure.InsecureConfiguration(disable_verification=True)
    impl = insecure.NSS_INSECURE_IMPLEMENTATION
    assert isinstance(impl, tls.TLSImplementation)
    assert impl.insecure_client_context is insecure.NSSInsecureClientContext
    assert impl.insecure_server_context is insecure.NSSInsecureServerContext
    with pytest.warns(insecure.SecurityWarning):
        ctx = impl.insecure_client_context(tls.TLSClientConfiguration(), options)
    assert ctx.insecure_configuration is options

    # The server's CA is unknown to this client, and it connects anyway.
    server = ThreadedServer(server_context("other"), echo_once)
    with pytest.warns(insecure.SecurityWarning):
        sock = ctx.connect(("localhost", server.port))
    with sock:
        sock.sendall(b"unsafe")
        assert sock.recv(10) == b"unsafe"
    server.join()


def test_insecure_hostname_check_only(pki, server_context):
    from tls_nss import insecure

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", insecure.SecurityWarning)
        options = insecure.InsecureConfiguration(disable_hostname_check=True)
        ctx = insecure.NSSInsecureClientContext(
            tls.TLSClientConfiguration(trust_store=pki.trust()), options)
        # A wrong name is accepted...
        server = ThreadedServer(server_context("wrongname"), echo_once)
        with ctx.connect(("localhost", server.port)) as sock:
            sock.sendall(b"a")
            assert sock.recv(1) == b"a"
        server.join()
        # ...but an unknown CA still is not.
        server = ThreadedServer(server_context("other"), echo_once)
        with pytest.raises(tls.CertificateVerificationError):
            ctx.connect(("localhost", server.port))
        server.join()


def test_a_context_whose_pin_callback_refers_back_to_it_is_collected(pki):
    """The PIN callback a context keeps may be a bound method of the object
    that owns the context: a cycle the garbage collector must see through."""
    import gc
    import weakref

    class Application:
        def __init__(self) -> None:
            tls.set_pin_callback(self.pin)
            try:
                self.context = tls.NSSClientContext(tls.TLSClientConfiguration(
                    trust_store=pki.trust(), certificate_chain=pki.signing_chain("client")))
            finally:
                tls.set_pin_callback(None)

        def pin(self, token: str, retry: bool) -> None:
            return None

    application = Application()
    gone = weakref.ref(application)
    del application
    gc.collect()
    assert gone() is None


def test_the_extension_types_are_immutable():
    import sys

    if sys.version_info < (3, 10):
        pytest.skip("Py_TPFLAGS_IMMUTABLETYPE is Python 3.10's")
    for cls in (tls._nss.Context, tls.NSSTLSSocket, tls.NSSTLSBuffer):
        with pytest.raises(TypeError):
            cls.extra_attribute = 1


def test_insecure_contexts_take_the_same_options_as_secure_ones():
    """The insecure contexts pass every option on to the secure ones, so a
    new option cannot be forgotten in one of them."""
    import inspect

    from tls_nss import insecure

    for secure, unsafe in ((tls.NSSClientContext, insecure.NSSInsecureClientContext),
                           (tls.NSSServerContext, insecure.NSSInsecureServerContext)):
        options = [p for p in inspect.signature(secure.__init__).parameters.values()
                   if p.kind is p.KEYWORD_ONLY]
        assert options, secure
        assert any(p.kind is p.VAR_KEYWORD
                   for p in inspect.signature(unsafe.__init__).parameters.values())


def test_insecure_server_context_takes_crls_and_client_certificate(pki):
    import warnings

    from tls_nss import insecure

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", insecure.SecurityWarning)
        context = insecure.NSSInsecureServerContext(
            tls.TLSServerConfiguration(certificate_chain=[pki.signing_chain("ec")],
                                       trust_store=pki.trust()),
            insecure.InsecureConfiguration(disable_verification=True),
            client_certificate="optional", crls=[], ocsp_responses=[None])
    assert context.insecure_configuration.disable_verification
