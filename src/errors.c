/* NSS and NSPR failures become the package's exceptions.
 *
 * C reports what happened (the error code, its NSS name and text, and what
 * we were doing); tls_nss._errors.from_nss picks the exception class, so
 * that classification lives in one place. The one exception is the want
 * errors, whose class is their kind: they are made here, being on the
 * path of nearly every call of an asynchronous caller. */
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

/* A want error, made here: from_nss would give the same, at many times
 * the cost, on the path asynchronous callers take on nearly every call. */
static PyObject *
raise_want(tls_nss_state *st, tls_nss_error_kind kind, PRErrorCode code, const char *name,
           const char *text, PyObject *what)
{
    PyObject *cls = kind == TLS_NSS_WANT_READ ? st->want_read_error : st->want_write_error;
    /* Worded as from_nss words it. */
    PyObject *message = !name ? Py_NewRef(what)
                        : text ? PyUnicode_FromFormat("%U: %s: %s", what, name, text)
                               : PyUnicode_FromFormat("%U: %s", what, name);
    PyObject *exc = message ? PyObject_CallOneArg(cls, message) : NULL;
    PyObject *code_object = exc ? PyLong_FromLong(code) : NULL;
    PyObject *name_object = code_object ? (name ? PyUnicode_FromString(name) : Py_NewRef(Py_None)) : NULL;
    PyObject *text_object = name_object ? (text ? PyUnicode_FromString(text) : Py_NewRef(Py_None)) : NULL;

    if (text_object != NULL && PyObject_SetAttr(exc, st->str_operation, what) == 0 &&
        PyObject_SetAttr(exc, st->str_nss_code, code_object) == 0 &&
        PyObject_SetAttr(exc, st->str_nss_name, name_object) == 0 &&
        PyObject_SetAttr(exc, st->str_nss_text, text_object) == 0)
        PyErr_SetObject(cls, exc);
    Py_XDECREF(message);
    Py_XDECREF(exc);
    Py_XDECREF(code_object);
    Py_XDECREF(name_object);
    Py_XDECREF(text_object);
    return NULL;
}

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

    if (kind == TLS_NSS_WANT_READ || kind == TLS_NSS_WANT_WRITE)
        return raise_want(st, kind, code, name, text, what);
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

PyObject *
tls_nss_translate_pending(PyObject *on_error, PyObject *connection, const char *operation)
{
    PyObject *type, *value, *traceback;

    if (on_error == NULL)
        return NULL;
    PyErr_Fetch(&type, &value, &traceback);
    PyErr_NormalizeException(&type, &value, &traceback);
    if (traceback != NULL && value != NULL)
        PyException_SetTraceback(value, traceback);
    PyObject *translated =
        value ? PyObject_CallFunction(on_error, "OOs", connection, value, operation) : NULL;
    if (translated == Py_None) {
        Py_XDECREF(type);
        Py_XDECREF(value);
        Py_XDECREF(traceback);
        return translated;
    }
    if (translated != NULL) {
        /* An exception on_error keeps as it is (a signal handler's) is not
         * its own cause. */
        if (translated != value)
            PyException_SetCause(translated, Py_NewRef(value)); /* steals */
        PyErr_SetObject((PyObject *)Py_TYPE(translated), translated);
        Py_DECREF(translated);
    }
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(traceback);
    return NULL;
}

PyObject *
tls_nss_translate_failure(PyObject *on_error, PyObject *connection, const char *operation)
{
    Py_XDECREF(tls_nss_translate_pending(on_error, connection, operation));
    if (!PyErr_Occurred())
        PyErr_Format(PyExc_SystemError, "%s: on_error answered None, which only a read may",
                     operation);
    return NULL;
}
