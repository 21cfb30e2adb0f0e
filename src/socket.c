/* TLS sockets: a TCP socket imported from a context's model.
 *
 * Every NSPR call that can block goes through one helper, run_blocking(),
 * which runs it without the GIL. Such a call may be in flight in one thread
 * while another closes the socket; the descriptor is then only shut down,
 * and the last call in flight releases it. */
#include "config.h"
#include "tls_nss.h"

#include <math.h>
/* PR_ImportTCPSocket and PR_FileDesc2NativeHandle: NSPR's stable, if
 * "private", bridge to descriptors made outside NSPR. */
#include <private/pprio.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct {
    /* tls.fd is SSL over TCP, or, listening, a bare TCP socket. */
    tls_nss_conn tls;
    double timeout;         /* seconds; < 0 blocks, 0 never blocks */
    PRIntervalTime interval;
    int busy;               /* calls running without the GIL */
    PRBool listening;
    PRBool close_pending;
} tls_nss_socket;

/* ---- descriptor lifetime ---- */

static void
release_fd(tls_nss_socket *self)
{
    PRFileDesc *fd = self->tls.fd;

    self->tls.fd = NULL;
    if (fd == NULL)
        return;
    Py_BEGIN_ALLOW_THREADS
    PR_Close(fd);
    Py_END_ALLOW_THREADS
}

/* ---- the one path of blocking I/O ---- */

typedef enum { CALL_HANDSHAKE, CALL_RECV, CALL_SEND, CALL_ACCEPT, CALL_SHUTDOWN } call_kind;

typedef struct {
    call_kind kind;
    void *buf;             /* CALL_RECV, CALL_SEND */
    PRInt32 len;
    PRNetAddr *peer;       /* CALL_ACCEPT: the peer's address */
    PRFileDesc *accepted;  /* CALL_ACCEPT: the new TCP connection */
    PRErrorCode error;     /* when the call failed */
} socket_call;

static PRInt32
perform(tls_nss_socket *self, socket_call *call)
{
    PRFileDesc *fd = self->tls.fd;

    switch (call->kind) {
    case CALL_HANDSHAKE:
        return SSL_ForceHandshakeWithTimeout(fd, self->interval) == SECSuccess ? 0 : -1;
    case CALL_RECV:
        return PR_Recv(fd, call->buf, call->len, 0, self->interval);
    case CALL_SEND:
        return PR_Send(fd, call->buf, call->len, 0, self->interval);
    case CALL_ACCEPT:
        call->accepted = PR_Accept(fd, call->peer, self->interval);
        return call->accepted != NULL ? 0 : -1;
    case CALL_SHUTDOWN:
        return PR_Shutdown(fd, PR_SHUTDOWN_SEND) == PR_SUCCESS ? 0 : -1;
    }
    return -1;
}

/* Runs one NSPR call that may block, without the GIL, and captures its
 * error before the GIL is taken back. Returns its result (>= 0), or -1
 * with the error in call->error. */
static PRInt32
run_blocking(tls_nss_socket *self, socket_call *call)
{
    PRInt32 result;

    self->busy++;
    Py_BEGIN_ALLOW_THREADS
    result = perform(self, call);
    call->error = result < 0 ? PR_GetError() : 0;
    Py_END_ALLOW_THREADS
    if (--self->busy == 0 && self->close_pending)
        release_fd(self);
    return result;
}

static int
check_open(tls_nss_state *st, tls_nss_socket *self, const char *operation)
{
    if (self->tls.fd == NULL || self->close_pending) {
        tls_nss_raise(st, TLS_NSS_ERROR, 0, "%s: the TLS socket is closed", operation);
        return -1;
    }
    return 0;
}

static int
check_connection(tls_nss_state *st, tls_nss_socket *self, const char *operation)
{
    if (check_open(st, self, operation) < 0)
        return -1;
    if (self->listening) {
        tls_nss_raise(st, TLS_NSS_ERROR, 0,
                      "%s: this socket is listening; use the socket that accept() returns",
                      operation);
        return -1;
    }
    return 0;
}

/* ---- timeouts ---- */

static int
parse_timeout(PyObject *value, double *seconds)
{
    if (value == Py_None) {
        *seconds = -1.0;
        return 0;
    }
    double t = PyFloat_AsDouble(value);
    if (t == -1.0 && PyErr_Occurred()) {
        if (PyErr_ExceptionMatches(PyExc_TypeError)) {
            PyErr_Clear();
            PyErr_Format(PyExc_TypeError, "timeout must be None or a number, not %.100s",
                         Py_TYPE(value)->tp_name);
        }
        return -1;
    }
    if (isnan(t) || t < 0) {
        PyErr_SetString(PyExc_ValueError, "timeout must be None or a non-negative number");
        return -1;
    }
    *seconds = t;
    return 0;
}

static int
apply_timeout(tls_nss_state *st, tls_nss_socket *self, double seconds)
{
    PRSocketOptionData option;

    self->timeout = seconds;
    if (seconds < 0) {
        self->interval = PR_INTERVAL_NO_TIMEOUT;
    }
    else if (seconds == 0) {
        self->interval = PR_INTERVAL_NO_WAIT;
    }
    else {
        /* NSPR intervals are 32-bit ticks; longer waits than NSPR can
         * express are capped at its six-hour limit. */
        double ms = ceil(seconds * 1000.0);
        self->interval = PR_MillisecondsToInterval(ms > 6 * 3600 * 1000.0
                                                       ? 6 * 3600 * 1000
                                                       : (PRUint32)ms);
    }
    if (self->tls.fd == NULL)
        return 0;
    option.option = PR_SockOpt_Nonblocking;
    option.value.non_blocking = seconds == 0 ? PR_TRUE : PR_FALSE;
    if (PR_SetSocketOption(self->tls.fd, &option) != PR_SUCCESS) {
        tls_nss_raise(st, TLS_NSS_ERROR, PR_GetError(), "setting the socket's blocking mode");
        return -1;
    }
    return 0;
}

/* ---- construction ---- */

static tls_nss_socket *
new_socket(tls_nss_context *ctx, PyObject *owner, double timeout)
{
    tls_nss_state *st = tls_nss_state_of((PyObject *)ctx);
    tls_nss_socket *self =
        (tls_nss_socket *)tls_nss_conn_new(st->socket_type, ctx, owner);

    if (self != NULL)
        self->timeout = timeout;
    return self;
}

static void
describe_address(const PRNetAddr *addr, char *out, size_t size)
{
    char host[80];

    if (PR_NetAddrToString(addr, host, sizeof(host)) != PR_SUCCESS)
        snprintf(host, sizeof(host), "?");
    if (addr->raw.family == PR_AF_INET6)
        snprintf(out, size, "[%s]:%u", host, PR_ntohs(PR_NetAddrInetPort(addr)));
    else
        snprintf(out, size, "%s:%u", host, PR_ntohs(PR_NetAddrInetPort(addr)));
}

/* Puts TLS on `tcp` (which it takes over) and runs the handshake. */
static int
start_tls(tls_nss_state *st, tls_nss_socket *self, PRFileDesc *tcp, PRBool as_server)
{
    if (tls_nss_conn_import(st, &self->tls, tcp, as_server) < 0)
        return -1;
    if (apply_timeout(st, self, self->timeout) < 0)
        return -1;

    socket_call call = {.kind = CALL_HANDSHAKE};
    if (run_blocking(self, &call) < 0) {
        /* A non-blocking socket finishes its handshake in recv or send. */
        if (call.error == PR_WOULD_BLOCK_ERROR)
            return 0;
        tls_nss_conn_raise(st, &self->tls, call.error, TLS_NSS_WANT_READ, "TLS handshake with");
        return -1;
    }
    self->tls.handshake_done = PR_TRUE;
    return 0;
}

PyObject *
tls_nss_socket_connect(tls_nss_context *ctx, PyObject *owner, int os_fd,
                       const char *hostname, PyObject *timeout_arg)
{
    tls_nss_state *st = tls_nss_state_of((PyObject *)ctx);
    double timeout;
    PRNetAddr addr;

    if (parse_timeout(timeout_arg, &timeout) < 0)
        return NULL;
    if (ctx->is_server) {
        PyErr_SetString(PyExc_TypeError, "connect() needs a client context");
        return NULL;
    }
    tls_nss_socket *self = new_socket(ctx, owner, timeout);
    if (self == NULL)
        return NULL;
    PRFileDesc *tcp = PR_ImportTCPSocket(os_fd);
    if (tcp == NULL) {
        tls_nss_raise(st, TLS_NSS_ERROR, PR_GetError(), "taking over socket %d", os_fd);
        close(os_fd);
        goto fail;
    }
    if (hostname != NULL && tls_nss_conn_set_hostname(&self->tls, hostname) < 0) {
        PR_Close(tcp);
        goto fail;
    }
    if (PR_GetPeerName(tcp, &addr) == PR_SUCCESS)
        describe_address(&addr, self->tls.peer, sizeof(self->tls.peer));
    if (hostname != NULL) {
        char where[64];
        snprintf(where, sizeof(where), "%.63s", self->tls.peer);
        snprintf(self->tls.peer, sizeof(self->tls.peer), "%.90s (%s)", hostname, where);
    }
    if (start_tls(st, self, tcp, PR_FALSE) < 0)
        goto fail;
    return (PyObject *)self;

fail:
    Py_DECREF(self);
    return NULL;
}

PyObject *
tls_nss_socket_listen(tls_nss_context *ctx, PyObject *owner, int os_fd,
                      PyObject *timeout_arg)
{
    tls_nss_state *st = tls_nss_state_of((PyObject *)ctx);
    double timeout;
    PRNetAddr addr;

    if (parse_timeout(timeout_arg, &timeout) < 0)
        return NULL;
    if (!ctx->is_server) {
        PyErr_SetString(PyExc_TypeError, "listen() needs a server context");
        return NULL;
    }
    tls_nss_socket *self = new_socket(ctx, owner, timeout);
    if (self == NULL)
        return NULL;
    self->listening = PR_TRUE;
    self->tls.fd = PR_ImportTCPSocket(os_fd);
    if (self->tls.fd == NULL) {
        tls_nss_raise(st, TLS_NSS_ERROR, PR_GetError(), "taking over socket %d", os_fd);
        close(os_fd);
        Py_DECREF(self);
        return NULL;
    }
    if (PR_GetSockName(self->tls.fd, &addr) == PR_SUCCESS)
        describe_address(&addr, self->tls.peer, sizeof(self->tls.peer));
    if (apply_timeout(st, self, timeout) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

/* ---- addresses ---- */

static PyObject *
address_tuple(const PRNetAddr *addr)
{
    char host[80];

    if (PR_NetAddrToString(addr, host, sizeof(host)) != PR_SUCCESS)
        return NULL;
    unsigned int port = PR_ntohs(PR_NetAddrInetPort(addr));
    /* The shapes socket.socket uses. */
    if (addr->raw.family == PR_AF_INET6)
        return Py_BuildValue("(sIkk)", host, port, (unsigned long)PR_ntohl(addr->ipv6.flowinfo),
                             (unsigned long)addr->ipv6.scope_id);
    return Py_BuildValue("(sI)", host, port);
}

static PyObject *
sock_getsockname(tls_nss_socket *self, PyObject *unused)
{
    tls_nss_state *st = tls_nss_state_of((PyObject *)self);
    PRNetAddr addr;

    if (check_open(st, self, "getsockname") < 0)
        return NULL;
    if (PR_GetSockName(self->tls.fd, &addr) != PR_SUCCESS)
        return tls_nss_raise(st, TLS_NSS_ERROR, PR_GetError(), "reading the local address");
    return address_tuple(&addr);
}

/* A listening socket has no peer, so the check differs from the above. */
static PyObject *
sock_getpeername(tls_nss_socket *self, PyObject *unused)
{
    tls_nss_state *st = tls_nss_state_of((PyObject *)self);
    PRNetAddr addr;

    if (check_connection(st, self, "getpeername") < 0 ||
        PR_GetPeerName(self->tls.fd, &addr) != PR_SUCCESS)
        return PyErr_Occurred() ? NULL
                                : tls_nss_raise(st, TLS_NSS_ERROR, PR_GetError(),
                                                "reading the peer's address");
    return address_tuple(&addr);
}

static PyObject *
sock_fileno(tls_nss_socket *self, PyObject *unused)
{
    if (self->tls.fd == NULL || self->close_pending)
        return PyLong_FromLong(-1);
    return PyLong_FromLong((long)PR_FileDesc2NativeHandle(self->tls.fd));
}

/* ---- data ---- */

/* One read for recv(): the count, or -1 with the exception set. */
static Py_ssize_t
receive_once(tls_nss_conn *conn, char *buf, Py_ssize_t len)
{
    tls_nss_socket *self = (tls_nss_socket *)conn;
    socket_call call = {.kind = CALL_RECV, .buf = buf, .len = (PRInt32)len};
    PRInt32 got = run_blocking(self, &call);

    if (got < 0)
        tls_nss_conn_raise(tls_nss_state_of((PyObject *)self), conn, call.error,
                           TLS_NSS_WANT_READ, "receiving from");
    return got;
}

static PyObject *
sock_recv(tls_nss_socket *self, PyObject *arg)
{
    tls_nss_state *st = tls_nss_state_of((PyObject *)self);
    Py_ssize_t size = PyNumber_AsSsize_t(arg, PyExc_OverflowError);

    if (size == -1 && PyErr_Occurred())
        return NULL;
    if (size < 0) {
        PyErr_SetString(PyExc_ValueError, "negative buffer size in recv()");
        return NULL;
    }
    if (check_connection(st, self, "recv") < 0)
        return NULL;
    if (size > PR_INT32_MAX)
        size = PR_INT32_MAX;
    PyObject *data = PyBytes_FromStringAndSize(NULL, size);
    if (data == NULL)
        return NULL;
    Py_ssize_t got = tls_nss_conn_read(&self->tls, receive_once, PyBytes_AS_STRING(data), size,
                                       "receiving from");
    if (got < 0) {
        Py_DECREF(data);
        return NULL;
    }
    if (got != size && _PyBytes_Resize(&data, got) < 0)
        return NULL;
    return data;
}

/* Sends what it can of `bytes`; returns the count, or -1 with an error. */
static Py_ssize_t
send_some(tls_nss_state *st, tls_nss_socket *self, const char *bytes, Py_ssize_t len)
{
    socket_call call = {.kind = CALL_SEND, .buf = (void *)bytes,
                        .len = len > PR_INT32_MAX ? PR_INT32_MAX : (PRInt32)len};
    PRInt32 sent = run_blocking(self, &call);

    if (sent < 0)
        tls_nss_conn_raise(st, &self->tls, call.error, TLS_NSS_WANT_WRITE, "sending to");
    return sent;
}

static PyObject *
sock_send(tls_nss_socket *self, PyObject *arg)
{
    tls_nss_state *st = tls_nss_state_of((PyObject *)self);
    Py_buffer view;
    Py_ssize_t sent = 0;

    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    if (check_connection(st, self, "send") < 0)
        sent = -1;
    else if (view.len > 0)
        sent = send_some(st, self, view.buf, view.len);
    PyBuffer_Release(&view);
    return sent < 0 ? NULL : PyLong_FromSsize_t(sent);
}

static PyObject *
sock_sendall(tls_nss_socket *self, PyObject *arg)
{
    tls_nss_state *st = tls_nss_state_of((PyObject *)self);
    Py_buffer view;
    Py_ssize_t done = 0;
    int failed = 0;

    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    if (check_connection(st, self, "sendall") < 0)
        failed = 1;
    while (!failed && done < view.len) {
        Py_ssize_t sent = send_some(st, self, (const char *)view.buf + done, view.len - done);
        if (sent < 0 || (done + sent < view.len && check_connection(st, self, "sendall") < 0))
            failed = 1;
        else
            done += sent;
    }
    PyBuffer_Release(&view);
    if (failed)
        return NULL;
    Py_RETURN_NONE;
}

/* ---- closing ---- */

/* Sends close_notify once. */
static int
send_close_notify(tls_nss_state *st, tls_nss_socket *self)
{
    socket_call call = {.kind = CALL_SHUTDOWN};

    if (self->tls.close_notify_sent || !self->tls.handshake_done)
        return 0;
    if (run_blocking(self, &call) < 0 && call.error == PR_WOULD_BLOCK_ERROR) {
        tls_nss_conn_raise(st, &self->tls, call.error, TLS_NSS_WANT_WRITE,
                           "sending close_notify to");
        return -1;
    }
    /* A peer that has already gone needs no close_notify. */
    self->tls.close_notify_sent = PR_TRUE;
    return 0;
}

/* One read while awaiting close_notify: a peer that is gone ends the wait
 * as EOF does; only a wait that could not finish is an error. */
static Py_ssize_t
read_before_close(tls_nss_conn *conn, char *buf, Py_ssize_t len)
{
    socket_call call = {.kind = CALL_RECV, .buf = buf, .len = (PRInt32)len};
    PRInt32 got = run_blocking((tls_nss_socket *)conn, &call);

    if (got >= 0)
        return got;
    if (call.error != PR_WOULD_BLOCK_ERROR && call.error != PR_IO_TIMEOUT_ERROR)
        return 0;
    tls_nss_conn_raise(tls_nss_state_of((PyObject *)conn), conn, call.error, TLS_NSS_WANT_READ,
                       "awaiting close_notify from");
    return -1;
}

/* close() and leaving a with block: close_notify, then, unless `force`,
 * the peer's close_notify, then the descriptor. */
static int
close_socket(tls_nss_state *st, tls_nss_socket *self, PRBool force)
{
    if (self->tls.fd == NULL || self->close_pending)
        return 0;
    if (self->busy) {
        /* Wake the calls in flight; the last of them releases the fd. */
        self->close_pending = PR_TRUE;
        shutdown(PR_FileDesc2NativeHandle(self->tls.fd), SHUT_RDWR);
        return 0;
    }
    if (!self->listening) {
        if (send_close_notify(st, self) < 0)
            return -1;
        if (!force && self->tls.handshake_done &&
            tls_nss_conn_drain(&self->tls, read_before_close) < 0)
            return -1;
    }
    release_fd(self);
    return 0;
}

static PyObject *
sock_close(tls_nss_socket *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"force", NULL};
    int force = 0;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|p:close", keywords, &force))
        return NULL;
    if (close_socket(tls_nss_state_of((PyObject *)self), self, force ? PR_TRUE : PR_FALSE) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *
sock_enter(tls_nss_socket *self, PyObject *unused)
{
    return Py_NewRef((PyObject *)self);
}

static PyObject *
sock_exit(tls_nss_socket *self, PyObject *args)
{
    if (close_socket(tls_nss_state_of((PyObject *)self), self, PR_TRUE) < 0)
        return NULL;
    Py_RETURN_FALSE;
}

/* ---- server side ---- */

static PyObject *
sock_listen(tls_nss_socket *self, PyObject *args)
{
    tls_nss_state *st = tls_nss_state_of((PyObject *)self);
    int backlog = 128;

    if (!PyArg_ParseTuple(args, "|i:listen", &backlog))
        return NULL;
    if (check_open(st, self, "listen") < 0)
        return NULL;
    if (!self->listening)
        return tls_nss_raise(st, TLS_NSS_ERROR, 0,
                             "listen: this socket is a connection, not a server socket");
    if (backlog < 0)
        backlog = 0;
    if (PR_Listen(self->tls.fd, backlog) != PR_SUCCESS)
        return tls_nss_raise(st, TLS_NSS_ERROR, PR_GetError(), "listening on %s", self->tls.peer);
    Py_RETURN_NONE;
}

static PyObject *
sock_accept(tls_nss_socket *self, PyObject *unused)
{
    tls_nss_state *st = tls_nss_state_of((PyObject *)self);
    PRNetAddr addr;
    PRFileDesc *tcp;

    if (check_open(st, self, "accept") < 0)
        return NULL;
    if (!self->listening)
        return tls_nss_raise(st, TLS_NSS_ERROR, 0,
                             "accept: this socket is a connection, not a server socket");
    socket_call call = {.kind = CALL_ACCEPT, .peer = &addr};
    if (run_blocking(self, &call) < 0)
        return tls_nss_conn_raise(st, &self->tls, call.error, TLS_NSS_WANT_READ, "accepting on");
    tcp = call.accepted;

    tls_nss_socket *conn = new_socket(self->tls.ctx, self->tls.owner, self->timeout);
    if (conn == NULL) {
        PR_Close(tcp);
        return NULL;
    }
    describe_address(&addr, conn->tls.peer, sizeof(conn->tls.peer));
    if (start_tls(st, conn, tcp, PR_TRUE) < 0) {
        Py_DECREF(conn);
        return NULL;
    }
    PyObject *peer = address_tuple(&addr);
    if (peer == NULL) {
        Py_DECREF(conn);
        return NULL;
    }
    return Py_BuildValue("(NN)", (PyObject *)conn, peer);
}

/* ---- timeouts, as on socket.socket ---- */

static PyObject *
sock_settimeout(tls_nss_socket *self, PyObject *arg)
{
    double timeout;

    if (parse_timeout(arg, &timeout) < 0)
        return NULL;
    if (apply_timeout(tls_nss_state_of((PyObject *)self), self, timeout) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *
sock_gettimeout(tls_nss_socket *self, PyObject *unused)
{
    if (self->timeout < 0)
        Py_RETURN_NONE;
    return PyFloat_FromDouble(self->timeout);
}

static PyObject *
sock_setblocking(tls_nss_socket *self, PyObject *arg)
{
    int blocking = PyObject_IsTrue(arg);

    if (blocking < 0)
        return NULL;
    if (apply_timeout(tls_nss_state_of((PyObject *)self), self, blocking ? -1.0 : 0.0) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *
sock_getblocking(tls_nss_socket *self, PyObject *unused)
{
    return PyBool_FromLong(self->timeout != 0);
}

static PyObject *
sock_repr(tls_nss_socket *self)
{
    const char *state = self->tls.fd == NULL ? "closed" : self->listening ? "listening on" : "connected to";
    return PyUnicode_FromFormat("<%s %s %s>", Py_TYPE(self)->tp_name, state, self->tls.peer);
}

/* ---- type ---- */

static PyMethodDef sock_methods[] = {
    {"recv", (PyCFunction)sock_recv, METH_O,
     "recv(bufsize)\n--\n\nReceive up to bufsize bytes; b'' after the peer's close_notify."},
    {"send", (PyCFunction)sock_send, METH_O,
     "send(data)\n--\n\nSend data; return how many bytes were sent."},
    {"sendall", (PyCFunction)sock_sendall, METH_O,
     "sendall(data)\n--\n\nSend all of data."},
    {"close", (PyCFunction)(void (*)(void))sock_close, METH_VARARGS | METH_KEYWORDS,
     "close(force=False)\n--\n\n"
     "Send close_notify and close. Unless force is true, first wait for the\n"
     "peer's close_notify (on a non-blocking socket: raise WantReadError until\n"
     "it has come)."},
    {"listen", (PyCFunction)sock_listen, METH_VARARGS,
     "listen(backlog=128)\n--\n\nSet the backlog of a server socket."},
    {"accept", (PyCFunction)sock_accept, METH_NOARGS,
     "accept()\n--\n\nAccept a connection and run the server handshake.\n"
     "Return (TLS socket, address)."},
    {"getsockname", (PyCFunction)sock_getsockname, METH_NOARGS, "The local address."},
    {"getpeername", (PyCFunction)sock_getpeername, METH_NOARGS, "The peer's address."},
    {"fileno", (PyCFunction)sock_fileno, METH_NOARGS,
     "fileno()\n--\n\nThe operating system's socket descriptor, or -1 once closed."},
    {"settimeout", (PyCFunction)sock_settimeout, METH_O,
     "settimeout(timeout)\n--\n\nNone blocks, 0 never blocks, else seconds per call."},
    {"gettimeout", (PyCFunction)sock_gettimeout, METH_NOARGS, "The timeout in seconds, or None."},
    {"setblocking", (PyCFunction)sock_setblocking, METH_O,
     "setblocking(flag)\n--\n\nsettimeout(None) if flag else settimeout(0)."},
    {"getblocking", (PyCFunction)sock_getblocking, METH_NOARGS,
     "Whether calls may block."},
    {"__enter__", (PyCFunction)sock_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)sock_exit, METH_VARARGS,
     "Close with force=True: leaving a with block never waits for the peer."},
    {NULL, NULL, 0, NULL},
};

TLS_NSS_CONNECTION_SUBTYPE(tls_nss_socket_spec, "tls_nss.NSSTLSSocket", tls_nss_socket,
                           "A TLS socket. Made by a context's connect(), or by accept().",
                           sock_repr, sock_methods);
