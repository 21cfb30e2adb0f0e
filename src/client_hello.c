/* The ClientHello, read as it passes on its way to NSS (sockets: the
 * first-record layer; buffers: process_incoming) or out of a client, or
 * before it (the ssl module's sni_callback, which must run before NSS
 * starts the handshake, and in Python).
 *
 * What needs it that NSS does not hand out:
 * - the key log names each connection by the ClientHello's random;
 * - a server that switches models on SNI must give back the client's key
 *   exchange groups. NSS narrows a server socket's groups to those the
 *   client lists before it asks about SNI, and SSL_ReconfigFD then copies
 *   the new model's whole list over that: a TLS 1.2 server would pick the
 *   first group it likes, say x25519, for a client that offered only
 *   secp256r1, and the handshake fails. */
#include "config.h"
#include "tls_nss.h"

/* Enough for any ClientHello seen in practice, a post-quantum key share
 * included; a longer one keeps NSS's behaviour. */
enum { HELLO_LIMIT = 4096 };
enum { RECORD_HANDSHAKE = 22, CLIENT_HELLO = 1, SUPPORTED_GROUPS = 10 };

static void
keep(unsigned char *into, size_t *length, size_t room, const void *bytes, size_t n)
{
    if (*length >= room)
        return;
    size_t take = n < room - *length ? n : room - *length;
    memcpy(into + *length, bytes, take);
    *length += take;
}

int
tls_nss_conn_watch_hello(tls_nss_conn *conn, PRBool as_server)
{
    if (!as_server || conn->ctx->groups.count < 2)
        return 0;
    conn->client_hello = PyMem_RawMalloc(HELLO_LIMIT);
    if (conn->client_hello == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

void
tls_nss_conn_forget_hello(tls_nss_conn *conn)
{
    PyMem_RawFree(conn->client_hello);
    conn->client_hello = NULL;
    conn->client_hello_length = 0;
}

void
tls_nss_conn_observe_hello(tls_nss_conn *conn, const void *bytes, size_t n, PRBool outgoing)
{
    /* The ClientHello goes out of a client and into a server. */
    if (conn->ctx == NULL || outgoing == conn->ctx->is_server)
        return;
    if (conn->ctx->keylog_fd >= 0)
        keep(conn->hello, &conn->hello_length, sizeof(conn->hello), bytes, n);
    if (conn->client_hello != NULL)
        keep(conn->client_hello, &conn->client_hello_length, HELLO_LIMIT, bytes, n);
}

/* A cursor over bytes the peer sent: every read is checked against what
 * is left, and a short one leaves the cursor spent. */
typedef struct {
    const unsigned char *at;
    size_t left;
} cursor;

static PRBool
take(cursor *c, size_t n, cursor *out)
{
    if (c->left < n) {
        c->left = 0;
        return PR_FALSE;
    }
    if (out != NULL) {
        out->at = c->at;
        out->left = n;
    }
    c->at += n;
    c->left -= n;
    return PR_TRUE;
}

static PRBool
take_number(cursor *c, size_t width, size_t *value)
{
    cursor bytes;
    if (!take(c, width, &bytes))
        return PR_FALSE;
    *value = 0;
    for (size_t i = 0; i < width; i++)
        *value = (*value << 8) | bytes.at[i];
    return PR_TRUE;
}

static PRBool
take_vector(cursor *c, size_t length_width, cursor *out)
{
    size_t length;
    return take_number(c, length_width, &length) && take(c, length, out);
}

/* Joins the handshake records' fragments in place, at the start of the
 * buffer; the length joined. */
static size_t
join_fragments(unsigned char *wire, size_t n)
{
    size_t read = 0, written = 0;
    while (n - read >= 5 && wire[read] == RECORD_HANDSHAKE) {
        size_t length = ((size_t)wire[read + 3] << 8) | wire[read + 4];
        size_t have = n - read - 5 < length ? n - read - 5 : length;
        memmove(wire + written, wire + read + 5, have);
        written += have;
        read += 5 + have;
    }
    return written;
}

enum { SERVER_NAME = 0, HOST_NAME = 0 };
typedef enum { HELLO_MALFORMED = -1, HELLO_INCOMPLETE = -2, EXTENSION_ABSENT = 0,
               EXTENSION_FOUND = 1 } lookup;

/* The data of extension `wanted` in the ClientHello that `wire` starts with
 * (TLS records, joined in place). */
static lookup
find_extension(unsigned char *wire, size_t n, size_t wanted, cursor *data)
{
    if (n > 0 && wire[0] != RECORD_HANDSHAKE)
        return HELLO_MALFORMED;
    size_t joined = join_fragments(wire, n);
    cursor hello = {wire, joined}, body, skipped, extensions;
    size_t type, length;

    if (joined < 4)
        return HELLO_INCOMPLETE;
    if (!take_number(&hello, 1, &type) || type != CLIENT_HELLO)
        return HELLO_MALFORMED;
    if (!take_number(&hello, 3, &length))
        return HELLO_MALFORMED;
    if (hello.left < length)
        return HELLO_INCOMPLETE;
    hello.left = length;
    body = hello;
    if (!take(&body, 2 + 32, NULL) ||            /* legacy_version, random */
        !take_vector(&body, 1, &skipped) ||      /* legacy_session_id */
        !take_vector(&body, 2, &skipped) ||      /* cipher_suites */
        !take_vector(&body, 1, &skipped))        /* legacy_compression_methods */
        return HELLO_MALFORMED;
    if (body.left == 0)
        return EXTENSION_ABSENT;
    if (!take_vector(&body, 2, &extensions))
        return HELLO_MALFORMED;
    while (extensions.left > 0) {
        size_t extension;
        if (!take_number(&extensions, 2, &extension) || !take_vector(&extensions, 2, data))
            return HELLO_MALFORMED;
        if (extension == wanted)
            return EXTENSION_FOUND;
    }
    return EXTENSION_ABSENT;
}

/* The groups the ClientHello lists: how many, at most `room`; -1 when it
 * is not all there, is malformed, or has no supported_groups. */
static int
listed_groups(unsigned char *wire, size_t n, PRUint16 *out, int room)
{
    cursor data, list;
    size_t group;

    if (find_extension(wire, n, SUPPORTED_GROUPS, &data) != EXTENSION_FOUND ||
        !take_vector(&data, 2, &list))
        return -1;
    int count = 0;
    while (count < room && take_number(&list, 2, &group))
        out[count++] = (PRUint16)group;
    return count;
}

PyObject *
tls_nss_client_hello_server_name(PyObject *module, PyObject *arg)
{
    Py_buffer view;
    cursor data, names, name;
    size_t type;
    PyObject *result = NULL;

    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    /* Joined in a copy: the caller's bytes stay as they are. */
    unsigned char *wire = PyMem_Malloc(view.len ? (size_t)view.len : 1);
    if (wire == NULL) {
        PyBuffer_Release(&view);
        return PyErr_NoMemory();
    }
    memcpy(wire, view.buf, (size_t)view.len);
    switch (find_extension(wire, (size_t)view.len, SERVER_NAME, &data)) {
    case HELLO_INCOMPLETE:
        result = Py_NewRef(Py_False);
        break;
    case EXTENSION_FOUND:
        /* The first host_name of the server_name list (RFC 6066, 3). */
        if (take_vector(&data, 2, &names) && take_number(&names, 1, &type) &&
            type == HOST_NAME && take_vector(&names, 2, &name) && name.left > 0) {
            result = PyUnicode_DecodeASCII((const char *)name.at, (Py_ssize_t)name.left,
                                           "strict");
            if (result == NULL && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
                PyErr_Clear();
                result = Py_NewRef(Py_None);
            }
            break;
        }
        /* A name NSS will refuse, not ours to judge. */
        result = Py_NewRef(Py_None);
        break;
    default:
        result = Py_NewRef(Py_None);
    }
    PyMem_Free(wire);
    PyBuffer_Release(&view);
    return result;
}

static PRBool
is_ffdhe(PRUint16 group)
{
    return (group & 0xff00) == 0x0100;
}

SECStatus
tls_nss_conn_restore_client_groups(tls_nss_conn *conn, PRFileDesc *fd)
{
    PRUint16 listed[64];
    SSLNamedGroup usable[TLS_NSS_MAX_GROUPS], kept[TLS_NSS_MAX_GROUPS];
    SSLPreliminaryChannelInfo info;
    unsigned int kept_count = 0;
    PRBool lists_ffdhe = PR_FALSE;

    int listed_count = conn->client_hello == NULL
                           ? -1
                           : listed_groups(conn->client_hello, conn->client_hello_length,
                                           listed, PR_ARRAY_SIZE(listed));
    tls_nss_conn_forget_hello(conn);
    if (listed_count < 0)
        return SECSuccess; /* nothing NSS narrowed, or nothing we can tell */
    for (int i = 0; i < listed_count; i++)
        lists_ffdhe |= is_ffdhe(listed[i]);
    /* As NSS does before TLS 1.3: a client that names no finite-field
     * group is taken to accept ours. */
    PRBool any_ffdhe = !lists_ffdhe &&
                       SSL_GetPreliminaryChannelInfo(fd, &info, sizeof(info)) == SECSuccess &&
                       info.protocolVersion < SSL_LIBRARY_VERSION_TLS_1_3;
    unsigned int usable_count = tls_nss_usable_groups(usable, PR_ARRAY_SIZE(usable));
    for (unsigned int u = 0; u < usable_count; u++) {
        PRBool offered = any_ffdhe && is_ffdhe((PRUint16)usable[u]);
        for (int i = 0; !offered && i < listed_count; i++)
            offered = listed[i] == (PRUint16)usable[u];
        if (offered)
            kept[kept_count++] = usable[u];
    }
    return SSL_NamedGroupConfig(fd, kept, kept_count);
}
