"""Key exchange groups: what the hybrid X25519MLKEM768 costs a handshake.

    TLS_NSS_POLICY_FILE=policy/default-policy.config \\
        PYTHONPATH=<site-packages with tls_nss> python3 bench/groups.py

Runs full and resumed TLS 1.3 handshakes (ECDSA P-256) between a pair of
our buffers in one thread, and reports the group negotiated and the time
spent on each side per handshake. Run it once with the policy in force and
once with a policy that turns post-quantum off (crypto-policies'
DEFAULT:NO-PQ, tests/data/policies/DEFAULT+NO-PQ.config) to compare; the
policy is per process.
"""

from __future__ import annotations

import os
import statistics
import sys
import time

import tls_nss as tls

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from certgen import Authority  # noqa: E402

FULL = 200
RESUMED = 500
ROUNDS = 5


def handshake(client, server):
    """Client and server seconds spent in do_handshake, and the group."""
    spent = [0.0, 0.0]
    done = [False, False]
    ends = (client, server)
    while not all(done):
        for side, end in enumerate(ends):
            if not done[side]:
                start = time.perf_counter()
                try:
                    end.do_handshake()
                    done[side] = True
                except tls.WantReadError:
                    pass
                spent[side] += time.perf_counter() - start
            other = ends[1 - side]
            pending = end.outgoing_bytes_buffered()
            if pending:
                other.process_incoming(end.process_outgoing(pending))
    # TLS 1.3 tickets come after the handshake: the client reads them, as
    # an application's first read would, so that the next one can resume.
    start = time.perf_counter()
    try:
        client.read(1)
    except tls.WantReadError:
        pass
    spent[0] += time.perf_counter() - start
    return spent[0], spent[1], client.negotiated_group


def run(client_contexts, server_context):
    client_ms, server_ms, groups = [], [], set()
    for ctx in client_contexts:
        c, s, group = handshake(ctx.create_buffer("localhost"), server_context.create_buffer())
        client_ms.append(c * 1000)
        server_ms.append(s * 1000)
        groups.add(group)
    return statistics.mean(client_ms), statistics.mean(server_ms), groups


def main() -> int:
    ca = Authority("bench CA", key_kind="ec256")
    leaf = ca.issue("localhost", key_kind="ec256")
    server = tls.NSSServerContext(tls.TLSServerConfiguration(certificate_chain=[
        tls.SigningChain((tls.Certificate.from_buffer(leaf.cert_pem),
                          tls.PrivateKey.from_buffer(leaf.key_pem())))]))
    client_config = tls.TLSClientConfiguration(trust_store=tls.TrustStore.from_buffer(ca.cert_pem),
                                               lowest_supported_version=tls.TLSVersion.TLSv1_3)
    policy = tls.policy.effective_policy()
    print(f"NSS {tls.nss_version()}, policy {policy.describe()}")
    print(f"groups allowed: {', '.join(policy.groups)}")
    full, resumed = [], []
    for _ in range(ROUNDS):
        # A context per handshake: nothing to resume from.
        fresh = [tls.NSSClientContext(client_config) for _ in range(FULL)]
        full.append(run(fresh, server))
        one = tls.NSSClientContext(client_config)
        run([one], server)  # the first handshake gets a ticket
        resumed.append(run([one] * RESUMED, server))
    for name, results in (("full", full), ("resumed", resumed)):
        client = [r[0] for r in results]
        server_side = [r[1] for r in results]
        groups = set().union(*(r[2] for r in results))
        print(f"{name:8} group {'/'.join(sorted(groups))}: client "
              f"{statistics.median(client):.2f} ms ({min(client):.2f}-{max(client):.2f}), "
              f"server {statistics.median(server_side):.2f} ms "
              f"({min(server_side):.2f}-{max(server_side):.2f}) per handshake")
    return 0


if __name__ == "__main__":
    sys.exit(main())
