"""What the NSS under test can do, asked once of a child process (so that
this one starts NSS only when a test does): whether it runs in FIPS mode,
and the suites and groups its policy and token allow. Tests that cannot
apply skip with a reason derived from these facts, never from a list of
names."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from typing import Any

import pytest

_PROBE = """
import json
from tls_nss.policy import effective_policy
p = effective_policy()
print(json.dumps({"fips_mode": p.fips_mode, "cipher_suites": [int(s) for s in p.cipher_suites],
                  "groups": list(p.groups)}))
"""


@functools.lru_cache(maxsize=None)
def facts() -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-c", _PROBE], check=True, capture_output=True,
                         text=True, timeout=60).stdout
    return json.loads(out)


def fips_mode() -> bool:
    return facts()["fips_mode"]


def _where() -> str:
    return "in FIPS mode" if fips_mode() else "outside FIPS mode"


def skip_in_fips_mode(why: str) -> None:
    """Skips a test of what NSS's FIPS mode cannot give, saying why."""
    if fips_mode():
        pytest.skip(f"NSS is in FIPS mode: {why}")


def skip_outside_fips_mode() -> None:
    if not fips_mode():
        pytest.skip("tests FIPS mode: needs NSS in FIPS mode (NSS_FIPS=1 on an NSS built "
                    "with NSS_FORCE_FIPS, or the kernel's fips_enabled)")


def skip_unless_suite_usable(suite: int) -> None:
    """Skips a test of a suite the policy or the token leaves out."""
    if int(suite) not in facts()["cipher_suites"]:
        pytest.skip(f"the crypto policy {_where()} leaves out {getattr(suite, 'name', suite)}")


def skip_unless_group_usable(group: str) -> None:
    if group not in facts()["groups"]:
        pytest.skip(f"the crypto policy {_where()} leaves out the group {group}")
