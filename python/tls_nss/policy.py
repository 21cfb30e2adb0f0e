"""The system crypto policy: where it comes from, and what it allows.

On Fedora and RHEL the administrator picks a crypto policy with
update-crypto-policies, and crypto-policies writes NSS's part of it to
/etc/crypto-policies/back-ends/nss.config. This package follows that policy
on every distribution: it supplies the defaults, and nothing a configuration
asks for may go beyond it. The policy comes from, in this order:

1. the file named by the environment variable TLS_NSS_POLICY_FILE;
2. /etc/crypto-policies/back-ends/nss.config, if present;
3. the embedded default, equivalent to Fedora's DEFAULT policy.

Where NSS applied the system policy itself when it started (Fedora's NSS
does), that one is in force and is not applied again. NSS_IGNORE_SYSTEM_POLICY=1,
NSS's own switch, turns the policy off, for debugging only, with a warning.

The policy is per process: it is applied once, before the first context.
"""

from __future__ import annotations

import os
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

from . import _nss, tokens
from ._api import CipherSuite
from ._errors import NSSConfigurationError, NSSError, configuration_error, make

__all__ = [
    "EffectivePolicy",
    "PolicyDisabledWarning",
    "effective_policy",
    "POLICY_FILE_VARIABLE",
    "SYSTEM_POLICY_FILE",
]

POLICY_FILE_VARIABLE = "TLS_NSS_POLICY_FILE"
SYSTEM_POLICY_FILE = "/etc/crypto-policies/back-ends/nss.config"
_SYSTEM_POLICY_NAME = "/etc/crypto-policies/state/current"
_EMBEDDED_POLICY = Path(__file__).with_name("default-policy.config")

VERSION_NAMES = {0x0300: "SSLv3", 0x0301: "TLSv1.0", 0x0302: "TLSv1.1", 0x0303: "TLSv1.2",
                 0x0304: "TLSv1.3"}


class PolicyDisabledWarning(RuntimeWarning):
    """NSS_IGNORE_SYSTEM_POLICY=1 turned the system crypto policy off."""


@dataclass(frozen=True)
class EffectivePolicy:
    """The crypto policy in force in this process.

    Attributes:
        source: the policy file's path, "embedded", "nss-builtin" (NSS
            applied the system policy itself) or "disabled".
        name: the policy's name (e.g. "DEFAULT:NO-SHA1"), where known.
        versions: the lowest and highest TLS version allowed, as NSS numbers
            (0x0303 is TLS 1.2); see version_names.
        cipher_suites: the suites a connection may use, in NSS's order
            (CipherSuite members, or ints for suites the enum lacks).
        groups: the key exchange groups allowed.
        signature_schemes: the signature schemes allowed.
        minimum_key_sizes: {"RSA": bits, "DH": bits, "DSA": bits}.
        ignored: policy entries this NSS does not know, and skipped.
    """

    source: str
    name: Union[str, None]
    versions: tuple[int, int]
    cipher_suites: tuple[Union[CipherSuite, int], ...]
    groups: tuple[str, ...]
    signature_schemes: tuple[str, ...]
    minimum_key_sizes: dict[str, int] = field(hash=False)
    ignored: tuple[str, ...]

    @property
    def version_names(self) -> tuple[str, str]:
        return tuple(VERSION_NAMES.get(v, f"{v:#06x}") for v in self.versions)  # type: ignore[return-value]

    def describe(self) -> str:
        """How error messages name the policy."""
        name = f'"{self.name}"' if self.name else "(unnamed)"
        if self.source == "embedded":
            return f"the embedded default crypto policy {name}"
        if self.source == "nss-builtin":
            return f"the system crypto policy {name} (applied by NSS)"
        if self.source == "disabled":
            return "no crypto policy (NSS_IGNORE_SYSTEM_POLICY=1)"
        return f"the crypto policy {name} from {self.source}"

    def __str__(self) -> str:
        def names(suites):
            return ", ".join(getattr(s, "name", f"{s:#06x}") for s in suites) or "(none)"

        low, high = self.version_names
        lines = [
            f"source:            {self.source}",
            f"name:              {self.name or '(unknown)'}",
            f"TLS versions:      {low} to {high}",
            f"cipher suites:     {names(self.cipher_suites)}",
            f"groups:            {', '.join(self.groups) or '(none)'}",
            f"signature schemes: {', '.join(self.signature_schemes) or '(none)'}",
            "minimum key sizes: "
            + ", ".join(f"{k} {v}" for k, v in self.minimum_key_sizes.items()),
            f"ignored entries:   {', '.join(self.ignored) or '(none)'}",
        ]
        return "\n".join(lines)


def _policy_stanza(text: str, path: str) -> tuple[str, list[str]]:
    """The config= string of the file's policyOnly stanza, and its allow= entries.

    Other stanzas (such as Fedora's p11-kit-proxy module) are not ours to load.
    """
    config = None
    for stanza in text.replace("\r\n", "\n").split("\n\n"):
        fields = {}
        for line in stanza.splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            key, sep, value = line.partition("=")
            if not sep:
                raise configuration_error(
                    f"reading crypto policy file {path}", f"malformed line {line[:60]!r}"
                )
            fields[key.strip()] = value.strip()
        if "policyOnly" in fields.get("NSS", ""):
            config = fields.get("config", "")
            if len(config) >= 2 and config[0] == config[-1] == '"':
                config = config[1:-1]
    if not config:
        raise configuration_error(
            f"reading crypto policy file {path}",
            'it has no policy stanza (NSS=flags=policyOnly,... with config="...")',
        )
    if '"' in config:
        raise configuration_error(f"reading crypto policy file {path}", "stray quote in config=")
    allow: list[str] = []
    for part in config.split():
        key, _, value = part.partition("=")
        if key.lower() == "allow":
            allow.extend(entry for entry in value.split(":") if entry)
    return config, allow


def _read_policy_file(path: str) -> tuple[str, list[str]]:
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise configuration_error(
            f"reading crypto policy file {path}", e.strerror or str(e)
        ) from e
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise configuration_error(
            f"reading crypto policy file {path}", "it is not text"
        ) from None
    return _policy_stanza(text, path)


def _system_policy_name() -> Union[str, None]:
    try:
        return Path(_SYSTEM_POLICY_NAME).read_text().strip() or None
    except OSError:
        return None


def _locate() -> tuple[str, Union[str, None], Union[str, None]]:
    """(source, name, path to read): where this process's policy comes from."""
    if os.environ.get("NSS_IGNORE_SYSTEM_POLICY") == "1":
        return "disabled", None, None
    path = os.environ.get(POLICY_FILE_VARIABLE)
    if path:
        # crypto-policies names its files after the policy, + standing for :.
        return path, Path(path).stem.replace("+", ":"), path
    if os.path.exists(SYSTEM_POLICY_FILE):
        return SYSTEM_POLICY_FILE, _system_policy_name(), SYSTEM_POLICY_FILE
    return "embedded", "DEFAULT", str(_EMBEDDED_POLICY)


_lock = threading.Lock()
_effective: Union[EffectivePolicy, None] = None


def effective_policy() -> EffectivePolicy:
    """The policy in force, applying it first if no context did yet.

    Raises ConfigurationError when the policy cannot be read or applied; the
    process then cannot make contexts either.
    """
    global _effective
    with _lock:
        if _effective is not None:
            return _effective
        source, name, path = _locate()
        config, allow = (None, []) if path is None else _read_policy_file(path)
        if source == "disabled":
            warnings.warn(
                "NSS_IGNORE_SYSTEM_POLICY=1: the system crypto policy is OFF; "
                "this is for debugging only",
                PolicyDisabledWarning,
                stacklevel=3,
            )
        try:
            outcome = _nss.initialize(config, allow, **tokens.startup_options())
        except NSSError as e:
            operation = f"starting NSS under the crypto policy from {path}"
            raise make(NSSConfigurationError, f"{operation}: {e}", operation=operation,
                       code=e.nss_code, name=e.nss_name, text=e.nss_text) from e
        tokens._startup = {key: outcome[key] for key in ("p11_kit_proxy", "nss_db")}
        if outcome["applied_by"] == "nss":
            source, name = "nss-builtin", _system_policy_name()
        report = _nss.policy_report()
        _effective = EffectivePolicy(
            source=source,
            name=name,
            versions=tuple(report["versions"]),
            cipher_suites=tuple(_suite(s) for s in report["cipher_suites"]),
            groups=tuple(report["groups"]),
            signature_schemes=tuple(report["signature_schemes"]),
            minimum_key_sizes={
                key.split("-")[0]: value for key, value in report["minimum_key_sizes"].items()
            },
            ignored=tuple(outcome["ignored"]),
        )
        return _effective


def _suite(value: int) -> Union[CipherSuite, int]:
    try:
        return CipherSuite(value)
    except ValueError:
        return value
