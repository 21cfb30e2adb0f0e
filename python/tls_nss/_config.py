"""A configuration read once, into the values that cross into C.

A context reads its configuration here, once: its protocol settings into
:class:`Settings`, and its certificates, keys and trust store into the
sources of :mod:`tls_nss._pem`. C (``_nss.Context``, and
``_nss.check_settings`` for validate_config) is the one place that checks
the settings against NSS and the crypto policy, so what validation
refuses and what NSS gets cannot disagree.

Configurations are read by the PEP's attribute names, never by type, so
another implementation's configuration objects work too.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple, Optional

from . import _pem
from ._errors import configuration_error


class Settings(NamedTuple):
    """What a configuration says about the protocol, unwrapped from the
    PEP's enums. Open ends and defaults are None; C resolves them against
    what NSS and the policy allow."""

    #: TLSVersion values ("TLSv1.2", "MINIMUM_SUPPORTED", ...), or None.
    lowest_version: Optional[str]
    highest_version: Optional[str]
    #: IANA cipher suite ids in order, or None for the policy's choice.
    cipher_suites: Optional[tuple[int, ...]]
    #: ALPN protocol names in order of preference.
    inner_protocols: tuple[bytes, ...]
    #: Clients: answer a server's request for a certificate after the
    #: handshake (the ssl module's post_handshake_auth).
    post_handshake_auth: bool = False


def _version_value(value: Any, which: str) -> Optional[str]:
    if value is None:
        return None
    name = getattr(value, "value", value)
    if not isinstance(name, str):
        raise configuration_error(f"reading {which}", f"{value!r} is not a TLSVersion")
    return name


def _cipher_ids(ciphers: Optional[Iterable[Any]]) -> Optional[tuple[int, ...]]:
    if ciphers is None:
        return None
    ids = []
    for cipher in ciphers:
        value = getattr(cipher, "value", cipher)
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"a cipher suite must be a CipherSuite or an int, not {cipher!r}")
        ids.append(value)
    return tuple(ids)


def _protocol_names(protocols: Optional[Iterable[Any]]) -> tuple[bytes, ...]:
    names = []
    for protocol in protocols or ():
        name = getattr(protocol, "value", protocol)
        if not isinstance(name, (bytes, bytearray)):
            raise TypeError(f"an inner protocol must be a NextProtocol or bytes, not {protocol!r}")
        names.append(bytes(name))
    return tuple(names)


def settings_of(config: Any) -> Settings:
    return Settings(
        lowest_version=_version_value(config.lowest_supported_version, "lowest_supported_version"),
        highest_version=_version_value(
            config.highest_supported_version, "highest_supported_version"
        ),
        cipher_suites=_cipher_ids(config.ciphers),
        inner_protocols=_protocol_names(config.inner_protocols),
    )


def signing_chains(config: Any) -> list[Any]:
    """A configuration's signing chains: a server's list, a client's one."""
    chains = config.certificate_chain
    if chains is None:
        return []
    if hasattr(chains, "leaf"):
        return [chains]
    return list(chains)


def _leaf(chain: Any) -> tuple[Any, Any]:
    try:
        certificate, key = chain.leaf
    except (AttributeError, TypeError, ValueError):
        raise TypeError(
            f"a signing chain needs a leaf (Certificate, PrivateKey), not {chain!r}"
        ) from None
    return certificate, key


def _check_source(obj: Any, what: str) -> None:
    """The shape of a certificate, key or trust store; nothing is read."""
    buffer, path, id_ = _pem.source_of(obj)
    if id_ is not None:
        text = _pem.id_text(obj, what) or ""
        if what == "trust store" and not (
            text.startswith("sql:") or text.lower().startswith("pkcs11:")
        ):
            raise configuration_error(
                f"checking the trust store id {text!r}",
                "expected sql:/path/to/nssdb (an NSS database) or a pkcs11: URI",
            )
        return
    if what != "trust store" and buffer is None and path is None:
        raise configuration_error(f"checking the {what}", "it names no buffer or file")


def check_sources(config: Any) -> None:
    """Refuse certificates, keys and trust stores of the wrong shape."""
    for chain in signing_chains(config):
        certificate, key = _leaf(chain)
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


def chain_source(chain: Any) -> _pem.ChainSource:
    """A signing chain, its files read. A key of None is the one that
    pairs with the leaf in the leaf's token."""
    certificate, key = _leaf(chain)
    return _pem.ChainSource(
        leaf=_pem.certificate_source(certificate),
        key=None if key is None else _pem.key_source(key),
        intermediates=tuple(
            _pem.certificate_source(cert, "chain certificate") for cert in (chain.chain or ())
        ),
    )


def trust_source(store: Any) -> _pem.TrustSource:
    """A trust store, its file read; TrustStore.system() names nothing."""
    if store is None or not any(part is not None for part in _pem.source_of(store)):
        return _pem.TrustSource()
    token_id = _pem.id_text(store, "trust store")
    if token_id is not None:
        return _pem.TrustSource(token_id=token_id)
    return _pem.TrustSource(anchors=_pem.trust_anchor_ders(store))
