"""A TLS 1.3 server and client on loopback, through the PEP 748 API."""

from __future__ import annotations

import threading

import tls_nss as tls


def run() -> int:
    try:
        from ._certgen import Authority
    except ImportError:
        print("the demo makes its certificates with python3-cryptography; install it first")
        return 1

    ca = Authority("tls_nss demo CA")
    server_cert = ca.issue("localhost", "127.0.0.1", key_kind="ec256")

    server_config = tls.TLSServerConfiguration(
        certificate_chain=[
            tls.SigningChain(
                leaf=(
                    tls.Certificate.from_buffer(server_cert.cert_pem),
                    tls.PrivateKey.from_buffer(server_cert.key_pem()),
                )
            )
        ],
        inner_protocols=[tls.NextProtocol.H2, tls.NextProtocol.HTTP1],
        lowest_supported_version=tls.TLSVersion.TLSv1_3,
    )
    client_config = tls.TLSClientConfiguration(
        trust_store=tls.TrustStore.from_buffer(ca.cert_pem),
        inner_protocols=[tls.NextProtocol.H2],
    )
    server_context = tls.NSS_IMPLEMENTATION.server_context(server_config)
    client_context = tls.NSS_IMPLEMENTATION.client_context(client_config)

    listener = server_context.connect(("127.0.0.1", 0))
    host, port = listener.getsockname()[:2]
    received: list[bytes] = []

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            received.append(conn.recv(1024))
            conn.sendall(b"hello from the NSS server")

    thread = threading.Thread(target=serve)
    thread.start()
    with client_context.connect(("localhost", port)) as sock:
        sock.sendall(b"hello from the NSS client")
        reply = sock.recv(1024)
        print(f"NSS {tls.nss_version()}: connected to localhost:{port}")
        print(f"  TLS version:       {sock.negotiated_tls_version.value}")
        cipher = sock.cipher()
        print(f"  cipher suite:      {getattr(cipher, 'name', cipher)}")
        print(f"  ALPN protocol:     {sock.negotiated_protocol()}")
        print(f"  server certificate {len(sock.getpeercert() or b'')} bytes, verified against the demo CA")
        print(f"  server received:   {received[0] if received else None!r}")
        print(f"  client received:   {reply!r}")
    thread.join()
    listener.close()
    from .policy import effective_policy

    policy = effective_policy()
    low, high = policy.version_names
    print(f"crypto policy:       {policy.describe()}: {low} to {high}, "
          f"{len(policy.cipher_suites)} cipher suites, RSA keys of "
          f"{policy.minimum_key_sizes.get('RSA')} bits or more")
    return 0
