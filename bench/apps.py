"""A real application server under load: wrk against an ASGI hello-world
under uvicorn, on NSS through the ssl module's API (`python3 -m tls_nss
run -m uvicorn`) and on the ssl module, in turn.

    PYTHONPATH=<site-packages with tls_nss> python3 bench/apps.py [--out DIR] [--quick]

Each round runs, for each, wrk on kept-alive connections and wrk with
"Connection: close" (a new TLS connection per request), and reads the
requests per second and the 99th percentile latency wrk reports. Medians
and ranges of ROUNDS rounds, as JSON lines and a Markdown table in --out.
`make bench-apps` runs it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "tests"))

from certgen import Authority  # noqa: E402

ROUNDS = 5
IMPLS = ("tls_nss", "ssl")
APP = '''\
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", b"12")]})
    await send({"type": "http.response.body", "body": b"Hello, NSS!\\n"})
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_uvicorn(impl: str, root: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    runner = ["-m", "tls_nss", "run"] if impl == "tls_nss" else []
    process = subprocess.Popen(
        [sys.executable, *runner, "-m", "uvicorn", "hello:app", "--port", str(port),
         "--log-level", "warning", "--no-access-log", "--ssl-certfile", str(root / "cert.pem"),
         "--ssl-keyfile", str(root / "key.pem")],
        cwd=root, env={**os.environ, "PYTHONPATH": f"{root}:{os.environ.get('PYTHONPATH', '')}"})
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process, port
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"uvicorn ({impl}) did not start")


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def wrk(port: int, seconds: int, connections: int, close: bool) -> dict[str, float]:
    argv = [shutil.which("wrk") or "wrk", "-t1", f"-c{connections}", f"-d{seconds}s",
            "--latency", f"https://localhost:{port}/"]
    if close:
        argv[1:1] = ["-H", "Connection: close"]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    assert p99 is not None, out
    return {"per_second": rate, "p99_ms": float(p99.group(1)) * _UNITS[p99.group(2)]}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path("bench-results-apps"))
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed: nothing measured", flush=True)
        return 0
    seconds, rounds = (2, 1) if args.quick else (5, ROUNDS)
    root = Path(tempfile.mkdtemp(prefix="tls-nss-apps-"))
    ca = Authority("apps bench CA")
    leaf = ca.issue("localhost", "127.0.0.1")
    (root / "cert.pem").write_bytes(leaf.cert_pem)
    (root / "key.pem").write_bytes(leaf.key_pem())
    (root / "hello.py").write_text(APP)
    cases = [("kept-alive, 16 connections", 16, False),
             ("new connection per request", 4, True)]
    runs: dict[tuple[str, str], list[dict[str, float]]] = {}
    for _ in range(rounds):
        for impl in IMPLS:
            process, port = start_uvicorn(impl, root)
            try:
                wrk(port, 1, 4, False)  # warm-up
                for name, connections, close in cases:
                    runs.setdefault((name, impl), []).append(
                        wrk(port, seconds, connections, close))
            finally:
                process.terminate()
                process.wait(10)
    args.out.mkdir(parents=True, exist_ok=True)
    lines = ["| case | metric | tls_nss | ssl | ratio |", "|---|---|---|---|---|"]
    with open(args.out / "results.jsonl", "w") as f:
        for name, _, _ in cases:
            for metric in ("per_second", "p99_ms"):
                cells = []
                medians = {}
                for impl in IMPLS:
                    values = [r[metric] for r in runs[(name, impl)]]
                    medians[impl] = statistics.median(values)
                    f.write(json.dumps({"group": "uvicorn under wrk", "case": name, "impl": impl,
                                        "metric": metric, "median": medians[impl],
                                        "min": min(values), "max": max(values),
                                        "runs": values}) + "\n")
                    cells.append(f"{medians[impl]:.2f} ({min(values):.2f}–{max(values):.2f})")
                better = (medians["ssl"] / medians["tls_nss"] if metric == "p99_ms"
                          else medians["tls_nss"] / medians["ssl"])
                lines.append(f"| {name} | {metric} | {cells[0]} | {cells[1]} | {better:.2f}× |")
                print(f"  {name:30} {metric:11} tls_nss {cells[0]:28} ssl {cells[1]:28} "
                      f"{better:.2f}×", flush=True)
    (args.out / "results.md").write_text("\n".join(lines) + "\n")
    print(f"done: {args.out / 'results.md'}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
