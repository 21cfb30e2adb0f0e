"""The package's types: mypy --strict over the installed package, stub of
the extension included, so that the NSS contexts, sockets and buffers are
checked against PEP 748's protocols."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import tls_nss


def test_the_package_passes_mypy_strict(tmp_path):
    pytest.importorskip("mypy", reason="python3-mypy is not installed")
    package = Path(tls_nss.__file__).parent
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path / "cache"),
         "-p", "tls_nss"],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "MYPYPATH": str(package.parent)}, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
