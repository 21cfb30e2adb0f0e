"""Renew a server's certificate without closing its listener: replace the
listening socket's context. Connections accepted afterwards use the new
certificate; those already open keep theirs."""

import tls_nss as tls


def server_context(cert: str, key: str) -> tls.NSSServerContext:
    chain = tls.SigningChain((tls.Certificate.from_file(cert), tls.PrivateKey.from_file(key)))
    return tls.NSSServerContext(tls.TLSServerConfiguration(certificate_chain=[chain]))


def rotate(listener: tls.NSSTLSSocket, cert: str, key: str) -> None:
    """Safe while another thread blocks in listener.accept()."""
    listener.context = server_context(cert, key)
