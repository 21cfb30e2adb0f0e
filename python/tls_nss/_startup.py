"""NSS start-up: the one place that starts NSS in this process.

NSS starts once per process, with the first context (or the first report
of the policy or the tokens). What it starts with is read then: the crypto
policy file, the NSS database (TLS_NSS_DB, read-only unless
TLS_NSS_DB_READ_WRITE=1), p11-kit's proxy (unless TLS_NSS_P11_KIT_PROXY=0)
and the modules added with :func:`add_pkcs11_module` before.
"""

from __future__ import annotations

import os
import threading
import warnings
from typing import NamedTuple, Optional

from . import _nss, _policy_file
from ._errors import NSSConfigurationError, NSSError, configuration_error, make


class Startup(NamedTuple):
    """What NSS started with in this process, and what became of the policy."""

    policy: _policy_file.PolicySource
    #: "tls_nss" (applied by us), "nss" (NSS applied the system's itself)
    #: or "nobody" (the policy is off).
    policy_applied_by: str
    #: Policy entries this NSS does not know, and skipped.
    policy_ignored: tuple[str, ...]
    #: The file an NSS built with a system policy applied itself, if known.
    policy_system_file: Optional[str]
    #: p11-kit's proxy module, if it was loaded.
    p11_kit_proxy: Optional[str]
    #: The NSS database, "sql:DIR", if one was opened.
    nss_db: Optional[str]


_lock = threading.Lock()
_extra_modules: list[tuple[str, str]] = []
_startup: Optional[Startup] = None


def add_pkcs11_module(library: str | os.PathLike[str], name: str | None = None) -> None:
    """Make the tokens of the PKCS#11 module ``library`` reachable.

    Must be called before NSS starts in this process (before the first
    context); afterwards it raises ConfigurationError. Modules registered
    with p11-kit need no call: p11-kit's proxy reaches them.
    """
    path = os.fsdecode(os.fspath(library))
    operation = f"adding the PKCS#11 module {path}"
    if not os.path.isabs(path):
        raise configuration_error(operation, "give the library's absolute path")
    if not os.path.isfile(path):
        raise configuration_error(operation, "no such file")
    label = name if name is not None else os.path.basename(path)
    if '"' in path or '"' in label:
        raise configuration_error(operation, "quotes in its name or path are not supported")
    with _lock:
        if _startup is not None or _nss.is_initialized():
            raise configuration_error(
                operation,
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


def ensure_started() -> Startup:
    """Start NSS under the crypto policy, once; what it started with.

    Raises ConfigurationError when the policy cannot be read or applied, or
    the database cannot be opened; the process then cannot make contexts.
    """
    global _startup
    with _lock:
        if _startup is not None:
            return _startup
        located = _policy_file.locate()
        text = _policy_file.read(located.path) if located.path else None
        if located.source == "disabled":
            warnings.warn(
                "NSS_IGNORE_SYSTEM_POLICY=1: the system crypto policy is OFF; "
                "this is for debugging only",
                _policy_file.PolicyDisabledWarning,
                stacklevel=3,
            )
        try:
            outcome = _nss.initialize(
                text.config if text else None,
                text.allow if text else [],
                nss_db=nss_database(),
                read_write=os.environ.get("TLS_NSS_DB_READ_WRITE") == "1",
                modules=list(_extra_modules),
                p11_kit_proxy=os.environ.get("TLS_NSS_P11_KIT_PROXY") != "0",
                # A policy file asked for by name replaces the system's, on
                # an NSS that applies the system's itself; it must never be
                # silently ignored.
                replace_system_policy=located.path is not None
                and located.source != _policy_file.SYSTEM_POLICY_FILE
                and located.source != "embedded",
            )
        except NSSError as e:
            operation = f"starting NSS under the crypto policy from {located.path}"
            raise make(NSSConfigurationError, f"{operation}: {e}", operation=operation,
                       code=e.nss_code, name=e.nss_name, text=e.nss_text) from e
        _startup = Startup(
            policy=located,
            policy_applied_by=outcome["applied_by"],
            policy_ignored=tuple(outcome["ignored"]),
            policy_system_file=outcome["system_file"],
            p11_kit_proxy=outcome["p11_kit_proxy"],
            nss_db=outcome["nss_db"],
        )
        return _startup
