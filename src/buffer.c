/* TLS buffers: TLS over two in-memory byte queues, for callers that move
 * the ciphertext themselves (asynchronous frameworks).
 *
 * NSS has no memory BIO, so the bottom of the descriptor stack is an NSPR
 * I/O layer of our own whose recv and send work on the queues; SSL is
 * imported on top of it from the context's model, exactly as for sockets.
 * Nothing here blocks, so calls keep the GIL, which also keeps the queues
 * consistent between the caller and NSS. */
#include "config.h"
#include "tls_nss.h"

/* The queues are bounded: process_incoming() refuses data past
 * TLS_NSS_INCOMING_LIMIT (a single chunk larger than that is still taken
 * into an empty queue), and NSS's writes stop at TLS_NSS_OUTGOING_LIMIT,
 * after which write() raises WantWriteError until process_outgoing()
 * drains the queue. NSS may keep one record of its own beyond that. */
#define TLS_NSS_INCOMING_LIMIT (1 << 20)
#define TLS_NSS_OUTGOING_LIMIT (1 << 20)

typedef struct {
    char *data;
    size_t start; /* first unread byte */
    size_t len;   /* bytes queued */
    size_t cap;
} byte_queue;

typedef struct {
    byte_queue incoming;   /* ciphertext from the network, for NSS */
    byte_queue outgoing;   /* ciphertext from NSS, for the network */
    PRBool transport_eof;  /* the caller reported the network's EOF */
} memory_io;

typedef struct {
    PyObject_HEAD
    tls_nss_conn tls;
    memory_io io;
} tls_nss_buffer;

/* ---- byte queues ---- */

static int
queue_append(byte_queue *q, const char *bytes, size_t n)
{
    if (q->start > 0 && q->start + q->len + n > q->cap) {
        memmove(q->data, q->data + q->start, q->len);
        q->start = 0;
    }
    if (q->len + n > q->cap) {
        size_t cap = q->cap ? q->cap : 16384;
        while (cap < q->len + n)
            cap *= 2;
        char *grown = PyMem_RawRealloc(q->data, cap);
        if (grown == NULL)
            return -1;
        q->data = grown;
        q->cap = cap;
    }
    memcpy(q->data + q->start + q->len, bytes, n);
    q->len += n;
    return 0;
}

static size_t
queue_take(byte_queue *q, char *out, size_t n)
{
    if (n > q->len)
        n = q->len;
    memcpy(out, q->data + q->start, n);
    q->start += n;
    q->len -= n;
    if (q->len == 0)
        q->start = 0;
    return n;
}

static void
queue_free(byte_queue *q)
{
    PyMem_RawFree(q->data);
    q->data = NULL;
    q->start = q->len = q->cap = 0;
}

/* ---- the NSPR layer (called by NSS, with the GIL held) ---- */

static PRDescIdentity memory_identity = PR_INVALID_IO_LAYER;
static PRIOMethods memory_methods;
static PRCallOnceType memory_once;

static memory_io *
io_of(PRFileDesc *fd)
{
    return (memory_io *)fd->secret;
}

static PRInt32 PR_CALLBACK
memory_recv(PRFileDesc *fd, void *buf, PRInt32 amount, PRIntn flags, PRIntervalTime timeout)
{
    memory_io *io = io_of(fd);

    if (amount <= 0)
        return 0;
    if (io->incoming.len == 0) {
        if (io->transport_eof)
            return 0;
        PR_SetError(PR_WOULD_BLOCK_ERROR, 0);
        return -1;
    }
    return (PRInt32)queue_take(&io->incoming, buf, (size_t)amount);
}

static PRInt32 PR_CALLBACK
memory_read(PRFileDesc *fd, void *buf, PRInt32 amount)
{
    return memory_recv(fd, buf, amount, 0, PR_INTERVAL_NO_WAIT);
}

static PRInt32 PR_CALLBACK
memory_send(PRFileDesc *fd, const void *buf, PRInt32 amount, PRIntn flags,
            PRIntervalTime timeout)
{
    memory_io *io = io_of(fd);
    size_t room = io->outgoing.len < TLS_NSS_OUTGOING_LIMIT
                      ? TLS_NSS_OUTGOING_LIMIT - io->outgoing.len
                      : 0;

    if (amount <= 0)
        return 0;
    if (room == 0) {
        PR_SetError(PR_WOULD_BLOCK_ERROR, 0);
        return -1;
    }
    size_t n = (size_t)amount < room ? (size_t)amount : room;
    if (queue_append(&io->outgoing, buf, n) < 0) {
        PR_SetError(PR_OUT_OF_MEMORY_ERROR, 0);
        return -1;
    }
    return (PRInt32)n;
}

static PRInt32 PR_CALLBACK
memory_write(PRFileDesc *fd, const void *buf, PRInt32 amount)
{
    return memory_send(fd, buf, amount, 0, PR_INTERVAL_NO_WAIT);
}

static PRStatus PR_CALLBACK
memory_close(PRFileDesc *fd)
{
    /* The queues belong to the buffer object; only the layer goes. */
    fd->secret = NULL;
    fd->dtor(fd);
    return PR_SUCCESS;
}

static PRStatus PR_CALLBACK
memory_shutdown(PRFileDesc *fd, PRIntn how)
{
    return PR_SUCCESS;
}

/* NSS asks for the peer's address to tell sessions apart; buffers have
 * none, and set their own peer ID instead. */
static PRStatus PR_CALLBACK
memory_address(PRFileDesc *fd, PRNetAddr *addr)
{
    return PR_InitializeNetAddr(PR_IpAddrLoopback, 0, addr);
}

static PRStatus PR_CALLBACK
memory_get_option(PRFileDesc *fd, PRSocketOptionData *data)
{
    memset(&data->value, 0, sizeof(data->value));
    if (data->option == PR_SockOpt_Nonblocking)
        data->value.non_blocking = PR_TRUE;
    return PR_SUCCESS;
}

static PRStatus PR_CALLBACK
memory_set_option(PRFileDesc *fd, const PRSocketOptionData *data)
{
    return PR_SUCCESS;
}

static PRInt32 PR_CALLBACK
memory_available(PRFileDesc *fd)
{
    return (PRInt32)io_of(fd)->incoming.len;
}

static PRInt16 PR_CALLBACK
memory_poll(PRFileDesc *fd, PRInt16 in_flags, PRInt16 *out_flags)
{
    *out_flags = 0;
    return in_flags;
}

static PRStatus
define_memory_layer(void)
{
    memory_identity = PR_GetUniqueIdentity("tls_nss memory");
    if (memory_identity == PR_INVALID_IO_LAYER)
        return PR_FAILURE;
    /* Every method a socket has; those a memory peer cannot do fail. */
    memory_methods = *PR_GetDefaultIOMethods();
    memory_methods.file_type = PR_DESC_LAYERED;
    memory_methods.close = memory_close;
    memory_methods.read = memory_read;
    memory_methods.write = memory_write;
    memory_methods.recv = memory_recv;
    memory_methods.send = memory_send;
    memory_methods.shutdown = memory_shutdown;
    memory_methods.getpeername = memory_address;
    memory_methods.getsockname = memory_address;
    memory_methods.getsocketoption = memory_get_option;
    memory_methods.setsocketoption = memory_set_option;
    memory_methods.available = memory_available;
    memory_methods.poll = memory_poll;
    return PR_SUCCESS;
}

/* ---- construction ---- */

PyObject *
tls_nss_buffer_new(tls_nss_context *ctx, PyObject *owner, const char *hostname)
{
    tls_nss_state *st = tls_nss_state_of((PyObject *)ctx);
    tls_nss_buffer *self;
    PRFileDesc *layer;

    if (PR_CallOnce(&memory_once, define_memory_layer) != PR_SUCCESS)
        return tls_nss_raise(st, TLS_NSS_ERROR, PR_GetError(), "defining the memory I/O layer");
    self = PyObject_GC_New(tls_nss_buffer, st->buffer_type);
    if (self == NULL)
        return NULL;
    tls_nss_conn_init(&self->tls, ctx, owner);
    memset(&self->io, 0, sizeof(self->io));
    PyObject_GC_Track(self);

    snprintf(self->tls.peer, sizeof(self->tls.peer), "%.120s (in memory)",
             hostname ? hostname : "TLS buffer");
    if (hostname != NULL && tls_nss_conn_set_hostname(&self->tls, hostname) < 0)
        goto fail;
    layer = PR_CreateIOLayerStub(memory_identity, &memory_methods);
    if (layer == NULL) {
        tls_nss_raise(st, TLS_NSS_ERROR, PR_GetError(), "creating the memory I/O layer");
        goto fail;
    }
    layer->secret = (PRFilePrivate *)&self->io;
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
    tls_nss_error_kind blocked = self->io.outgoing.len >= TLS_NSS_OUTGOING_LIMIT
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

/* PR_Read's answer for `count` bytes: the count, or -1 with an error set
 * (0 is EOF: after close_notify, b"" for ever; without it, RaggedEOF). */
static Py_ssize_t
read_into(tls_nss_buffer *self, char *out, Py_ssize_t count)
{
    if (count == 0 || self->tls.close_notify_received)
        return 0;
    if (count > PR_INT32_MAX)
        count = PR_INT32_MAX;
    PRInt32 got = PR_Read(self->tls.fd, out, (PRInt32)count);
    if (got < 0) {
        raise_failure(self, PR_GetError(), "reading from");
        return -1;
    }
    if (got == 0 && !self->tls.close_notify_received) {
        tls_nss_raise(tls_nss_state_of((PyObject *)self), TLS_NSS_RAGGED_EOF,
                      PR_END_OF_FILE_ERROR,
                      "reading from %s: the transport ended without a TLS close_notify "
                      "(ragged EOF)", self->tls.peer);
        return -1;
    }
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
        Py_ssize_t got = read_into(self, view.buf, amount < view.len ? amount : view.len);
        PyBuffer_Release(&view);
        return got < 0 ? NULL : PyLong_FromSsize_t(got);
    }
    PyObject *data = PyBytes_FromStringAndSize(NULL, amount);
    if (data == NULL)
        return NULL;
    Py_ssize_t got = read_into(self, PyBytes_AS_STRING(data), amount);
    if (got < 0) {
        Py_DECREF(data);
        return NULL;
    }
    if (got != amount && _PyBytes_Resize(&data, got) < 0)
        return NULL;
    return data;
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
    if (self->tls.close_notify_received)
        Py_RETURN_NONE;
    /* As with a socket's close(force=False): the shutdown is complete
     * once the peer's close_notify has been read. */
    char scratch[4096];
    PRInt32 got;
    while ((got = PR_Read(self->tls.fd, scratch, sizeof(scratch))) > 0)
        ; /* data after our close_notify is dropped */
    if (self->tls.close_notify_received)
        Py_RETURN_NONE;
    if (got == 0)
        return tls_nss_raise(tls_nss_state_of((PyObject *)self), TLS_NSS_RAGGED_EOF,
                             PR_END_OF_FILE_ERROR,
                             "shutting down %s: the transport ended without the peer's "
                             "close_notify (ragged EOF)", self->tls.peer);
    return raise_failure(self, PR_GetError(), "awaiting close_notify from");
}

static PyObject *
buffer_process_incoming(tls_nss_buffer *self, PyObject *arg)
{
    Py_buffer view;

    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    if (view.len == 0) {
        self->io.transport_eof = PR_TRUE;
    }
    else if (self->io.incoming.len > 0 &&
             self->io.incoming.len + (size_t)view.len > TLS_NSS_INCOMING_LIMIT) {
        PyBuffer_Release(&view);
        return tls_nss_raise(tls_nss_state_of((PyObject *)self), TLS_NSS_WANT_READ, 0,
                             "process_incoming: %zu bytes are waiting already; read() "
                             "them first", self->io.incoming.len);
    }
    else if (queue_append(&self->io.incoming, view.buf, (size_t)view.len) < 0) {
        PyBuffer_Release(&view);
        return PyErr_NoMemory();
    }
    PyBuffer_Release(&view);
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
    if ((size_t)amount > self->io.outgoing.len)
        amount = (Py_ssize_t)self->io.outgoing.len;
    PyObject *data = PyBytes_FromStringAndSize(NULL, amount);
    if (data != NULL)
        queue_take(&self->io.outgoing, PyBytes_AS_STRING(data), (size_t)amount);
    return data;
}

static PyObject *
buffer_incoming_bytes_buffered(tls_nss_buffer *self, PyObject *unused)
{
    return PyLong_FromSize_t(self->io.incoming.len);
}

static PyObject *
buffer_outgoing_bytes_buffered(tls_nss_buffer *self, PyObject *unused)
{
    return PyLong_FromSize_t(self->io.outgoing.len);
}

static PyObject *
buffer_cipher(tls_nss_buffer *self, PyObject *unused)
{
    return tls_nss_conn_cipher(tls_nss_state_of((PyObject *)self), &self->tls);
}

static PyObject *
buffer_negotiated_protocol(tls_nss_buffer *self, PyObject *unused)
{
    return tls_nss_conn_negotiated_protocol(tls_nss_state_of((PyObject *)self), &self->tls);
}

static PyObject *
buffer_negotiated_tls_version(tls_nss_buffer *self, void *closure)
{
    return tls_nss_conn_tls_version(tls_nss_state_of((PyObject *)self), &self->tls);
}

static PyObject *
buffer_getpeercert(tls_nss_buffer *self, PyObject *unused)
{
    return tls_nss_conn_peercert(&self->tls);
}

static PyObject *
buffer_get_context(tls_nss_buffer *self, void *closure)
{
    if (self->tls.owner == NULL)
        Py_RETURN_NONE;
    return Py_NewRef(self->tls.owner);
}

static PyObject *
buffer_repr(tls_nss_buffer *self)
{
    return PyUnicode_FromFormat("<%s %s>", Py_TYPE(self)->tp_name, self->tls.peer);
}

static int
buffer_traverse(tls_nss_buffer *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->tls.ctx);
    Py_VISIT(self->tls.owner);
    return 0;
}

static int
buffer_clear(tls_nss_buffer *self)
{
    Py_CLEAR(self->tls.owner);
    return 0;
}

static void
buffer_dealloc(tls_nss_buffer *self)
{
    PyTypeObject *type = Py_TYPE(self);

    PyObject_GC_UnTrack(self);
    /* Closing the SSL layer closes ours; the queues go after it. */
    tls_nss_conn_release(&self->tls);
    queue_free(&self->io.incoming);
    queue_free(&self->io.outgoing);
    type->tp_free(self);
    Py_DECREF(type);
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
    {"cipher", (PyCFunction)buffer_cipher, METH_NOARGS,
     "cipher()\n--\n\nThe negotiated CipherSuite (an int if unnamed), or None."},
    {"negotiated_protocol", (PyCFunction)buffer_negotiated_protocol, METH_NOARGS,
     "negotiated_protocol()\n--\n\nThe ALPN protocol (NextProtocol or bytes), or None."},
    {"getpeercert", (PyCFunction)buffer_getpeercert, METH_NOARGS,
     "getpeercert()\n--\n\nThe peer's certificate as DER bytes, or None."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef buffer_getset[] = {
    {"context", (getter)buffer_get_context, NULL, "The context this buffer was made by.", NULL},
    {"negotiated_tls_version", (getter)buffer_negotiated_tls_version, NULL,
     "The negotiated TLSVersion, or None.", NULL},
    {NULL},
};

static PyType_Slot buffer_slots[] = {
    {Py_tp_doc, "A TLS connection over in-memory queues. Made by a context's create_buffer()."},
    {Py_tp_dealloc, buffer_dealloc},
    {Py_tp_traverse, buffer_traverse},
    {Py_tp_clear, buffer_clear},
    {Py_tp_repr, buffer_repr},
    {Py_tp_methods, buffer_methods},
    {Py_tp_getset, buffer_getset},
    {0, NULL},
};

PyType_Spec tls_nss_buffer_spec = {
    .name = "tls_nss.NSSTLSBuffer",
    .basicsize = sizeof(tls_nss_buffer),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC
#if PY_VERSION_HEX >= 0x030A0000
             | Py_TPFLAGS_DISALLOW_INSTANTIATION
#endif
    ,
    .slots = buffer_slots,
};
