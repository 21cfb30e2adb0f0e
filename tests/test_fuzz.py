"""A bounded pass of tests/fuzz.py: every target, a few hundred inputs
each, after every saved regression input. `make fuzz` runs longer."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
CASES = int(os.environ.get("TLS_NSS_FUZZ_CASES", "300"))


def test_fuzz_targets_end_in_success_or_a_tls_error(tmp_path):
    result = subprocess.run(
        [sys.executable, str(HERE / "fuzz.py"), "--cases", str(CASES), "--work", str(tmp_path)],
        capture_output=True, text=True, timeout=600)
    crashed = sorted(tmp_path.glob("*.current"))
    kept = []
    for current in crashed:
        # The input a crash left behind becomes a regression input.
        folder = HERE / "fuzz-regressions" / current.stem
        folder.mkdir(parents=True, exist_ok=True)
        kept.append(shutil.copy(current, folder / f"crash-{os.getpid()}"))
    assert result.returncode == 0 and not crashed, (
        f"exit {result.returncode}; crash inputs kept as {kept}\n"
        f"{result.stdout}\n{result.stderr[-4000:]}")
    assert "findings" in result.stdout
