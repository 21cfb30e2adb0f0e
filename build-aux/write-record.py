"""Writes the RECORD of an installed dist-info (the wheel format's list of
installed files with their sha256 and size), so that pip and
importlib.metadata can list, verify and uninstall what 'make install' put
in place.

    python3 write-record.py SITE_DIR DIST_INFO_NAME PACKAGE...

Paths in RECORD are relative to SITE_DIR, which already carries any
DESTDIR; the record lists every file under each PACKAGE directory (or the
PACKAGE file itself, such as a .pth) and the dist-info directory, and
itself without a hash, as the format asks.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import sys
from pathlib import Path


def digest(path: Path) -> str:
    raw = hashlib.sha256(path.read_bytes()).digest()
    return "sha256=" + base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def main(site: str, dist_info: str, *packages: str) -> int:
    root = Path(site)
    record = root / dist_info / "RECORD"
    rows = []
    for top in (*packages, dist_info):
        paths = [root / top] if (root / top).is_file() else sorted((root / top).rglob("*"))
        for path in paths:
            if path.is_file() and path != record:
                rows.append((path.relative_to(root).as_posix(), digest(path),
                             str(path.stat().st_size)))
    rows.append((record.relative_to(root).as_posix(), "", ""))
    with open(record, "w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    sys.exit(main(*sys.argv[1:]))
