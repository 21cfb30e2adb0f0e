/* TLS sockets: the object, and the one path of their blocking I/O
 * (socket_io.c), shared by socket.c. */
#ifndef TLS_NSS_SOCKET_H
#define TLS_NSS_SOCKET_H

#include "tls_nss.h"

typedef struct {
    /* tls.fd is SSL over TCP, or, listening, a bare TCP socket. Either is
     * non-blocking in NSPR; socket_io.c waits for it as the timeout says. */
    tls_nss_conn tls;
    double timeout;         /* seconds; < 0 blocks, 0 never blocks */
    int busy;               /* calls running without the GIL */
    PRBool listening;
    PRBool close_pending;   /* closed by another thread during a call */
} tls_nss_socket;

typedef enum {
    CALL_HANDSHAKE,
    CALL_RECV,
    CALL_SEND,
    CALL_ACCEPT,
    CALL_SHUTDOWN,
} socket_call_kind;

/* One operation that may wait: what to do, and how to report it. */
typedef struct {
    socket_call_kind kind;
    const char *operation;   /* "receiving from": the peer follows */
    double deadline;         /* monotonic seconds; INFINITY: none */
    void *buf;               /* CALL_RECV, CALL_SEND */
    PRInt32 len;
    double timeout;          /* the bound, in seconds, for the message */
    PRNetAddr *peer;         /* CALL_ACCEPT: the peer's address */
    PRFileDesc *accepted;    /* CALL_ACCEPT: the new TCP connection */
    PRErrorCode error;       /* NSS's error, when NSS failed the call */
} socket_call;

/* Monotonic seconds. */
double tls_nss_monotonic(void);
/* The deadline of an operation starting now, for a timeout in seconds
 * (< 0: none; 0: no waiting). */
double tls_nss_deadline(double timeout);

/* A call of `kind` bounded by `timeout` seconds from now (< 0: none). */
static inline socket_call
tls_nss_socket_call(socket_call_kind kind, const char *operation, double timeout)
{
    socket_call call = {.kind = kind, .operation = operation, .timeout = timeout,
                        .deadline = tls_nss_deadline(timeout)};
    return call;
}

/* Runs `call` until it completes, waiting without the GIL for the socket
 * to become ready, until call->deadline. Returns the call's result (>= 0),
 * or -1 with an exception set: the NSS error (call->error set; on a
 * non-blocking socket, WantRead/WantWriteError), TLSTimeoutError at the
 * deadline, the exception of a signal handler (Ctrl-C: KeyboardInterrupt),
 * or a closed-socket error when another thread closed it. */
PRInt32 tls_nss_socket_run(tls_nss_socket *self, socket_call *call);
/* Puts the layer that judges the peer's first bytes on top of `tcp`; -1
 * with an exception set (`tcp` untouched). */
int tls_nss_socket_push_first_record_layer(tls_nss_socket *self, PRFileDesc *tcp);
/* Releases the descriptor, without the GIL. */
void tls_nss_socket_release_fd(tls_nss_socket *self);

#endif
