"""Runs one PKCS#11 token scenario in a fresh process and prints JSON.

A SoftHSM token must exist before NSS starts in the process that uses it,
and SOFTHSM2_CONF is read then, so each scenario gets its own process. The
token comes from the environment; the scenario is the first argument, its
parameters a JSON object in the second:

    context   make a context (after adding "modules"); report the error, or
              the PIN callback's calls
    serve     serve each peer in turn ("openssl", "gnutls", "ours") from a
              context whose certificates come from the token
    client    our client, certificate from the token, against
              `openssl s_server -Verify 1`
    trust     our client with a trust store from an id, against openssl
    reentry   TLS buffers in memory, the server's key asking for its PIN in
              every handshake; the PIN callback tries to call into the
              server's buffer meanwhile, from its own thread and another
    reentry-after  the same for a client's key, asked for its PIN when the
              server asks for a certificate after the handshake (ssl
              module API over memory BIOs); the PIN callback asks the
              client's SSLObject what was negotiated meanwhile

Certificates, keys and trust stores are given as {"id": ...} (from_id),
{"file": ...} (from_file) or null.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import tls_nss as tls
from peers import (ThreadedServer, echo_once, handshake_buffers, handshake_ssl_objects, need,
                   openssl_server, run_client)


class Files:
    """What the peers helpers need of the test PKI: its file names."""

    def __init__(self, root: str) -> None:
        from pathlib import Path

        self.root = Path(root)

    def path(self, name: str):
        return self.root / name


def _error(e: BaseException) -> dict[str, Any]:
    return {"ok": False, "type": type(e).__name__, "message": str(e),
            "nss_name": getattr(e, "nss_name", None),
            "is_configuration_error": isinstance(e, tls.ConfigurationError)}


def _object(kind: type, spec: dict[str, str] | None) -> Any:
    if spec is None:
        return None
    if "id" in spec:
        return kind.from_id(spec["id"].encode())
    return kind.from_file(spec["file"])


class PinCallback:
    """Answers in turn from ``answers`` ("raise" raises), then None."""

    def __init__(self, answers: list[str | None]) -> None:
        self.answers = list(answers)
        self.calls: list[list[Any]] = []

    def __call__(self, token: str, retry: bool) -> str | None:
        self.calls.append([token, retry])
        answer = self.answers.pop(0) if self.answers else None
        if answer == "raise":
            raise RuntimeError("the PIN callback failed")
        return answer


def _install_pin_callback(params: dict[str, Any]) -> PinCallback | None:
    if "pin_answers" not in params:
        return None
    callback = PinCallback(params["pin_answers"])
    tls.set_pin_callback(callback)
    return callback


def _chains(params: dict[str, Any]) -> list[tls.SigningChain]:
    return [
        tls.SigningChain(
            leaf=(_object(tls.Certificate, chain["leaf"]), _object(tls.PrivateKey, chain["key"])),
            chain=[_object(tls.Certificate, c) for c in chain.get("chain", [])] or None,
        )
        for chain in params["chains"]
    ]


def _server_context(params: dict[str, Any]) -> tls.NSSServerContext:
    return tls.NSS_IMPLEMENTATION.server_context(
        tls.TLSServerConfiguration(certificate_chain=_chains(params))
    )


def context(params: dict[str, Any]) -> dict[str, Any]:
    callback = _install_pin_callback(params)
    try:
        for module in params.get("modules", []):
            tls.add_pkcs11_module(module)
        if params.get("role") == "client":
            tls.NSS_IMPLEMENTATION.client_context(tls.TLSClientConfiguration(
                certificate_chain=_chains(params)[0],
                trust_store=_object(tls.TrustStore, params.get("trust")),
            ))
        else:
            _server_context(params)
        result: dict[str, Any] = {"ok": True}
    except Exception as e:  # noqa: BLE001 - reported to the test
        result = _error(e)
    result["pin_calls"] = callback.calls if callback else []
    return result


def _peer_client(peer: str, port: int, pki: Files) -> dict[str, Any]:
    ca = str(pki.path("ca.pem"))
    if peer == "openssl":
        argv = [need("openssl"), "s_client", "-connect", f"127.0.0.1:{port}", "-servername",
                "localhost", "-CAfile", ca, "-verify_return_error", "-brief", "-ign_eof"]
    elif peer == "gnutls":
        argv = [need("gnutls-cli"), "--port", str(port), "--x509cafile", ca, "localhost"]
    else:
        client = tls.NSS_IMPLEMENTATION.client_context(
            tls.TLSClientConfiguration(trust_store=tls.TrustStore.from_file(ca)))
        try:
            with client.connect(("localhost", port)) as sock:
                sock.sendall(b"from the token's server\n")
                return {"returncode": 0, "stdout": sock.recv(100).decode(),
                        "version": sock.negotiated_tls_version.value}
        except tls.TLSError as e:
            return {"returncode": 1, "error": _error(e)}
    done = run_client(argv, data=b"from the token's server\n")
    return {"returncode": done.returncode, "stdout": done.stdout.decode(),
            "stderr": done.stderr.decode()[-2000:]}


def _change_pin(token: str, old: str, new: str) -> None:
    """Changes the token's user PIN through the NSS this process runs, as
    an administrator would: SoftHSM checks PINs against what the process
    using it holds, so another process's change would not be seen here."""
    import ctypes

    with open("/proc/self/maps") as maps:
        path = next(line.split()[-1] for line in maps if "/libnss3.so" in line)
    nss = ctypes.CDLL(path)
    nss.PK11_FindSlotByName.restype = ctypes.c_void_p
    nss.PK11_FindSlotByName.argtypes = [ctypes.c_char_p]
    nss.PK11_ChangePW.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
    nss.PK11_FreeSlot.argtypes = [ctypes.c_void_p]
    slot = nss.PK11_FindSlotByName(token.encode())
    assert slot, f"no token {token!r}"
    try:
        assert nss.PK11_ChangePW(slot, old.encode(), new.encode()) == 0, "PK11_ChangePW failed"
    finally:
        nss.PK11_FreeSlot(slot)


def serve(params: dict[str, Any]) -> dict[str, Any]:
    """Serves each peer in turn from one of "contexts" (1) contexts made
    alike; "logout_first" logs every token out before each peer,
    "logout_once" before the first. With "change_pin" [token, old, new],
    the token's PIN changes after the contexts were made, and back at the
    end."""
    callback = _install_pin_callback(params)
    pki = Files(params["pki"])
    contexts = [_server_context(params) for _ in range(params.get("contexts", 1))]
    results: dict[str, Any] = {"ok": True, "peers": {},
                               "pin_calls": callback.calls if callback else []}
    change = params.get("change_pin")
    if change:
        _change_pin(*change)
    try:
        for number, peer in enumerate(params["peers"]):
            if params.get("logout_first") or (params.get("logout_once") and number == 0):
                tls._nss.logout_all()   # as after an HSM failover
            server = ThreadedServer(contexts[number % len(contexts)], echo_once)
            outcome = _peer_client(peer, server.port, pki)
            server.join()
            outcome["server_errors"] = [repr(e) for e in server.errors]
            outcome["server_data"] = (
                server.results[0]["data"].decode() if server.results else None
            )
            results["peers"][peer] = outcome
    finally:
        if change:
            _change_pin(change[0], change[2], change[1])
    return results


def _concurrent_clients(ctx: tls.NSSClientContext, pki: Files, threads: int) -> list[Any]:
    """After a logout, `threads` connections at once to one s_server that
    demands a client certificate: each finds the key gone as it starts."""
    import threading

    tls._nss.logout_all()
    server = openssl_server(pki, "rsa", args=["-Verify", "1", "-verify_return_error",
                                              "-CAfile", str(pki.path("ca.pem")),
                                              "-naccept", str(threads)])
    outcomes: list[Any] = [None] * threads

    def one(number: int) -> None:
        try:
            with ctx.connect(("localhost", server.port)) as sock:
                sock.sendall(b"client from the token\n")
                outcomes[number] = {"echoed": sock.recv(100).decode()}
        except tls.TLSError as e:
            outcomes[number] = {"error": _error(e)}

    workers = [threading.Thread(target=one, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    server.output()
    return outcomes


def client(params: dict[str, Any]) -> dict[str, Any]:
    """Connects to s_server, which demands a client certificate, once per
    connection asked for (each to a new s_server, so none resumes), after
    logging every token out first if asked; or, with "threads", that many
    at once after one logout."""
    callback = _install_pin_callback(params)
    pki = Files(params["pki"])
    ctx = tls.NSS_IMPLEMENTATION.client_context(tls.TLSClientConfiguration(
        certificate_chain=_chains(params)[0], trust_store=tls.TrustStore.from_file(pki.path("ca.pem")),
    ))
    if params.get("threads"):
        return {"ok": True, "connections": _concurrent_clients(ctx, pki, params["threads"]),
                "pin_calls": callback.calls if callback else []}
    connections = []
    for _ in range(params.get("connections", 1)):
        if params.get("logout_first"):
            tls._nss.logout_all()   # as after an HSM failover
        server = openssl_server(pki, "rsa", args=["-Verify", "1", "-verify_return_error",
                                                  "-CAfile", str(pki.path("ca.pem"))])
        outcome: dict[str, Any] = {}
        try:
            with ctx.connect(("localhost", server.port)) as sock:
                sock.sendall(b"client from the token\n")
                outcome["echoed"] = sock.recv(100).decode()
        except tls.TLSError as e:
            outcome["error"] = _error(e)
        finally:
            outcome["server_output"] = server.output()
        connections.append(outcome)
    return {"ok": True, **connections[0], "connections": connections,
            "pin_calls": callback.calls if callback else []}


def trust(params: dict[str, Any]) -> dict[str, Any]:
    pki = Files(params["pki"])
    try:
        ctx = tls.NSS_IMPLEMENTATION.client_context(tls.TLSClientConfiguration(
            trust_store=_object(tls.TrustStore, params["trust"])))
    except Exception as e:  # noqa: BLE001
        return _error(e)
    server = openssl_server(pki, params.get("server_cert", "rsa"))
    try:
        with ctx.connect(("localhost", server.port)) as sock:
            sock.sendall(b"trusted\n")
            return {"ok": True, "echoed": sock.recv(100).decode()}
    except Exception as e:  # noqa: BLE001
        return _error(e)
    finally:
        server.stop()


def ssl_serve(params: dict[str, Any]) -> dict[str, Any]:
    """tls_nss.SSLContext, the ssl module's API: load_cert_chain(certfile=
    "cert", keyfile="key", password="password") with token ids, serving
    openssl s_client from a thread through ssl.SSLSocket."""
    import socket
    import ssl
    import threading

    context = tls.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(params["cert"], params.get("key"), password=params.get("password"))
    listener = socket.create_server(("127.0.0.1", 0))
    served: dict[str, Any] = {}

    def one() -> None:
        conn, _ = listener.accept()
        try:
            with context.wrap_socket(conn, server_side=True) as tls_sock:
                served["data"] = tls_sock.recv(100).decode()
                served["type"] = type(tls_sock).__name__
                tls_sock.sendall(served["data"].encode())
        except Exception as e:  # noqa: BLE001 - reported
            served["error"] = repr(e)

    thread = threading.Thread(target=one)
    thread.start()
    outcome = _peer_client("openssl", listener.getsockname()[1], Files(params["pki"]))
    thread.join(30)
    listener.close()
    return {"peer": outcome, "served": served}


def _buffer_handshake(client_ctx: Any, server_ctx: Any, on_server: Any) -> str:
    """A handshake and 5 bytes between two buffers; what the server read,
    or the error. `on_server` receives the server's buffer first."""
    client_buffer = client_ctx.create_buffer(server_hostname="localhost")
    server_buffer = server_ctx.create_buffer()
    on_server(server_buffer)
    try:
        handshake_buffers(client_buffer, server_buffer)
        client_buffer.write(b"hello")
        server_buffer.process_incoming(
            client_buffer.process_outgoing(client_buffer.outgoing_bytes_buffered()))
        return server_buffer.read(5).decode()
    except Exception as e:  # noqa: BLE001 - reported to the test
        return f"{type(e).__name__}: {e}"


def reentry(params: dict[str, Any]) -> dict[str, Any]:
    """The key wants its PIN for each use (CKA_ALWAYS_AUTHENTICATE). Once
    the PIN kept from the context's making turns wrong, NSS asks the PIN
    callback from inside the server's next handshake: the one place Python
    runs inside an NSS call on a buffer. The callback then calls into that
    buffer, from its own thread and from another."""
    import threading

    pin = [params["pin"]]
    watched: list[Any] = []
    attempts: dict[str, str] = {}

    def attempt(label: str, call: Any) -> None:
        try:
            call()
            attempts[label] = "accepted"
        except Exception as e:  # noqa: BLE001 - reported to the test
            attempts[label] = f"{type(e).__name__}: {e}"

    def callback(token: str, retry: bool) -> str:
        if watched:
            buffer = watched[0]
            attempt("process_incoming", lambda: buffer.process_incoming(b"\x16"))
            attempt("do_handshake", buffer.do_handshake)
            other = threading.Thread(target=attempt,
                                     args=("write from another thread",
                                           lambda: buffer.write(b"x")), daemon=True)
            other.start()
            other.join(30)
            if other.is_alive():
                attempts["write from another thread"] = "still blocked after 30 s"
        return pin[0]

    tls.set_pin_callback(callback)
    server_ctx = _server_context(params)
    client_ctx = tls.NSS_IMPLEMENTATION.client_context(tls.TLSClientConfiguration(
        trust_store=tls.TrustStore.from_file(Files(params["pki"]).path("ca.pem"))))
    _change_pin(params["token_name"], params["pin"], params["new_pin"])
    pin[0] = params["new_pin"]
    refused = _buffer_handshake(client_ctx, server_ctx, lambda buffer: None)
    served = _buffer_handshake(client_ctx, server_ctx, watched.append)
    return {"kept_pin_refused": refused, "served": served, "attempts": attempts}


def _post_handshake_auth(client_ctx: Any, server_ctx: Any, watched: list[Any]) -> str:
    """A client SSLObject that answers a server's certificate request after
    the handshake: what the server received from it, or the error. The
    client's SSLObject is in `watched` while it answers."""
    try:
        client, server, move = handshake_ssl_objects(client_ctx, server_ctx)
        watched[:] = [client]
        server.verify_client_post_handshake()
        server.write(b"who?")
        move()
        asked = client.read(4)  # the certificate request: the key signs
        client.write(b"me")
        move()
        said = server.read(2)
        return f"{asked.decode()} {said.decode()} {len(server.getpeercert(True) or b'')}"
    except Exception as e:  # noqa: BLE001 - reported to the test
        return f"{type(e).__name__}: {e}"
    finally:
        watched[:] = []


def reentry_after(params: dict[str, Any]) -> dict[str, Any]:
    """The client's key wants its PIN for each use; once the kept PIN turns
    wrong, NSS asks the PIN callback from inside the client's read of the
    server's post-handshake certificate request. The callback then asks
    the client's SSLObject what the handshake negotiated."""
    import ssl

    pki = Files(params["pki"])
    pin = [params["pin"]]
    watched: list[Any] = []
    attempts: dict[str, str] = {}

    def callback(token: str, retry: bool) -> str:
        if watched:
            client = watched[0]
            for name in ("cipher", "version", "getpeercert", "pending",
                         "selected_alpn_protocol"):
                try:
                    attempts[name] = f"accepted: {getattr(client, name)()!r}"
                except Exception as e:  # noqa: BLE001 - reported to the test
                    attempts[name] = f"{type(e).__name__}: {e}"
        return pin[0]

    tls.set_pin_callback(callback)
    client_ctx = tls.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_ctx.load_verify_locations(pki.path("ca.pem"))
    client_ctx.load_cert_chain(params["cert"])
    client_ctx.post_handshake_auth = True
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)  # the ssl module's own
    server_ctx.load_cert_chain(pki.path("ec.pem"), pki.path("ec.key"))
    server_ctx.load_verify_locations(pki.path("ca.pem"))
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    server_ctx.post_handshake_auth = True
    before = _post_handshake_auth(client_ctx, server_ctx, [])
    _change_pin(params["token_name"], params["pin"], params["new_pin"])
    pin[0] = params["new_pin"]
    outcomes = [_post_handshake_auth(client_ctx, server_ctx, watched) for _ in range(2)]
    return {"before": before, "after": outcomes, "attempts": attempts}


SCENARIOS = {"context": context, "serve": serve, "client": client, "trust": trust,
             "ssl-serve": ssl_serve, "reentry": reentry, "reentry-after": reentry_after}

if __name__ == "__main__":
    scenario, raw = sys.argv[1], sys.argv[2]
    print(json.dumps(SCENARIOS[scenario](json.loads(raw))))
