"""NSS client and server contexts.

A context reads its configuration once, here, into plain values, and hands
them to ``_nss.Context``, which builds the NSS model socket that every
connection of the context is imported from.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from typing import Any

from . import _nss, _pem, tokens
from .policy import VERSION_NAMES, EffectivePolicy, effective_policy
from ._api import (
    CipherSuite,
    NextProtocol,
    TLSClientConfiguration,
    TLSImplementation,
    TLSServerConfiguration,
)
from ._errors import NSSError, TLSConnectionError, TLSTimeoutError, configuration_error, make

# TLSVersion values as NSS numbers; the open-ended ones are resolved in C
# against what the library and the policy allow.
_LOWEST_ALLOWED = 0
_HIGHEST_ALLOWED = 0xFFFF
_VERSIONS = {
    "MINIMUM_SUPPORTED": _LOWEST_ALLOWED,
    "TLSv1.2": 0x0303,
    "TLSv1.3": 0x0304,
    "MAXIMUM_SUPPORTED": _HIGHEST_ALLOWED,
}


def _version(value: Any, which: str, default: int) -> int:
    if value is None:
        return default
    key = getattr(value, "value", value)
    if key not in _VERSIONS:
        raise configuration_error(
            f"reading {which}", f"{value!r} is not a TLSVersion"
        )
    return _VERSIONS[key]


def _version_range(config: Any) -> tuple[int, int]:
    lowest = _version(config.lowest_supported_version, "lowest_supported_version", _LOWEST_ALLOWED)
    highest = _version(
        config.highest_supported_version, "highest_supported_version", _HIGHEST_ALLOWED
    )
    if lowest != _LOWEST_ALLOWED and highest != _HIGHEST_ALLOWED and lowest > highest:
        raise configuration_error(
            "checking the TLS versions",
            f"the lowest version ({VERSION_NAMES[lowest]}) is above "
            f"the highest ({VERSION_NAMES[highest]})",
        )
    if lowest == _HIGHEST_ALLOWED:
        raise configuration_error(
            "checking the TLS versions", "MAXIMUM_SUPPORTED cannot be the lowest version"
        )
    if highest == _LOWEST_ALLOWED:
        raise configuration_error(
            "checking the TLS versions", "MINIMUM_SUPPORTED cannot be the highest version"
        )
    return lowest, highest


def _cipher_ids(ciphers: Sequence[Any] | None) -> tuple[int, ...] | None:
    """The requested suites as ints; None leaves the choice to the policy."""
    if ciphers is None:
        return None
    ids = []
    for cipher in ciphers:
        value = getattr(cipher, "value", cipher)
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"a cipher suite must be a CipherSuite or an int, not {cipher!r}")
        if not 0 <= value <= 0xFFFF:
            raise configuration_error(
                "reading the cipher suites", f"{value:#x} is not a 16-bit IANA cipher suite id"
            )
        ids.append(value)
    if not ids:
        raise configuration_error("reading the cipher suites", "the list is empty")
    return tuple(ids)


def _alpn_wire(protocols: Sequence[Any] | None) -> bytes:
    """The ALPN protocol list in its wire format: length-prefixed entries."""
    wire = bytearray()
    for protocol in protocols or ():
        name = getattr(protocol, "value", protocol)
        if not isinstance(name, (bytes, bytearray)):
            raise TypeError(f"an inner protocol must be a NextProtocol or bytes, not {protocol!r}")
        if not 1 <= len(name) <= 255:
            raise configuration_error(
                "reading the inner protocols",
                f"{bytes(name)!r} is {len(name)} bytes long; ALPN allows 1 to 255",
            )
        wire.append(len(name))
        wire += name
    return bytes(wire)


def _signing_chain(chain: Any) -> tuple[Any, Any, list[Any]]:
    """A signing chain as _nss.Context takes it: (leaf, key, intermediates).

    A key of None is the key that pairs with the leaf in the leaf's token.
    """
    try:
        certificate, key = chain.leaf
    except (AttributeError, TypeError, ValueError):
        raise TypeError(
            f"a signing chain needs a leaf (Certificate, PrivateKey), not {chain!r}"
        ) from None
    leaf = _pem.certificate_spec(certificate)
    if key is None and leaf[0] != "id":
        raise configuration_error(
            f"loading {leaf[2]}",
            "no private key given; a key is found by pairing only for a certificate "
            "in a token (Certificate.from_id)",
        )
    key_spec = None if key is None else _pem.private_key_spec(key)
    intermediates = [
        _pem.certificate_spec(cert, "chain certificate") for cert in (chain.chain or ())
    ]
    return (leaf, key_spec, intermediates)


def _check_source(obj: Any, what: str) -> None:
    buffer, path, id_ = _pem.source_of(obj)
    if id_ is not None:
        _pem.id_text(obj, what)
        if what == "trust store":
            _check_trust_store_id(_pem.id_text(obj, what) or "")
        return
    if what != "trust store" and buffer is None and path is None:
        raise configuration_error(f"checking the {what}", "it names no buffer or file")


def _check_trust_store_id(text: str) -> None:
    if not (text.startswith("sql:") or text.lower().startswith("pkcs11:")):
        raise configuration_error(
            f"checking the trust store id {text!r}",
            "expected sql:/path/to/nssdb (an NSS database) or a pkcs11: URI",
        )


def _check_policy(config: Any, policy: EffectivePolicy) -> None:
    """Refuse what the crypto policy forbids, naming the policy and the item."""
    lowest, highest = _version_range(config)
    low_allowed, high_allowed = policy.versions
    if lowest != _LOWEST_ALLOWED and lowest < low_allowed:
        raise configuration_error(
            "checking the TLS versions",
            f"{VERSION_NAMES.get(lowest)} is below the minimum "
            f"{VERSION_NAMES.get(low_allowed)} of {policy.describe()}",
        )
    if highest != _HIGHEST_ALLOWED and highest > high_allowed:
        raise configuration_error(
            "checking the TLS versions",
            f"{VERSION_NAMES.get(highest)} is above the maximum "
            f"{VERSION_NAMES.get(high_allowed)} of {policy.describe()}",
        )
    requested = _cipher_ids(config.ciphers)
    if requested is not None:
        implemented = set(_nss.implemented_ciphers())
        allowed = set(policy.cipher_suites)
        forbidden = [c for c in requested if c in implemented and c not in allowed]
        if forbidden:
            names = ", ".join(_suite_name(c) for c in forbidden)
            raise configuration_error(
                "checking the cipher suites", f"{names} forbidden by {policy.describe()}"
            )


def _suite_name(value: int) -> str:
    try:
        return CipherSuite(value).name
    except ValueError:
        return f"{value:#06x}"


def validate_config(config: TLSClientConfiguration | TLSServerConfiguration) -> None:
    """Raise ConfigurationError if this implementation cannot use ``config``.

    Checks the constructors of its certificates, keys and trust store, the
    shape of its versions, ciphers and protocols, and that the system crypto
    policy allows them, without loading files.
    """
    chains = config.certificate_chain
    if chains is not None and hasattr(chains, "leaf"):
        chains = [chains]
    for chain in chains or ():
        try:
            certificate, key = chain.leaf
        except (AttributeError, TypeError, ValueError):
            raise TypeError(f"a signing chain needs a leaf (Certificate, PrivateKey), not {chain!r}") from None
        _check_source(certificate, "certificate")
        if key is not None:
            _check_source(key, "private key")
        elif _pem.source_of(certificate)[2] is None:
            raise configuration_error(
                "checking the signing chain",
                "no private key given; a key is found by pairing only for a "
                "certificate in a token (Certificate.from_id)",
            )
        for cert in chain.chain or ():
            _check_source(cert, "chain certificate")
    if config.trust_store is not None:
        _check_source(config.trust_store, "trust store")
    _version_range(config)
    _cipher_ids(config.ciphers)
    _alpn_wire(config.inner_protocols)
    _check_policy(config, effective_policy())


def _names_a_source(store: Any) -> bool:
    """False for TrustStore.system(), which names no buffer, file or id."""
    return any(part is not None for part in _pem.source_of(store))


def _build_core(config: Any, *, server: bool, verify: bool, check_hostname: bool) -> Any:
    policy = effective_policy()
    validate_config(config)
    lowest, highest = _version_range(config)
    trust_store = config.trust_store
    if server:
        chains = list(config.certificate_chain or ())
        if not chains:
            raise configuration_error(
                "creating a server context", "it needs at least one signing chain"
            )
        signing_chains = [_signing_chain(chain) for chain in chains]
        verify = verify and trust_store is not None
    else:
        chain = config.certificate_chain
        signing_chains = [_signing_chain(chain)] if chain is not None else []

    anchors = trust_id = None
    if verify and trust_store is not None and _names_a_source(trust_store):
        trust_id = _pem.id_text(trust_store, "trust store")
        if trust_id is None:
            anchors = _pem.trust_anchor_ders(trust_store)

    return _nss.Context(
        server=server,
        lowest_version=lowest,
        highest_version=highest,
        ciphers=_cipher_ids(config.ciphers),
        alpn=_alpn_wire(config.inner_protocols),
        signing_chains=signing_chains,
        anchors=anchors,
        verify=verify,
        check_hostname=check_hostname and not server,
        policy=policy.describe(),
        trust_id=trust_id,
        pin_callback=tokens.pin_callback(),
    )


def _transport_error(operation: str, error: OSError) -> NSSError:
    cls = TLSTimeoutError if isinstance(error, socket.timeout) else TLSConnectionError
    return make(cls, f"{operation}: {error}", operation=operation)


def _idna(host: str) -> str:
    """The ASCII form of a host name, as SNI and certificates carry it."""
    try:
        host.encode("ascii")
        return host
    except UnicodeEncodeError:
        return host.encode("idna").decode("ascii")


class NSSClientContext:
    """A PEP 748 client context backed by NSS.

    Immutable: it reads its configuration once, when created.
    """

    __slots__ = ("_configuration", "_core")

    _verify = True
    _check_hostname = True

    def __init__(self, configuration: TLSClientConfiguration) -> None:
        self._configuration = configuration
        self._core = _build_core(
            configuration,
            server=False,
            verify=self._verify,
            check_hostname=self._check_hostname,
        )

    @property
    def configuration(self) -> TLSClientConfiguration:
        return self._configuration

    def connect(self, address: tuple[str | None, int]) -> _nss.NSSTLSSocket:
        """Connect to ``address``, run the handshake and verify the server.

        The host name is sent as SNI and checked against the server's
        certificate (IP addresses against its IP SANs). The socket uses
        ``socket.getdefaulttimeout()``, like socket.socket.
        """
        host, port = address
        if host is None and self._check_hostname:
            raise configuration_error(
                f"connecting to port {port}", "a host name is needed to verify the server"
            )
        hostname = _idna(host) if host is not None else None
        timeout = socket.getdefaulttimeout()
        operation = f"connecting to {host}:{port}"
        try:
            sock = socket.create_connection((hostname, port), timeout=timeout)
        except OSError as e:
            raise _transport_error(operation, e) from e
        return self._core.connect(
            fd=sock.detach(), hostname=hostname, owner=self, timeout=timeout
        )

    def create_buffer(self, server_hostname: str) -> _nss.NSSTLSBuffer:
        """A TLSBuffer for a connection to ``server_hostname``.

        The name is sent as SNI and checked against the server's certificate,
        as with connect().
        """
        if not isinstance(server_hostname, str):
            raise TypeError(f"server_hostname must be str, not {type(server_hostname).__name__}")
        return self._core.buffer(hostname=_idna(server_hostname), owner=self)

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


class NSSServerContext:
    """A PEP 748 server context backed by NSS.

    A configuration with a trust store requires a client certificate and
    verifies it against that store.
    """

    __slots__ = ("_configuration", "_core")

    _verify = True

    def __init__(self, configuration: TLSServerConfiguration) -> None:
        self._configuration = configuration
        self._core = _build_core(
            configuration, server=True, verify=self._verify, check_hostname=False
        )

    @property
    def configuration(self) -> TLSServerConfiguration:
        return self._configuration

    def connect(self, address: tuple[str | None, int]) -> _nss.NSSTLSSocket:
        """A server socket bound to ``address`` and listening.

        A host of None or "" listens on every IPv4 address; port 0 picks a
        free port (see getsockname()).
        """
        host, port = address
        operation = f"listening on {host}:{port}"
        try:
            family = socket.AF_INET
            if host:
                family = socket.getaddrinfo(
                    host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
                )[0][0]
            sock = socket.create_server((host or "", port), family=family)
        except OSError as e:
            raise _transport_error(operation, e) from e
        return self._core.listen(
            fd=sock.detach(), owner=self, timeout=socket.getdefaulttimeout()
        )

    def create_buffer(self) -> _nss.NSSTLSBuffer:
        """A TLSBuffer for one client connection."""
        return self._core.buffer(hostname=None, owner=self)

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


#: The NSS implementation of PEP 748.
NSS_IMPLEMENTATION: TLSImplementation[NSSClientContext, NSSServerContext] = TLSImplementation(
    client_context=NSSClientContext,
    server_context=NSSServerContext,
    validate_config=validate_config,
)

__all__ = [
    "NSSClientContext",
    "NSSServerContext",
    "NSS_IMPLEMENTATION",
    "validate_config",
    "NextProtocol",
]
