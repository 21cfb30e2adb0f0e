"""PKCS#11 tokens: where certificates and keys named by id are found.

``Certificate.from_id``, ``PrivateKey.from_id`` and ``TrustStore.from_id``
take an NSS nickname (``b"label"`` for the NSS database, ``b"token:label"``
for any other token) or an RFC 7512 URI (``b"pkcs11:token=...;object=..."``).
The tokens NSS can reach are:

* every token registered with p11-kit (SoftHSM, OpenSC smart cards, TPM2),
  through p11-kit's proxy module, loaded when NSS starts
  (``TLS_NSS_P11_KIT_PROXY=0`` leaves it out);
* the NSS database named by ``TLS_NSS_DB`` (``sql:/etc/pki/nssdb``), opened
  read-only unless ``TLS_NSS_DB_READ_WRITE=1``;
* modules added with :func:`add_pkcs11_module` before NSS starts.

NSS starts once per process, with the first context (or the first report
of the policy or the tokens); these settings are read then.

PINs come from the id's ``pin-value``/``pin-source``, else from the
callback given to :func:`set_pin_callback`; without either, a token that
needs a login is a ConfigurationError that names it.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional

from . import _nss, _startup
from ._startup import add_pkcs11_module, nss_database

PinCallback = Callable[[str, bool], Optional[str]]

_pin_callback: PinCallback | None = None


def set_pin_callback(callback: PinCallback | None) -> None:
    """Register ``callback(token_name, retry) -> str | None`` for token PINs.

    It is called while a context is being created, on the creating thread,
    when a token needs a login and the id carried no PIN. ``retry`` is True
    when the PIN it gave just before was wrong; it is asked at most twice
    per login, and a callback that cannot ask a person should return None
    then, so a token that counts failures is not locked. Return None to
    give up (a ConfigurationError follows). Exceptions it raises propagate
    from the context's constructor. None removes the callback.
    """
    global _pin_callback
    if callback is not None and not callable(callback):
        raise TypeError(f"the PIN callback must be callable or None, not {callback!r}")
    _pin_callback = callback


def pin_callback() -> PinCallback | None:
    """The callback registered with :func:`set_pin_callback`, or None."""
    return _pin_callback


class Token(NamedTuple):
    """A present PKCS#11 token, as ``python3 -m tls_nss tokens`` lists it."""

    name: str
    manufacturer: str
    model: str
    serial: str
    module: str
    library: str | None
    needs_login: bool
    uri: str | None
    #: Nicknames of the certificates it shows without a login.
    certificates: tuple[str, ...]


def startup() -> dict[str, Any]:
    """Where tokens come from in this process, starting NSS if needed:
    ``{"p11_kit_proxy": library or None, "nss_db": "sql:DIR" or None}``."""
    started = _startup.ensure_started()
    return {"p11_kit_proxy": started.p11_kit_proxy, "nss_db": started.nss_db}


def list_tokens() -> list[Token]:
    """The tokens NSS reaches, after starting it (and the policy) if needed."""
    _startup.ensure_started()
    return [
        Token(
            name=entry["token"],
            manufacturer=entry["manufacturer"].rstrip(" \0"),
            model=entry["model"].rstrip(" \0"),
            serial=entry["serial"].rstrip(" \0"),
            module=entry["module"],
            library=entry["library"],
            needs_login=entry["needs_login"],
            uri=entry["uri"],
            certificates=tuple(entry["certificates"]),
        )
        for entry in _nss.tokens()
    ]


__all__ = [
    "set_pin_callback",
    "pin_callback",
    "add_pkcs11_module",
    "nss_database",
    "startup",
    "list_tokens",
    "Token",
]
