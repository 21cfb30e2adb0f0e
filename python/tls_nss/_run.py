"""`python3 -m tls_nss run [-m MODULE | SCRIPT] [ARGS...]`: a program run
as `python3 -m MODULE` or `python3 SCRIPT` would run it, after
tls_nss.inject_into_ssl(), so that every ssl.SSLContext it makes is NSS's.

Injection comes first, before the program imports anything, so no module
keeps the ssl module's own class and no context is made before it. The
processes the program starts with the same interpreter inherit it through
TLS_NSS_INJECT_INTO_SSL=1, which tls_nss-inject.pth (installed beside the
package) reads at their start-up: the workers that uvicorn and hypercorn
spawn serve on NSS too."""

from __future__ import annotations

import os
import runpy
import sys

from ._ssl_inject import inject_into_ssl

USAGE = "usage: python3 -m tls_nss run [-m MODULE | SCRIPT] [ARGS...]"


def run(argv: list[str]) -> int:
    """Runs the program ``argv`` names (after "run"); its exit status."""
    if not argv or argv[0] in ("-h", "--help"):
        print(f"{USAGE}\n\nRun a Python program with every ssl.SSLContext it makes NSS's "
              "(tls_nss.inject_into_ssl()).", file=sys.stderr if not argv else sys.stdout)
        return 2 if not argv else 0
    inject_into_ssl()
    os.environ["TLS_NSS_INJECT_INTO_SSL"] = "1"
    if argv[0] == "-m":
        if len(argv) < 2:
            print(f"{USAGE}\npython3 -m tls_nss run: -m needs a module name", file=sys.stderr)
            return 2
        sys.argv = [argv[1], *argv[2:]]
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
        return 0
    script = argv[0]
    if not os.path.exists(script):
        print(f"python3 -m tls_nss run: {script}: no such file", file=sys.stderr)
        return 2
    sys.argv = list(argv)
    # As `python3 SCRIPT`: the script's directory comes first on the path.
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    runpy.run_path(script, run_name="__main__")
    return 0
