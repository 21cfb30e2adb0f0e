"""Finding and reading the crypto-policies file that holds NSS's policy.

On Fedora and RHEL the administrator picks a crypto policy with
update-crypto-policies, and crypto-policies writes NSS's part of it to
/etc/crypto-policies/back-ends/nss.config. The policy comes from, in this
order:

1. the file named by the environment variable TLS_NSS_POLICY_FILE;
2. /etc/crypto-policies/back-ends/nss.config, if present;
3. the embedded default, equivalent to Fedora's DEFAULT policy.

NSS_IGNORE_SYSTEM_POLICY=1, NSS's own switch, turns the policy off.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple, Optional

from ._errors import configuration_error

POLICY_FILE_VARIABLE = "TLS_NSS_POLICY_FILE"
SYSTEM_POLICY_FILE = "/etc/crypto-policies/back-ends/nss.config"
SYSTEM_POLICY_NAME_FILE = "/etc/crypto-policies/state/current"
EMBEDDED_POLICY = Path(__file__).with_name("default-policy.config")


class PolicyDisabledWarning(RuntimeWarning):
    """NSS_IGNORE_SYSTEM_POLICY=1 turned the system crypto policy off."""


class PolicySource(NamedTuple):
    """Where this process's policy comes from."""

    #: The file's path, "embedded" or "disabled".
    source: str
    #: The policy's name ("DEFAULT:NO-SHA1"), where known.
    name: Optional[str]
    #: The file to read, or None when the policy is off.
    path: Optional[str]


class PolicyText(NamedTuple):
    """A policy file's policy stanza, as NSS takes it."""

    #: The config= string of the policyOnly module.
    config: str
    #: Its allow= entries, to find those this NSS ignores.
    allow: list[str]


def system_policy_name() -> Optional[str]:
    try:
        return Path(SYSTEM_POLICY_NAME_FILE).read_text().strip() or None
    except OSError:
        return None


def locate() -> PolicySource:
    if os.environ.get("NSS_IGNORE_SYSTEM_POLICY") == "1":
        return PolicySource("disabled", None, None)
    path = os.environ.get(POLICY_FILE_VARIABLE)
    if path:
        # crypto-policies names its files after the policy, + standing for :.
        return PolicySource(path, Path(path).stem.replace("+", ":"), path)
    if os.path.exists(SYSTEM_POLICY_FILE):
        return PolicySource(SYSTEM_POLICY_FILE, system_policy_name(), SYSTEM_POLICY_FILE)
    return PolicySource("embedded", "DEFAULT", str(EMBEDDED_POLICY))


def _stanza_fields(stanza: str, path: str) -> dict[str, str]:
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
    return fields


def parse(text: str, path: str) -> PolicyText:
    """The policyOnly stanza of a crypto-policies NSS file.

    Other stanzas (such as Fedora's p11-kit-proxy module) are not ours to load.
    """
    config = None
    for stanza in text.replace("\r\n", "\n").split("\n\n"):
        fields = _stanza_fields(stanza, path)
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
    return PolicyText(config, allow)


# crypto-policies' files are a few kilobytes.
_LARGEST_POLICY_FILE = 1 << 20


def read(path: str) -> PolicyText:
    operation = f"reading crypto policy file {path}"
    try:
        with open(path, "rb") as f:
            data = f.read(_LARGEST_POLICY_FILE + 1)
    except OSError as e:
        raise configuration_error(operation, e.strerror or str(e)) from e
    except ValueError as e:  # a path with a NUL character
        raise configuration_error(operation, str(e)) from None
    if len(data) > _LARGEST_POLICY_FILE:
        raise configuration_error(operation, f"it is larger than {_LARGEST_POLICY_FILE} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise configuration_error(operation, "it is not text") from None
    if any(c < " " and c not in "\t\r\n" for c in text):
        raise configuration_error(operation, "it is not text (it holds control characters)")
    return parse(text, path)
