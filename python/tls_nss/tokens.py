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

NSS starts once per process, with the first context (or the first call of
``tls_nss.policy.effective_policy()``); these settings are read then.

PINs come from the id's ``pin-value``/``pin-source``, else from the
callback given to :func:`set_pin_callback`; without either, a token that
needs a login is a ConfigurationError that names it.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Callable, NamedTuple, Optional

from . import _nss
from ._errors import configuration_error

PinCallback = Callable[[str, bool], Optional[str]]

_lock = threading.Lock()
_pin_callback: PinCallback | None = None
_extra_modules: list[tuple[str, str]] = []
_started = False
# What NSS started with: {"p11_kit_proxy": library or None, "nss_db": ...}.
_startup: dict[str, Any] = {}


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


def add_pkcs11_module(library: str | os.PathLike[str], name: str | None = None) -> None:
    """Make the tokens of the PKCS#11 module ``library`` reachable.

    Must be called before NSS starts in this process (before the first
    context); afterwards it raises ConfigurationError. Modules registered
    with p11-kit need no call: p11-kit's proxy reaches them.
    """
    path = os.fsdecode(os.fspath(library))
    if not os.path.isabs(path):
        raise configuration_error(
            f"adding the PKCS#11 module {path}", "give the library's absolute path"
        )
    if not os.path.isfile(path):
        raise configuration_error(f"adding the PKCS#11 module {path}", "no such file")
    label = name if name is not None else os.path.basename(path)
    if '"' in path or '"' in label:
        raise configuration_error(
            f"adding the PKCS#11 module {path}", "quotes in its name or path are not supported"
        )
    with _lock:
        if _started or _nss.is_initialized():
            raise configuration_error(
                f"adding the PKCS#11 module {path}",
                "NSS has already started in this process; add modules before "
                "creating the first context",
            )
        if all(existing != path for _, existing in _extra_modules):
            _extra_modules.append((label, path))


def nss_database() -> str | None:
    """The NSS database TLS_NSS_DB names, as NSS spells it (sql:DIR), or None."""
    value = os.environ.get("TLS_NSS_DB", "")
    if not value:
        return None
    return value if value.startswith("sql:") else f"sql:{value}"


def startup_options() -> dict[str, Any]:
    """What NSS starts with: keyword arguments for ``_nss.initialize``."""
    global _started
    with _lock:
        _started = True
        return {
            "nss_db": nss_database(),
            "read_write": os.environ.get("TLS_NSS_DB_READ_WRITE") == "1",
            "modules": list(_extra_modules),
            "p11_kit_proxy": os.environ.get("TLS_NSS_P11_KIT_PROXY") != "0",
        }


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
    """Where tokens come from in this process, once NSS has started:
    ``{"p11_kit_proxy": library or None, "nss_db": "sql:DIR" or None}``."""
    return dict(_startup)


def list_tokens() -> list[Token]:
    """The tokens NSS reaches, after starting it (and the policy) if needed."""
    from .policy import effective_policy

    effective_policy()
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
