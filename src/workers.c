/* Server sessions shared by worker processes.
 *
 * A pre-fork server's workers each start NSS themselves: NSS's softoken
 * refuses to serve a process forked after it started. Each would then keep
 * its own session cache and ticket keys, and a client could resume only in
 * the worker that served it first. NSS can share both through memory the
 * workers inherit: the parent sets the cache up before it forks
 * (SSL_ConfigMPServerSIDCache), and each worker joins it where it would
 * otherwise make its own (SSL_InheritMPServerSIDCache). Ticket keys are
 * kept there, wrapped with the RSA key of a server certificate that every
 * worker configures. */
#include "config.h"
#include "tls_nss.h"

#include <unistd.h>

/* The process that set the shared cache up, or 0: a process-wide fact, as
 * the cache is. */
static pid_t prepared_by;

PyObject *
tls_nss_prepare_workers(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"max_sessions", NULL};
    tls_nss_state *st = PyModule_GetState(module);
    int max_sessions = 10000;
    SECStatus rv;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|i:prepare_workers", keywords,
                                     &max_sessions))
        return NULL;
    if (max_sessions <= 0)
        return PyErr_Format(PyExc_ValueError, "max_sessions must be positive, not %d",
                            max_sessions);
    if (tls_nss_is_started())
        return tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, 0,
                             "preparing worker processes: NSS has started in this process "
                             "already, and workers forked from it could not use it; prepare "
                             "them first");
    if (prepared_by != 0)
        return tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, 0,
                             "preparing worker processes: this process did so already");
    Py_BEGIN_ALLOW_THREADS
    rv = SSL_ConfigMPServerSIDCache(max_sessions, 0, 0, NULL);
    Py_END_ALLOW_THREADS
    if (rv != SECSuccess)
        return tls_nss_raise(st, TLS_NSS_ERROR, PR_GetError(),
                             "setting up the session cache shared by worker processes");
    prepared_by = getpid();
    Py_RETURN_NONE;
}

SECStatus
tls_nss_configure_server_session_cache(void)
{
    if (prepared_by == 0)
        return SSL_ConfigServerSessionIDCache(0, 0, 0, NULL);
    if (getpid() == prepared_by)
        return SECSuccess; /* the shared cache is this process's own */
    return SSL_InheritMPServerSIDCache(NULL);
}
