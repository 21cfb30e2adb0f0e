"""A server that asks for client certificates but also serves clients
without one: they connect, and getpeercert() is None. A client that does
present one must pass verification against the trust store."""

import tls_nss as tls


def server_context(cert: str, key: str, client_ca: str) -> tls.NSSServerContext:
    chain = tls.SigningChain((tls.Certificate.from_file(cert), tls.PrivateKey.from_file(key)))
    config = tls.TLSServerConfiguration(certificate_chain=[chain],
                                        trust_store=tls.TrustStore.from_file(client_ca))
    return tls.NSSServerContext(config, client_certificate="optional")


def who(conn: tls.NSSTLSSocket) -> str:
    der = conn.getpeercert()
    return tls.certinfo.describe(der).subject if der else "anonymous"
