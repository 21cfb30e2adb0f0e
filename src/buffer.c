/* TLS buffers: TLS over an in-memory NSPR I/O layer (memio.c), for callers
 * that move the ciphertext themselves (asynchronous frameworks).
 *
 * SSL is imported on top of the layer from the context's model, as for
 * sockets, but without NSS's socket locks (context.c). Nothing here
 * blocks, so calls keep the GIL, which also keeps the queues consistent
 * between the caller and NSS. */
#include "config.h"
#include "tls_nss.h"

typedef struct {
    tls_nss_conn tls;
    tls_nss_memio *io; /* the bottom layer's, valid while tls.fd is open */
    /* A call into NSS failed other than for want of bytes: from then on
     * every read asks NSS, whatever it finds to read. */
    PRBool nss_failed;
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
    self->tls.unlocked = PR_TRUE;
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
    if (error != PR_WOULD_BLOCK_ERROR)
        self->nss_failed = PR_TRUE;
    return tls_nss_conn_raise(tls_nss_state_of((PyObject *)self), &self->tls, error, blocked,
                              operation);
}

static int
check_usable(tls_nss_buffer *self, const char *operation)
{
    if (tls_nss_conn_check_idle(&self->tls, operation) < 0)
        return -1;
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
    conn->busy_with = "reading from";
    do
        got = PR_Read(conn->fd, out, (PRInt32)count);
    while (got < 0 && PR_GetError() == SSL_ERROR_RENEGOTIATION_NOT_ALLOWED);
    conn->busy_with = NULL;

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
                                           amount < view.len ? amount : view.len, "reading from",
                                           NULL);
        PyBuffer_Release(&view);
        return got < 0 ? NULL : PyLong_FromSsize_t(got);
    }
    return tls_nss_conn_read_bytes(&self->tls, read_once, NULL, amount, "reading from", NULL);
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
        self->tls.busy_with = "writing to";
        sent = PR_Write(self->tls.fd, view.buf,
                        view.len > PR_INT32_MAX ? PR_INT32_MAX : (PRInt32)view.len);
        if (sent < 0)
            error = PR_GetError();
        self->tls.busy_with = NULL;
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
    self->tls.busy_with = "in a TLS handshake with";
    SECStatus done = SSL_ForceHandshake(self->tls.fd);
    PRErrorCode error = done == SECSuccess ? 0 : PR_GetError();
    self->tls.busy_with = NULL;
    if (done != SECSuccess)
        return raise_failure(self, error, "TLS handshake with");
    self->tls.handshake_done = PR_TRUE;
    Py_RETURN_NONE;
}

static PyObject *
buffer_shutdown(tls_nss_buffer *self, PyObject *unused)
{
    if (check_usable(self, "shutdown") < 0)
        return NULL;
    if (!self->tls.close_notify_sent) {
        self->tls.busy_with = "sending close_notify to";
        PRStatus sent = PR_Shutdown(self->tls.fd, PR_SHUTDOWN_SEND);
        PRErrorCode error = sent == PR_SUCCESS ? 0 : PR_GetError();
        self->tls.busy_with = NULL;
        if (sent != PR_SUCCESS)
            return raise_failure(self, error, "sending close_notify to");
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

    if (tls_nss_conn_check_idle(&self->tls, "process_incoming") < 0 ||
        PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
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
    if (tls_nss_conn_check_idle(&self->tls, "process_outgoing") < 0)
        return NULL;
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

/* ---- under ssl.SSLObject ----
 *
 * asyncio drives an SSLObject call by call: each takes what came in from
 * its incoming ssl.MemoryBIO (writes only during the handshake), does one
 * operation, and leaves what NSS wrote in its outgoing one, and most reads
 * end in SSLWantReadError. These do the
 * pumping here, and raise the ssl module's want errors themselves, so that
 * the common path runs no Python; any other failure goes to the buffer's
 * `on_error` (tls_nss_conn), which answers the ssl module's exception, or
 * None for a read to return EOF. */

static int
bio_take_in(tls_nss_buffer *self, tls_nss_state *st, PyObject *incoming)
{
    PyObject *data = PyObject_CallMethodNoArgs(incoming, st->str_read);
    if (data == NULL)
        return -1;
    if (!PyBytes_Check(data)) {
        Py_DECREF(data);
        PyErr_SetString(PyExc_TypeError, "the incoming BIO's read() must return bytes");
        return -1;
    }
    size_t n = (size_t)PyBytes_GET_SIZE(data);
    if (n == 0) {
        Py_DECREF(data);
        PyObject *eof = PyObject_GetAttr(incoming, st->str_eof);
        int at_eof = eof ? PyObject_IsTrue(eof) : -1;
        Py_XDECREF(eof);
        if (at_eof > 0)
            tls_nss_memio_set_eof(self->io);
        return at_eof < 0 ? -1 : 0;
    }
    int rv = tls_nss_memio_give_incoming(self->io, data);
    if (rv == 0)
        tls_nss_conn_observe_hello(&self->tls, PyBytes_AS_STRING(data), n, PR_FALSE);
    Py_DECREF(data);
    if (rv < 0) {
        PyErr_NoMemory();
        return -1;
    }
    if (!self->tls.first_record_judged) {
        unsigned char first[TLS_NSS_FIRST_BYTES];
        size_t seen = tls_nss_memio_peek_incoming(self->io, first, sizeof(first));
        tls_nss_conn_judge_first_bytes(&self->tls, first, seen);
    }
    return 0;
}

/* Hands what NSS wrote to the outgoing BIO. An ssl.MemoryBIO copies it
 * straight from the queue, through a view released before the queue
 * changes; any other object gets bytes of its own. */
static int
bio_send_out(tls_nss_buffer *self, tls_nss_state *st, PyObject *outgoing)
{
    size_t queued = tls_nss_memio_outgoing_length(self->io);
    PyObject *data, *written;

    if (queued == 0)
        return 0;
    const char *bytes = tls_nss_memio_outgoing_data(self->io);
    tls_nss_conn_observe_hello(&self->tls, bytes, queued, PR_TRUE);
    if (Py_IS_TYPE(outgoing, (PyTypeObject *)st->ssl_memory_bio)) {
        data = PyMemoryView_FromMemory((char *)bytes, (Py_ssize_t)queued, PyBUF_READ);
        if (data == NULL)
            return -1;
        written = PyObject_CallMethodOneArg(outgoing, st->str_write, data);
        /* ssl.MemoryBIO.write() keeps nothing, so the view is ours alone
         * and goes with our reference. Were it kept, it is released first,
         * whatever write() did, its exception kept meanwhile. */
        if (Py_REFCNT(data) > 1) {
            PyObject *type, *value, *traceback;
            PyErr_Fetch(&type, &value, &traceback);
            PyObject *released = PyObject_CallMethodNoArgs(data, st->str_release);
            if (released == NULL) {
                /* Still exported: the queue must not move under it. */
                Py_DECREF(data);
                Py_XDECREF(type);
                Py_XDECREF(value);
                Py_XDECREF(traceback);
                Py_XDECREF(written);
                return -1;
            }
            Py_DECREF(released);
            PyErr_Restore(type, value, traceback);
        }
        Py_DECREF(data);
        if (written != NULL)
            tls_nss_memio_drop_outgoing(self->io, queued);
    }
    else {
        if ((data = PyBytes_FromStringAndSize(bytes, (Py_ssize_t)queued)) == NULL)
            return -1;
        tls_nss_memio_drop_outgoing(self->io, queued);
        written = PyObject_CallMethodOneArg(outgoing, st->str_write, data);
        Py_DECREF(data);
    }
    Py_XDECREF(written);
    return written ? 0 : -1;
}

/* After a failed operation: the ssl module's want error when NSS waits
 * for the network, else our exception, for on_error to translate; NULL. */
static PyObject *
bio_failed(tls_nss_buffer *self, tls_nss_state *st, PRErrorCode error, const char *operation)
{
    if (error == PR_WOULD_BLOCK_ERROR && !self->tls.not_tls) {
        if (tls_nss_memio_outgoing_length(self->io) >= TLS_NSS_OUTGOING_LIMIT)
            PyErr_SetObject(st->ssl_want_write, st->ssl_want_write_args);
        else
            PyErr_SetObject(st->ssl_want_read, st->ssl_want_read_args);
        return NULL;
    }
    self->nss_failed = PR_TRUE;
    if (!PyErr_Occurred())
        raise_failure(self, error, operation);
    return NULL;
}

/* Whether a read can only wait for the peer, so that NSS need not be
 * asked: the handshake is over, nothing has failed, NSS holds no
 * plaintext, and no bytes (nor EOF) came since it last read. NSS reads a
 * record's header, then its body, and opens the record as soon as it is
 * whole, so it keeps nothing it could still act on. asyncio ends every
 * read of a record with such a call. */
static PRBool
bio_read_would_wait(tls_nss_buffer *self)
{
    return self->tls.handshake_done && !self->nss_failed && !self->tls.close_notify_received &&
           !tls_nss_memio_has_input(self->io) && SSL_DataPending(self->tls.fd) == 0;
}

/* The two BIOs bind_ssl() gave; -1 with TypeError before that. */
static int
bound_bios(tls_nss_buffer *self, const char *operation, PyObject **incoming,
           PyObject **outgoing)
{
    if (self->tls.ssl_incoming == NULL) {
        PyErr_Format(PyExc_TypeError, "%s: the buffer is not under an ssl.SSLObject (bind_ssl)",
                     operation);
        return -1;
    }
    *incoming = self->tls.ssl_incoming;
    *outgoing = self->tls.ssl_outgoing;
    return 0;
}

/* bind_ssl(incoming, outgoing, on_error) */
static PyObject *
buffer_bind_ssl(tls_nss_buffer *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (tls_nss_check_arg_count(nargs, 3, 3, "bind_ssl") < 0)
        return NULL;
    if (args[0] == Py_None || args[1] == Py_None) {
        PyErr_SetString(PyExc_TypeError, "bind_ssl(): the BIOs must not be None");
        return NULL;
    }
    if (tls_nss_conn_bind_ssl(&self->tls, NULL, args[0], args[1], args[2]) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* A read with few bytes come in decrypts onto the stack and returns a copy
 * of what came, rather than allocating a whole record's room and giving
 * most of it back. Should those bytes end a larger record, what does not
 * fit stays with NSS (SSL_DataPending) for the next read. */
#define TLS_NSS_SMALL_READ 4096

/* bio_read(len=1024, buffer=None): SSLObject.read() itself (keywords too),
 * over the BIOs bind_ssl() gave. */
static PyObject *
buffer_bio_read(tls_nss_buffer *self, PyObject *const *given, Py_ssize_t nargs,
                PyObject *kwnames)
{
    static const char *const names[] = {"len", "buffer"};
    tls_nss_state *st = tls_nss_state_of((PyObject *)self);
    Py_ssize_t amount = 1024;
    PyObject *args[2], *target, *result = NULL, *incoming, *outgoing;
    Py_buffer view = {0};
    char *out = NULL, small[TLS_NSS_SMALL_READ];

    if (tls_nss_place_args(given, nargs, kwnames, names, 0, 2, args, "bio_read") < 0 ||
        bound_bios(self, "bio_read", &incoming, &outgoing) < 0)
        return NULL;
    target = args[1] != NULL ? args[1] : Py_None;
    if (args[0] != NULL && (amount = PyNumber_AsSsize_t(args[0], PyExc_OverflowError)) == -1 &&
        PyErr_Occurred())
        return NULL;
    if (amount < 0) {
        PyErr_SetString(PyExc_ValueError, "size should not be negative");
        return NULL;
    }
    if (check_usable(self, "read") < 0 || bio_take_in(self, st, incoming) < 0)
        return NULL;
    PRBool would_wait = bio_read_would_wait(self);
    if (target != Py_None) {
        if (PyObject_GetBuffer(target, &view, PyBUF_WRITABLE) < 0)
            return NULL;
        if (amount == 0 || amount > view.len)
            amount = view.len;
        out = view.buf;
    }
    else {
        if (amount > TLS_NSS_READ_ALLOCATION_MAX)
            amount = TLS_NSS_READ_ALLOCATION_MAX;
        if (amount > 0 && !would_wait &&
            tls_nss_memio_incoming_length(self->io) < TLS_NSS_SMALL_READ / 2) {
            out = small;
            if (amount > TLS_NSS_SMALL_READ)
                amount = TLS_NSS_SMALL_READ;
        }
        else if (!would_wait || amount == 0) {
            if ((result = PyBytes_FromStringAndSize(NULL, amount)) == NULL)
                return NULL;
            out = PyBytes_AS_STRING(result);
        }
    }
    PRInt32 got = 0;
    PRErrorCode error = 0;
    if (amount > 0 && would_wait) {
        got = -1;
        error = PR_WOULD_BLOCK_ERROR;
    }
    else if (amount > 0 && !self->tls.close_notify_received) {
        self->tls.busy_with = "reading from";
        do
            got = PR_Read(self->tls.fd, out, amount > PR_INT32_MAX ? PR_INT32_MAX : (PRInt32)amount);
        while (got < 0 && (error = PR_GetError()) == SSL_ERROR_RENEGOTIATION_NOT_ALLOWED);
        self->tls.busy_with = NULL;
        if (got == 0 && !self->tls.close_notify_received) {
            tls_nss_conn_raise_ragged_eof(&self->tls, "reading from");
            got = -1;
        }
    }
    /* What NSS wrote meanwhile (post-handshake messages, alerts) goes out
     * whatever the read's outcome. */
    PyObject *saved_type, *saved_value, *saved_traceback;
    PyErr_Fetch(&saved_type, &saved_value, &saved_traceback);
    int sent = bio_send_out(self, st, outgoing);
    if (sent == 0)
        PyErr_Restore(saved_type, saved_value, saved_traceback);
    else {
        Py_XDECREF(saved_type);
        Py_XDECREF(saved_value);
        Py_XDECREF(saved_traceback);
    }
    if (sent == 0 && got < 0) {
        PyObject *eof =
            bio_failed(self, st, error, "reading from") == NULL &&
                    !PyErr_ExceptionMatches(st->ssl_want_read) &&
                    !PyErr_ExceptionMatches(st->ssl_want_write)
                ? tls_nss_translate_pending(self->tls.on_error, (PyObject *)self, "read")
                : NULL;
        got = eof == Py_None ? 0 : -1;
        Py_XDECREF(eof);
    }
    if (view.obj != NULL)
        PyBuffer_Release(&view);
    if (sent < 0 || got < 0) {
        Py_XDECREF(result);
        return NULL;
    }
    if (out == small)
        return PyBytes_FromStringAndSize(small, got);
    if (result == NULL)
        return PyLong_FromLong(got);
    if (got != amount && _PyBytes_Resize(&result, got) < 0)
        return NULL;
    return result;
}

/* bio_write(data): SSLObject.write() itself (keywords too), over the BIOs
 * bind_ssl() gave. */
static PyObject *
buffer_bio_write(tls_nss_buffer *self, PyObject *const *given, Py_ssize_t nargs,
                 PyObject *kwnames)
{
    static const char *const names[] = {"data"};
    tls_nss_state *st = tls_nss_state_of((PyObject *)self);
    PyObject *args[1], *incoming, *outgoing;
    Py_buffer view;

    /* Once the handshake is over, NSS writes without reading: what came
     * stays in the incoming BIO for the next read, as under OpenSSL. */
    if (tls_nss_place_args(given, nargs, kwnames, names, 1, 1, args, "bio_write") < 0 ||
        bound_bios(self, "bio_write", &incoming, &outgoing) < 0 ||
        check_usable(self, "write") < 0 ||
        (!self->tls.handshake_done && bio_take_in(self, st, incoming) < 0))
        return NULL;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0)
        return NULL;
    PRInt32 sent = 0;
    PRErrorCode error = 0;
    self->tls.busy_with = "writing to";
    if (view.len > 0 && (sent = PR_Write(self->tls.fd, view.buf,
                                         view.len > PR_INT32_MAX ? PR_INT32_MAX
                                                                 : (PRInt32)view.len)) < 0)
        error = PR_GetError();
    self->tls.busy_with = NULL;
    PyBuffer_Release(&view);
    if (bio_send_out(self, st, outgoing) < 0)
        return NULL;
    if (sent < 0) {
        if (bio_failed(self, st, error, "writing to") == NULL &&
            !PyErr_ExceptionMatches(st->ssl_want_read) &&
            !PyErr_ExceptionMatches(st->ssl_want_write))
            tls_nss_translate_failure(self->tls.on_error, (PyObject *)self, "write");
        return NULL;
    }
    return PyLong_FromLong(sent);
}

/* bio_do_handshake(): SSLObject.do_handshake(), over the BIOs bind_ssl()
 * gave. */
static PyObject *
buffer_bio_do_handshake(tls_nss_buffer *self, PyObject *unused)
{
    tls_nss_state *st = tls_nss_state_of((PyObject *)self);
    PyObject *incoming, *outgoing;

    if (bound_bios(self, "bio_do_handshake", &incoming, &outgoing) < 0 ||
        check_usable(self, "do_handshake") < 0 || bio_take_in(self, st, incoming) < 0)
        return NULL;
    PRErrorCode error = 0;
    if (!self->tls.handshake_done) {
        self->tls.busy_with = "in a TLS handshake with";
        if (self->tls.not_tls || SSL_ForceHandshake(self->tls.fd) != SECSuccess)
            error = self->tls.not_tls ? 0 : PR_GetError();
        else
            self->tls.handshake_done = PR_TRUE;
        self->tls.busy_with = NULL;
    }
    if (bio_send_out(self, st, outgoing) < 0)
        return NULL;
    if (!self->tls.handshake_done) {
        if (self->tls.not_tls)
            check_peer_speaks_tls(self, "TLS handshake with");
        if (bio_failed(self, st, error, "TLS handshake with") == NULL &&
            !PyErr_ExceptionMatches(st->ssl_want_read) &&
            !PyErr_ExceptionMatches(st->ssl_want_write))
            tls_nss_translate_failure(self->tls.on_error, (PyObject *)self, "handshake");
        return NULL;
    }
    Py_RETURN_NONE;
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
    {"bind_ssl", (PyCFunction)(void (*)(void))buffer_bind_ssl, METH_FASTCALL,
     "bind_ssl(incoming, outgoing, on_error)\n--\n\n"
     "Put this buffer under an ssl.SSLObject, once (tls_nss._ssl_engine): the\n"
     "bio_* methods pump it from and to the two ssl.MemoryBIOs, and\n"
     "on_error(connection, error, operation) answers the ssl module's exception\n"
     "for a failure, or None for a read to return EOF."},
    {"bio_read", (PyCFunction)(void (*)(void))buffer_bio_read, METH_FASTCALL | METH_KEYWORDS,
     "bio_read(len=1024, buffer=None)\n--\n\n"
     "ssl.SSLObject's read() over the two ssl.MemoryBIOs."},
    {"bio_write", (PyCFunction)(void (*)(void))buffer_bio_write, METH_FASTCALL | METH_KEYWORDS,
     "bio_write(data)\n--\n\n"
     "ssl.SSLObject's write() over the two ssl.MemoryBIOs."},
    {"bio_do_handshake", (PyCFunction)buffer_bio_do_handshake, METH_NOARGS,
     "bio_do_handshake()\n--\n\n"
     "ssl.SSLObject's do_handshake() over the two ssl.MemoryBIOs."},
    {NULL, NULL, 0, NULL},
};

TLS_NSS_CONNECTION_SUBTYPE(tls_nss_buffer_spec, "tls_nss.NSSTLSBuffer", tls_nss_buffer,
                           "A TLS connection over in-memory queues. Made by a context's create_buffer().",
                           buffer_repr, buffer_methods, NULL);
