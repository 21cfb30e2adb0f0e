/* The one path of a TLS socket's blocking I/O.
 *
 * Every descriptor is non-blocking in NSPR. An operation is tried; when NSS
 * would block, the thread waits in PR_Poll, without the GIL, until the
 * socket is ready or the operation's deadline passes, and tries again. The
 * deadline bounds the whole operation (a handshake, a recv, a sendall, a
 * close), not each read, so a peer trickling one byte at a time cannot
 * stretch it.
 *
 * NSPR's poll resumes by itself after a signal, so on the main thread,
 * where Python runs signal handlers, the wait is cut into slices and
 * PyErr_CheckSignals() runs between them: Ctrl-C, or any handler that
 * raises, ends the operation with its exception. Other threads wait in one
 * piece; a close() from another thread shuts the socket down, which wakes
 * them. */
#include "config.h"
#include "socket.h"

#include <math.h>
#include <sys/socket.h>
#include <time.h>

/* How long the main thread waits before it looks for signals. */
#define SIGNAL_SLICE_MS 50
/* NSPR intervals are 32-bit ticks: no wait is longer than six hours. */
#define LONGEST_WAIT_MS (6 * 3600 * 1000)

double
tls_nss_monotonic(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

double
tls_nss_deadline(double timeout)
{
    return timeout < 0 ? INFINITY : tls_nss_monotonic() + timeout;
}

void
tls_nss_socket_release_fd(tls_nss_socket *self)
{
    PRFileDesc *fd = self->tls.fd;

    self->tls.fd = NULL;
    if (fd == NULL)
        return;
    Py_BEGIN_ALLOW_THREADS
    PR_Close(fd);
    Py_END_ALLOW_THREADS
}

/* The NSPR call itself; it never waits. */
static PRInt32
perform(tls_nss_socket *self, socket_call *call)
{
    PRFileDesc *fd = self->tls.fd;

    switch (call->kind) {
    case CALL_HANDSHAKE:
        /* Done is done: once NSS has finished the handshake (which our
         * callback records), SSL_ForceHandshake would wait for a record. */
        if (self->tls.handshake_done || SSL_ForceHandshake(fd) == SECSuccess ||
            self->tls.handshake_done)
            return 0;
        return -1;
    case CALL_RECV:
        return PR_Recv(fd, call->buf, call->len, 0, PR_INTERVAL_NO_WAIT);
    case CALL_SEND:
        return PR_Send(fd, call->buf, call->len, 0, PR_INTERVAL_NO_WAIT);
    case CALL_ACCEPT:
        call->accepted = PR_Accept(fd, call->peer, PR_INTERVAL_NO_WAIT);
        return call->accepted != NULL ? 0 : -1;
    case CALL_SHUTDOWN:
        return PR_Shutdown(fd, PR_SHUTDOWN_SEND) == PR_SUCCESS ? 0 : -1;
    }
    PR_SetError(PR_INVALID_ARGUMENT_ERROR, 0);
    return -1;
}

static PRBool
waits_to_write(socket_call_kind kind)
{
    return kind == CALL_SEND || kind == CALL_SHUTDOWN;
}

/* ---- the first-record layer ----
 *
 * Between SSL and TCP, a layer sees the first bytes NSS reads, exactly, and
 * judges them before NSS does: a peer that does not speak TLS fails at
 * once, instead of NSS waiting for a record of the length its banner
 * spells. Afterwards it passes bytes on, handing the ClientHello's to the
 * key log where there is one. */

static PRDescIdentity first_record_identity = PR_INVALID_IO_LAYER;
static PRIOMethods first_record_methods;
static PRCallOnceType first_record_once;

/* The bytes read before NSS took the descriptor over, first. */
static PRInt32
recv_prefix(tls_nss_conn *conn, void *buf, PRInt32 amount, PRIntn flags)
{
    size_t left = conn->prefix_length - conn->prefix_read;
    size_t take = (size_t)amount < left ? (size_t)amount : left;

    memcpy(buf, conn->prefix + conn->prefix_read, take);
    if (!(flags & PR_MSG_PEEK))
        conn->prefix_read += take;
    if (conn->prefix_read == conn->prefix_length) {
        PyMem_RawFree(conn->prefix);
        conn->prefix = NULL;
        conn->prefix_length = conn->prefix_read = 0;
    }
    return (PRInt32)take;
}

static PRInt32 PR_CALLBACK
first_record_recv(PRFileDesc *fd, void *buf, PRInt32 amount, PRIntn flags,
                  PRIntervalTime timeout)
{
    tls_nss_conn *conn = (tls_nss_conn *)fd->secret;
    PRInt32 got = conn != NULL && conn->prefix != NULL && amount > 0
                      ? recv_prefix(conn, buf, amount, flags)
                      : fd->lower->methods->recv(fd->lower, buf, amount, flags, timeout);

    if (got > 0 && conn != NULL && !(flags & PR_MSG_PEEK))
        tls_nss_conn_observe_hello(conn, buf, (size_t)got, PR_FALSE);
    if (got > 0 && conn != NULL && !conn->first_record_judged) {
        tls_nss_conn_judge_first_bytes(conn, buf, (size_t)got);
        if (conn->not_tls) {
            /* NSS asked for a record header; the error quotes a little more,
             * if it is there already. */
            size_t have = conn->first_bytes_length;
            PRInt32 more = fd->lower->methods->recv(fd->lower, conn->first_bytes + have,
                                                    (PRInt32)(sizeof(conn->first_bytes) - have),
                                                    PR_MSG_PEEK, PR_INTERVAL_NO_WAIT);
            if (more > 0)
                conn->first_bytes_length += (size_t)more;
            PR_SetError(PR_IO_ERROR, 0);
            return -1;
        }
    }
    return got;
}

static PRInt32 PR_CALLBACK
first_record_read(PRFileDesc *fd, void *buf, PRInt32 amount)
{
    return first_record_recv(fd, buf, amount, 0, PR_INTERVAL_NO_TIMEOUT);
}

static PRInt32 PR_CALLBACK
first_record_send(PRFileDesc *fd, const void *buf, PRInt32 amount, PRIntn flags,
                  PRIntervalTime timeout)
{
    tls_nss_conn *conn = (tls_nss_conn *)fd->secret;

    /* NSS keeps what could not go, and frees it with the socket. */
    if (conn != NULL && conn->closing_quietly) {
        PR_SetError(PR_WOULD_BLOCK_ERROR, 0);
        return -1;
    }
#ifdef MSG_DONTWAIT
    /* Under ssl.SSLSocket the descriptor shares its file description with
     * the program's socket, which a blocking SSLSocket (timeout None) puts
     * in blocking mode; a send must still never wait in the kernel, where
     * neither a deadline nor a signal reaches it. NSPR hands the flags to
     * send(2). (A read waiting there ends at a signal, with EINTR.) */
    flags |= MSG_DONTWAIT;
#endif
    PRInt32 sent = fd->lower->methods->send(fd->lower, buf, amount, flags, timeout);

    if (sent > 0 && conn != NULL)
        tls_nss_conn_observe_hello(conn, buf, (size_t)sent, PR_TRUE);
    return sent;
}

static PRInt32 PR_CALLBACK
first_record_write(PRFileDesc *fd, const void *buf, PRInt32 amount)
{
    return first_record_send(fd, buf, amount, 0, PR_INTERVAL_NO_TIMEOUT);
}

static PRStatus PR_CALLBACK
first_record_shutdown(PRFileDesc *fd, PRIntn how)
{
    tls_nss_conn *conn = (tls_nss_conn *)fd->secret;

    /* NSS sends close_notify, then shuts the transport down; a transport
     * the program shares stays open. */
    if (conn != NULL && conn->transport_shared)
        return PR_SUCCESS;
    return fd->lower->methods->shutdown(fd->lower, how);
}

static PRStatus PR_CALLBACK
first_record_close(PRFileDesc *fd)
{
    /* The connection is the Python object's; only the layer goes. */
    fd->secret = NULL;
    return PR_GetDefaultIOMethods()->close(fd);
}

/* NSS tells sessions apart by the peer's IP address and refuses any other
 * kind, so a Unix-domain peer is shown to it as the loopback address; the
 * session's peer ID, which names the socket's path, keeps them apart.
 * getpeername() and getsockname() ask the bottom layer, not this one. */
static PRStatus PR_CALLBACK
first_record_peer_address(PRFileDesc *fd, PRNetAddr *addr)
{
    if (fd->lower->methods->getpeername(fd->lower, addr) != PR_SUCCESS)
        return PR_FAILURE;
    if (addr->raw.family == PR_AF_LOCAL)
        return PR_InitializeNetAddr(PR_IpAddrLoopback, 0, addr);
    return PR_SUCCESS;
}

static PRStatus
define_first_record_layer(void *unused)
{
    first_record_identity = PR_GetUniqueIdentity("tls_nss first record");
    if (first_record_identity == PR_INVALID_IO_LAYER)
        return PR_FAILURE;
    first_record_methods = *PR_GetDefaultIOMethods();
    first_record_methods.recv = first_record_recv;
    first_record_methods.read = first_record_read;
    first_record_methods.send = first_record_send;
    first_record_methods.write = first_record_write;
    first_record_methods.close = first_record_close;
    first_record_methods.shutdown = first_record_shutdown;
    first_record_methods.getpeername = first_record_peer_address;
    return PR_SUCCESS;
}

int
tls_nss_socket_push_first_record_layer(tls_nss_socket *self, PRFileDesc *tcp)
{
    tls_nss_state *st = tls_nss_state_of((PyObject *)self);
    PRFileDesc *layer;

    if (tls_nss_call_once(&first_record_once, define_first_record_layer, NULL) != PR_SUCCESS ||
        (layer = PR_CreateIOLayerStub(first_record_identity, &first_record_methods)) == NULL) {
        tls_nss_raise(st, TLS_NSS_ERROR, PR_GetError(), "creating the first-record I/O layer");
        return -1;
    }
    layer->secret = (PRFilePrivate *)&self->tls;
    if (PR_PushIOLayer(tcp, PR_TOP_IO_LAYER, layer) != PR_SUCCESS) {
        tls_nss_raise(st, TLS_NSS_ERROR, PR_GetError(), "pushing the first-record I/O layer");
        layer->dtor(layer);
        return -1;
    }
    return 0;
}

/* ---- waiting ---- */

/* How long to wait in one poll, with `remaining` seconds to the deadline. */
static PRIntervalTime
wait_interval(double remaining, PRBool on_main_thread)
{
    double ms = isinf(remaining) ? (double)LONGEST_WAIT_MS : ceil(remaining * 1000.0);

    if (ms <= 0)
        return PR_INTERVAL_NO_WAIT;
    if (on_main_thread && ms > SIGNAL_SLICE_MS)
        ms = SIGNAL_SLICE_MS;
    if (!on_main_thread && isinf(remaining))
        return PR_INTERVAL_NO_TIMEOUT;
    return PR_MillisecondsToInterval(ms > LONGEST_WAIT_MS ? LONGEST_WAIT_MS : (PRUint32)ms);
}

/* Tries the call, and while NSS would block, waits for the socket and tries
 * again, all without the GIL, so that a wait costs no trip through the
 * interpreter. Gives up, with PR_WOULD_BLOCK_ERROR, at the deadline, when
 * `may_wait` is false, or on the main thread after a slice, for signals.
 * Returns the call's result, or -1 with its error. */
static PRInt32
try_until_ready(tls_nss_socket *self, socket_call *call, PRBool may_wait, PRBool on_main_thread,
                PRErrorCode *error)
{
    PRPollDesc poll = {self->tls.fd, waits_to_write(call->kind) ? PR_POLL_WRITE : PR_POLL_READ,
                       0};
    double slice_end = tls_nss_monotonic() + SIGNAL_SLICE_MS / 1000.0;

    for (;;) {
        PRInt32 result;
        double now;

        *error = 0;
        if (self->tls.not_tls)
            return -1;
        result = perform(self, call);
        if (result >= 0)
            return result;
        *error = PR_GetError();
        /* Under a blocking ssl.SSLSocket the descriptor is in blocking
         * mode, and a signal ends a read waiting in the kernel (EINTR): the
         * caller runs the handlers and, unless one raised, tries again, as
         * Python's own socket calls do (PEP 475). */
        if (*error == PR_PENDING_INTERRUPT_ERROR) {
            *error = PR_WOULD_BLOCK_ERROR;
            return -1;
        }
        /* NSS has answered a renegotiation request with no_renegotiation
         * and goes on: the connection is the peer's to end, not ours. */
        if (*error == SSL_ERROR_RENEGOTIATION_NOT_ALLOWED && call->kind == CALL_RECV)
            *error = PR_WOULD_BLOCK_ERROR;
        if (*error != PR_WOULD_BLOCK_ERROR || !may_wait || self->close_pending)
            return -1;
        now = tls_nss_monotonic();
        if (now >= call->deadline || (on_main_thread && now >= slice_end))
            return -1;
        PRIntervalTime wait = wait_interval(
            (on_main_thread ? fmin(call->deadline, slice_end) : call->deadline) - now,
            on_main_thread);
        /* Whatever poll says, the call is tried again (NSS knows best),
         * and the checks above end the wait. */
        (void)PR_Poll(&poll, 1, wait);
    }
}

static PyObject *
raise_timeout(tls_nss_state *st, tls_nss_socket *self, const socket_call *call)
{
    char seconds[32];

    /* PyUnicode_FromFormat has no %g. */
    snprintf(seconds, sizeof(seconds), "%.3g", call->timeout);
    return tls_nss_raise(st, TLS_NSS_ERROR, PR_IO_TIMEOUT_ERROR, "%s %s: timed out after %s s",
                         call->operation, self->tls.peer, seconds);
}

PRInt32
tls_nss_socket_run(tls_nss_socket *self, socket_call *call)
{
    tls_nss_state *st = tls_nss_state_of((PyObject *)self);
    PRBool on_main_thread = PyThread_get_thread_ident() == st->main_thread;
    PRBool may_wait = self->timeout != 0;

    for (;;) {
        PRErrorCode error;
        PRInt32 result;

        self->busy++;
        Py_BEGIN_ALLOW_THREADS
        result = try_until_ready(self, call, may_wait, on_main_thread, &error);
        Py_END_ALLOW_THREADS
        if (--self->busy == 0 && self->close_pending)
            tls_nss_socket_release_fd(self);
        if (self->close_pending || self->tls.fd == NULL) {
            tls_nss_raise(st, TLS_NSS_CLOSED, 0, "%s %s: the socket was closed by another thread",
                          call->operation, self->tls.peer);
            return -1;
        }
        if (result >= 0)
            return result;
        call->error = error;
        if (self->tls.not_tls || error != PR_WOULD_BLOCK_ERROR || !may_wait) {
            tls_nss_conn_raise(st, &self->tls, error,
                               waits_to_write(call->kind) ? TLS_NSS_WANT_WRITE : TLS_NSS_WANT_READ,
                               call->operation);
            return -1;
        }
        if (PyErr_CheckSignals() < 0)
            return -1;
        if (tls_nss_monotonic() >= call->deadline) {
            raise_timeout(st, self, call);
            return -1;
        }
    }
}
