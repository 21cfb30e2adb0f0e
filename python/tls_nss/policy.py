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

The policy is per process: it is applied once, when NSS starts
(tls_nss._startup), before the first context. This module reports it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from . import _nss, _startup
from ._api import CipherSuite
from ._policy_file import (
    POLICY_FILE_VARIABLE,
    SYSTEM_POLICY_FILE,
    PolicyDisabledWarning,
    system_policy_name,
)

__all__ = [
    "EffectivePolicy",
    "cipher_suite_name",
    "PolicyDisabledWarning",
    "effective_policy",
    "POLICY_FILE_VARIABLE",
    "SYSTEM_POLICY_FILE",
]


@dataclass(frozen=True)
class EffectivePolicy:
    """The crypto policy in force in this process.

    Attributes:
        source: the policy file's path (where NSS applied the system policy
            itself, the file it applied), "embedded", "nss-builtin" (NSS
            applied a system policy from a file it does not name) or
            "disabled".
        applied_by: "tls_nss", "nss" (NSS applied the system policy when it
            started, as Fedora's does) or "nobody" (no policy).
        name: the policy's name (e.g. "DEFAULT:NO-SHA1"), where known.
        versions: the lowest and highest TLS version allowed, as NSS numbers
            (0x0303 is TLS 1.2).
        version_names: the same as names ("TLSv1.2"; "0x0301" for versions
            PEP 748 does not name).
        cipher_suites: the suites a connection may use, in NSS's order
            (CipherSuite members, or ints for suites the enum lacks).
        groups: the key exchange groups allowed.
        signature_schemes: the signature schemes allowed.
        minimum_key_sizes: {"RSA": bits, "DH": bits, "DSA": bits}.
        ignored: policy entries this NSS does not know, and skipped.
        fips_mode: whether NSS runs in FIPS mode (NSS_FIPS=1, or the
            kernel's fips_enabled on an NSS built for it, as RHEL's is).

    Suites and groups are those a handshake can use: allowed by the policy
    and available in NSS's token, whose FIPS mode may lack some.
    """

    source: str
    applied_by: str
    name: Union[str, None]
    versions: tuple[int, int]
    version_names: tuple[str, str]
    cipher_suites: tuple[Union[CipherSuite, int], ...]
    groups: tuple[str, ...]
    signature_schemes: tuple[str, ...]
    minimum_key_sizes: dict[str, int] = field(hash=False)
    ignored: tuple[str, ...]
    fips_mode: bool = False

    def describe(self) -> str:
        """How error messages name the policy."""
        name = f'"{self.name}"' if self.name else "(unnamed)"
        if self.source == "embedded":
            return f"the embedded default crypto policy {name}"
        if self.applied_by == "nss":
            where = "" if self.source == "nss-builtin" else f" from {self.source}"
            return f"the system crypto policy {name} (applied by NSS{where})"
        if self.source == "disabled":
            return "no crypto policy (NSS_IGNORE_SYSTEM_POLICY=1)"
        return f"the crypto policy {name} from {self.source}"

    def __str__(self) -> str:
        low, high = self.version_names
        suites = ", ".join(cipher_suite_name(s) for s in self.cipher_suites)
        lines = [
            f"source:            {self.source} (applied by {self.applied_by})",
            f"name:              {self.name or '(unknown)'}",
            f"FIPS mode:         {'yes' if self.fips_mode else 'no'}",
            f"TLS versions:      {low} to {high}",
            f"cipher suites:     {suites or '(none)'}",
            f"groups:            {', '.join(self.groups) or '(none)'}",
            f"signature schemes: {', '.join(self.signature_schemes) or '(none)'}",
            "minimum key sizes: "
            + ", ".join(f"{k} {v}" for k, v in self.minimum_key_sizes.items()),
            f"ignored entries:   {', '.join(self.ignored) or '(none)'}",
        ]
        return "\n".join(lines)


_effective: Union[EffectivePolicy, None] = None


def effective_policy() -> EffectivePolicy:
    """The policy in force, starting NSS under it first if nothing did yet.

    Raises ConfigurationError when the policy cannot be read or applied; the
    process then cannot make contexts either.
    """
    global _effective
    if _effective is not None:
        return _effective
    started = _startup.ensure_started()
    source, name = started.policy.source, started.policy.name
    if started.policy_applied_by == "nss":
        source = started.policy_system_file or "nss-builtin"
        name = system_policy_name()
    report = _nss.policy_report()
    low, high = report["versions"]
    low_name, high_name = report["version_names"]
    # Built the same by every thread that gets here first; any one may win.
    _effective = EffectivePolicy(
        source=source,
        applied_by=started.policy_applied_by,
        name=name,
        versions=(low, high),
        version_names=(low_name, high_name),
        cipher_suites=tuple(_suite(s) for s in report["cipher_suites"]),
        groups=tuple(report["groups"]),
        signature_schemes=tuple(report["signature_schemes"]),
        minimum_key_sizes={
            key.split("-")[0]: value for key, value in report["minimum_key_sizes"].items()
        },
        ignored=started.policy_ignored,
        fips_mode=report["fips_mode"],
    )
    return _effective


def cipher_suite_name(suite: Union[CipherSuite, int]) -> str:
    """A suite's IANA name ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"), whether
    or not PEP 748's CipherSuite names it; "0x1234" for one NSS lacks."""
    if isinstance(suite, CipherSuite):
        return suite.name
    return _nss.cipher_suite_name(suite) or f"{suite:#06x}"


def _suite(value: int) -> Union[CipherSuite, int]:
    try:
        return CipherSuite(value)
    except ValueError:
        return value
