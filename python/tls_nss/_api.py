"""PEP 748's implementation-independent types, as the PEP defines them.

Configurations, certificates, keys, trust stores and signing chains hold
what the user gave; nothing here parses or loads anything. The protocol
classes describe what every implementation provides.
"""

from __future__ import annotations

import os
import sys
from abc import abstractmethod
from collections.abc import Callable, Sequence
from enum import Enum, IntEnum
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, Union

if TYPE_CHECKING:  # annotations only
    if sys.version_info >= (3, 12):
        from collections.abc import Buffer
    else:
        Buffer = Union[bytes, bytearray, memoryview]

__all__ = [
    "TLSClientConfiguration",
    "TLSServerConfiguration",
    "ClientContext",
    "ServerContext",
    "TLSSocket",
    "TLSBuffer",
    "CipherSuite",
    "DEFAULT_CIPHER_LIST",
    "NextProtocol",
    "TLSVersion",
    "Certificate",
    "PrivateKey",
    "SigningChain",
    "TrustStore",
    "TLSImplementation",
]


class CipherSuite(IntEnum):
    """
    Known cipher suites.

    See: <https://www.iana.org/assignments/tls-parameters/tls-parameters.xhtml>
    """

    TLS_AES_128_GCM_SHA256 = 0x1301
    TLS_AES_256_GCM_SHA384 = 0x1302
    TLS_CHACHA20_POLY1305_SHA256 = 0x1303
    TLS_AES_128_CCM_SHA256 = 0x1304
    TLS_AES_128_CCM_8_SHA256 = 0x1305
    TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 = 0xC02B
    TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 = 0xC02C
    TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 = 0xC02F
    TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 = 0xC030
    TLS_ECDHE_ECDSA_WITH_AES_128_CCM = 0xC0AC
    TLS_ECDHE_ECDSA_WITH_AES_256_CCM = 0xC0AD
    TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8 = 0xC0AE
    TLS_ECDHE_ECDSA_WITH_AES_256_CCM_8 = 0xC0AF
    TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 = 0xCCA8
    TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 = 0xCCA9


#: The PEP's default: the five TLS 1.3 suites, and the TLS 1.2 suites of the
#: enum that are based on AES-GCM or ChaCha20-Poly1305.
DEFAULT_CIPHER_LIST: list[CipherSuite] = [
    CipherSuite.TLS_AES_128_GCM_SHA256,
    CipherSuite.TLS_AES_256_GCM_SHA384,
    CipherSuite.TLS_CHACHA20_POLY1305_SHA256,
    CipherSuite.TLS_AES_128_CCM_SHA256,
    CipherSuite.TLS_AES_128_CCM_8_SHA256,
    CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    CipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    CipherSuite.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    CipherSuite.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    CipherSuite.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
]


class NextProtocol(Enum):
    """The underlying negotiated ("next") protocol."""

    H2 = b"h2"
    H2C = b"h2c"
    HTTP1 = b"http/1.1"
    WEBRTC = b"webrtc"
    C_WEBRTC = b"c-webrtc"
    FTP = b"ftp"
    STUN = b"stun.nat-discovery"
    TURN = b"stun.turn"


class TLSVersion(Enum):
    """
    TLS versions.

    The `MINIMUM_SUPPORTED` and `MAXIMUM_SUPPORTED` variants are "open ended",
    and refer to the "lowest mutually supported" and "highest mutually supported"
    TLS versions, respectively.
    """

    MINIMUM_SUPPORTED = "MINIMUM_SUPPORTED"
    TLSv1_2 = "TLSv1.2"
    TLSv1_3 = "TLSv1.3"
    MAXIMUM_SUPPORTED = "MAXIMUM_SUPPORTED"


class Certificate:
    """Object representing a certificate used in TLS."""

    __slots__ = (
        "_buffer",
        "_path",
        "_id",
    )

    def __init__(
        self,
        buffer: bytes | None = None,
        path: os.PathLike[str] | None = None,
        id: bytes | None = None,
    ):
        """
        Creates a Certificate object from a path, buffer, or ID.

        If none of these is given, an exception is raised.
        """

        if buffer is None and path is None and id is None:
            raise ValueError("Certificate cannot be empty.")

        self._buffer = buffer
        self._path = path
        self._id = id

    @classmethod
    def from_buffer(cls, buffer: bytes) -> Certificate:
        """
        Creates a Certificate object from a byte buffer, PEM-encoded (with
        the "BEGIN CERTIFICATE" preamble) or DER-encoded.
        """
        return cls(buffer=buffer)

    @classmethod
    def from_file(cls, path: os.PathLike[str]) -> Certificate:
        """
        Creates a Certificate object from a file holding a PEM- or
        DER-encoded certificate.
        """
        return cls(path=path)

    @classmethod
    def from_id(cls, id: bytes) -> Certificate:
        """
        Creates a Certificate object from an arbitrary identifier. This may
        be useful for implementations that rely on system certificate stores.
        """
        return cls(id=id)

    def __repr__(self) -> str:
        return _source_repr(self)


class PrivateKey:
    """Object representing a private key corresponding to a public key
    for a certificate used in TLS."""

    __slots__ = (
        "_buffer",
        "_path",
        "_id",
    )

    def __init__(
        self,
        buffer: bytes | None = None,
        path: os.PathLike[str] | None = None,
        id: bytes | None = None,
    ):
        """
        Creates a PrivateKey object from a path, buffer, or ID.

        If none of these is given, an exception is raised.
        """

        if buffer is None and path is None and id is None:
            raise ValueError("PrivateKey cannot be empty.")

        self._buffer = buffer
        self._path = path
        self._id = id

    @classmethod
    def from_buffer(cls, buffer: bytes) -> PrivateKey:
        """
        Creates a PrivateKey object from a byte buffer, PEM-encoded (with a
        "BEGIN ... PRIVATE KEY" preamble) or DER-encoded.
        """
        return cls(buffer=buffer)

    @classmethod
    def from_file(cls, path: os.PathLike[str]) -> PrivateKey:
        """
        Creates a PrivateKey object from a file holding a PEM- or
        DER-encoded private key.
        """
        return cls(path=path)

    @classmethod
    def from_id(cls, id: bytes) -> PrivateKey:
        """
        Creates a PrivateKey object from an arbitrary identifier. This may
        be useful for implementations that rely on system private key stores.
        """
        return cls(id=id)

    def __repr__(self) -> str:
        # Never show key material.
        if self._buffer is not None:
            return f"<{type(self).__name__} from a {len(self._buffer)}-byte buffer>"
        return _source_repr(self)


class SigningChain:
    """Object representing a certificate chain used in TLS."""

    leaf: tuple[Certificate, PrivateKey | None]
    chain: list[Certificate]

    def __init__(
        self,
        leaf: tuple[Certificate, PrivateKey | None],
        chain: Sequence[Certificate] | None = None,
    ):
        """Initializes a SigningChain object."""
        self.leaf = leaf
        if chain is None:
            chain = []
        self.chain = list(chain)

    def __repr__(self) -> str:
        return f"SigningChain(leaf={self.leaf!r}, chain={self.chain!r})"


class TrustStore:
    """
    The trust store that is used to verify certificate validity.
    """

    __slots__ = (
        "_buffer",
        "_path",
        "_id",
    )

    def __init__(
        self,
        buffer: bytes | None = None,
        path: os.PathLike[str] | None = None,
        id: bytes | None = None,
    ):
        """
        Creates a TrustStore object from a path, buffer, or ID.

        If none of these is given, the default system trust store is used.
        """

        self._buffer = buffer
        self._path = path
        self._id = id

    @classmethod
    def system(cls) -> TrustStore:
        """
        Returns a TrustStore object that represents the system trust
        database.
        """
        return cls()

    @classmethod
    def from_buffer(cls, buffer: bytes) -> TrustStore:
        """
        Initializes a trust store from a buffer of PEM-encoded certificates.
        """
        return cls(buffer=buffer)

    @classmethod
    def from_file(cls, path: os.PathLike[str]) -> TrustStore:
        """
        Initializes a trust store from a single file containing PEMs.
        """
        return cls(path=path)

    @classmethod
    def from_id(cls, id: bytes) -> TrustStore:
        """
        Initializes a trust store from an arbitrary identifier.
        """
        return cls(id=id)

    def __repr__(self) -> str:
        if self._buffer is None and self._path is None and self._id is None:
            return f"{type(self).__name__}.system()"
        return _source_repr(self)


def _source_repr(obj: Certificate | PrivateKey | TrustStore) -> str:
    name = type(obj).__name__
    if obj._path is not None:
        return f"{name}.from_file({obj._path!r})"
    if obj._id is not None:
        return f"{name}.from_id({_masked_id(obj._id)!r})"
    return f"{name}.from_buffer(<{len(obj._buffer or b'')} bytes>)"


def _masked_id(id: Any) -> Any:
    """An id as a repr shows it. Reprs end up in logs and in tracebacks
    with their locals, so a pkcs11: URI's PIN is masked as the extension
    masks it in messages (pkcs11_uri.c; a test holds the two alike):
    every query value but pin-source's, and a pin-value wherever it is."""
    if isinstance(id, str):
        return _masked_id(id.encode("utf-8", "surrogateescape")).decode("utf-8",
                                                                       "surrogateescape")
    if isinstance(id, (bytearray, memoryview)):
        id = bytes(id)
    if not isinstance(id, bytes) or id[:7].lower() != b"pkcs11:":
        return id

    def shown(attribute: bytes, in_query: bool) -> bytes:
        key, equals, _ = attribute.partition(b"=")
        masked = equals and ((in_query and key.lower() != b"pin-source") or
                             key.lower() == b"pin-value")
        return key + b"=***" if masked else attribute

    path, question, query = id[7:].partition(b"?")
    text = id[:7] + b";".join(shown(attribute, False) for attribute in path.split(b";"))
    if question:
        text += b"?" + b"&".join(shown(attribute, True) for attribute in query.split(b"&"))
    return text


class TLSClientConfiguration:
    """
    An immutable TLS Configuration object for a client. It holds the
    certificate chain for client authentication (if any), the cipher suites,
    the protocols to negotiate (ALPN), the version range and the trust store.
    """

    __slots__ = (
        "_certificate_chain",
        "_ciphers",
        "_inner_protocols",
        "_lowest_supported_version",
        "_highest_supported_version",
        "_trust_store",
    )

    def __init__(
        self,
        certificate_chain: SigningChain | None = None,
        ciphers: Sequence[CipherSuite | int] | None = None,
        inner_protocols: Sequence[NextProtocol | bytes] | None = None,
        lowest_supported_version: TLSVersion | None = None,
        highest_supported_version: TLSVersion | None = None,
        trust_store: TrustStore | None = None,
    ) -> None:
        if inner_protocols is None:
            inner_protocols = []

        self._certificate_chain = certificate_chain
        self._ciphers = ciphers
        self._inner_protocols = inner_protocols
        self._lowest_supported_version = lowest_supported_version
        self._highest_supported_version = highest_supported_version
        self._trust_store = trust_store

    @property
    def certificate_chain(self) -> SigningChain | None:
        return self._certificate_chain

    @property
    def ciphers(self) -> Sequence[CipherSuite | int] | None:
        return self._ciphers

    @property
    def inner_protocols(self) -> Sequence[NextProtocol | bytes]:
        return self._inner_protocols

    @property
    def lowest_supported_version(self) -> TLSVersion | None:
        return self._lowest_supported_version

    @property
    def highest_supported_version(self) -> TLSVersion | None:
        return self._highest_supported_version

    @property
    def trust_store(self) -> TrustStore:
        # PEP 748's open revision: the system's trust by default, never None.
        return self._trust_store if self._trust_store is not None else TrustStore.system()


class TLSServerConfiguration:
    """
    An immutable TLS Configuration object for a server: as the client's,
    except that it holds a sequence of signing chains.
    """

    __slots__ = (
        "_certificate_chain",
        "_ciphers",
        "_inner_protocols",
        "_lowest_supported_version",
        "_highest_supported_version",
        "_trust_store",
    )

    def __init__(
        self,
        certificate_chain: Sequence[SigningChain] | None = None,
        ciphers: Sequence[CipherSuite | int] | None = None,
        inner_protocols: Sequence[NextProtocol | bytes] | None = None,
        lowest_supported_version: TLSVersion | None = None,
        highest_supported_version: TLSVersion | None = None,
        trust_store: TrustStore | None = None,
    ) -> None:
        if inner_protocols is None:
            inner_protocols = []
        # PEP 748's open revision requires a server's chains; an empty list
        # is an error in either reading.
        if certificate_chain is not None and len(certificate_chain) == 0:
            raise ValueError("a server's certificate_chain needs at least one SigningChain")

        self._certificate_chain = certificate_chain
        self._ciphers = ciphers
        self._inner_protocols = inner_protocols
        self._lowest_supported_version = lowest_supported_version
        self._highest_supported_version = highest_supported_version
        self._trust_store = trust_store

    @property
    def certificate_chain(self) -> Sequence[SigningChain] | None:
        return self._certificate_chain

    @property
    def ciphers(self) -> Sequence[CipherSuite | int] | None:
        return self._ciphers

    @property
    def inner_protocols(self) -> Sequence[NextProtocol | bytes]:
        return self._inner_protocols

    @property
    def lowest_supported_version(self) -> TLSVersion | None:
        return self._lowest_supported_version

    @property
    def highest_supported_version(self) -> TLSVersion | None:
        return self._highest_supported_version

    @property
    def trust_store(self) -> TrustStore | None:
        return self._trust_store


class TLSShutdownMode(IntEnum):
    """Which directions TLSSocket.shutdown() ends (PEP 748's open
    revision): as socket.SHUT_RD, SHUT_WR and SHUT_RDWR."""

    SHUT_RD = 0
    SHUT_WR = 1
    SHUT_RDWR = 2


class TLSSocket(Protocol):
    """This class implements a socket.socket-like object that creates an OS
    socket, wraps it in an SSL context, and provides read and write methods
    over that channel."""

    @abstractmethod
    def __init__(self, *args: tuple[Any, ...], **kwargs: tuple[Any, ...]) -> None:
        """TLSSockets should not be constructed by the user."""

    @abstractmethod
    def recv(self, bufsize: int) -> bytes:
        """Receive data from the socket."""

    @abstractmethod
    def send(self, bytes: bytes) -> int:
        """Send data to the socket. The socket must be connected to a remote socket."""

    @abstractmethod
    def close(self, force: bool = False) -> None:
        """Shuts down the connection and mark the socket closed."""

    @abstractmethod
    def listen(self, backlog: int) -> None:
        """Enable a server to accept connections."""

    @abstractmethod
    def accept(self) -> tuple[TLSSocket, tuple[str | None, int]]:
        """Accept a connection."""

    @abstractmethod
    def getsockname(self) -> tuple[str | None, int]:
        """Return the local address to which the socket is connected."""

    @abstractmethod
    def getpeercert(self) -> bytes | None:
        """Return the raw DER bytes of the certificate provided by the peer."""

    @abstractmethod
    def getpeername(self) -> tuple[str | None, int]:
        """Return the remote address to which the socket is connected."""

    @property
    @abstractmethod
    def context(self) -> ClientContext | ServerContext:
        """The ``Context`` object this socket is tied to."""

    @abstractmethod
    def cipher(self) -> CipherSuite | int | None:
        """Returns the CipherSuite entry for the cipher that has been negotiated."""

    @abstractmethod
    def negotiated_protocol(self) -> NextProtocol | bytes | None:
        """Returns the protocol that was selected during the TLS handshake."""

    @property
    @abstractmethod
    def negotiated_tls_version(self) -> TLSVersion | None:
        """The version of TLS that has been negotiated on this connection."""


class TLSBuffer(Protocol):
    """This class implements an in memory-channel that creates two buffers,
    wraps them in an SSL context, and provides read and write methods over
    that channel."""

    @abstractmethod
    def read(self, amt: int, buffer: Buffer | None) -> bytes | int:
        """Read up to ``amt`` bytes of data from the input buffer."""

    @abstractmethod
    def write(self, buf: Buffer) -> int:
        """Write ``buf`` in encrypted form to the output buffer."""

    @abstractmethod
    def do_handshake(self) -> None:
        """Performs the TLS handshake, with certificate and hostname verification."""

    @abstractmethod
    def cipher(self) -> CipherSuite | int | None:
        """Returns the CipherSuite entry for the cipher that has been negotiated."""

    @abstractmethod
    def negotiated_protocol(self) -> NextProtocol | bytes | None:
        """Returns the protocol that was selected during the TLS handshake."""

    @property
    @abstractmethod
    def context(self) -> ClientContext | ServerContext:
        """The ``Context`` object this buffer is tied to."""

    @property
    @abstractmethod
    def negotiated_tls_version(self) -> TLSVersion | None:
        """The version of TLS that has been negotiated on this connection."""

    @abstractmethod
    def shutdown(self) -> None:
        """Performs a clean TLS shut down."""

    @abstractmethod
    def process_incoming(self, data_from_network: bytes) -> None:
        """Receives some TLS data from the network and stores it in an internal buffer."""

    @abstractmethod
    def incoming_bytes_buffered(self) -> int:
        """Returns how many bytes are in the incoming buffer waiting to be processed."""

    @abstractmethod
    def process_outgoing(self, amount_bytes_for_network: int) -> bytes:
        """Returns the next ``amt`` bytes of data that should be written to the network."""

    @abstractmethod
    def outgoing_bytes_buffered(self) -> int:
        """Returns how many bytes are in the outgoing buffer waiting to be sent."""

    @abstractmethod
    def getpeercert(self) -> bytes | None:
        """Return the raw DER bytes of the certificate provided by the peer."""


class ClientContext(Protocol):
    @abstractmethod
    def __init__(self, configuration: TLSClientConfiguration) -> None:
        """Create a new client context object from a given TLS client configuration."""

    @property
    @abstractmethod
    def configuration(self) -> TLSClientConfiguration:
        """Returns the TLS client configuration that was used to create the client context."""

    @abstractmethod
    def connect(self, address: tuple[str | None, int]) -> TLSSocket:
        """Creates a TLSSocket connected to ``address``, handshake done."""

    @abstractmethod
    def create_buffer(self, server_hostname: str) -> TLSBuffer:
        """Creates a TLSBuffer that acts as an in-memory channel."""


class ServerContext(Protocol):
    @abstractmethod
    def __init__(self, configuration: TLSServerConfiguration) -> None:
        """Create a new server context object from a given TLS server configuration."""

    @property
    @abstractmethod
    def configuration(self) -> TLSServerConfiguration:
        """Returns the TLS server configuration that was used to create the server context."""

    @abstractmethod
    def connect(self, address: tuple[str | None, int]) -> TLSSocket:
        """Creates a listening TLSSocket bound to ``address``."""

    @abstractmethod
    def create_buffer(self) -> TLSBuffer:
        """Creates a TLSBuffer that acts as an in-memory channel."""


_ClientContext = TypeVar("_ClientContext", bound=ClientContext)
_ServerContext = TypeVar("_ServerContext", bound=ServerContext)


class TLSImplementation(Generic[_ClientContext, _ServerContext]):
    """The entry point to one TLS implementation: its context types, and a
    function that says whether it supports a given configuration."""

    __slots__ = (
        "_client_context",
        "_server_context",
        "_validate_config",
    )

    def __init__(
        self,
        client_context: type[_ClientContext],
        server_context: type[_ServerContext],
        validate_config: Callable[[Union[TLSClientConfiguration, TLSServerConfiguration]], None],
    ) -> None:
        self._client_context = client_context
        self._server_context = server_context
        self._validate_config = validate_config

    @property
    def client_context(self) -> type[_ClientContext]:
        """The concrete implementation of the PEP 748 Client Context object."""
        return self._client_context

    @property
    def server_context(self) -> type[_ServerContext]:
        """The concrete implementation of the PEP 748 Server Context object."""
        return self._server_context

    @property
    def validate_config(
        self,
    ) -> Callable[[Union[TLSClientConfiguration, TLSServerConfiguration]], None]:
        """A function that reveals whether this TLS implementation supports a
        particular TLS configuration."""
        return self._validate_config
