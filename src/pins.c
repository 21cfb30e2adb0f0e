/* PINs for PKCS#11 tokens, and logging in with them.
 *
 * NSS asks for a PIN through one process-wide password function, passing
 * along the wincx of the call that needed it. Ours is a PIN source owned
 * by the context: the PIN an id carried, then the Python callback. A key
 * keeps its source as its wincx, so a token that logs out later (an HSM
 * failover, a key that wants a login for each use) is answered during a
 * handshake too: with the PIN that worked when the context was made, or,
 * if none was needed then, with the callback's answer, kept from then on.
 * NSS never prompts on a terminal, and a wrong PIN is not tried again, so a
 * token that counts failures is not locked by us. */
#include "config.h"
#include "tls_nss.h"

#define PIN_SOURCE_MAGIC 0x544e5350u /* marks a wincx as ours */

struct tls_nss_pin_source {
    PRUint32 magic;
    char *uri_pin;           /* from the id's pin-value/pin-source, or NULL */
    char uri_pin_origin[96]; /* where it came from, for messages */
    PyObject *callback;      /* tls_nss.set_pin_callback's, while looking up */
    /* The lookup thread's state while it runs NSS without the GIL: only
     * that thread may call the callback, from inside NSS. */
    PyThreadState *waiting;
    PRThread *waiting_thread;
    /* What the last login asked of us, for its error message. */
    PRBool asked, wrong, declined, retried;
    PyObject *callback_error;
    /* The callback's last answer while the context was made, and the PIN
     * kept for handshakes; both read and written holding the GIL. */
    char *last_answer;
    char *kept_pin;
    tls_nss_pin_source *next;
};

tls_nss_pin_source *
tls_nss_pin_source_new(PyObject *callback)
{
    tls_nss_pin_source *pins = PyMem_Calloc(1, sizeof(*pins));
    if (pins == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    pins->magic = PIN_SOURCE_MAGIC;
    if (callback != NULL && callback != Py_None)
        pins->callback = Py_NewRef(callback);
    return pins;
}

static void
forget(char **pin)
{
    if (*pin != NULL) {
        PORT_Memset(*pin, 0, strlen(*pin));
        PORT_Free(*pin);
        *pin = NULL;
    }
}

static void
tls_nss_pin_source_forget_uri_pin(tls_nss_pin_source *pins)
{
    if (pins->uri_pin != NULL) {
        PORT_Memset(pins->uri_pin, 0, strlen(pins->uri_pin));
        PORT_Free(pins->uri_pin);
        pins->uri_pin = NULL;
    }
    pins->uri_pin_origin[0] = '\0';
}

void
tls_nss_pin_source_setup_done(tls_nss_pin_source *list)
{
    for (tls_nss_pin_source *pins = list; pins != NULL; pins = pins->next) {
        /* The context was made: the last answer was the right one. */
        if (pins->last_answer != NULL) {
            forget(&pins->kept_pin);
            pins->kept_pin = pins->last_answer;
            pins->last_answer = NULL;
        }
        Py_CLEAR(pins->callback_error);
    }
}

void
tls_nss_pin_source_free(tls_nss_pin_source *pins)
{
    while (pins != NULL) {
        tls_nss_pin_source *next = pins->next;
        tls_nss_pin_source_forget_uri_pin(pins);
        forget(&pins->last_answer);
        forget(&pins->kept_pin);
        Py_CLEAR(pins->callback);
        Py_CLEAR(pins->callback_error);
        pins->magic = 0;
        PyMem_Free(pins);
        pins = next;
    }
}

int
tls_nss_pin_source_traverse(tls_nss_pin_source *list, visitproc visit, void *arg)
{
    for (tls_nss_pin_source *pins = list; pins != NULL; pins = pins->next) {
        Py_VISIT(pins->callback);
        Py_VISIT(pins->callback_error);
    }
    return 0;
}

void
tls_nss_pin_source_clear(tls_nss_pin_source *list)
{
    for (tls_nss_pin_source *pins = list; pins != NULL; pins = pins->next) {
        Py_CLEAR(pins->callback);
        Py_CLEAR(pins->callback_error);
    }
}

void
tls_nss_pin_source_chain(tls_nss_pin_source **list, tls_nss_pin_source *pins)
{
    pins->next = *list;
    *list = pins;
}

/* Runs with the GIL held, on the thread that released it for the lookup. */
static char *
ask_callback(tls_nss_pin_source *pins, const char *token, PRBool retry)
{
    PyObject *answer = PyObject_CallFunction(pins->callback, "sO", token,
                                             retry ? Py_True : Py_False);
    char *pin = NULL;

    if (answer == NULL)
        goto failed;
    if (answer == Py_None) {
        pins->declined = PR_TRUE;
    }
    else if (PyUnicode_Check(answer)) {
        Py_ssize_t size;
        const char *text = PyUnicode_AsUTF8AndSize(answer, &size);
        if (text == NULL)
            goto failed;
        if ((size_t)size != strlen(text) || size > MAX_PIN_LENGTH) {
            PyErr_SetString(PyExc_ValueError,
                            "the PIN callback returned a PIN with a NUL character "
                            "or longer than 1024 bytes");
            goto failed;
        }
        pin = PORT_Strdup(text);
    }
    else {
        PyErr_Format(PyExc_TypeError, "the PIN callback must return str or None, not %s",
                     Py_TYPE(answer)->tp_name);
        goto failed;
    }
    Py_DECREF(answer);
    return pin;

failed:
    Py_XDECREF(answer);
    if (pins->callback_error == NULL) {
#if PY_VERSION_HEX >= 0x030C0000
        pins->callback_error = PyErr_GetRaisedException();
#else
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        PyErr_NormalizeException(&type, &value, &tb);
        if (tb != NULL && value != NULL)
            PyException_SetTraceback(value, tb);
        Py_XDECREF(type);
        Py_XDECREF(tb);
        pins->callback_error = value;
#endif
    }
    PyErr_Clear();
    return NULL;
}

/* A login NSS needs in a handshake, on the thread running it, which may
 * or may not hold the GIL. The kept PIN, else the callback's answer, which
 * is kept; a PIN that turned wrong is dropped, not tried again. */
static char *
answer_in_handshake(tls_nss_pin_source *pins, PK11SlotInfo *slot, PRBool retry)
{
    char *pin = NULL;
    PyGILState_STATE gil = PyGILState_Ensure();

    if (retry) {
        forget(&pins->kept_pin);
    }
    else if (pins->kept_pin != NULL) {
        pin = PORT_Strdup(pins->kept_pin);
    }
    else if (pins->callback != NULL) {
        pin = ask_callback(pins, PK11_GetTokenName(slot), PR_FALSE);
        /* Nobody is there to raise the callback's exception to: the
         * handshake fails for want of a login. */
        Py_CLEAR(pins->callback_error);
        if (pin != NULL)
            pins->kept_pin = PORT_Strdup(pin);
    }
    PyGILState_Release(gil);
    return pin;
}

/* NSS's password function (PK11_SetPasswordFunc): the answer for `slot`
 * comes from the id's PIN, else from the callback, asked at most twice per
 * login (the second time with retry true). NULL gives up: NSS never
 * prompts, and a wrong PIN is never tried again. */
char * PR_CALLBACK
tls_nss_pin_for_token(PK11SlotInfo *slot, PRBool retry, void *arg)
{
    tls_nss_pin_source *pins = arg;
    char *pin;

    if (pins == NULL || pins->magic != PIN_SOURCE_MAGIC)
        return NULL; /* another NSS user's request */
    pins->asked = PR_TRUE;
    if (retry)
        pins->wrong = PR_TRUE;
    if (pins->uri_pin != NULL)
        return retry ? NULL : PORT_Strdup(pins->uri_pin);
    if (pins->waiting == NULL || pins->waiting_thread != PR_GetCurrentThread())
        return answer_in_handshake(pins, slot, retry);
    if (pins->callback == NULL)
        return NULL;
    if (retry) {
        if (pins->retried)
            return NULL;
        pins->retried = PR_TRUE;
    }
    PyEval_RestoreThread(pins->waiting);
    pin = ask_callback(pins, PK11_GetTokenName(slot), retry);
    forget(&pins->last_answer);
    if (pin != NULL)
        pins->last_answer = PORT_Strdup(pin);
    pins->waiting = PyEval_SaveThread();
    return pin;
}

/* Releases the GIL for a token operation that may ask `pins` for a PIN. */
void
tls_nss_begin_token_call(tls_nss_pin_source *pins)
{
    pins->asked = pins->wrong = pins->declined = pins->retried = PR_FALSE;
    Py_CLEAR(pins->callback_error);
    pins->waiting_thread = PR_GetCurrentThread();
    pins->waiting = PyEval_SaveThread();
}

void
tls_nss_end_token_call(tls_nss_pin_source *pins)
{
    PyEval_RestoreThread(pins->waiting);
    pins->waiting = NULL;
    pins->waiting_thread = NULL;
}

/* Raises for a login to `token` that did not succeed. */
void
tls_nss_raise_login_failure(tls_nss_state *st, tls_nss_pin_source *pins, const char *token,
                    PRErrorCode code, const char *what)
{
    if (pins->callback_error != NULL) {
        PyObject *error = pins->callback_error;
        pins->callback_error = NULL;
#if PY_VERSION_HEX >= 0x030C0000
        PyErr_SetRaisedException(error);
#else
        PyErr_Restore(Py_NewRef((PyObject *)Py_TYPE(error)), error,
                      PyException_GetTraceback(error));
#endif
        return;
    }
    if (pins->wrong) {
        const char *origin =
            pins->uri_pin != NULL ? pins->uri_pin_origin : "the PIN callback";
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, SEC_ERROR_BAD_PASSWORD,
                      "logging in to token \"%s\" for %s: the PIN from %s is wrong "
                      "(not tried again, so the token does not lock)",
                      token, what, origin);
    }
    else if (pins->declined) {
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, SEC_ERROR_TOKEN_NOT_LOGGED_IN,
                      "logging in to token \"%s\" for %s: the PIN callback gave no PIN",
                      token, what);
    }
    else if (!tls_nss_pin_source_can_answer(pins) &&
             (pins->asked || code == SEC_ERROR_BAD_PASSWORD)) {
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, SEC_ERROR_TOKEN_NOT_LOGGED_IN,
                      "logging in to token \"%s\" for %s: the token needs a PIN; give "
                      "pin-value= or pin-source= in a pkcs11: URI, or register "
                      "tls_nss.set_pin_callback()", token, what);
    }
    else if (pins->asked) {
        /* A PIN was given and the token failed otherwise than by calling
         * it wrong: say so, with the token's own error. */
        const char *origin =
            pins->uri_pin != NULL ? pins->uri_pin_origin : "the PIN callback";
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, code,
                      "logging in to token \"%s\" for %s with the PIN from %s", token, what,
                      origin);
    }
    else {
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, code, "logging in to token \"%s\" for %s",
                      token, what);
    }
}

/* Logs in to `slot` if it needs it and is not logged in yet. */
int
tls_nss_log_in(tls_nss_state *st, PK11SlotInfo *slot, tls_nss_pin_source *pins, const char *what)
{
    SECStatus rv;
    PRErrorCode error = 0;

    /* PK11_Authenticate asks the token whether it is logged in already,
     * which may be a round trip to an HSM: without the GIL too. */
    tls_nss_begin_token_call(pins);
    rv = PK11_Authenticate(slot, PR_TRUE, pins);
    if (rv != SECSuccess)
        error = PR_GetError();
    tls_nss_end_token_call(pins);
    if (rv == SECSuccess)
        return 0;
    tls_nss_raise_login_failure(st, pins, PK11_GetTokenName(slot), error, what);
    return -1;
}

int
tls_nss_pin_source_set_uri_pin(tls_nss_pin_source *pins, const char *pin, const char *origin)
{
    tls_nss_pin_source_forget_uri_pin(pins);
    pins->uri_pin = PORT_Strdup(pin);
    if (pins->uri_pin == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    snprintf(pins->uri_pin_origin, sizeof(pins->uri_pin_origin), "%s", origin);
    return 0;
}

PRBool
tls_nss_pin_source_can_answer(const tls_nss_pin_source *pins)
{
    return pins->uri_pin != NULL || pins->callback != NULL;
}

PRBool
tls_nss_pin_source_was_asked(const tls_nss_pin_source *pins)
{
    return pins->asked || pins->callback_error != NULL;
}
