"""The recipes of docs/ssl.md, run against real peers: the page shows each
as it is, and each does what the page says."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from peers import TIMEOUT, free_port, need, peer_environment, run_client

RECIPES = Path(__file__).parent.parent / "docs" / "ssl"

# Programs run with python3 -W error must not see a warning from the layer.
pytestmark = pytest.mark.filterwarnings("error")


def _env() -> dict[str, str]:
    return dict(os.environ)


def test_the_page_shows_every_recipe_as_it_is():
    page = (RECIPES.parent / "ssl.md").read_text()
    for path in sorted(RECIPES.glob("*.py")):
        assert path.read_text() in page, f"docs/ssl.md does not show {path.name}"


def test_https_client_against_openssl_www(pki, tmp_path):
    (tmp_path / "page.txt").write_text("served by openssl\n")
    port = free_port()
    server = subprocess.Popen(
        [need("openssl"), "s_server", "-accept", f"127.0.0.1:{port}", "-WWW",
         "-cert", str(pki.path("ec.pem")), "-key", str(pki.path("ec.key"))],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env=peer_environment())
    try:
        from peers import wait_for_port

        wait_for_port(port)
        done = subprocess.run(
            [sys.executable, "-W", "error", str(RECIPES / "https_client.py"), "localhost",
             str(port), "/page.txt", str(pki.path("ca.pem"))],
            capture_output=True, text=True, timeout=TIMEOUT, env=_env())
    finally:
        server.terminate()
        server.wait(TIMEOUT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["TLSv1.3 TLS_AES_128_GCM_SHA256",
                                        "200 served by openssl"]


def _start(argv: list[str], cwd: Path) -> tuple[subprocess.Popen, int]:
    process = subprocess.Popen([sys.executable, "-W", "error", *argv], cwd=cwd, env=_env(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ready = process.stdout.readline().split()
    assert ready[:1] == ["ready"], process.stderr.read() if process.poll() is not None else ready
    return process, int(ready[1])


def _stop(process: subprocess.Popen) -> str:
    process.terminate()
    out, _ = process.communicate(timeout=TIMEOUT)
    return out


def test_https_server_serves_curl_with_a_key_from_a_pem_file(pki, tmp_path):
    (tmp_path / "index.txt").write_text("served over NSS\n")
    server, port = _start([str(RECIPES / "https_server.py"), str(pki.path("rsa.pem")),
                           str(pki.path("rsa.key"))], tmp_path)
    try:
        done = subprocess.run([need("curl"), "--silent", "--show-error", "--cacert",
                               str(pki.path("ca.pem")), f"https://localhost:{port}/index.txt"],
                              capture_output=True, text=True, timeout=TIMEOUT,
                              env=peer_environment())
    finally:
        _stop(server)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "served over NSS\n"


def test_sni_server_gives_each_name_its_site(pki, tmp_path):
    if "a-site" not in pki.issued:
        pki.add("a-site", pki.ca.issue("a.test", key_kind="ec256"))
    server, port = _start([str(RECIPES / "sni_server.py"), str(pki.path("ec.pem")),
                           str(pki.path("ec.key")),
                           f"a.test={pki.path('a-site.pem')},{pki.path('a-site.key')}"],
                          tmp_path)
    try:
        results = {}
        for name in ("a.test", "localhost"):
            results[name] = run_client(
                [need("openssl"), "s_client", "-connect", f"127.0.0.1:{port}", "-servername",
                 name, "-CAfile", str(pki.path("ca.pem")), "-verify_return_error",
                 "-verify_hostname", name], data=b"hello\n")
    finally:
        out = _stop(server)
    for name, done in results.items():
        assert done.returncode == 0, (name, done.stderr)
        assert f"CN = {name}" in done.stdout.decode(), name
    assert out.splitlines()[:2] == ["asked for a.test", "asked for localhost"]
