/* TLS buffers: TLS over an in-memory NSPR I/O layer (memio.c), for callers
 * that move the ciphertext themselves (asynchronous frameworks).
 *
 * SSL is imported on top of the layer from the context's model, exactly
 * as for sockets. Nothing here blocks, so calls keep the GIL, which also
 * keeps the queues consistent between the caller and NSS. */
#include "config.h"
#include "tls_nss.h"

typedef struct {
    tls_nss_conn tls;
    tls_nss_memio *io; /* the bottom layer's, valid while tls.fd is open */
} tls_nss_buffer;

/* ---- construction ---- */

PyObject *
tls_nss_buffer_new(tls_nss_context *ctx, PyObject *owner, const char *hostname)
{
    tls_nss_state *st = tls_nss_state_of((PyObject *)ctx);
    tls_nss_buffer *self =
        (tls_nss_buffer *)tls_nss_conn_new(st->buffer_type, ctx, owner);
    PRFileDesc *layer;

    if (self == NULL)
        return NULL;
    if (ctx->is_server && tls_nss_token_keys_refresh(st, &ctx->groups) < 0)
        goto fail;
    snprintf(self->tls.peer, sizeof(self->tls.peer), "%.120s (in memory)",
             hostname ? hostname : "TLS buffer");
    if (hostname != NULL && tls_nss_conn_set_hostname(&self->tls, hostname) < 0)
        goto fail;
    layer = tls_nss_memio_new();
    if (layer == NULL) {
        tls_nss_raise(st, TLS_NSS_ERROR, PR_GetError(), "creating the memory I/O layer");
        goto fail;
    }
    self->io = tls_nss_memio_of(layer);
    if (tls_nss_conn_import(st, &self->tls, layer, ctx->is_server) < 0)
        goto fail;
    return (PyObject *)self;

fail:
    Py_DECREF(self);
    return NULL;
}

/* ---- the TLSBuffer methods ---- */

/* The Want* error for a call NSS could not finish: write-blocked when the
 * outgoing queue is full, else waiting for the peer. */
static PyObject *
raise_failure(tls_nss_buffer *self, PRErrorCode error, const char *operation)
{
    tls_nss_error_kind blocked =
        tls_nss_memio_outgoing_length(self->io) >= TLS_NSS_OUTGOING_LIMIT
            ? TLS_NSS_WANT_WRITE
            : TLS_NSS_WANT_READ;
    return tls_nss_conn_raise(tls_nss_state_of((PyObject *)self), &self->tls, error, blocked,
                              operation);
}

static int
check_usable(tls_nss_buffer *self, const char *operation)
{
    if (self->tls.fd == NULL) {
        tls_nss_raise(tls_nss_state_of((PyObject *)self), TLS_NSS_ERROR, 0,
                      "%s: the TLS buffer is closed", operation);
        return -1;
    }
    return 0;
}

/* A peer judged not to speak TLS, before NSS waits for a "record". */
static int
check_peer_speaks_tls(tls_nss_buffer *self, const char *operation)
{
    if (!self->tls.not_tls)
        return 0;
    tls_nss_conn_raise(tls_nss_state_of((PyObject *)self), &self->tls, 0, TLS_NSS_ERROR,
                       operation);
    return -1;
}

/* One PR_Read: the count, or -1 with the Want* (or other) error set. */
static Py_ssize_t
read_once(tls_nss_conn *conn, void *unused, char *out, Py_ssize_t count)
{
    PRInt32 got;

    if (check_peer_speaks_tls((tls_nss_buffer *)conn, "reading from") < 0)
        return -1;
    /* A refused renegotiation leaves the connection to the peer: read on. */
    do
        got = PR_Read(conn->fd, out, (PRInt32)count);
    while (got < 0 && PR_GetError() == SSL_ERROR_RENEGOTIATION_NOT_ALLOWED);

    if (got < 0)
        raise_failure((tls_nss_buffer *)conn, PR_GetError(), "reading from");
    return got;
}

static PyObject *
buffer_read(tls_nss_buffer *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"amt", "buffer", NULL};
    Py_ssize_t amount;
    PyObject *target = Py_None;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "n|O:read", keywords, &amount, &target))
        return NULL;
    if (amount < 0) {
        PyErr_SetString(PyExc_ValueError, "read() amount must not be negative");
        return NULL;
    }
    if (check_usable(self, "read") < 0)
        return NULL;
    if (target != Py_None) {
        Py_buffer view;
        if (PyObject_GetBuffer(target, &view, PyBUF_WRITABLE) < 0) {
            if (PyErr_ExceptionMatches(PyExc_BufferError)) {
                PyErr_Clear();
                PyErr_Format(PyExc_TypeError,
                             "read() buffer must be a writable bytes-like object, not %.100s",
                             Py_TYPE(target)->tp_name);
            }
            return NULL;
        }
        Py_ssize_t got = tls_nss_conn_read(&self->tls, read_once, NULL, view.buf,
                                           amount < view.len ? amount : view.len, "reading from");
        PyBuffer_Release(&view);
        return got < 0 ? NULL : PyLong_FromSsize_t(got);
    }
    return tls_nss_conn_read_bytes(&self->tls, read_once, NULL, amount, "reading from");
}

static PyObject *
buffer_write(tls_nss_buffer *self, PyObject *arg)
{
    Py_buffer view;
    PRInt32 sent = 0;
    PRErrorCode error = 0;

    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    if (check_usable(self, "write") < 0) {
        PyBuffer_Release(&view);
        return NULL;
    }
    if (self->tls.close_notify_sent) {
        PyBuffer_Release(&view);
        return tls_nss_raise(tls_nss_state_of((PyObject *)self), TLS_NSS_ERROR, 0,
                             "write: the TLS buffer was shut down");
    }
    if (view.len > 0) {
        sent = PR_Write(self->tls.fd, view.buf,
                        view.len > PR_INT32_MAX ? PR_INT32_MAX : (PRInt32)view.len);
        if (sent < 0)
            error = PR_GetError();
    }
    PyBuffer_Release(&view);
    if (sent < 0)
        return raise_failure(self, error, "writing to");
    return PyLong_FromLong(sent);
}

static PyObject *
buffer_do_handshake(tls_nss_buffer *self, PyObject *unused)
{
    if (check_usable(self, "do_handshake") < 0)
        return NULL;
    /* Once done, NSS would go on to wait for post-handshake messages. */
    if (self->tls.handshake_done)
        Py_RETURN_NONE;
    if (check_peer_speaks_tls(self, "TLS handshake with") < 0)
        return NULL;
    if (SSL_ForceHandshake(self->tls.fd) != SECSuccess)
        return raise_failure(self, PR_GetError(), "TLS handshake with");
    self->tls.handshake_done = PR_TRUE;
    Py_RETURN_NONE;
}

static PyObject *
buffer_shutdown(tls_nss_buffer *self, PyObject *unused)
{
    if (check_usable(self, "shutdown") < 0)
        return NULL;
    if (!self->tls.close_notify_sent) {
        if (PR_Shutdown(self->tls.fd, PR_SHUTDOWN_SEND) != PR_SUCCESS)
            return raise_failure(self, PR_GetError(), "sending close_notify to");
        self->tls.close_notify_sent = PR_TRUE;
    }
    /* As with a socket's close(force=False): the shutdown is complete
     * once the peer's close_notify has been read; data after ours is
     * dropped. */
    switch (tls_nss_conn_drain(&self->tls, read_once, NULL)) {
    case 1:
        Py_RETURN_NONE;
    case 0:
        return tls_nss_conn_raise_ragged_eof(&self->tls, "shutting down");
    default:
        return NULL;
    }
}

static PyObject *
buffer_process_incoming(tls_nss_buffer *self, PyObject *arg)
{
    Py_buffer view;

    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    size_t waiting = tls_nss_memio_incoming_length(self->io);
    if (view.len == 0) {
        tls_nss_memio_set_eof(self->io);
    }
    else if (waiting > 0 && waiting + (size_t)view.len > TLS_NSS_INCOMING_LIMIT) {
        PyBuffer_Release(&view);
        return tls_nss_raise(tls_nss_state_of((PyObject *)self), TLS_NSS_WANT_READ, 0,
                             "process_incoming: %zu bytes are waiting already; read() "
                             "them first", waiting);
    }
    else if (tls_nss_memio_put_incoming(self->io, view.buf, (size_t)view.len) < 0) {
        PyBuffer_Release(&view);
        return PyErr_NoMemory();
    }
    else {
        tls_nss_conn_observe_hello(&self->tls, view.buf, (size_t)view.len, PR_FALSE);
    }
    PyBuffer_Release(&view);
    if (!self->tls.first_record_judged) {
        unsigned char first[TLS_NSS_FIRST_BYTES];
        size_t n = tls_nss_memio_peek_incoming(self->io, first, sizeof(first));
        tls_nss_conn_judge_first_bytes(&self->tls, first, n);
    }
    Py_RETURN_NONE;
}

static PyObject *
buffer_process_outgoing(tls_nss_buffer *self, PyObject *arg)
{
    Py_ssize_t amount = PyNumber_AsSsize_t(arg, PyExc_OverflowError);

    if (amount == -1 && PyErr_Occurred())
        return NULL;
    if (amount < 0) {
        PyErr_SetString(PyExc_ValueError, "process_outgoing() amount must not be negative");
        return NULL;
    }
    size_t queued = tls_nss_memio_outgoing_length(self->io);
    if ((size_t)amount > queued)
        amount = (Py_ssize_t)queued;
    PyObject *data = PyBytes_FromStringAndSize(NULL, amount);
    if (data != NULL) {
        tls_nss_memio_take_outgoing(self->io, PyBytes_AS_STRING(data), (size_t)amount);
        tls_nss_conn_observe_hello(&self->tls, PyBytes_AS_STRING(data), (size_t)amount,
                                   PR_TRUE);
    }
    return data;
}

static PyObject *
buffer_incoming_bytes_buffered(tls_nss_buffer *self, PyObject *unused)
{
    return PyLong_FromSize_t(tls_nss_memio_incoming_length(self->io));
}

static PyObject *
buffer_outgoing_bytes_buffered(tls_nss_buffer *self, PyObject *unused)
{
    return PyLong_FromSize_t(tls_nss_memio_outgoing_length(self->io));
}

static PyObject *
buffer_repr(tls_nss_buffer *self)
{
    return PyUnicode_FromFormat("<%s %s>", Py_TYPE(self)->tp_name, self->tls.peer);
}

static PyMethodDef buffer_methods[] = {
    {"read", (PyCFunction)(void (*)(void))buffer_read, METH_VARARGS | METH_KEYWORDS,
     "read(amt, buffer=None)\n--\n\n"
     "Decrypt up to amt bytes; into `buffer` (returning the count) if given.\n"
     "b'' (0) for ever after the peer's close_notify."},
    {"write", (PyCFunction)buffer_write, METH_O,
     "write(buf)\n--\n\nEncrypt buf into the outgoing queue; return how much was taken."},
    {"do_handshake", (PyCFunction)buffer_do_handshake, METH_NOARGS,
     "do_handshake()\n--\n\nRun (or continue) the handshake, verifying the peer."},
    {"shutdown", (PyCFunction)buffer_shutdown, METH_NOARGS,
     "shutdown()\n--\n\nSend close_notify; WantReadError until the peer's has been read."},
    {"process_incoming", (PyCFunction)buffer_process_incoming, METH_O,
     "process_incoming(data_from_network)\n--\n\n"
     "Queue ciphertext from the network; b'' reports the network's EOF."},
    {"incoming_bytes_buffered", (PyCFunction)buffer_incoming_bytes_buffered, METH_NOARGS,
     "Ciphertext queued for reading."},
    {"process_outgoing", (PyCFunction)buffer_process_outgoing, METH_O,
     "process_outgoing(amount_bytes_for_network)\n--\n\n"
     "Take up to that many bytes of ciphertext to send."},
    {"outgoing_bytes_buffered", (PyCFunction)buffer_outgoing_bytes_buffered, METH_NOARGS,
     "Ciphertext waiting to be sent."},
    {NULL, NULL, 0, NULL},
};

TLS_NSS_CONNECTION_SUBTYPE(tls_nss_buffer_spec, "tls_nss.NSSTLSBuffer", tls_nss_buffer,
                           "A TLS connection over in-memory queues. Made by a context's create_buffer().",
                           buffer_repr, buffer_methods, NULL);
