/* NSS start-up: once per process, whatever the number of interpreters or
 * module instances, as NSS keeps its state per process.
 *
 * Order matters: NSS starts (with a database if one is asked for), the
 * crypto policy is applied before anything reaches SSL, and only then are
 * PKCS#11 modules loaded. Everything written here is written inside a
 * PR_CallOnce and read after one, so interpreters with GILs of their own
 * may start NSS concurrently; the first caller's options win. */
#include "config.h"
#include "tls_nss.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    const char *nss_db; /* "sql:DIR", or NULL for no database */
    PRBool read_write;
    /* Keep an NSS built with a system policy (Fedora's) from applying it,
     * and from loading the modules its file names: ours replaces it. */
    PRBool replace_system_policy;
} startup_request;

static PRCallOnceType nss_once;
static NSSInitContext *nss_context;
static PRErrorCode nss_init_error;
static char nss_db[1024];
/* Set last, atomically: other threads read it without the once. */
static PRInt32 nss_started;

#define IGNORE_SYSTEM_POLICY "NSS_IGNORE_SYSTEM_POLICY"

/* NSS reads its switch when it starts; it is set only for that moment,
 * so that programs this process runs are not affected. */
static NSSInitContext *
init_context(const char *db, const char *secmod, PRUint32 flags, PRBool replace_policy)
{
    const char *before = getenv(IGNORE_SYSTEM_POLICY);
    char *saved = before ? strdup(before) : NULL;
    NSSInitContext *context;

    /* A value we could not keep is left alone: NSS may then apply the
     * system policy, and replacing it fails loudly afterwards. */
    if (before != NULL && saved == NULL)
        replace_policy = PR_FALSE;
    if (replace_policy)
        setenv(IGNORE_SYSTEM_POLICY, "1", 1);
    context = NSS_InitContext(db, "", "", secmod, NULL, flags);
    if (replace_policy) {
        if (saved != NULL)
            setenv(IGNORE_SYSTEM_POLICY, saved, 1);
        else
            unsetenv(IGNORE_SYSTEM_POLICY);
    }
    free(saved);
    return context;
}

static PRStatus
start_nss(void *arg)
{
    const startup_request *request = arg;
    /* Not NSS_INIT_OPTIMIZESPACE: it gives softoken 32 session buckets
     * behind one lock, and a server keeps about nine sessions open for
     * every live connection, each looked up once per record. */
    PRUint32 flags = NSS_INIT_NOROOTINIT;

    if (!request->read_write)
        flags |= NSS_INIT_READONLY;
    if (request->nss_db == NULL) {
        /* No certificate or module database unless one is asked for: trust
         * comes from each context's own anchors or from the system's
         * roots, loaded on demand, and nothing is ever written. */
        flags |= NSS_INIT_NOCERTDB | NSS_INIT_NOMODDB | NSS_INIT_FORCEOPEN;
        nss_context = init_context("", "", flags, request->replace_system_policy);
    }
    else {
        snprintf(nss_db, sizeof(nss_db), "%s", request->nss_db);
        /* A database that cannot be opened is an error, not an empty one. */
        nss_context = init_context(nss_db, SECMOD_DB, flags, request->replace_system_policy);
    }
    if (nss_context == NULL) {
        nss_init_error = PR_GetError();
        return PR_FAILURE;
    }
    PK11_SetPasswordFunc(tls_nss_pin_for_token);
    PR_ATOMIC_SET(&nss_started, 1);
    return PR_SUCCESS;
}

PRBool
tls_nss_is_started(void)
{
    return PR_ATOMIC_ADD(&nss_started, 0) != 0;
}

const char *
tls_nss_process_database(void)
{
    return tls_nss_is_started() && nss_db[0] != '\0' ? nss_db : NULL;
}

static int
start_nss_once(tls_nss_state *st, const startup_request *request)
{
    PRStatus status = tls_nss_call_once(&nss_once, start_nss, (void *)request);

    if (status == PR_SUCCESS && tls_nss_is_started())
        return 0;
    if (request->nss_db != NULL)
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, nss_init_error,
                      "initialising NSS with the database %s (TLS_NSS_DB)", request->nss_db);
    else
        tls_nss_raise(st, TLS_NSS_ERROR, nss_init_error, "initialising NSS");
    return -1;
}

/* p11-kit's proxy reaches every token registered with p11-kit (SoftHSM,
 * OpenSC, TPM2), as on Fedora, where NSS loads it itself from the policy
 * file. With `wanted`, it is loaded if it is installed; without, it is
 * unloaded if NSS loaded it. Returns the library when it is loaded,
 * Py_None when it is not. */
static PyObject *
settle_p11_kit_proxy(tls_nss_state *st, PRBool wanted)
{
    if (!wanted)
        return tls_nss_unload_modules_of(st, TLS_NSS_P11_KIT_PROXY) < 0 ? NULL
                                                                          : Py_NewRef(Py_None);
    if (access(TLS_NSS_P11_KIT_PROXY, R_OK) != 0)
        Py_RETURN_NONE;
    if (tls_nss_load_module(st, "p11-kit-proxy", TLS_NSS_P11_KIT_PROXY) < 0)
        return NULL;
    return PyUnicode_FromString(TLS_NSS_P11_KIT_PROXY);
}

static int
load_modules(tls_nss_state *st, PyObject *modules)
{
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(modules); i++) {
        const char *name, *library;
        if (!PyArg_ParseTuple(PyList_GET_ITEM(modules, i), "ss;a module is (name, library)",
                              &name, &library) ||
            tls_nss_load_module(st, name, library) < 0)
            return -1;
    }
    return 0;
}

int
tls_nss_ensure_nss(tls_nss_state *st)
{
    /* SSL takes the policy over only once, when it initialises. */
    if (!tls_nss_policy_ready()) {
        tls_nss_raise(st, TLS_NSS_ERROR, 0,
                      "using NSS: tls_nss._nss.initialize() has not succeeded");
        return -1;
    }
    return 0;
}

static int
check_strings(PyObject *list, const char *what)
{
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(list); i++) {
        if (!PyUnicode_Check(PyList_GET_ITEM(list, i))) {
            PyErr_Format(PyExc_TypeError, "%s must be a list of str", what);
            return -1;
        }
    }
    return 0;
}

PyObject *
tls_nss_initialize(tls_nss_state *st, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"policy_config", "allow_entries", "nss_db", "read_write",
                               "modules", "p11_kit_proxy", "replace_system_policy", NULL};
    startup_request request = {NULL, PR_FALSE, PR_FALSE};
    const char *config;
    PyObject *entries, *modules = NULL, *proxy, *database, *outcome;
    int read_write = 0, use_proxy = 1, replace = 0;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "zO!|$zpO!pp:initialize", keywords, &config,
                                     &PyList_Type, &entries, &request.nss_db, &read_write,
                                     &PyList_Type, &modules, &use_proxy, &replace) ||
        check_strings(entries, "allow_entries") < 0)
        return NULL;
    if (request.nss_db != NULL && strlen(request.nss_db) >= sizeof(nss_db)) {
        PyErr_SetString(PyExc_ValueError, "nss_db is too long");
        return NULL;
    }
    request.read_write = read_write ? PR_TRUE : PR_FALSE;
    request.replace_system_policy = replace ? PR_TRUE : PR_FALSE;
    if (start_nss_once(st, &request) < 0)
        return NULL;
    outcome = tls_nss_apply_policy(st, config, entries, request.replace_system_policy);
    if (outcome == NULL)
        return NULL;
    /* Modules come after the policy, which must settle before anything
     * else touches NSS's algorithms; each loads once. */
    proxy = settle_p11_kit_proxy(st, use_proxy ? PR_TRUE : PR_FALSE);
    database = nss_db[0] ? PyUnicode_FromString(nss_db) : Py_NewRef(Py_None);
    if (proxy == NULL || database == NULL ||
        (modules != NULL && load_modules(st, modules) < 0) ||
        PyDict_SetItemString(outcome, "p11_kit_proxy", proxy) < 0 ||
        PyDict_SetItemString(outcome, "nss_db", database) < 0)
        Py_CLEAR(outcome);
    Py_XDECREF(proxy);
    Py_XDECREF(database);
    return outcome;
}
