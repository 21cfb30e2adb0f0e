/* An NSPR I/O layer over two in-memory byte queues: the bottom of a TLS
 * buffer's descriptor stack, for callers that move the ciphertext
 * themselves (asynchronous frameworks).
 *
 * NSS has no memory BIO. This layer's recv and send work on the queues;
 * it says it is non-blocking, answers PR_WOULD_BLOCK_ERROR when it has
 * nothing to read (or no room to write), and reads 0 only after the
 * caller reported the network's EOF. It owns its queues and frees them
 * when NSS closes it. NSS calls it with the GIL held, which keeps the
 * queues consistent between the caller and NSS, and lets it hold the
 * bytes object it was given last. */
#include "config.h"
#include "tls_nss.h"

typedef struct {
    char *data;
    size_t start; /* first unread byte */
    size_t len;   /* bytes queued */
    size_t cap;
} byte_queue;

struct tls_nss_memio {
    /* Ciphertext from the network, for NSS, in this order: what is left
     * of `chunk`, a bytes object taken whole (not copied) when nothing
     * else was waiting, from `chunk_start` on; then `incoming`. */
    PyObject *chunk;
    size_t chunk_start;
    byte_queue incoming;
    byte_queue outgoing;   /* ciphertext from NSS, for the network */
    PRBool transport_eof;  /* the caller reported the network's EOF */
};

/* ---- byte queues ---- */

static int
queue_append(byte_queue *q, const char *bytes, size_t n)
{
    if (n == 0)
        return 0;
    /* Doubling must not overflow. */
    if (n > SIZE_MAX / 4 - q->len)
        return -1;
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
queue_drop(byte_queue *q, size_t n)
{
    if (n > q->len)
        n = q->len;
    q->start += n;
    q->len -= n;
    if (q->len == 0)
        q->start = 0;
    return n;
}

static size_t
queue_take(byte_queue *q, char *out, size_t n)
{
    if (n > q->len)
        n = q->len;
    if (n == 0)
        return 0; /* q->data may be NULL */
    memcpy(out, q->data + q->start, n);
    return queue_drop(q, n);
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

static tls_nss_memio *
io_of(PRFileDesc *fd)
{
    return (tls_nss_memio *)fd->secret;
}

static size_t
chunk_left(const tls_nss_memio *io)
{
    return io->chunk ? (size_t)PyBytes_GET_SIZE(io->chunk) - io->chunk_start : 0;
}

static size_t
incoming_length(const tls_nss_memio *io)
{
    return chunk_left(io) + io->incoming.len;
}

/* Copies up to `n` waiting bytes to `out`, in order; with `consume`, they
 * are gone from the layer. */
static size_t
incoming_copy(tls_nss_memio *io, char *out, size_t n, PRBool consume)
{
    size_t from_chunk = chunk_left(io);

    if (from_chunk > n)
        from_chunk = n;
    if (from_chunk > 0) {
        memcpy(out, PyBytes_AS_STRING(io->chunk) + io->chunk_start, from_chunk);
        if (consume) {
            io->chunk_start += from_chunk;
            if (chunk_left(io) == 0)
                Py_CLEAR(io->chunk);
        }
    }
    size_t rest = n - from_chunk;
    if (rest > io->incoming.len)
        rest = io->incoming.len;
    if (rest > 0) {
        memcpy(out + from_chunk, io->incoming.data + io->incoming.start, rest);
        if (consume)
            queue_drop(&io->incoming, rest);
    }
    return from_chunk + rest;
}

static PRInt32 PR_CALLBACK
memory_recv(PRFileDesc *fd, void *buf, PRInt32 amount, PRIntn flags, PRIntervalTime timeout)
{
    tls_nss_memio *io = io_of(fd);

    if (amount <= 0)
        return 0;
    if (incoming_length(io) == 0) {
        if (io->transport_eof)
            return 0;
        PR_SetError(PR_WOULD_BLOCK_ERROR, 0);
        return -1;
    }
    return (PRInt32)incoming_copy(io, buf, (size_t)amount, PR_TRUE);
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
    tls_nss_memio *io = io_of(fd);
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
    tls_nss_memio *io = io_of(fd);

    Py_CLEAR(io->chunk);
    queue_free(&io->incoming);
    queue_free(&io->outgoing);
    PyMem_RawFree(io);
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
    return (PRInt32)incoming_length(io_of(fd));
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

PRFileDesc *
tls_nss_memio_new(void)
{
    PRFileDesc *layer;
    tls_nss_memio *io;

    if (PR_CallOnce(&memory_once, define_memory_layer) != PR_SUCCESS)
        return NULL;
    io = PyMem_RawCalloc(1, sizeof(*io));
    if (io == NULL) {
        PR_SetError(PR_OUT_OF_MEMORY_ERROR, 0);
        return NULL;
    }
    layer = PR_CreateIOLayerStub(memory_identity, &memory_methods);
    if (layer == NULL) {
        PyMem_RawFree(io);
        return NULL;
    }
    layer->secret = (PRFilePrivate *)io;
    return layer;
}

tls_nss_memio *
tls_nss_memio_of(PRFileDesc *layer)
{
    return io_of(layer);
}

int
tls_nss_memio_put_incoming(tls_nss_memio *io, const char *bytes, size_t n)
{
    return queue_append(&io->incoming, bytes, n);
}

int
tls_nss_memio_give_incoming(tls_nss_memio *io, PyObject *bytes)
{
    if (io->chunk == NULL && io->incoming.len == 0) {
        io->chunk = Py_NewRef(bytes);
        io->chunk_start = 0;
        if (chunk_left(io) == 0)
            Py_CLEAR(io->chunk);
        return 0;
    }
    return queue_append(&io->incoming, PyBytes_AS_STRING(bytes), (size_t)PyBytes_GET_SIZE(bytes));
}

void
tls_nss_memio_set_eof(tls_nss_memio *io)
{
    io->transport_eof = PR_TRUE;
}

PRBool
tls_nss_memio_has_input(const tls_nss_memio *io)
{
    return incoming_length(io) > 0 || io->transport_eof;
}

size_t
tls_nss_memio_peek_incoming(tls_nss_memio *io, unsigned char *out, size_t n)
{
    return incoming_copy(io, (char *)out, n, PR_FALSE);
}

size_t
tls_nss_memio_take_outgoing(tls_nss_memio *io, char *out, size_t n)
{
    return queue_take(&io->outgoing, out, n);
}

const char *
tls_nss_memio_outgoing_data(const tls_nss_memio *io)
{
    return io->outgoing.data + io->outgoing.start;
}

void
tls_nss_memio_drop_outgoing(tls_nss_memio *io, size_t n)
{
    queue_drop(&io->outgoing, n);
}

size_t
tls_nss_memio_incoming_length(const tls_nss_memio *io)
{
    return incoming_length(io);
}

size_t
tls_nss_memio_outgoing_length(const tls_nss_memio *io)
{
    return io->outgoing.len;
}
