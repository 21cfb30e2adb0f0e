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
