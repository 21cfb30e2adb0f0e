/* The key log: TLS 1.3 traffic secrets in the NSS Key Log Format, for
 * Wireshark and the like, as the ssl module's keylog_filename writes them.
 *
 * It works on any NSS, whether or not it was built with its own
 * SSLKEYLOGFILE support: NSS hands each secret to SSL_SecretCallback, and
 * the ClientHello's random, which names the connection in the log, is read
 * off the wire as it passes our I/O layer (sockets) or the buffer. */
#include "config.h"
#include "tls_nss.h"

#include <errno.h>
#include <unistd.h>

/* record header (5), handshake header (4), legacy_version (2), random (32) */
enum { RECORD_HANDSHAKE = 22, CLIENT_HELLO = 1, RANDOM_OFFSET = 11, RANDOM_LENGTH = 32 };

/* The Key Log Format's name for a secret, or NULL for none it has. */
static const char *
secret_label(PRUint16 epoch, PRBool clients_secret, char *buf, size_t size)
{
    if (epoch == 1)
        return clients_secret ? "CLIENT_EARLY_TRAFFIC_SECRET" : NULL;
    if (epoch == 2)
        return clients_secret ? "CLIENT_HANDSHAKE_TRAFFIC_SECRET"
                              : "SERVER_HANDSHAKE_TRAFFIC_SECRET";
    if (epoch < 3)
        return NULL;
    /* Epoch 3 + N carries application traffic secret N (key updates). */
    snprintf(buf, size, "%s_TRAFFIC_SECRET_%u", clients_secret ? "CLIENT" : "SERVER",
             (unsigned)(epoch - 3));
    return buf;
}

static void
hex(char *out, const unsigned char *bytes, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 0x0f];
    }
    out[2 * n] = '\0';
}

/* Runs inside NSS, without the GIL, on the thread doing the handshake. */
static void PR_CALLBACK
log_secret(PRFileDesc *fd, PRUint16 epoch, SSLSecretDirection direction, PK11SymKey *secret,
           void *arg)
{
    tls_nss_conn *conn = arg;
    const unsigned char *hello = conn->hello;
    char name[64], random_hex[2 * RANDOM_LENGTH + 1], secret_hex[2 * 64 + 1];
    char line[sizeof(name) + sizeof(random_hex) + sizeof(secret_hex) + 4];

    PRBool clients_secret = (direction == ssl_secret_write) != conn->ctx->is_server;
    const char *label = secret_label(epoch, clients_secret, name, sizeof(name));
    if (label == NULL || conn->hello_length < sizeof(conn->hello) ||
        hello[0] != RECORD_HANDSHAKE || hello[5] != CLIENT_HELLO)
        return;
    /* The secret's bytes; a token that keeps it sensitive (FIPS mode) keeps
     * it out of the log. */
    if (PK11_ExtractKeyValue(secret) != SECSuccess)
        return;
    const SECItem *value = PK11_GetKeyData(secret);
    if (value == NULL || value->len == 0 || value->len > 64)
        return;
    hex(random_hex, hello + RANDOM_OFFSET, RANDOM_LENGTH);
    hex(secret_hex, value->data, value->len);
    int length = snprintf(line, sizeof(line), "%s %s %s\n", label, random_hex, secret_hex);
    /* One write per line on an O_APPEND descriptor: lines from many
     * connections and threads never interleave. */
    while (write(conn->ctx->keylog_fd, line, (size_t)length) < 0 && errno == EINTR)
        continue;
}

int
tls_nss_keylog_attach(tls_nss_state *st, tls_nss_conn *conn)
{
    if (conn->ctx->keylog_fd < 0)
        return 0;
    if (SSL_SecretCallback(conn->fd, log_secret, conn) != SECSuccess) {
        tls_nss_raise(st, TLS_NSS_ERROR, PR_GetError(), "setting up the key log for %s",
                      conn->peer);
        return -1;
    }
    return 0;
}
