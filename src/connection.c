/* The base type of TLS sockets and TLS buffers, and everything they share:
 * putting TLS on a descriptor from a context's model with this
 * connection's hooks, reading application data up to the peer's
 * close_notify, and what the handshake negotiated. One path, whatever
 * carries the bytes. */
#include "config.h"
#include "tls_nss.h"

#include <stddef.h>

#define CLOSE_NOTIFY 0

tls_nss_conn *
tls_nss_conn_new(PyTypeObject *type, tls_nss_context *ctx, PyObject *owner)
{
    tls_nss_conn *conn = PyObject_GC_New(tls_nss_conn, type);

    if (conn == NULL)
        return NULL;
    /* Subtypes' own fields follow the base's; start them all zeroed. */
    memset((char *)conn + offsetof(tls_nss_conn, fd), 0,
           (size_t)type->tp_basicsize - offsetof(tls_nss_conn, fd));
    conn->ctx = (tls_nss_context *)Py_NewRef((PyObject *)ctx);
    conn->owner = Py_NewRef(owner);
    conn->check.policy = &ctx->trust;
    PyObject_GC_Track(conn);
    return conn;
}

int
tls_nss_conn_set_hostname(tls_nss_conn *conn, const char *hostname)
{
    size_t size = strlen(hostname) + 1;

    conn->check.hostname = PyMem_Malloc(size);
    if (conn->check.hostname == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    memcpy(conn->check.hostname, hostname, size);
    return 0;
}

/* Once, so that nothing changes under a call that uses them. */
int
tls_nss_conn_bind_ssl(tls_nss_conn *conn, PyObject *ssl_socket, PyObject *incoming,
                      PyObject *outgoing, PyObject *on_error)
{
    if (!PyCallable_Check(on_error) || (ssl_socket != NULL && !PyCallable_Check(ssl_socket))) {
        PyErr_SetString(PyExc_TypeError, "bind_ssl(): on_error and ssl_socket must be callable");
        return -1;
    }
    if (conn->on_error != NULL) {
        PyErr_SetString(PyExc_ValueError, "bind_ssl(): the connection is already bound");
        return -1;
    }
    conn->ssl_socket = Py_XNewRef(ssl_socket);
    conn->ssl_incoming = Py_XNewRef(incoming);
    conn->ssl_outgoing = Py_XNewRef(outgoing);
    conn->on_error = Py_NewRef(on_error);
    return 0;
}

/* ---- NSS callbacks (run without the GIL) ---- */

static void
alert_received(const PRFileDesc *fd, void *arg, const SSLAlert *alert)
{
    tls_nss_conn *conn = arg;
    if (alert->description == CLOSE_NOTIFY)
        conn->close_notify_received = PR_TRUE;
}

/* NSS sends one TLS 1.3 ticket after every handshake; a server context
 * that wants more after a full one (num_tickets) sends them here, where
 * the resumption secret is ready and the client has not yet been told
 * anything else. A ticket that cannot be sent costs the client a
 * resumption, not the connection. */
static void
send_extra_tickets(const tls_nss_conn *conn, PRFileDesc *fd)
{
    SSLChannelInfo info;

    if (!conn->ctx->session_tickets || conn->ctx->extra_session_tickets == 0 ||
        SSL_GetChannelInfo(fd, &info, sizeof(info)) != SECSuccess || info.resumed ||
        info.protocolVersion < SSL_LIBRARY_VERSION_TLS_1_3)
        return;
    for (unsigned int i = 0; i < conn->ctx->extra_session_tickets; i++)
        if (SSL_SendSessionTicket(fd, NULL, 0) != SECSuccess)
            return;
}

static void
handshake_finished(PRFileDesc *fd, void *arg)
{
    tls_nss_conn *conn = arg;
    /* Once: a TLS 1.3 server calls this again after post-handshake
     * authentication. */
    if (!conn->handshake_done && conn->ctx->is_server)
        send_extra_tickets(conn, fd);
    conn->handshake_done = PR_TRUE;
}

static PRInt32 PR_CALLBACK choose_name_group(PRFileDesc *fd, const SECItem *names,
                                             PRUint32 count, void *arg);

/* This connection's hooks. SSL_ReconfigFD replaces them with the model's,
 * so SNI installs them again after switching models. */
static SECStatus
install_hooks(tls_nss_conn *conn, PRFileDesc *fd, PRBool as_server)
{
    if (SSL_AuthCertificateHook(fd, tls_nss_auth_certificate_hook, &conn->check) != SECSuccess ||
        SSL_AlertReceivedCallback(fd, alert_received, conn) != SECSuccess ||
        SSL_HandshakeCallback(fd, handshake_finished, conn) != SECSuccess)
        return SECFailure;
    if (!as_server)
        return SSL_GetClientAuthDataHook(fd, tls_nss_client_auth_data_hook, &conn->check);
    if (conn->ctx->groups.count > 1)
        return SSL_SNISocketConfigHook(fd, choose_name_group, conn);
    return SECSuccess;
}

/* SNI on a server with several name groups: the first group whose leaf
 * matches the name the client asked for (DNS names, wildcards included,
 * else IP addresses); group 0 when none does or no name was sent. Runs
 * without the GIL, on data fixed since the context was made. */
static PRInt32 PR_CALLBACK
choose_name_group(PRFileDesc *fd, const SECItem *names, PRUint32 count, void *arg)
{
    tls_nss_conn *conn = arg;
    const tls_nss_context *ctx = conn->ctx;

    for (PRUint32 i = 0; i < count; i++) {
        char name[256];
        if (names[i].len == 0 || names[i].len >= sizeof(name))
            continue;
        memcpy(name, names[i].data, names[i].len);
        name[names[i].len] = '\0';
        for (Py_ssize_t g = 0; g < ctx->groups.count; g++) {
            if (CERT_VerifyCertName(ctx->groups.items[g].leaf, name) != SECSuccess)
                continue;
            if (g == 0)
                return (PRInt32)i; /* the connection has group 0 already */
            const tls_nss_name_group *group = &ctx->groups.items[g];
            if (SSL_ReconfigFD(conn->unlocked ? group->unlocked_model : group->model, fd) ==
                    NULL ||
                install_hooks(conn, fd, PR_TRUE) != SECSuccess ||
                tls_nss_conn_restore_client_groups(conn, fd) != SECSuccess)
                return SSL_SNI_SEND_ALERT;
            return (PRInt32)i;
        }
    }
    return SSL_SNI_CURRENT_CONFIG_IS_USED;
}

int
tls_nss_conn_import(tls_nss_state *st, tls_nss_conn *conn, PRFileDesc *lower,
                    PRBool as_server)
{
    conn->fd = SSL_ImportFD(conn->ctx->model, lower);
    if (conn->fd == NULL) {
        PRErrorCode error = PR_GetError();
        PR_Close(lower);
        tls_nss_raise(st, TLS_NSS_ERROR, error, "starting TLS with %s", conn->peer);
        return -1;
    }
    if ((conn->unlocked && SSL_OptionSet(conn->fd, SSL_NO_LOCKS, PR_TRUE) != SECSuccess) ||
        (conn->check.hostname != NULL && SSL_SetURL(conn->fd, conn->check.hostname) != SECSuccess) ||
        install_hooks(conn, conn->fd, as_server) != SECSuccess) {
        tls_nss_raise(st, TLS_NSS_ERROR, PR_GetError(), "setting up TLS with %s", conn->peer);
        return -1;
    }
    if (tls_nss_keylog_attach(st, conn) < 0 || tls_nss_conn_watch_hello(conn, as_server) < 0)
        return -1;
    if (!as_server &&
        tls_nss_token_keys_refresh_own(st, &conn->ctx->trust.own, &conn->check.own_key) < 0)
        return -1;
    if (!as_server) {
        /* Sessions are kept per context (the one that verified them) and
         * per server name and port (what they were verified for). The peer
         * ID keeps the same apart in NSS's process-wide cache, should NSS
         * ever consult it. */
        char peer_id[sizeof(conn->peer) + 256];
        if (conn->session_key[0] == '\0')
            snprintf(conn->session_key, sizeof(conn->session_key), "%.255s",
                     conn->check.hostname ? conn->check.hostname : "");
        snprintf(peer_id, sizeof(peer_id), "tls_nss/%u/%s/%s", conn->ctx->serial,
                 conn->check.hostname ? conn->check.hostname : "", conn->peer);
        if (SSL_SetSockPeerID(conn->fd, peer_id) != SECSuccess) {
            tls_nss_raise(st, TLS_NSS_ERROR, PR_GetError(), "setting up TLS with %s",
                          conn->peer);
            return -1;
        }
    }
    if (SSL_ResetHandshake(conn->fd, as_server) != SECSuccess) {
        tls_nss_raise(st, TLS_NSS_ERROR, PR_GetError(), "starting TLS with %s", conn->peer);
        return -1;
    }
    /* After the reset, which would forget a session offered before it. */
    return as_server ? 0 : tls_nss_session_cache_attach(st, conn);
}

void
tls_nss_conn_judge_first_bytes(tls_nss_conn *conn, const unsigned char *bytes, size_t n)
{
    enum { ALERT = 21, HANDSHAKE = 22, TLS_MAJOR_VERSION = 3 };

    if (conn->first_record_judged || n == 0)
        return;
    conn->first_bytes_length = n < sizeof(conn->first_bytes) ? n : sizeof(conn->first_bytes);
    memcpy(conn->first_bytes, bytes, conn->first_bytes_length);
    if ((bytes[0] != HANDSHAKE && bytes[0] != ALERT) ||
        (n >= 2 && bytes[1] != TLS_MAJOR_VERSION))
        conn->not_tls = PR_TRUE;
    /* Judged once, on what came first: NSS may read it right after. */
    conn->first_record_judged = PR_TRUE;
}

PyObject *
tls_nss_conn_raise(tls_nss_state *st, const tls_nss_conn *conn, PRErrorCode error,
                   tls_nss_error_kind when_blocked, const char *operation)
{
    if (conn->not_tls) {
        PyObject *first = PyBytes_FromStringAndSize((const char *)conn->first_bytes,
                                                    (Py_ssize_t)conn->first_bytes_length);
        if (first == NULL)
            return NULL;
        tls_nss_raise(st, TLS_NSS_ERROR, 0,
                      "%s %s: the peer does not speak TLS (its first bytes: %R)", operation,
                      conn->peer, first);
        Py_DECREF(first);
        return NULL;
    }
    /* A refused peer certificate is reported by the reason our hook found,
     * whatever code NSS finished the handshake with. */
    if (error == PR_WOULD_BLOCK_ERROR)
        return tls_nss_raise(st, when_blocked, error, "%s %s", operation, conn->peer);
    if (conn->check.verify_error != 0) {
        char certificate[300] = "";
        if (conn->check.verify_error_depth >= 0)
            PyOS_snprintf(certificate, sizeof(certificate), "depth %d: %s%s",
                          conn->check.verify_error_depth, conn->check.verify_error_subject,
                          conn->check.verify_error_self_signed ? " (self-signed)" : "");
        return tls_nss_raise_refused(st, conn->check.verify_error,
                                     certificate[0] ? certificate : NULL, "%s %s", operation,
                                     conn->peer);
    }
    return tls_nss_raise(st, TLS_NSS_ERROR, error, "%s %s", operation, conn->peer);
}

/* ---- reading up to close_notify ---- */

PyObject *
tls_nss_conn_raise_ragged_eof(tls_nss_conn *conn, const char *operation)
{
    return tls_nss_raise(tls_nss_state_of((PyObject *)conn), TLS_NSS_RAGGED_EOF,
                         PR_END_OF_FILE_ERROR,
                         "%s %s: the transport ended without the peer's TLS close_notify "
                         "(ragged EOF)", operation, conn->peer);
}

Py_ssize_t
tls_nss_conn_read(tls_nss_conn *conn, tls_nss_reader read_once, void *arg, char *out,
                  Py_ssize_t count, const char *operation, PRBool *ragged)
{
    if (count == 0 || conn->close_notify_received)
        return 0;
    if (count > PR_INT32_MAX)
        count = PR_INT32_MAX;
    Py_ssize_t got = read_once(conn, arg, out, count);
    if (got == 0 && !conn->close_notify_received) {
        if (ragged != NULL) {
            *ragged = PR_TRUE;
            return 0;
        }
        tls_nss_conn_raise_ragged_eof(conn, operation);
        return -1;
    }
    return got;
}

PyObject *
tls_nss_conn_read_bytes(tls_nss_conn *conn, tls_nss_reader read_once, void *arg,
                        Py_ssize_t size, const char *operation, PRBool *ragged)
{
    if (size > TLS_NSS_READ_ALLOCATION_MAX)
        size = TLS_NSS_READ_ALLOCATION_MAX;
    PyObject *data = PyBytes_FromStringAndSize(NULL, size);
    if (data == NULL)
        return NULL;
    Py_ssize_t got = tls_nss_conn_read(conn, read_once, arg, PyBytes_AS_STRING(data), size,
                                       operation, ragged);
    if (got < 0) {
        Py_DECREF(data);
        return NULL;
    }
    if (got != size && _PyBytes_Resize(&data, got) < 0)
        return NULL;
    return data;
}

int
tls_nss_conn_drain(tls_nss_conn *conn, tls_nss_reader read_once, void *arg)
{
    char scratch[4096];
    Py_ssize_t got = 1;

    while (!conn->close_notify_received && got > 0 && conn->fd != NULL)
        got = read_once(conn, arg, scratch, sizeof(scratch));
    if (got < 0)
        return -1;
    return conn->close_notify_received ? 1 : 0;
}

/* ---- what was negotiated ---- */

/* 1 with `info` filled in, 0 before the handshake is done, -1 with an
 * exception set. */
static int
channel_info(const tls_nss_conn *conn, SSLChannelInfo *info, const char *operation)
{
    int settled = tls_nss_conn_settled(conn, operation);
    if (settled <= 0)
        return settled;
    if (SSL_GetChannelInfo(conn->fd, info, sizeof(*info)) != SECSuccess)
        return 0;
    return info->length >= offsetof(SSLChannelInfo, cipherSuite) + sizeof(info->cipherSuite);
}

/* The enum member `members` (by value) has for `value`, or `value` itself
 * if none. Takes `value`'s reference. */
static PyObject *
enum_or_value(PyObject *members, PyObject *value)
{
    if (value == NULL)
        return NULL;
    PyObject *member = PyDict_GetItemWithError(members, value);
    if (member == NULL) {
        if (PyErr_Occurred())
            Py_CLEAR(value);
        return value;
    }
    Py_DECREF(value);
    return Py_NewRef(member);
}

static PyObject *
conn_cipher(tls_nss_conn *conn, PyObject *unused)
{
    tls_nss_state *st = tls_nss_state_of((PyObject *)conn);
    SSLChannelInfo info;
    int known = channel_info(conn, &info, "cipher");

    if (known <= 0)
        return known < 0 ? NULL : Py_NewRef(Py_None);
    return enum_or_value(st->cipher_suites, PyLong_FromLong(info.cipherSuite));
}

static PyObject *
conn_negotiated_protocol(tls_nss_conn *conn, PyObject *unused)
{
    tls_nss_state *st = tls_nss_state_of((PyObject *)conn);
    SSLNextProtoState state;
    unsigned char buf[256];
    unsigned int len = 0;
    int settled = tls_nss_conn_settled(conn, "negotiated_protocol");

    if (settled <= 0)
        return settled < 0 ? NULL : Py_NewRef(Py_None);
    if (SSL_GetNextProto(conn->fd, &state, buf, &len, sizeof(buf)) != SECSuccess)
        Py_RETURN_NONE;
    if ((state != SSL_NEXT_PROTO_SELECTED && state != SSL_NEXT_PROTO_NEGOTIATED) || len == 0)
        Py_RETURN_NONE;
    return enum_or_value(st->next_protocols, PyBytes_FromStringAndSize((const char *)buf, len));
}

static PyObject *
conn_negotiated_tls_version(tls_nss_conn *conn, void *closure)
{
    tls_nss_state *st = tls_nss_state_of((PyObject *)conn);
    SSLChannelInfo info;
    const char *name;
    int known = channel_info(conn, &info, "negotiated_tls_version");

    if (known <= 0)
        return known < 0 ? NULL : Py_NewRef(Py_None);
    /* Older versions have no TLSVersion member. */
    name = tls_nss_version_name(info.protocolVersion);
    PyObject *member = NULL;
    if (name != NULL) {
        PyObject *value = PyUnicode_FromString(name);
        if (value == NULL)
            return NULL;
        member = PyDict_GetItemWithError(st->tls_versions, value);
        Py_DECREF(value);
        if (member == NULL && PyErr_Occurred())
            return NULL;
    }
    return Py_NewRef(member != NULL ? member : Py_None);
}

static PyObject *
conn_getpeercert(tls_nss_conn *conn, PyObject *unused)
{
    CERTCertificate *cert;
    int settled = tls_nss_conn_settled(conn, "getpeercert");

    if (settled <= 0)
        return settled < 0 ? NULL : Py_NewRef(Py_None);
    cert = SSL_PeerCertificate(conn->fd);
    if (cert == NULL)
        Py_RETURN_NONE;
    PyObject *der = PyBytes_FromStringAndSize((const char *)cert->derCert.data,
                                              cert->derCert.len);
    CERT_DestroyCertificate(cert);
    return der;
}

static PyObject *
conn_negotiated_group(tls_nss_conn *conn, void *closure)
{
    SSLChannelInfo info;
    const char *name;
    int known = channel_info(conn, &info, "negotiated_group");

    if (known < 0)
        return NULL;
    if (!known || info.length < offsetof(SSLChannelInfo, keaGroup) + sizeof(info.keaGroup))
        Py_RETURN_NONE;
    name = tls_nss_group_name(info.keaGroup);
    if (name == NULL)
        return PyUnicode_FromFormat("0x%04x", (unsigned int)info.keaGroup);
    return PyUnicode_FromString(name);
}

static PyObject *
conn_session_reused(tls_nss_conn *conn, void *closure)
{
    SSLChannelInfo info;
    int known = channel_info(conn, &info, "session_reused");

    if (known < 0)
        return NULL;
    if (!known || info.length < offsetof(SSLChannelInfo, resumed) + sizeof(info.resumed))
        Py_RETURN_FALSE;
    return PyBool_FromLong(info.resumed);
}

static PyObject *
conn_get_context(tls_nss_conn *conn, void *closure)
{
    if (conn->owner == NULL)
        Py_RETURN_NONE;
    return Py_NewRef(conn->owner);
}

/* ---- the type ---- */

int
tls_nss_conn_traverse(tls_nss_conn *conn, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(conn));
    Py_VISIT(conn->ctx);
    Py_VISIT(conn->owner);
    Py_VISIT(conn->ssl_socket);
    Py_VISIT(conn->ssl_incoming);
    Py_VISIT(conn->ssl_outgoing);
    Py_VISIT(conn->on_error);
    return 0;
}

static int
conn_clear(tls_nss_conn *conn)
{
    /* `ctx` stays: the descriptor was imported from its model. */
    Py_CLEAR(conn->owner);
    Py_CLEAR(conn->ssl_socket);
    Py_CLEAR(conn->ssl_incoming);
    Py_CLEAR(conn->ssl_outgoing);
    Py_CLEAR(conn->on_error);
    return 0;
}

static void
conn_dealloc(tls_nss_conn *conn)
{
    PyTypeObject *type = Py_TYPE(conn);

    PyObject_GC_UnTrack(conn);
    if (conn->fd != NULL) {
        /* A connection dropped without close(): every descriptor is
         * non-blocking, so its close_notify goes out only if it can
         * without waiting, as the GIL is held here. Under an
         * ssl.SSLSocket none goes out, as with the ssl module: the
         * program closes its socket, which a forked process may still
         * be using (socketserver.ForkingMixIn closes the parent's copy
         * of every connection it hands to a child); unwrap() sends one. */
        conn->closing_quietly = conn->transport_shared;
        PR_Close(conn->fd);
        conn->fd = NULL;
    }
    PyMem_Free(conn->check.hostname);
    tls_nss_conn_forget_hello(conn);
    PyMem_RawFree(conn->prefix);
    if (conn->check.verified_chain != NULL)
        CERT_DestroyCertList(conn->check.verified_chain);
    if (conn->check.own_key != NULL)
        SECKEY_DestroyPrivateKey(conn->check.own_key);
    /* The context outlives every descriptor imported from its model. */
    Py_CLEAR(conn->ctx);
    Py_CLEAR(conn->owner);
    Py_CLEAR(conn->ssl_socket);
    Py_CLEAR(conn->ssl_incoming);
    Py_CLEAR(conn->ssl_outgoing);
    Py_CLEAR(conn->on_error);
    type->tp_free(conn);
    Py_DECREF(type);
}

/* Decrypted bytes NSS holds that a read would return without waiting. */
static PyObject *
conn_pending(tls_nss_conn *conn, PyObject *unused)
{
    if (tls_nss_conn_check_idle(conn, "pending") < 0)
        return NULL;
    return PyLong_FromLong(conn->fd == NULL ? 0 : SSL_DataPending(conn->fd));
}

static PyMethodDef conn_methods[] = {
    {"pending", (PyCFunction)conn_pending, METH_NOARGS,
     "pending()\n--\n\nHow many decrypted bytes a read can return at once, as\n"
     "ssl.SSLSocket.pending(). An NSS extension to PEP 748."},
    {"cipher", (PyCFunction)conn_cipher, METH_NOARGS,
     "cipher()\n--\n\nThe negotiated CipherSuite (an int if unnamed), or None."},
    {"negotiated_protocol", (PyCFunction)conn_negotiated_protocol, METH_NOARGS,
     "negotiated_protocol()\n--\n\nThe ALPN protocol (NextProtocol or bytes), or None."},
    {"getpeercert", (PyCFunction)conn_getpeercert, METH_NOARGS,
     "getpeercert()\n--\n\nThe peer's certificate as DER bytes, or None."},
    {"get_unverified_chain", (PyCFunction)tls_nss_conn_unverified_chain, METH_NOARGS,
     "get_unverified_chain()\n--\n\n"
     "The certificates the peer sent, as a list of DER bytes with its own first,\n"
     "or None before the handshake (as ssl.SSLSocket's in Python 3.13). An NSS\n"
     "extension to PEP 748."},
    {"get_verified_chain", (PyCFunction)tls_nss_conn_verified_chain, METH_NOARGS,
     "get_verified_chain()\n--\n\n"
     "The chain NSS built from the peer's certificate to one of the context's\n"
     "trust anchors, anchor included, as a list of DER bytes with the peer's\n"
     "own first; None before the handshake or when the peer was not verified.\n"
     "An NSS extension to PEP 748."},
    {"export_keying_material", (PyCFunction)(void (*)(void))tls_nss_conn_export_keying_material,
     METH_VARARGS | METH_KEYWORDS,
     "export_keying_material(label, context=None, length=32)\n--\n\n"
     "Keying material exported from the connection's secrets (RFC 5705 and\n"
     "RFC 8446 7.5): both ends get the same `length` bytes for the same label\n"
     "(str or bytes) and context (bytes, or None for none). An NSS extension."},
    {"get_channel_binding", (PyCFunction)(void (*)(void))tls_nss_conn_channel_binding,
     METH_VARARGS | METH_KEYWORDS,
     "get_channel_binding(cb_type='tls-exporter')\n--\n\n"
     "Channel binding data: 'tls-exporter' (RFC 9266; on TLS 1.2 only with the\n"
     "extended master secret); None before the handshake. 'tls-unique' and\n"
     "other types raise ValueError: NSS gives no way to tls-unique, which TLS\n"
     "1.3 does not define. An NSS extension."},
    {NULL, NULL, 0, NULL},
};

static PyObject *
conn_ocsp_status(tls_nss_conn *conn, void *closure)
{
    if (!conn->handshake_done)
        Py_RETURN_NONE;
    switch (conn->check.ocsp) {
    case TLS_NSS_OCSP_GOOD:
        return PyUnicode_FromString("good");
    case TLS_NSS_OCSP_REVOKED:
        return PyUnicode_FromString("revoked");
    default:
        Py_RETURN_NONE;
    }
}

static PyGetSetDef conn_getset[] = {
    {"ocsp_status", (getter)conn_ocsp_status, NULL,
     "What the OCSP response the server stapled said of its certificate: \"good\",\n"
     "or None (no staple, or one that was expired, badly signed or for another\n"
     "certificate; a \"revoked\" one fails the handshake). Clients only. An NSS\n"
     "extension to PEP 748.", NULL},
    {"context", (getter)conn_get_context, NULL, "The context this connection was made by.",
     NULL},
    {"negotiated_tls_version", (getter)conn_negotiated_tls_version, NULL,
     "The negotiated TLSVersion, or None.", NULL},
    {"session_reused", (getter)conn_session_reused, NULL,
     "Whether the handshake resumed an earlier session (as ssl.SSLSocket's).", NULL},
    {"negotiated_group", (getter)conn_negotiated_group, NULL,
     "The key exchange group of the handshake (\"X25519MLKEM768\", \"x25519\", ...), or\n"
     "None. An NSS extension to PEP 748.", NULL},
    {NULL},
};

static PyType_Slot conn_slots[] = {
    {Py_tp_doc, "What TLS sockets and TLS buffers share."},
    {Py_tp_dealloc, conn_dealloc},
    {Py_tp_traverse, tls_nss_conn_traverse},
    {Py_tp_clear, conn_clear},
    {Py_tp_methods, conn_methods},
    {Py_tp_getset, conn_getset},
    {0, NULL},
};

PyType_Spec tls_nss_connection_spec = {
    .name = "tls_nss._nss.TLSConnection",
    .basicsize = sizeof(tls_nss_conn),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_BASETYPE |
             TLS_NSS_NOT_INSTANTIABLE | TLS_NSS_IMMUTABLE,
    .slots = conn_slots,
};
