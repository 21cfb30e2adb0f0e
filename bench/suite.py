"""The benchmark suite: tls_nss beside the ssl module, on loopback.

    PYTHONPATH=<site-packages with tls_nss> python3 bench/suite.py [--out DIR] [--quick]
        [--case TEXT ...]

Each case runs both implementations in turn (tls_nss, ssl, tls_nss, ...),
ROUNDS times, against a server of the same implementation in a process of
its own, and reports the median and the range. The server reports its own
CPU time and memory, so client and server costs are apart. Output: JSON
lines (results.jsonl), a Markdown table (results.md) and a PNG chart per
group (python3-matplotlib), in --out. `make bench` runs it.

Cases: full handshakes (with client and server CPU per handshake),
resumed handshakes, request/response round trips on fresh and on warm
connections, bulk transfer with 1, 16 and 64 KiB writes, TLSBuffer pairs
against ssl.SSLObject pairs, idle memory per connection, one client thread
against two, ECDSA P-256 against RSA-2048, TLS 1.2 against 1.3, and NSS's
own strsclnt against selfserv where they are installed. The ssl module's
API on NSS (tls_nss.SSLContext, "layer") runs beside both in the socket
cases that matter to it, and in an asyncio echo server (asyncio's own
start_server with the ssl module's context and with tls_nss's, and
tls_nss.asyncio), always against the same stdlib asyncio clients; 64
connections with 200 requests each, and with 1,000, tell the cost of a
connection from the cost of a request. Cases with one request in flight
(round trips, one asyncio connection) run client and server on one CPU
(one_cpu()).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import resource
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

import tls_nss as tls  # noqa: E402

from certgen import Authority  # noqa: E402

ROUNDS = 5
IMPLS = ("tls_nss", "ssl")
#: The ssl module's API on NSS (tls_nss.SSLContext under ssl.SSLSocket):
#: beside tls_nss's own sockets and the ssl module's.
WITH_LAYER = ("tls_nss", "layer", "ssl")


# ---- the two implementations, as the suite uses them ----


class Files:
    """A CA and server certificates on disk, for both implementations."""

    def __init__(self, root: Path) -> None:
        ca = Authority("bench CA", key_kind="ec256")
        self.ca = root / "ca.pem"
        self.ca.write_bytes(ca.cert_pem)
        for kind in ("ec256", "rsa2048"):
            leaf = ca.issue("localhost", "127.0.0.1", key_kind=kind)
            (root / f"{kind}.pem").write_bytes(leaf.cert_pem)
            (root / f"{kind}.key").write_bytes(leaf.key_pem())
        self.root = root

    def cert(self, kind: str) -> tuple[Path, Path]:
        return self.root / f"{kind}.pem", self.root / f"{kind}.key"


def _version(name: str) -> Any:
    return {"1.2": tls.TLSVersion.TLSv1_2, "1.3": tls.TLSVersion.TLSv1_3}[name]


def _ssl_class(impl: str) -> Any:
    """The ssl module's SSLContext, or tls_nss's ("layer")."""
    return tls.SSLContext if impl == "layer" else ssl.SSLContext


def server_context(impl: str, files: Files, key: str, version: str) -> Any:
    cert, keyfile = files.cert(key)
    if impl == "tls_nss":
        return tls.NSSServerContext(tls.TLSServerConfiguration(
            certificate_chain=[tls.SigningChain((tls.Certificate.from_file(cert),
                                                 tls.PrivateKey.from_file(keyfile)))],
            lowest_supported_version=_version(version),
            highest_supported_version=_version(version)))
    ctx = _ssl_class(impl)(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, keyfile)
    ctx.minimum_version = ctx.maximum_version = (
        ssl.TLSVersion.TLSv1_2 if version == "1.2" else ssl.TLSVersion.TLSv1_3)
    return ctx


def client_context(impl: str, files: Files, resume: bool) -> Any:
    if impl == "tls_nss":
        return tls.NSSClientContext(tls.TLSClientConfiguration(
            trust_store=tls.TrustStore.from_file(files.ca)),
            session_cache_size=100 if resume else 0)
    ctx = _ssl_class(impl)(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(files.ca)
    if impl == "layer" and not resume:
        # tls_nss.SSLContext resumes by itself; the ssl module only when
        # given the last session.
        ctx.options |= ssl.OP_NO_TICKET
    return ctx


class Client:
    """Connections of either implementation; the ssl module's resumes by
    passing the last session, as its users do."""

    def __init__(self, impl: str, files: Files, resume: bool = False) -> None:
        self.impl = impl
        self.ctx = client_context(impl, files, resume)
        self.resume = resume
        self.session = None

    def connect(self, port: int) -> Any:
        if self.impl == "tls_nss":
            return self.ctx.connect(("localhost", port))
        raw = socket.create_connection(("127.0.0.1", port))
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock = self.ctx.wrap_socket(raw, server_hostname="localhost",
                                    session=self.session if self.resume else None)
        return sock

    def done(self, sock: Any) -> None:
        # tls_nss.SSLContext resumes by itself, per context and server.
        if self.impl == "ssl" and self.resume:
            self.session = sock.session
        sock.close()


# ---- the server process ----


def serve(impl: str, key: str, version: str, root: str) -> int:
    """Accepts connections until stdin closes. Each connection's first
    line says what it wants: "echo" (a reply per request), "sink N" (read N
    bytes, answer b"done") or "idle" (hold the connection). A line on stdin
    asks for this process's CPU seconds and RSS."""
    files = Files.__new__(Files)
    files.root, files.ca = Path(root), Path(root) / "ca.pem"
    ctx = server_context(impl, files, key, version)
    if impl == "tls_nss":
        listener = ctx.connect(("127.0.0.1", 0))
        listener.listen(1024)
        port = listener.getsockname()[1]
        accept = listener.accept
    else:
        raw = socket.create_server(("127.0.0.1", 0), backlog=1024)
        port = raw.getsockname()[1]

        def accept():
            conn, address = raw.accept()
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return ctx.wrap_socket(conn, server_side=True), address
    socket.setdefaulttimeout(None)
    held = []

    def handle(conn):
        try:
            # The first message whole: each is one write, and so one
            # record; an echo's request is 104 bytes.
            line = conn.recv(65536)
            if line.startswith(b"sink"):
                remaining = int(line.split()[1])
                while remaining > 0:
                    data = conn.recv(65536)
                    if not data:
                        return
                    remaining -= len(data)
                conn.sendall(b"done")
            elif line.startswith(b"idle"):
                held.append(conn)
                conn.sendall(b"ok")
                return
            else:
                conn.sendall(line[4:] if line.startswith(b"echo") else line)
                while True:
                    data = conn.recv(65536)
                    if not data:
                        break
                    conn.sendall(data)
        except (tls.TLSError, OSError, ssl.SSLError):
            pass
        if conn not in held:
            conn.close()

    def accept_loop():
        while True:
            try:
                conn, _ = accept()
            except (tls.TLSError, OSError, ssl.SSLError):
                continue
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    threading.Thread(target=accept_loop, daemon=True).start()
    print(port, flush=True)
    for line in sys.stdin:
        if line.strip() == "drop":
            for conn in held:
                # Without waiting for the client's close_notify.
                conn.close(force=True) if impl == "tls_nss" else conn.close()
            held.clear()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        print(json.dumps({"cpu": usage.ru_utime + usage.ru_stime, "heap_kib": _heap_kib(),
                          "own_kib": _own_kib()}), flush=True)
    return 0


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


def _heap_kib() -> float:
    """The C heap in use (glibc's mallinfo2: NSS's allocations and Python's
    large ones), else the resident set: what an idle connection holds."""
    try:
        mallinfo2 = ctypes.CDLL(None).mallinfo2
        mallinfo2.restype = _MallInfo2
        info = mallinfo2()
        return (info.uordblks + info.hblkhd) / 1024
    except (AttributeError, OSError):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    return 0


def _own_kib() -> float:
    """What the process's Python and extension code hold (tracemalloc:
    every PyMem and PyObject allocation, which is all tls_nss's C code uses;
    NSS's own allocations are not traced); 0 unless tracing."""
    return tracemalloc.get_traced_memory()[0] / 1024 if tracemalloc.is_tracing() else 0.0


def serve_asyncio(impl: str, root: str) -> int:
    """An asyncio echo server until stdin closes: asyncio.start_server with
    the ssl module's SSLContext ("ssl") or tls_nss's ("layer"), or
    tls_nss.asyncio.start_server with a PEP 748 context ("tls_nss"); the
    same handler for all. A line on stdin asks for the CPU seconds."""
    import asyncio

    import tls_nss.asyncio as tls_asyncio

    files = Files.__new__(Files)
    files.root, files.ca = Path(root), Path(root) / "ca.pem"
    context = server_context(impl, files, "ec256", "1.3")

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, ssl.SSLError, tls.TLSError):
            pass
        writer.close()

    async def main() -> None:
        if impl == "tls_nss":
            server = await tls_asyncio.start_server(handle, "127.0.0.1", 0, context=context,
                                                    backlog=1024)
        else:
            server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context,
                                                backlog=1024)
        print(server.sockets[0].getsockname()[1], flush=True)
        loop = asyncio.get_running_loop()
        while await loop.run_in_executor(None, sys.stdin.readline):
            print(json.dumps({"cpu": _cpu(), "heap_kib": 0, "own_kib": 0}), flush=True)
        server.close()

    asyncio.run(main())
    return 0


class Server:
    def __init__(self, impl: str, files: Files, key: str = "ec256", version: str = "1.3",
                 trace: bool = False, mode: str = "serve", cpu: int | None = None) -> None:
        env = dict(os.environ)
        if trace:
            env["PYTHONTRACEMALLOC"] = "1"
        if cpu is not None:
            env[SERVER_CPU] = str(cpu)
        argv = ([mode, impl, key, version, str(files.root)] if mode == "serve"
                else [mode, impl, str(files.root)])
        self.process = subprocess.Popen(
            [sys.executable, __file__, *argv],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        assert self.process.stdout is not None
        self.port = int(self.process.stdout.readline())

    def stats(self, command: str = "stats") -> dict[str, float]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(10)


#: The CPU a server process keeps to, all its threads, when set.
SERVER_CPU = "TLS_NSS_BENCH_SERVER_CPU"


@contextlib.contextmanager
def one_cpu() -> Any:
    """Runs this process and the servers started meanwhile on one CPU: the
    one it yields. With one request in flight, a round trip between
    processes on two CPUs pays for waking an idle CPU at each end, which in
    a virtual machine costs tens of microseconds and falls to the
    scheduler, not to the library: on this machine's two CPUs, warm round
    trips ran at 12,000 to 40,000 a second from round to round, and on one
    at about 100,000; one asyncio connection at about 9,000 a second, with
    48 µs of server CPU a request, and on one CPU at about 28,000, with
    18 µs."""
    if not hasattr(os, "sched_setaffinity"):
        yield None
        return
    allowed = os.sched_getaffinity(0)
    cpu = min(allowed)
    os.sched_setaffinity(0, {cpu})
    try:
        yield cpu
    finally:
        os.sched_setaffinity(0, allowed)


# ---- cases ----


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def handshakes(impl: str, files: Files, count: int, *, resume: bool = False, key: str = "ec256",
               version: str = "1.3", threads: int = 1) -> dict[str, float]:
    server = Server(impl, files, key, version)
    client = Client(impl, files, resume)
    if resume:  # the first connection gets the session
        sock = client.connect(server.port)
        sock.sendall(b"echo hi")
        sock.recv(10)
        client.done(sock)

    def run(n):
        for _ in range(n):
            sock = client.connect(server.port)
            sock.sendall(b"echo hi")   # reads the TLS 1.3 ticket with the reply
            sock.recv(10)
            client.done(sock)

    before, server_before = _cpu(), server.stats()["cpu"]
    started = time.perf_counter()
    workers = [threading.Thread(target=run, args=(count // threads,)) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - started
    done = (count // threads) * threads
    result = {"per_second": done / elapsed,
              "client_cpu_ms": (_cpu() - before) * 1000 / done,
              "server_cpu_ms": (server.stats()["cpu"] - server_before) * 1000 / done}
    server.stop()
    return result


def on_one_cpu(case: Callable[..., dict[str, float]], *args: Any,
               **kwargs: Any) -> dict[str, float]:
    """A case with one request in flight, run with its server on one CPU
    (one_cpu())."""
    with one_cpu() as cpu:
        return case(*args, cpu=cpu, **kwargs)


def round_trips(impl: str, files: Files, count: int, *, fresh: bool,
                cpu: int | None = None) -> dict[str, float]:
    server = Server(impl, files, cpu=cpu)
    client = Client(impl, files, resume=True)
    request = b"q" * 100
    started = time.perf_counter()
    if fresh:
        for _ in range(count):
            sock = client.connect(server.port)
            sock.sendall(b"echo" + request)
            sock.recv(200)
            client.done(sock)
    else:
        sock = client.connect(server.port)
        sock.sendall(b"echo" + request)
        sock.recv(200)
        for _ in range(count):
            sock.sendall(request)
            got = 0
            while got < len(request):
                got += len(sock.recv(200))
        client.done(sock)
    result = {"per_second": count / (time.perf_counter() - started)}
    server.stop()
    return result


def bulk(impl: str, files: Files, write_size: int, megabytes: int) -> dict[str, float]:
    server = Server(impl, files)
    client = Client(impl, files)
    total = megabytes << 20
    chunk = os.urandom(write_size)
    sock = client.connect(server.port)
    sock.sendall(b"sink %d" % total)
    time.sleep(0.05)  # the header goes alone
    started = time.perf_counter()
    sent = 0
    while sent < total:
        sock.sendall(chunk)
        sent += write_size
    assert sock.recv(10) == b"done"
    result = {"mb_per_second": megabytes / (time.perf_counter() - started)}
    client.done(sock)
    server.stop()
    return result


def idle_memory(impl: str, files: Files, count: int, *, own: bool = False) -> dict[str, float]:
    """C heap per idle connection on each side; with `own`, instead what the
    library's own code holds per connection, traced apart from NSS's."""
    server = Server(impl, files, trace=own)
    client = Client(impl, files)
    held = []
    measure = _own_kib if own else _heap_kib
    if own:
        tracemalloc.start()
    server_before, before = server.stats()["own_kib" if own else "heap_kib"], measure()
    for _ in range(count):
        sock = client.connect(server.port)
        sock.sendall(b"idle")
        sock.recv(10)
        held.append(sock)
    after = measure()
    server_after = server.stats()["own_kib" if own else "heap_kib"]
    if own:
        tracemalloc.stop()
    prefix = "own_" if own else ""
    result = {f"client_{prefix}kib": (after - before) / count,
              f"server_{prefix}kib": (server_after - server_before) / count}
    server.stats("drop")
    for sock in held:
        sock.close(force=True) if impl == "tls_nss" else sock.close()
    server.stop()
    return result


def memory_over_handshakes(impl: str, files: Files, count: int) -> dict[str, float]:
    """How the client's C heap grows over many resumed handshakes from one
    context: a bounded session cache keeps it flat."""
    server = Server(impl, files)
    client = Client(impl, files, resume=True)
    start = None
    for i in range(count):
        sock = client.connect(server.port)
        sock.sendall(b"echo hi")
        sock.recv(10)
        client.done(sock)
        if i == 99:  # after the first allocations settle
            start = _heap_kib()
    server.stop()
    return {"client_growth_kib": _heap_kib() - (start or 0)}


def asyncio_echo(impl: str, files: Files, *, connections: int = 1, requests: int = 0,
                 megabytes: int = 0, handshakes: int = 0,
                 cpu: int | None = None) -> dict[str, float]:
    """The same stdlib asyncio clients (the ssl module's) against an asyncio
    echo server of each kind: 100-byte requests on `connections` kept
    connections, or `megabytes` each way on one, or `handshakes` fresh
    connections with one request each."""
    import asyncio

    server = Server(impl, files, mode="serve-asyncio", cpu=cpu)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(files.ca)

    async def connection() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection("127.0.0.1", server.port, ssl=context,
                                             server_hostname="localhost")

    async def requests_on_one(count: int) -> None:
        reader, writer = await connection()
        request = b"q" * 100
        for _ in range(count):
            writer.write(request)
            await writer.drain()
            await reader.readexactly(len(request))
        writer.close()

    async def bulk_both_ways() -> None:
        reader, writer = await connection()
        chunk, total = os.urandom(65536), megabytes << 20

        async def drain_replies() -> None:
            # As a client consumes a stream: a read at a time, nothing kept.
            remaining = total
            while remaining > 0:
                data = await reader.read(65536)
                if not data:
                    raise ConnectionError(f"the server closed with {remaining} bytes unsent")
                remaining -= len(data)

        replies = asyncio.create_task(drain_replies())
        for _ in range(total // len(chunk)):
            writer.write(chunk)
            await writer.drain()
        await replies
        writer.close()

    async def fresh_connections(count: int) -> None:
        for _ in range(count):
            await requests_on_one(1)

    async def main() -> None:
        if megabytes:
            await bulk_both_ways()
        elif handshakes:
            await fresh_connections(handshakes)
        else:
            await asyncio.gather(*(requests_on_one(requests // connections)
                                   for _ in range(connections)))

    server_before = server.stats()["cpu"]
    client_before = _cpu()
    started = time.perf_counter()
    asyncio.run(main())
    elapsed = time.perf_counter() - started
    client_cpu = _cpu() - client_before
    server_cpu = server.stats()["cpu"] - server_before
    server.stop()
    if megabytes:
        return {"mb_per_second": 2 * megabytes / elapsed,
                "server_cpu_ms_per_mb": server_cpu * 1e3 / (2 * megabytes)}
    done = handshakes or (requests // connections) * connections
    # The client's CPU too: where it is as busy as the server, the rate
    # is the client's as much as the server's.
    return {"per_second": done / elapsed, "server_cpu_us": server_cpu * 1e6 / done,
            "client_cpu_us": client_cpu * 1e6 / done}


def buffers(impl: str, files: Files, count: int, megabytes: int) -> dict[str, float]:
    import buffers as pairs  # bench/buffers.py

    ca = Authority("buffer bench CA")
    leaf = ca.issue("localhost")
    pair = pairs.Ours.from_files(ca, leaf) if impl == "tls_nss" else pairs.Stdlib(ca, leaf)
    pairs.HANDSHAKES, pairs.BULK_MB = count, megabytes
    return {"handshakes_per_second": pairs.handshakes_per_second(pair),
            "mb_per_second": pairs.bulk_mb_per_second(pair)}


def nss_tools(files: Files, count: int) -> dict[str, float] | None:
    """selfserv and strsclnt: NSS's own C server and client, full handshakes."""
    if not (shutil.which("selfserv") and shutil.which("strsclnt") and shutil.which("pk12util")):
        return None
    db = files.root / "nssdb"
    db.mkdir(exist_ok=True)
    env = {**os.environ, "NSS_IGNORE_SYSTEM_POLICY": "1"}
    cert, key = files.cert("ec256")
    p12 = files.root / "server.p12"
    subprocess.run(["openssl", "pkcs12", "-export", "-in", str(cert), "-inkey", str(key),
                    "-name", "server", "-out", str(p12), "-passout", "pass:"], check=True,
                   capture_output=True)
    subprocess.run(["certutil", "-N", "-d", f"sql:{db}", "--empty-password"], check=True,
                   capture_output=True, env=env)
    subprocess.run(["pk12util", "-i", str(p12), "-d", f"sql:{db}", "-W", ""], check=True,
                   capture_output=True, env=env)
    subprocess.run(["certutil", "-A", "-d", f"sql:{db}", "-n", "ca", "-t", "C,,",
                    "-i", str(files.ca)], check=True, capture_output=True, env=env)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(["selfserv", "-d", f"sql:{db}", "-n", "server", "-p", str(port),
                               "-V", "tls1.3:tls1.3", "-u"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, env=env)
    time.sleep(0.5)
    started = time.perf_counter()
    done = subprocess.run(["strsclnt", "-d", f"sql:{db}", "-p", str(port), "-c", str(count),
                           "-V", "tls1.3:tls1.3", "-N", "-C", ":1301", "localhost"],
                          capture_output=True, env=env)
    elapsed = time.perf_counter() - started
    server.terminate()
    server.wait()
    # strsclnt's exit status counts connections it did not time; what
    # matters is that every handshake validated.
    validated = done.stderr.count(b"Server Certificate Validated")
    if validated < count:
        return None
    return {"per_second": count / elapsed}


# ---- running, alternating, summarising ----


def alternate(name: str, group: str, case: Callable[[str], dict[str, float]],
              impls: tuple[str, ...] = IMPLS, rounds: int = ROUNDS) -> list[dict[str, Any]]:
    runs: dict[str, list[dict[str, float]]] = {impl: [] for impl in impls}
    for _ in range(rounds):
        for impl in impls:
            runs[impl].append(case(impl))
    rows = []
    for impl in impls:
        for metric in runs[impl][0]:
            values = [r[metric] for r in runs[impl]]
            rows.append({"group": group, "case": name, "impl": impl, "metric": metric,
                         "median": statistics.median(values), "min": min(values),
                         "max": max(values), "runs": values})
    for row in rows:
        print(f"  {row['case']:32} {row['impl']:8} {row['metric']:22} "
              f"{row['median']:10.2f}  ({row['min']:.2f}-{row['max']:.2f})", flush=True)
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    """One line per case and metric: each implementation's median and range,
    and the ratios that matter: tls_nss's own API and the ssl module's API
    on NSS ("layer") against the ssl module, and the layer against tls_nss.
    In the asyncio group, tls_nss is tls_nss.asyncio."""
    lines = ["| group | case | metric | tls_nss | layer | ssl | tls_nss ÷ ssl | layer ÷ ssl "
             "| layer ÷ tls_nss |", "|---|---|---|---|---|---|---|---|---|"]
    keyed = {(r["group"], r["case"], r["metric"], r["impl"]): r for r in rows}

    def cell(x: Any) -> str:
        return f"{x['median']:.2f} ({x['min']:.2f}–{x['max']:.2f})" if x else "–"

    def ratio(metric: str, better: Any, base: Any) -> str:
        # Growth near zero makes no ratio worth printing.
        if not (better and base and better["median"] > 0 and base["median"] > 0) or \
                metric.endswith("growth_kib"):
            return ""
        lower_is_better = metric.endswith(("cpu_ms", "cpu_us", "cpu_ms_per_mb", "kib"))
        value = (base["median"] / better["median"] if lower_is_better
                 else better["median"] / base["median"])
        return f"{value:.2f}×"

    seen = []
    for r in rows:
        key = (r["group"], r["case"], r["metric"])
        if key in seen:
            continue
        seen.append(key)
        ours, layer, theirs = (keyed.get(key + (impl,)) for impl in ("tls_nss", "layer", "ssl"))
        other = next((x for x in rows if x["group"] == r["group"] and x["case"] == r["case"]
                      and x["metric"] == r["metric"] and x["impl"] not in WITH_LAYER), None)
        first = cell(ours) if ours else cell(other) + f" ({other['impl']})" if other else "–"
        lines.append(f"| {key[0]} | {key[1]} | {key[2]} | {first} | {cell(layer)} | "
                     f"{cell(theirs)} | {ratio(key[2], ours, theirs)} | "
                     f"{ratio(key[2], layer, theirs)} | {ratio(key[2], layer, ours)} |")
    return "\n".join(lines) + "\n"


def charts(rows: list[dict[str, Any]], out: Path) -> list[Path]:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("python3-matplotlib is not installed: no charts", flush=True)
        return []
    made = []
    for group in dict.fromkeys(r["group"] for r in rows):
        mine = [r for r in rows if r["group"] == group]
        metrics = list(dict.fromkeys(r["metric"] for r in mine))
        impls = list(dict.fromkeys(r["impl"] for r in mine))
        # One panel per metric: handshakes per second and CPU milliseconds
        # do not share an axis.
        fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.8),
                                 squeeze=False)
        for ax, metric in zip(axes[0], metrics):
            cases = list(dict.fromkeys(r["case"] for r in mine if r["metric"] == metric))
            width = 0.8 / len(impls)
            for k, impl in enumerate(impls):
                found = [next((r for r in mine if r["case"] == case and r["metric"] == metric
                               and r["impl"] == impl), None) for case in cases]
                values = [r["median"] if r else 0 for r in found]
                errors = [[r["median"] - r["min"] if r else 0 for r in found],
                          [r["max"] - r["median"] if r else 0 for r in found]]
                ax.bar([x + k * width for x in range(len(cases))], values, width, label=impl,
                       yerr=errors, capsize=3)
            ax.set_xticks([x + width * (len(impls) - 1) / 2 for x in range(len(cases))])
            ax.set_xticklabels([c.replace(", ", ",\n") for c in cases], fontsize=7)
            ax.set_title(metric.replace("_", " "), fontsize=9)
        axes[0][0].legend(fontsize=8)
        fig.suptitle(group)
        fig.tight_layout()
        path = out / f"{group.replace(' ', '-')}.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        made.append(path)
    return made


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path("bench-results"))
    parser.add_argument("--quick", action="store_true", help="small counts, to try it out")
    parser.add_argument("--case", action="append", default=[], metavar="TEXT",
                        help="only the cases whose name contains TEXT (repeatable)")
    args = parser.parse_args()
    scale = 0.1 if args.quick else 2.0

    def n(x: int) -> int:
        return max(2, int(x * scale))

    args.out.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="tls-nss-bench-"))
    files = Files(root)
    print(f"NSS {tls.nss_version()} ({tls.policy.effective_policy().describe()}), "
          f"{ssl.OPENSSL_VERSION}, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs",
          flush=True)
    rows: list[dict[str, Any]] = []
    plan: list[tuple[str, str, Callable[[str], dict[str, float]], tuple[str, ...]]] = [
        ("full handshake", "handshakes",
         lambda i: handshakes(i, files, n(300)), WITH_LAYER),
        ("resumed handshake", "handshakes",
         lambda i: handshakes(i, files, n(500), resume=True), IMPLS),
        ("full, RSA-2048", "keys and versions",
         lambda i: handshakes(i, files, n(200), key="rsa2048"), IMPLS),
        ("full, TLS 1.2", "keys and versions",
         lambda i: handshakes(i, files, n(300), version="1.2"), IMPLS),
        ("full, 2 client threads", "threads",
         lambda i: handshakes(i, files, n(300), threads=2), IMPLS),
        ("request/response, fresh connection", "round trips",
         lambda i: on_one_cpu(round_trips, i, files, n(300), fresh=True), WITH_LAYER),
        ("request/response, warm connection", "round trips",
         lambda i: on_one_cpu(round_trips, i, files, n(5000), fresh=False), WITH_LAYER),
        ("bulk, 1 KiB writes", "bulk",
         lambda i: bulk(i, files, 1024, n(64)), IMPLS),
        ("bulk, 16 KiB writes", "bulk",
         lambda i: bulk(i, files, 16384, n(512)), WITH_LAYER),
        ("bulk, 64 KiB writes", "bulk",
         lambda i: bulk(i, files, 65536, n(512)), IMPLS),
        ("buffers", "buffers",
         lambda i: buffers(i, files, n(300), n(256)), IMPLS),
        ("asyncio request/response, 1 connection", "asyncio",
         lambda i: on_one_cpu(asyncio_echo, i, files, requests=n(3000)), WITH_LAYER),
        ("asyncio request/response, 64 connections", "asyncio",
         lambda i: asyncio_echo(i, files, connections=64, requests=n(6400)), WITH_LAYER),
        # The same connections kept five times as long: the share of the
        # handshakes (NSS's ECDSA signature) falls, the per-request cost stays.
        ("asyncio request/response, 64 long connections", "asyncio",
         lambda i: asyncio_echo(i, files, connections=64, requests=n(32000)), WITH_LAYER),
        # Many connections at once: what each record costs when a
        # connection's state is no longer in the CPU's caches.
        ("asyncio request/response, 512 connections", "asyncio",
         lambda i: asyncio_echo(i, files, connections=512, requests=n(51200)), WITH_LAYER),
        ("asyncio fresh connections", "asyncio",
         lambda i: asyncio_echo(i, files, handshakes=n(150)), WITH_LAYER),
        ("asyncio bulk, 64 KiB writes", "asyncio",
         lambda i: asyncio_echo(i, files, megabytes=n(256)), WITH_LAYER),
        ("idle connections", "memory",
         lambda i: idle_memory(i, files, n(200)), IMPLS),
        ("idle connections, Python and extension share", "memory",
         lambda i: idle_memory(i, files, n(200), own=True), IMPLS),
    ]
    # One round: 20,000 handshakes each.
    long_plan = [("20,000 resumed handshakes", "memory",
                  lambda i: memory_over_handshakes(i, files, n(10000)), IMPLS)]
    if args.case:
        plan = [p for p in plan if any(text in p[0] for text in args.case)]
        long_plan = [p for p in long_plan if any(text in p[0] for text in args.case)]
    started = time.monotonic()
    for name, group, case, impls in plan:
        print(f"{group}: {name}", flush=True)
        rows += alternate(name, group, case, impls)
    for name, group, case, impls in long_plan:
        print(f"{group}: {name}", flush=True)
        rows += alternate(name, group, case, impls, rounds=1)
    reference = None if args.case else nss_tools(files, n(500))
    if reference is not None:
        rows.append({"group": "handshakes", "case": "full handshake, NSS's C tools",
                     "impl": "strsclnt",
                     "metric": "per_second", "median": reference["per_second"],
                     "min": reference["per_second"], "max": reference["per_second"],
                     "runs": [reference["per_second"]]})
        print(f"  NSS strsclnt against selfserv: {reference['per_second']:.0f} handshakes/s",
              flush=True)
    with open(args.out / "results.jsonl", "w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    (args.out / "results.md").write_text(table(rows))
    for path in charts(rows, args.out):
        print(f"chart: {path}", flush=True)
    print(f"done in {time.monotonic() - started:.0f} s: {args.out / 'results.md'}", flush=True)
    return 0


if __name__ == "__main__":
    if SERVER_CPU in os.environ:  # before any thread starts: all inherit it
        os.sched_setaffinity(0, {int(os.environ[SERVER_CPU])})
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        sys.exit(serve(*sys.argv[2:6]))
    if len(sys.argv) > 1 and sys.argv[1] == "serve-asyncio":
        sys.exit(serve_asyncio(*sys.argv[2:4]))
    sys.exit(main())
