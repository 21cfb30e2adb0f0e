/* What a connection's secrets give the application without revealing
 * them: exported keying material (RFC 5705, RFC 8446 section 7.5) and
 * channel bindings (RFC 9266's tls-exporter). */
#include "config.h"
#include "tls_nss.h"

#include <stddef.h>

/* RFC 5705 leaves the length to the application; TLS 1.3's HKDF cannot
 * give more than 255 hash lengths, and no use needs more than this. */
#define MAX_EXPORT_LENGTH 16384

static const char channel_binding_label[] = "EXPORTER-Channel-Binding";

/* The negotiated version and extended master secret use, or -1 with
 * ValueError set if the handshake is not done (RuntimeError if a call is
 * inside NSS). */
static int
finished_channel(tls_nss_conn *conn, SSLChannelInfo *info, const char *what)
{
    int settled = tls_nss_conn_settled(conn, what);

    if (settled < 0)
        return -1;
    if (settled && SSL_GetChannelInfo(conn->fd, info, sizeof(*info)) == SECSuccess &&
        info->length >= offsetof(SSLChannelInfo, extendedMasterSecretUsed) +
                            sizeof(info->extendedMasterSecretUsed))
        return 0;
    PyErr_Format(PyExc_ValueError, "%s needs a connection whose handshake is done", what);
    return -1;
}

/* Exports `length` bytes into a new bytes object. */
static PyObject *
export(tls_nss_conn *conn, const char *label, Py_ssize_t label_length, const Py_buffer *context,
       Py_ssize_t length, const char *operation)
{
    PyObject *out = PyBytes_FromStringAndSize(NULL, length);
    if (out == NULL)
        return NULL;
    SECStatus status = SSL_ExportKeyingMaterial(
        conn->fd, label, (unsigned int)label_length, context != NULL ? PR_TRUE : PR_FALSE,
        context != NULL ? context->buf : NULL, context != NULL ? (unsigned int)context->len : 0,
        (unsigned char *)PyBytes_AS_STRING(out), (unsigned int)length);
    if (status != SECSuccess) {
        Py_DECREF(out);
        return tls_nss_raise(tls_nss_state_of((PyObject *)conn), TLS_NSS_ERROR, PR_GetError(),
                             "%s with %s", operation, conn->peer);
    }
    return out;
}

PyObject *
tls_nss_conn_export_keying_material(tls_nss_conn *conn, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"label", "context", "length", NULL};
    Py_buffer label = {NULL}, context = {NULL};
    Py_ssize_t length = 32;
    SSLChannelInfo info;
    PyObject *result = NULL;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "s*|z*n:export_keying_material", keywords,
                                     &label, &context, &length))
        return NULL;
    if (length < 1 || length > MAX_EXPORT_LENGTH)
        PyErr_Format(PyExc_ValueError, "length must be from 1 to %d, not %zd",
                     MAX_EXPORT_LENGTH, length);
    else if (label.len == 0 || label.len > 255)
        PyErr_SetString(PyExc_ValueError, "the label must be 1 to 255 bytes long");
    else if (context.buf != NULL && context.len > 65535)
        PyErr_SetString(PyExc_ValueError, "the context must be at most 65535 bytes long");
    else if (finished_channel(conn, &info, "export_keying_material()") == 0)
        result = export(conn, label.buf, label.len, context.buf != NULL ? &context : NULL,
                        length, "exporting keying material");
    PyBuffer_Release(&label);
    if (context.buf != NULL)
        PyBuffer_Release(&context);
    return result;
}

PyObject *
tls_nss_conn_channel_binding(tls_nss_conn *conn, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"cb_type", NULL};
    const char *cb_type = "tls-exporter";
    SSLChannelInfo info;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|s:get_channel_binding", keywords,
                                     &cb_type))
        return NULL;
    if (strcmp(cb_type, "tls-exporter") != 0 && strcmp(cb_type, "tls-unique") != 0)
        return PyErr_Format(PyExc_ValueError,
                            "unsupported channel binding type '%s': use 'tls-exporter'",
                            cb_type);
    int settled = tls_nss_conn_settled(conn, "get_channel_binding");
    if (settled <= 0)
        return settled < 0 ? NULL : Py_NewRef(Py_None);
    if (finished_channel(conn, &info, "get_channel_binding()") < 0)
        return NULL;
    if (strcmp(cb_type, "tls-unique") == 0) {
        /* RFC 9266: tls-unique does not exist in TLS 1.3, and NSS offers no
         * way to the TLS 1.2 Finished message it is made of. */
        if (info.protocolVersion >= SSL_LIBRARY_VERSION_TLS_1_3)
            return PyErr_Format(PyExc_ValueError,
                                "'tls-unique' is not defined for TLS 1.3 (RFC 9266); "
                                "use 'tls-exporter'");
        return PyErr_Format(PyExc_ValueError,
                            "'tls-unique' is not available from NSS; use 'tls-exporter'");
    }
    /* RFC 9266 section 4.2: on TLS 1.2 the exporter binds the channel only
     * with the extended master secret (RFC 7627). */
    if (info.protocolVersion < SSL_LIBRARY_VERSION_TLS_1_3 && !info.extendedMasterSecretUsed)
        return PyErr_Format(PyExc_ValueError,
                            "'tls-exporter' needs the extended master secret on TLS 1.2, "
                            "which %s did not negotiate", conn->peer);
    return export(conn, channel_binding_label, sizeof(channel_binding_label) - 1, NULL, 32,
                  "exporting the tls-exporter channel binding");
}
