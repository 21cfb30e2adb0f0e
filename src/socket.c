/* TLS sockets: a TCP socket imported from a context's model.
 *
 * Every call that may wait goes through tls_nss_socket_run() (socket_io.c),
 * which bounds it by the socket's timeout as a whole and wakes for signals.
 * Such a call may be in flight in one thread while another closes the
 * socket; the descriptor is then only shut down, which wakes the call, and
 * the last call in flight releases it.
 *
 * The file is the whole of one type (construction, data, closing, the
 * server side, timeouts and addresses, as socket.socket has them), and so
 * the largest; what is not the type's, the waiting, is in socket_io.c. */
#include "config.h"
#include "socket.h"

#include <math.h>
/* PR_ImportTCPSocket and PR_FileDesc2NativeHandle: NSPR's stable, if
 * "private", bridge to descriptors made outside NSPR. */
#include <private/pprio.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

static int
check_open(tls_nss_state *st, tls_nss_socket *self, const char *operation)
{
    if (self->tls.fd == NULL || self->close_pending) {
        tls_nss_raise(st, TLS_NSS_CLOSED, 0, "%s: the TLS socket is closed", operation);
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
set_socket_option(tls_nss_state *st, PRFileDesc *fd, PRSocketOptionData option,
                  const char *what)
{
    if (PR_SetSocketOption(fd, &option) != PR_SUCCESS) {
        tls_nss_raise(st, TLS_NSS_ERROR, PR_GetError(), "setting %s", what);
        return -1;
    }
    return 0;
}

/* The descriptor waits in NSPR never: socket_io.c does the waiting. */
static int
make_non_blocking(tls_nss_state *st, PRFileDesc *fd)
{
    PRSocketOptionData option = {PR_SockOpt_Nonblocking, {.non_blocking = PR_TRUE}};
    return set_socket_option(st, fd, option, "the socket non-blocking");
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

/* Where an address is read into: the kernel fills a Unix-domain path only
 * as far as it goes, and an unnamed socket's not at all. */
static PRNetAddr
blank_address(void)
{
    PRNetAddr addr;

    memset(&addr, 0, sizeof(addr));
    return addr;
}

static void
describe_address(const PRNetAddr *addr, char *out, size_t size)
{
    char host[80];

    if (addr->raw.family == PR_AF_LOCAL) {
        snprintf(out, size, "unix:%s", addr->local.path[0] ? addr->local.path : "(unnamed)");
        return;
    }
    if (PR_NetAddrToString(addr, host, sizeof(host)) != PR_SUCCESS)
        snprintf(host, sizeof(host), "?");
    if (addr->raw.family == PR_AF_INET6)
        snprintf(out, size, "[%s]:%u", host, PR_ntohs(PR_NetAddrInetPort(addr)));
    else
        snprintf(out, size, "%s:%u", host, PR_ntohs(PR_NetAddrInetPort(addr)));
}

static double handshake_budget(const tls_nss_socket *socket);

/* Runs (or, on a non-blocking socket, goes on with) the handshake, within
 * `budget` seconds. */
static int
handshake(tls_nss_state *st, tls_nss_socket *self, double budget)
{
    socket_call call = tls_nss_socket_call(CALL_HANDSHAKE, "TLS handshake with", budget);

    if (self->tls.handshake_done)
        return 0;
    if (tls_nss_socket_run(self, &call) < 0) {
        /* A non-blocking socket finishes its handshake in recv or send. */
        if (self->timeout == 0 && call.error == PR_WOULD_BLOCK_ERROR) {
            PyErr_Clear();
            return 0;
        }
        return -1;
    }
    self->tls.handshake_done = PR_TRUE;
    return 0;
}

/* No Nagle: TLS writes whole records, and a request or reply that waited
 * for the peer's delayed ACK would stall about 40 ms. A Unix-domain stream
 * socket, which the ssl module wraps as readily as TCP, has no Nagle to
 * turn off. */
static int
disable_nagle(tls_nss_state *st, PRFileDesc *tcp)
{
    PRSocketOptionData option = {PR_SockOpt_NoDelay, {.no_delay = PR_TRUE}};

    if (PR_SetSocketOption(tcp, &option) == PR_SUCCESS ||
        PR_GetError() == PR_NOT_TCP_SOCKET_ERROR)
        return 0;
    tls_nss_raise(st, TLS_NSS_ERROR, PR_GetError(), "setting TCP_NODELAY");
    return -1;
}

/* Puts TLS on `tcp` (which it takes over), ready for the handshake. */
static int
start_tls(tls_nss_state *st, tls_nss_socket *self, PRFileDesc *tcp, PRBool as_server)
{
    if (make_non_blocking(st, tcp) < 0 || disable_nagle(st, tcp) < 0 ||
        tls_nss_socket_push_first_record_layer(self, tcp) < 0) {
        PR_Close(tcp);
        return -1;
    }
    return tls_nss_conn_import(st, &self->tls, tcp, as_server);
}

/* A new socket of `ctx`, which must be a server context if `as_server`,
 * and the TCP descriptor `os_fd` taken over into `*tcp` (with `shared`, a
 * duplicate of it, `os_fd` staying the caller's). NULL with an exception
 * set if not; a duplicate is closed then, and so is a descriptor NSPR
 * refused. */
static tls_nss_socket *
take_over(tls_nss_context *ctx, PyObject *owner, int os_fd, PyObject *timeout_arg,
          PRBool as_server, PRBool shared, const char *operation, PRFileDesc **tcp)
{
    tls_nss_state *st = tls_nss_state_of((PyObject *)ctx);
    double timeout;

    *tcp = NULL;
    if (parse_timeout(timeout_arg, &timeout) < 0)
        return NULL;
    if (ctx->is_server != as_server) {
        PyErr_Format(PyExc_TypeError, "%s() needs a %s context", operation,
                     as_server ? "server" : "client");
        return NULL;
    }
    /* Duplicated here, not in Python, which would let the GIL go for it:
     * another thread would take it, and this one wait to get it back. */
    if (shared && (os_fd = fcntl(os_fd, F_DUPFD_CLOEXEC, 0)) < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return NULL;
    }
    tls_nss_socket *self = new_socket(ctx, owner, timeout);
    if (self == NULL) {
        if (shared)
            close(os_fd);
        return NULL;
    }
    if ((*tcp = PR_ImportTCPSocket(os_fd)) == NULL) {
        tls_nss_raise(st, TLS_NSS_ERROR, PR_GetError(), "taking over socket %d", os_fd);
        close(os_fd);
        Py_DECREF(self);
        return NULL;
    }
    return self;
}

PyObject *
tls_nss_socket_connect(tls_nss_context *ctx, PyObject *owner, int os_fd,
                       const char *hostname, PyObject *timeout_arg, double handshake_budget,
                       PRBool run_handshake, PRBool transport_shared)
{
    tls_nss_state *st = tls_nss_state_of((PyObject *)ctx);
    PRFileDesc *tcp;
    PRNetAddr addr = blank_address();
    tls_nss_socket *self =
        take_over(ctx, owner, os_fd, timeout_arg, PR_FALSE, transport_shared, "connect", &tcp);

    if (self == NULL)
        return NULL;
    self->tls.transport_shared = transport_shared;
    if (hostname != NULL && tls_nss_conn_set_hostname(&self->tls, hostname) < 0) {
        PR_Close(tcp);
        goto fail;
    }
    if (PR_GetPeerName(tcp, &addr) == PR_SUCCESS) {
        describe_address(&addr, self->tls.peer, sizeof(self->tls.peer));
        unsigned int port =
            addr.raw.family == PR_AF_LOCAL ? 0 : PR_ntohs(PR_NetAddrInetPort(&addr));
        snprintf(self->tls.session_key, sizeof(self->tls.session_key), "%.255s:%u",
                 hostname ? hostname : self->tls.peer, port);
    }
    if (hostname != NULL) {
        char where[64];
        snprintf(where, sizeof(where), "%.63s", self->tls.peer);
        snprintf(self->tls.peer, sizeof(self->tls.peer), "%.90s (%s)", hostname, where);
    }
    if (start_tls(st, self, tcp, PR_FALSE) < 0 ||
        (run_handshake && handshake(st, self, handshake_budget) < 0))
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
    PRFileDesc *tcp;
    PRNetAddr addr = blank_address();
    tls_nss_socket *self =
        take_over(ctx, owner, os_fd, timeout_arg, PR_TRUE, PR_FALSE, "listen", &tcp);

    if (self == NULL)
        return NULL;
    self->listening = PR_TRUE;
    self->tls.fd = tcp;
    if (PR_GetSockName(tcp, &addr) == PR_SUCCESS)
        describe_address(&addr, self->tls.peer, sizeof(self->tls.peer));
    if (make_non_blocking(st, tcp) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

PyObject *
tls_nss_socket_serve(tls_nss_context *ctx, PyObject *owner, int os_fd, PyObject *timeout_arg,
                     PRBool run_handshake, PRBool transport_shared, const Py_buffer *prefix)
{
    tls_nss_state *st = tls_nss_state_of((PyObject *)ctx);
    PRFileDesc *tcp;
    PRNetAddr addr = blank_address();
    tls_nss_socket *self =
        take_over(ctx, owner, os_fd, timeout_arg, PR_TRUE, transport_shared, "serve", &tcp);

    if (self == NULL)
        return NULL;
    self->tls.transport_shared = transport_shared;
    if (prefix->len > 0) {
        if ((self->tls.prefix = PyMem_RawMalloc((size_t)prefix->len)) == NULL) {
            PR_Close(tcp);
            Py_DECREF(self);
            return PyErr_NoMemory();
        }
        memcpy(self->tls.prefix, prefix->buf, (size_t)prefix->len);
        self->tls.prefix_length = (size_t)prefix->len;
    }
    if (PR_GetPeerName(tcp, &addr) == PR_SUCCESS)
        describe_address(&addr, self->tls.peer, sizeof(self->tls.peer));
    if (tls_nss_token_keys_refresh(st, &ctx->groups) < 0) {
        PR_Close(tcp);
        Py_DECREF(self);
        return NULL;
    }
    if (start_tls(st, self, tcp, PR_TRUE) < 0 ||
        (run_handshake && handshake(st, self, handshake_budget(self)) < 0)) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

/* ---- addresses ---- */

static PyObject *
address_tuple(tls_nss_state *st, const PRNetAddr *addr)
{
    char host[80];

    /* The shapes socket.socket uses: a path for a Unix-domain socket. */
    if (addr->raw.family == PR_AF_LOCAL)
        return PyUnicode_DecodeFSDefault(addr->local.path);
    if (PR_NetAddrToString(addr, host, sizeof(host)) != PR_SUCCESS)
        return tls_nss_raise(st, TLS_NSS_ERROR, PR_GetError(), "reading an address");
    unsigned int port = PR_ntohs(PR_NetAddrInetPort(addr));
    if (addr->raw.family == PR_AF_INET6)
        return Py_BuildValue("(sIkk)", host, port, (unsigned long)PR_ntohl(addr->ipv6.flowinfo),
                             (unsigned long)addr->ipv6.scope_id);
    return Py_BuildValue("(sI)", host, port);
}

static PyObject *
sock_getsockname(tls_nss_socket *self, PyObject *unused)
{
    tls_nss_state *st = tls_nss_state_of((PyObject *)self);
    PRNetAddr addr = blank_address();

    if (check_open(st, self, "getsockname") < 0)
        return NULL;
    if (PR_GetSockName(PR_GetIdentitiesLayer(self->tls.fd, PR_NSPR_IO_LAYER), &addr) !=
        PR_SUCCESS)
        return tls_nss_raise(st, TLS_NSS_ERROR, PR_GetError(), "reading the local address");
    return address_tuple(st, &addr);
}

/* A listening socket has no peer, so the check differs from the above. */
static PyObject *
sock_getpeername(tls_nss_socket *self, PyObject *unused)
{
    tls_nss_state *st = tls_nss_state_of((PyObject *)self);
    PRNetAddr addr = blank_address();

    if (check_connection(st, self, "getpeername") < 0 ||
        PR_GetPeerName(PR_GetIdentitiesLayer(self->tls.fd, PR_NSPR_IO_LAYER), &addr) !=
            PR_SUCCESS)
        return PyErr_Occurred() ? NULL
                                : tls_nss_raise(st, TLS_NSS_ERROR, PR_GetError(),
                                                "reading the peer's address");
    return address_tuple(st, &addr);
}

static PyObject *
sock_fileno(tls_nss_socket *self, PyObject *unused)
{
    if (self->tls.fd == NULL || self->close_pending)
        return PyLong_FromLong(-1);
    return PyLong_FromLong((long)PR_FileDesc2NativeHandle(self->tls.fd));
}

/* ---- data ---- */

/* One read for recv() and close(); `arg` is the operation's socket_call,
 * whose deadline bounds every read. */
static Py_ssize_t
receive_once(tls_nss_conn *conn, void *arg, char *buf, Py_ssize_t len)
{
    socket_call *call = arg;

    call->buf = buf;
    call->len = (PRInt32)len;
    return tls_nss_socket_run((tls_nss_socket *)conn, call);
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
    socket_call call = tls_nss_socket_call(CALL_RECV, "receiving from", self->timeout);
    return tls_nss_conn_read_bytes(&self->tls, receive_once, &call, size, "receiving from",
                                   NULL);
}

static PyObject *
sock_recv_into(tls_nss_socket *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"buffer", "nbytes", NULL};
    tls_nss_state *st = tls_nss_state_of((PyObject *)self);
    Py_buffer view;
    Py_ssize_t nbytes = 0, got = -1;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "w*|n:recv_into", keywords, &view, &nbytes))
        return NULL;
    if (nbytes < 0)
        PyErr_SetString(PyExc_ValueError, "negative buffer size in recv_into()");
    else if (nbytes > view.len)
        PyErr_SetString(PyExc_ValueError, "nbytes is greater than the length of the buffer");
    else if (check_connection(st, self, "recv_into") == 0) {
        socket_call call = tls_nss_socket_call(CALL_RECV, "receiving from", self->timeout);
        got = tls_nss_conn_read(&self->tls, receive_once, &call, view.buf,
                                nbytes ? nbytes : view.len, "receiving from", NULL);
    }
    PyBuffer_Release(&view);
    return got < 0 ? NULL : PyLong_FromSsize_t(got);
}

/* Sends what it can of `bytes` by `call`'s deadline; returns the count,
 * or -1 with an exception set. */
static Py_ssize_t
send_some(tls_nss_socket *self, socket_call *call, const char *bytes, Py_ssize_t len)
{
    call->buf = (void *)bytes;
    call->len = len > PR_INT32_MAX ? PR_INT32_MAX : (PRInt32)len;
    return tls_nss_socket_run(self, call);
}

static PyObject *
sock_send(tls_nss_socket *self, PyObject *arg)
{
    tls_nss_state *st = tls_nss_state_of((PyObject *)self);
    Py_buffer view;
    Py_ssize_t sent = 0;

    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    socket_call call = tls_nss_socket_call(CALL_SEND, "sending to", self->timeout);
    if (check_connection(st, self, "send") < 0)
        sent = -1;
    else if (view.len > 0)
        sent = send_some(self, &call, view.buf, view.len);
    PyBuffer_Release(&view);
    return sent < 0 ? NULL : PyLong_FromSsize_t(sent);
}

/* Sends all of `view` by `call`'s deadline, one for all of it, as
 * socket.socket's sendall has; 0, or -1 with an exception set. */
static int
send_all(tls_nss_state *st, tls_nss_socket *self, socket_call *call, const Py_buffer *view)
{
    Py_ssize_t done = 0;

    if (check_connection(st, self, "sendall") < 0)
        return -1;
    while (done < view->len) {
        Py_ssize_t sent = send_some(self, call, (const char *)view->buf + done, view->len - done);
        if (sent < 0 || (done + sent < view->len && check_connection(st, self, "sendall") < 0))
            return -1;
        done += sent;
    }
    return 0;
}

static PyObject *
sock_sendall(tls_nss_socket *self, PyObject *arg)
{
    tls_nss_state *st = tls_nss_state_of((PyObject *)self);
    Py_buffer view;

    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    socket_call call = tls_nss_socket_call(CALL_SEND, "sending to", self->timeout);
    int sent = send_all(st, self, &call, &view);
    PyBuffer_Release(&view);
    if (sent < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* ---- under ssl.SSLSocket ----
 *
 * tls_nss._ssl_engine binds these to the NSS socket under each SSLSocket,
 * so that SSLSocket.recv(), send() and do_handshake() reach NSS without
 * Python of ours. Programs set the timeout on the SSLSocket (settimeout,
 * setblocking), not here: each call reads it first, through the socket's
 * `ssl_socket` (tls_nss_conn). A failure goes to its `on_error`, which
 * answers the ssl module's exception, or None for a read to return EOF. */

static int
follow_owner_timeout(tls_nss_socket *self, tls_nss_state *st)
{
    if (self->tls.ssl_socket == NULL)
        return 0;
    PyObject *owner = PyObject_CallNoArgs(self->tls.ssl_socket);
    if (owner == NULL)
        return -1;
    if (owner == Py_None) { /* going away: the last timeout stands */
        Py_DECREF(owner);
        return 0;
    }
    PyObject *timeout = PyObject_CallMethodNoArgs(owner, st->str_gettimeout);
    Py_DECREF(owner);
    if (timeout == NULL)
        return -1;
    int parsed = parse_timeout(timeout, &self->timeout);
    Py_DECREF(timeout);
    return parsed;
}

/* 1 when the SSLSocket over `self` reads a transport EOF without
 * close_notify as EOF (suppress_ragged_eofs), 0 when not or when it is
 * gone, -1 with an exception set. */
static int
owner_suppresses_ragged_eofs(tls_nss_socket *self)
{
    if (self->tls.ssl_socket == NULL)
        return 0;
    PyObject *owner = PyObject_CallNoArgs(self->tls.ssl_socket);
    if (owner == NULL || owner == Py_None) {
        Py_XDECREF(owner);
        return owner == NULL ? -1 : 0;
    }
    PyObject *suppress = PyObject_GetAttrString(owner, "suppress_ragged_eofs");
    Py_DECREF(owner);
    int answer = suppress != NULL ? PyObject_IsTrue(suppress) : -1;
    Py_XDECREF(suppress);
    return answer;
}

/* ssl_read(len=1024, buffer=None): _ssl's read(), with SSLSocket.read()'s
 * rule: while suppress_ragged_eofs holds, a transport EOF without
 * close_notify reads as EOF, here, without the exception ssl.py would
 * catch. A peer that closes as the ssl module does, which sends no
 * close_notify, ends every connection so. */
static PyObject *
sock_ssl_read(tls_nss_socket *self, PyObject *const *args, Py_ssize_t nargs)
{
    tls_nss_state *st = tls_nss_state_of((PyObject *)self);
    PyObject *target = nargs > 1 ? args[1] : Py_None, *result = NULL;
    Py_ssize_t amount = 1024, got = -1;
    Py_buffer view = {0};
    PRBool ragged = PR_FALSE;

    if (tls_nss_check_arg_count(nargs, 0, 2, "ssl_read") < 0)
        return NULL;
    if (nargs > 0 && (amount = PyNumber_AsSsize_t(args[0], PyExc_OverflowError)) == -1 &&
        PyErr_Occurred())
        return NULL;
    if (target != Py_None) {
        if (PyObject_GetBuffer(target, &view, PyBUF_WRITABLE) < 0)
            return NULL;
        /* As _ssl: a length of 0, or beyond the buffer, means the buffer's. */
        if (amount <= 0 || amount > view.len)
            amount = view.len;
    }
    else if (amount < 0) {
        PyErr_SetString(PyExc_ValueError, "size should not be negative");
        return NULL;
    }
    if (follow_owner_timeout(self, st) == 0 && check_connection(st, self, "recv") == 0) {
        socket_call call = tls_nss_socket_call(CALL_RECV, "receiving from", self->timeout);
        if (view.obj != NULL)
            got = tls_nss_conn_read(&self->tls, receive_once, &call, view.buf, amount,
                                    "receiving from", &ragged);
        else if ((result = tls_nss_conn_read_bytes(&self->tls, receive_once, &call, amount,
                                                   "receiving from", &ragged)) != NULL)
            got = PyBytes_GET_SIZE(result);
    }
    if (view.obj != NULL)
        PyBuffer_Release(&view);
    if (ragged) {
        int suppressed = owner_suppresses_ragged_eofs(self);
        if (suppressed <= 0) {
            if (suppressed == 0)
                tls_nss_conn_raise_ragged_eof(&self->tls, "receiving from");
            Py_CLEAR(result);
            got = -1;
        }
    }
    if (got < 0) {
        PyObject *eof =
            tls_nss_translate_pending(self->tls.on_error, (PyObject *)self, "read");
        if (eof == NULL)
            return NULL;
        Py_DECREF(eof);
        got = 0;
        if (target == Py_None)
            return PyBytes_FromStringAndSize(NULL, 0);
    }
    return target != Py_None ? PyLong_FromSsize_t(got) : result;
}

/* ssl_write() and ssl_sendall(): `data` by the SSLSocket's timeout, some
 * of it, or all of it by one deadline (as _ssl's write() sends all it is
 * given). The count sent, or -1 with the ssl module's exception set. */
static Py_ssize_t
ssl_send(tls_nss_socket *self, PyObject *data, PRBool all)
{
    tls_nss_state *st = tls_nss_state_of((PyObject *)self);
    Py_ssize_t sent = -1;
    Py_buffer view;

    if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0)
        return -1;
    if (follow_owner_timeout(self, st) == 0) {
        socket_call call = tls_nss_socket_call(CALL_SEND, "sending to", self->timeout);
        if (all)
            sent = send_all(st, self, &call, &view) < 0 ? -1 : view.len;
        else if (check_connection(st, self, "send") == 0)
            sent = view.len > 0 ? send_some(self, &call, view.buf, view.len) : 0;
    }
    PyBuffer_Release(&view);
    if (sent < 0)
        tls_nss_translate_failure(self->tls.on_error, (PyObject *)self, "write");
    return sent;
}

/* ssl_write(data): _ssl's write(). */
static PyObject *
sock_ssl_write(tls_nss_socket *self, PyObject *data)
{
    Py_ssize_t sent = ssl_send(self, data, PR_FALSE);
    return sent < 0 ? NULL : PyLong_FromSsize_t(sent);
}

/* ssl_sendall(data): SSLSocket.sendall() in one call. */
static PyObject *
sock_ssl_sendall(tls_nss_socket *self, PyObject *data)
{
    if (ssl_send(self, data, PR_TRUE) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *
sock_bind_ssl(tls_nss_socket *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (tls_nss_check_arg_count(nargs, 2, 2, "bind_ssl") < 0 ||
        tls_nss_conn_bind_ssl(&self->tls, args[0], NULL, NULL, args[1]) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *sock_do_handshake(tls_nss_socket *self, PyObject *unused);

/* ssl_do_handshake(): _ssl's do_handshake(). */
static PyObject *
sock_ssl_do_handshake(tls_nss_socket *self, PyObject *unused)
{
    tls_nss_state *st = tls_nss_state_of((PyObject *)self);

    if (follow_owner_timeout(self, st) < 0)
        return NULL;
    PyObject *done = sock_do_handshake(self, NULL);
    if (done == NULL)
        tls_nss_translate_failure(self->tls.on_error, (PyObject *)self, "handshake");
    return done;
}

/* ---- closing ---- */

/* Sends close_notify once, by `deadline`. */
static int
send_close_notify(tls_nss_socket *self, double timeout, double deadline)
{
    socket_call call = tls_nss_socket_call(CALL_SHUTDOWN, "sending close_notify to", timeout);

    if (self->tls.close_notify_sent || !self->tls.handshake_done)
        return 0;
    call.deadline = deadline;
    if (tls_nss_socket_run(self, &call) < 0) {
        /* A peer that has already gone needs no close_notify. */
        if (call.error == 0 || call.error == PR_WOULD_BLOCK_ERROR)
            return -1;
        PyErr_Clear();
    }
    self->tls.close_notify_sent = PR_TRUE;
    return 0;
}

/* One read while awaiting close_notify: a peer that is gone ends the wait
 * as EOF does; a wait that could not finish (timeout, signal, non-blocking
 * socket) is an error. */
static Py_ssize_t
read_before_close(tls_nss_conn *conn, void *arg, char *buf, Py_ssize_t len)
{
    socket_call *call = arg;
    Py_ssize_t got = receive_once(conn, arg, buf, len);

    if (got >= 0 || call->error == 0 || call->error == PR_WOULD_BLOCK_ERROR)
        return got;
    PyErr_Clear();
    return 0;
}

/* close() and leaving a with block: close_notify, then, unless `force`,
 * the peer's close_notify, then the descriptor; all within the timeout. */
static int
close_socket(tls_nss_socket *self, PRBool force)
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
        socket_call call =
            tls_nss_socket_call(CALL_RECV, "awaiting close_notify from", self->timeout);
        if (send_close_notify(self, self->timeout, call.deadline) < 0)
            return -1;
        if (!force && self->tls.handshake_done &&
            tls_nss_conn_drain(&self->tls, read_before_close, &call) < 0)
            return -1;
    }
    tls_nss_socket_release_fd(self);
    return 0;
}

static PyObject *
sock_close(tls_nss_socket *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"force", NULL};
    int force = 0;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|p:close", keywords, &force))
        return NULL;
    if (close_socket(self, force ? PR_TRUE : PR_FALSE) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* shutdown(how), PEP 748's open revision: SHUT_WR sends close_notify
 * (within the timeout), SHUT_RD stops reading, SHUT_RDWR both; the
 * descriptor stays until close(). */
static PyObject *
sock_shutdown(tls_nss_socket *self, PyObject *arg)
{
    tls_nss_state *st = tls_nss_state_of((PyObject *)self);
    long how = PyLong_AsLong(arg);

    if (how == -1 && PyErr_Occurred())
        return NULL;
    if (how < SHUT_RD || how > SHUT_RDWR) {
        PyErr_Format(PyExc_ValueError, "shutdown: how must be a TLSShutdownMode, not %ld", how);
        return NULL;
    }
    if (check_connection(st, self, "shutdown") < 0)
        return NULL;
    if (how != SHUT_RD && send_close_notify(self, self->timeout,
                                            tls_nss_deadline(self->timeout)) < 0)
        return NULL;
    if (how != SHUT_WR && PR_Shutdown(self->tls.fd, PR_SHUTDOWN_RCV) != PR_SUCCESS &&
        PR_GetError() != PR_NOT_CONNECTED_ERROR)
        return tls_nss_raise(st, TLS_NSS_ERROR, PR_GetError(), "shutting down reading from %s",
                             self->tls.peer);
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
    if (close_socket(self, PR_TRUE) < 0)
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

/* The bound of an accepted connection's handshake: the context's
 * handshake timeout, and the listener's timeout if it is shorter, so that
 * a silent client holds accept() for a bounded time even when the listener
 * blocks without a timeout. */
static double
handshake_budget(const tls_nss_socket *socket)
{
    double bound = socket->tls.ctx->handshake_timeout;

    if (socket->timeout > 0 && (bound < 0 || socket->timeout < bound))
        return socket->timeout;
    return bound;
}

static PyObject *
sock_accept(tls_nss_socket *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"handshake", NULL};
    tls_nss_state *st = tls_nss_state_of((PyObject *)self);
    socket_call call = tls_nss_socket_call(CALL_ACCEPT, "accepting on", self->timeout);
    PRNetAddr addr = blank_address();
    int run_handshake = 1;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|$p:accept", keywords, &run_handshake) ||
        check_open(st, self, "accept") < 0)
        return NULL;
    if (!self->listening)
        return tls_nss_raise(st, TLS_NSS_ERROR, 0,
                             "accept: this socket is a connection, not a server socket");
    call.peer = &addr;
    if (tls_nss_socket_run(self, &call) < 0)
        return NULL;
    if (tls_nss_token_keys_refresh(st, &self->tls.ctx->groups) < 0) {
        PR_Close(call.accepted);
        return NULL;
    }
    tls_nss_socket *conn = new_socket(self->tls.ctx, self->tls.owner, self->timeout);
    if (conn == NULL) {
        PR_Close(call.accepted);
        return NULL;
    }
    describe_address(&addr, conn->tls.peer, sizeof(conn->tls.peer));
    PyObject *peer = address_tuple(st, &addr);
    if (peer == NULL || start_tls(st, conn, call.accepted, PR_TRUE) < 0 ||
        (run_handshake && handshake(st, conn, handshake_budget(self)) < 0)) {
        Py_XDECREF(peer);
        Py_DECREF(conn);
        return NULL;
    }
    return Py_BuildValue("(NN)", (PyObject *)conn, peer);
}

/* For a connection accepted with handshake=False, or to finish one on a
 * non-blocking socket. */
static PyObject *
sock_do_handshake(tls_nss_socket *self, PyObject *unused)
{
    tls_nss_state *st = tls_nss_state_of((PyObject *)self);
    double budget = self->timeout;

    if (check_connection(st, self, "do_handshake") < 0)
        return NULL;
    if (self->tls.handshake_done)
        Py_RETURN_NONE;
    /* A server's handshake has the context's bound too. */
    if (self->tls.ctx->is_server && self->tls.ctx->handshake_timeout >= 0 &&
        (budget < 0 || self->tls.ctx->handshake_timeout < budget))
        budget = self->tls.ctx->handshake_timeout;
    socket_call call = tls_nss_socket_call(CALL_HANDSHAKE, "TLS handshake with", budget);
    if (tls_nss_socket_run(self, &call) < 0)
        return NULL;
    self->tls.handshake_done = PR_TRUE;
    Py_RETURN_NONE;
}

/* ---- timeouts, as on socket.socket ---- */

static PyObject *
sock_settimeout(tls_nss_socket *self, PyObject *arg)
{
    double timeout;

    if (parse_timeout(arg, &timeout) < 0)
        return NULL;
    self->timeout = timeout;
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
    self->timeout = blocking ? -1.0 : 0.0;
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
    {"recv_into", (PyCFunction)(void (*)(void))sock_recv_into, METH_VARARGS | METH_KEYWORDS,
     "recv_into(buffer, nbytes=0)\n--\n\nReceive up to nbytes (0: the buffer's length) into\n"
     "buffer; the count, 0 once the peer has closed. As socket.socket's."},
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
    {"accept", (PyCFunction)(void (*)(void))sock_accept, METH_VARARGS | METH_KEYWORDS,
     "accept(*, handshake=True)\n--\n\nAccept a connection and run the server handshake,\n"
     "within the context's handshake_timeout (and the listener's timeout, if\n"
     "shorter). Return (TLS socket, address). With handshake=False, return at\n"
     "once; the handshake runs in do_handshake(), or in the first recv or send."},
    {"do_handshake", (PyCFunction)sock_do_handshake, METH_NOARGS,
     "do_handshake()\n--\n\nRun the handshake, if it has not run yet: within the socket's\n"
     "timeout and, for a server, the context's handshake_timeout."},
    {"getsockname", (PyCFunction)sock_getsockname, METH_NOARGS, "The local address."},
    {"getpeername", (PyCFunction)sock_getpeername, METH_NOARGS, "The peer's address."},
    {"fileno", (PyCFunction)sock_fileno, METH_NOARGS,
     "fileno()\n--\n\nThe operating system's socket descriptor, or -1 once closed."},
    {"settimeout", (PyCFunction)sock_settimeout, METH_O,
     "settimeout(timeout)\n--\n\nNone blocks, 0 never blocks, else each call returns or\n"
     "raises TLSTimeoutError within that many seconds."},
    {"gettimeout", (PyCFunction)sock_gettimeout, METH_NOARGS, "The timeout in seconds, or None."},
    {"setblocking", (PyCFunction)sock_setblocking, METH_O,
     "setblocking(flag)\n--\n\nsettimeout(None) if flag else settimeout(0)."},
    {"getblocking", (PyCFunction)sock_getblocking, METH_NOARGS,
     "Whether calls may block."},
    {"shutdown", (PyCFunction)sock_shutdown, METH_O,
     "shutdown(how)\n--\n\nEnd one direction or both (TLSShutdownMode): SHUT_WR sends\n"
     "close_notify, SHUT_RD stops reading. The socket stays open until close()."},
    {"bind_ssl", (PyCFunction)(void (*)(void))sock_bind_ssl, METH_FASTCALL,
     "bind_ssl(ssl_socket, on_error)\n--\n\n"
     "Put this socket under an ssl.SSLSocket, once (tls_nss._ssl_engine):\n"
     "ssl_socket() answers the SSLSocket, whose timeout and suppress_ragged_eofs\n"
     "the ssl_* methods follow; on_error(connection, error, operation) answers\n"
     "the ssl module's exception for a failure, or None for a read to return EOF."},
    {"ssl_read", (PyCFunction)(void (*)(void))sock_ssl_read, METH_FASTCALL,
     "ssl_read(len=1024, buffer=None)\n--\n\n"
     "read() under ssl.SSLSocket: with its timeout, failing in the ssl module's terms."},
    {"ssl_write", (PyCFunction)sock_ssl_write, METH_O,
     "ssl_write(data)\n--\n\n"
     "write() under ssl.SSLSocket: with its timeout, failing in the ssl module's terms."},
    {"ssl_sendall", (PyCFunction)sock_ssl_sendall, METH_O,
     "ssl_sendall(data)\n--\n\n"
     "sendall() under ssl.SSLSocket: all of data by one deadline, failing in the ssl\n"
     "module's terms."},
    {"ssl_do_handshake", (PyCFunction)sock_ssl_do_handshake, METH_NOARGS,
     "ssl_do_handshake()\n--\n\n"
     "do_handshake() under ssl.SSLSocket: with its timeout, failing in the ssl\n"
     "module's terms."},
    {"__enter__", (PyCFunction)sock_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)sock_exit, METH_VARARGS,
     "Close with force=True: leaving a with block never waits for the peer."},
    {NULL, NULL, 0, NULL},
};

/* ---- the context, replaceable on a listening socket ---- */

static PyObject *
sock_get_context(tls_nss_socket *self, void *closure)
{
    return Py_NewRef(self->tls.owner != NULL ? self->tls.owner : Py_None);
}

/* Connections accepted afterwards are imported from the new context's
 * model; those already accepted keep the context they were made with. The
 * GIL orders this against accept(), which reads the context only after its
 * wait, holding the GIL. */
static int
sock_set_context(tls_nss_socket *self, PyObject *value, void *closure)
{
    tls_nss_state *st = tls_nss_state_of((PyObject *)self);

    if (value == NULL) {
        PyErr_SetString(PyExc_TypeError, "the context cannot be deleted");
        return -1;
    }
    if (!self->listening) {
        PyErr_SetString(PyExc_TypeError,
                        "only a listening socket's context can be replaced; a connection "
                        "keeps the context it was made with");
        return -1;
    }
    PyObject *core = PyObject_GetAttrString(value, "_core");
    if (core == NULL || !PyObject_TypeCheck(core, st->context_type) ||
        !((tls_nss_context *)core)->is_server) {
        Py_XDECREF(core);
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError, "a listening socket needs an NSSServerContext, not %.100s",
                     Py_TYPE(value)->tp_name);
        return -1;
    }
    Py_SETREF(self->tls.ctx, (tls_nss_context *)core);
    Py_SETREF(self->tls.owner, Py_NewRef(value));
    /* No pointer into the context let go of may stay behind. */
    self->tls.check.policy = &self->tls.ctx->trust;
    return 0;
}

static PyGetSetDef sock_getset[] = {
    {"context", (getter)sock_get_context, (setter)sock_set_context,
     "The context. On a listening socket it can be replaced, to rotate\n"
     "certificates without closing the listener: connections accepted\n"
     "afterwards use the new one.", NULL},
    {NULL},
};

TLS_NSS_CONNECTION_SUBTYPE(tls_nss_socket_spec, "tls_nss.NSSTLSSocket", tls_nss_socket,
                           "A TLS socket. Made by a context's connect(), or by accept().",
                           sock_repr, sock_methods, sock_getset);
