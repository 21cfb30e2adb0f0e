"""The installed tree, as 'make install' lays it out."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import tls_nss


def _site() -> Path:
    site = os.environ.get("TLS_NSS_STAGED_SITE")
    if not site:
        pytest.skip("run through 'make check', which stages an install")
    return Path(site)


def test_package_and_extension_share_one_directory():
    package = _site() / "tls_nss"
    assert Path(tls_nss.__file__).parent == package
    assert (package / "__init__.py").is_file()
    import sysconfig

    # The extension, and the stub that types it.
    installed = sorted(p.name for p in package.iterdir() if p.name.startswith("_nss"))
    assert installed == sorted(["_nss" + sysconfig.get_config_var("EXT_SUFFIX"), "_nss.pyi"])


def test_no_libtool_archive_is_installed():
    assert not list(_site().rglob("*.la"))


def test_dist_info_is_installed():
    dist_info = _site() / f"tls_nss-{tls_nss.__version__}.dist-info"
    metadata = (dist_info / "METADATA").read_text()
    assert "Name: tls-nss" in metadata
    assert f"Version: {tls_nss.__version__}" in metadata


def test_record_lists_every_installed_file_with_its_hash():
    """RECORD, as pip reads it: every file of the package and the
    dist-info, each with its sha256 and size, and itself without."""
    import base64
    import csv
    import hashlib

    site = _site()
    dist_info = site / f"tls_nss-{tls_nss.__version__}.dist-info"
    with open(dist_info / "RECORD", newline="") as f:
        rows = {path: (digest, size) for path, digest, size in csv.reader(f)}
    installed = {p.relative_to(site).as_posix()
                 for top in (site / "tls_nss", dist_info) for p in top.rglob("*") if p.is_file()}
    installed.add("tls_nss-inject.pth")
    assert set(rows) == installed
    assert rows[f"{dist_info.name}/RECORD"] == ("", "")
    extension = next(p for p in rows if p.startswith("tls_nss/_nss") and p.endswith(".so"))
    for path, (digest, size) in rows.items():
        if path.endswith("/RECORD"):
            continue
        data = (site / path).read_bytes()
        expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
        assert digest == "sha256=" + expected.decode() and int(size) == len(data), path
    assert extension in rows


def test_importlib_metadata_sees_the_installed_files():
    import importlib.metadata

    files = importlib.metadata.files("tls-nss")
    assert files is not None
    names = {f.as_posix() for f in files}
    assert "tls_nss/__init__.py" in names and "tls_nss/_version.py" in names
    assert all(f.hash is None or f.hash.mode == "sha256" for f in files)
    meta = importlib.metadata.metadata("tls-nss")
    assert meta["License"] == "MPL-2.0" and meta["Home-page"].startswith("https://")
    assert "Programming Language :: Python :: 3.9" in meta.get_all("Classifier")


def test_pip_lists_the_files():
    import subprocess
    import sys

    site = _site()
    done = subprocess.run([sys.executable, "-m", "pip", "show", "-f", "tls-nss"],
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(site)})
    if "No module named pip" in done.stderr:
        pytest.skip("pip is not installed")
    assert done.returncode == 0, done.stderr
    assert f"Location: {site}" in done.stdout
    assert "  tls_nss/_context.py" in done.stdout and "License: MPL-2.0" in done.stdout
