"""inject_into_ssl() and extract_from_ssl(): every ssl.SSLContext a program
makes, NSS's.

Injection rebinds ssl.SSLContext, which ssl.create_default_context(),
ssl._create_unverified_context() and through them http.client, urllib,
smtplib, imaplib, poplib and ftplib make their contexts from, to
tls_nss.SSLContext. What it takes care of, having seen it go wrong for
others that replace the class:

- ssl.py's property setters reach their base through the module's global
  name (``super(SSLContext, SSLContext)``), which injection rebinds, so
  contexts made before injection would recurse for ever. Those setters
  are replaced, while injected, by ones that go to _ssl's type directly.
- Modules that imported the class by name before injection (urllib3's
  ``from ssl import SSLContext``) keep the old one: every loaded module
  whose ``SSLContext`` is ssl's is pointed at ours too, and back again.
- Contexts made before injection stay OpenSSL's, and keep working.
"""

from __future__ import annotations

import ssl
import sys
import threading
from typing import Any

from ._ssl_context import _ORIGINAL_SSLCONTEXT, _OpenSSLBase, SSLContext

_lock = threading.Lock()
_rebound: list[tuple[Any, str]] = []  # (module, attribute) pointed at ours
_replaced_properties: dict[str, property] = {}

# The properties of ssl.SSLContext that reach _ssl's type through the name
# ssl.SSLContext, with the enum each getter wraps its value in.
_PROPERTIES = {
    "options": ssl.Options,
    "verify_flags": ssl.VerifyFlags,
    "verify_mode": ssl.VerifyMode,
    "minimum_version": ssl.TLSVersion,
    "maximum_version": ssl.TLSVersion,
}


def _direct_property(name: str, wrap: Any) -> property:
    descriptor = getattr(_OpenSSLBase, name)

    def get(self: Any) -> Any:
        return wrap(descriptor.__get__(self))

    def set_(self: Any, value: Any) -> None:
        descriptor.__set__(self, value)

    return property(get, set_, doc=getattr(_ORIGINAL_SSLCONTEXT, name).__doc__)


def is_injected() -> bool:
    return ssl.SSLContext is SSLContext


def inject_into_ssl() -> None:
    """Make ssl.SSLContext, and what the standard library builds on it,
    NSS's for this process, until extract_from_ssl()."""
    with _lock:
        if is_injected():
            return
        for name, wrap in _PROPERTIES.items():
            if name in vars(_ORIGINAL_SSLCONTEXT):
                _replaced_properties[name] = vars(_ORIGINAL_SSLCONTEXT)[name]
                setattr(_ORIGINAL_SSLCONTEXT, name, _direct_property(name, wrap))
        for module in list(sys.modules.values()):
            if module is None or module is ssl:
                continue
            try:
                holds_it = vars(module).get("SSLContext") is _ORIGINAL_SSLCONTEXT
            except TypeError:
                continue
            if holds_it:
                setattr(module, "SSLContext", SSLContext)
                _rebound.append((module, "SSLContext"))
        ssl.SSLContext = SSLContext  # type: ignore[misc]


def extract_from_ssl() -> None:
    """Undo inject_into_ssl(); contexts made meanwhile stay NSS's."""
    with _lock:
        if not is_injected():
            return
        ssl.SSLContext = _ORIGINAL_SSLCONTEXT  # type: ignore[misc]
        for module, attribute in _rebound:
            if getattr(module, attribute, None) is SSLContext:
                setattr(module, attribute, _ORIGINAL_SSLCONTEXT)
        _rebound.clear()
        for name, original in _replaced_properties.items():
            setattr(_ORIGINAL_SSLCONTEXT, name, original)
        _replaced_properties.clear()
