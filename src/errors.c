/* NSS and NSPR failures become the package's exceptions.
 *
 * C reports what happened (the error code, its NSS name and text, and what
 * we were doing); tls_nss._errors.from_nss picks the exception class, so
 * that classification lives in one place. */
#include "config.h"
#include "tls_nss.h"

#include <stdarg.h>

static const char *const kind_names[] = {
    [TLS_NSS_ERROR] = "error",
    [TLS_NSS_CONFIG_ERROR] = "config",
    [TLS_NSS_WANT_READ] = "want_read",
    [TLS_NSS_WANT_WRITE] = "want_write",
    [TLS_NSS_RAGGED_EOF] = "ragged_eof",
    [TLS_NSS_CLOSED] = "closed",
    [TLS_NSS_CERT_ERROR] = "certificate",
};

static PyObject *
raise_error(tls_nss_state *st, tls_nss_error_kind kind, PRErrorCode code,
            const char *certificate, PyObject *what)
{
    const char *name = NULL;
    const char *text = NULL;

    if (code != 0) {
        name = PR_ErrorToName(code);
        text = PR_ErrorToString(code, PR_LANGUAGE_I_DEFAULT);
        /* NSPR answers "Unknown code" for codes without a table. */
        if (text != NULL && text[0] == '\0')
            text = NULL;
    }

    PyObject *exc = PyObject_CallFunction(st->make_error, "sOizzz", kind_names[kind], what,
                                          (int)code, name, text, certificate);
    if (exc == NULL)
        return NULL;
    PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
    Py_DECREF(exc);
    return NULL;
}

static PyObject *
raise_formatted(tls_nss_state *st, tls_nss_error_kind kind, PRErrorCode code,
                const char *certificate, const char *operation, va_list args)
{
    PyObject *what = PyUnicode_FromFormatV(operation, args);
    if (what == NULL)
        return NULL;
    raise_error(st, kind, code, certificate, what);
    Py_DECREF(what);
    return NULL;
}

PyObject *
tls_nss_raise(tls_nss_state *st, tls_nss_error_kind kind, PRErrorCode code,
              const char *operation, ...)
{
    va_list args;

    va_start(args, operation);
    raise_formatted(st, kind, code, NULL, operation, args);
    va_end(args);
    return NULL;
}

PyObject *
tls_nss_raise_refused(tls_nss_state *st, PRErrorCode code, const char *certificate,
                      const char *operation, ...)
{
    va_list args;

    va_start(args, operation);
    raise_formatted(st, TLS_NSS_CERT_ERROR, code, certificate, operation, args);
    va_end(args);
    return NULL;
}
