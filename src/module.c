/* The tls_nss._nss module: its definition, state and NSS start-up. */
#include "config.h"
#include "tls_nss.h"

#include <unistd.h>

/* NSS keeps its state per process, whatever the number of interpreters or
 * module instances, so its start-up is process-wide too. NSS_InitContext
 * reference-counts, so other NSS users in the process keep working. */
static PRCallOnceType nss_once;
static NSSInitContext *nss_context;
static PRErrorCode nss_init_error;
/* TLS_NSS_DB, as given to the first initialize(). */
static char nss_db[1024];
static PRBool nss_db_read_write;

static PRStatus
start_nss(void)
{
    PRUint32 flags = NSS_INIT_NOROOTINIT | NSS_INIT_OPTIMIZESPACE;

    if (!nss_db_read_write)
        flags |= NSS_INIT_READONLY;
    if (nss_db[0] == '\0') {
        /* No certificate or module database unless one is asked for: trust
         * comes from each context's own anchors or from the system's
         * roots, loaded on demand, and nothing is ever written. */
        flags |= NSS_INIT_NOCERTDB | NSS_INIT_NOMODDB | NSS_INIT_FORCEOPEN;
        nss_context = NSS_InitContext("", "", "", "", NULL, flags);
    }
    else {
        /* A database that cannot be opened is an error, not an empty one. */
        nss_context = NSS_InitContext(nss_db, "", "", SECMOD_DB, NULL, flags);
    }
    if (nss_context == NULL) {
        nss_init_error = PR_GetError();
        return PR_FAILURE;
    }
    tls_nss_tokens_start(nss_db[0] ? nss_db : NULL);
    return PR_SUCCESS;
}

static int
start_nss_once(tls_nss_state *st)
{
    PRStatus status;

    if (nss_context != NULL)
        return 0;
    Py_BEGIN_ALLOW_THREADS
    status = PR_CallOnce(&nss_once, start_nss);
    Py_END_ALLOW_THREADS
    if (status != PR_SUCCESS || nss_context == NULL) {
        if (nss_db[0] != '\0')
            tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, nss_init_error,
                          "initialising NSS with the database %s (TLS_NSS_DB)", nss_db);
        else
            tls_nss_raise(st, TLS_NSS_ERROR, nss_init_error, "initialising NSS");
        return -1;
    }
    return 0;
}

/* p11-kit's proxy reaches every token registered with p11-kit (SoftHSM,
 * OpenSC, TPM2), as on Fedora, where NSS loads it itself. Returns the
 * library when it is loaded, Py_None when it is not installed. */
static PyObject *
load_p11_kit_proxy(tls_nss_state *st)
{
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
    /* Nothing may reach SSL before the policy is settled: SSL takes the
     * policy over only once, when it initialises. */
    if (!tls_nss_policy_ready()) {
        tls_nss_raise(st, TLS_NSS_ERROR, 0,
                      "using NSS: tls_nss._nss.initialize() has not succeeded");
        return -1;
    }
    return 0;
}

static PyObject *
initialize(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"policy_config", "allow_entries", "nss_db", "read_write",
                               "modules", "p11_kit_proxy", NULL};
    tls_nss_state *st = PyModule_GetState(module);
    const char *config, *db = NULL;
    PyObject *entries, *modules = NULL, *proxy, *database, *outcome;
    int read_write = 0, use_proxy = 1;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "zO!|$zpO!p:initialize", keywords, &config,
                                     &PyList_Type, &entries, &db, &read_write,
                                     &PyList_Type, &modules, &use_proxy))
        return NULL;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(entries); i++) {
        if (!PyUnicode_Check(PyList_GET_ITEM(entries, i))) {
            PyErr_SetString(PyExc_TypeError, "allow_entries must be a list of str");
            return NULL;
        }
    }
    if (nss_context == NULL && db != NULL) {
        if (strlen(db) >= sizeof(nss_db)) {
            PyErr_SetString(PyExc_ValueError, "nss_db is too long");
            return NULL;
        }
        strcpy(nss_db, db);
        nss_db_read_write = read_write ? PR_TRUE : PR_FALSE;
    }
    if (start_nss_once(st) < 0)
        return NULL;
    outcome = tls_nss_apply_policy(st, config, entries);
    if (outcome == NULL)
        return NULL;
    /* Modules come after the policy, which must settle before anything
     * else touches NSS's algorithms; each loads once. */
    proxy = use_proxy ? load_p11_kit_proxy(st) : Py_NewRef(Py_None);
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

static PyObject *
is_initialized(PyObject *module, PyObject *unused)
{
    return PyBool_FromLong(nss_context != NULL);
}

static PyObject *
list_tokens(PyObject *module, PyObject *unused)
{
    if (tls_nss_ensure_nss(PyModule_GetState(module)) < 0)
        return NULL;
    return tls_nss_list_tokens();
}

static PyObject *
policy_report(PyObject *module, PyObject *unused)
{
    if (tls_nss_ensure_nss(PyModule_GetState(module)) < 0)
        return NULL;
    return tls_nss_policy_report();
}

static PyObject *
nss_version(PyObject *module, PyObject *unused)
{
    return PyUnicode_FromString(NSS_GetVersion());
}

static PyObject *
implemented_ciphers(PyObject *module, PyObject *unused)
{
    PyObject *result = PyTuple_New(SSL_NumImplementedCiphers);
    if (result == NULL)
        return NULL;
    for (PRUint16 i = 0; i < SSL_NumImplementedCiphers; i++) {
        PyObject *id = PyLong_FromLong(SSL_GetImplementedCiphers()[i]);
        if (id == NULL) {
            Py_DECREF(result);
            return NULL;
        }
        PyTuple_SET_ITEM(result, i, id);
    }
    return result;
}

static PyObject *
system_trust(PyObject *module, PyObject *unused)
{
    if (tls_nss_ensure_nss(PyModule_GetState(module)) < 0)
        return NULL;
    return tls_nss_system_trust_info();
}

static PyMethodDef module_methods[] = {
    {"initialize", (PyCFunction)(void (*)(void))initialize, METH_VARARGS | METH_KEYWORDS,
     "initialize(policy_config, allow_entries, *, nss_db=None, read_write=False,\n"
     "           modules=[], p11_kit_proxy=True)\n--\n\n"
     "Start NSS (with the NSS database nss_db, if given) and apply the crypto\n"
     "policy (None: none), once per process; then load p11-kit's proxy and the\n"
     "(name, library) PKCS#11 modules. Returns {'applied_by': 'tls_nss'|'nss'|\n"
     "'nobody', 'ignored': [entries], 'p11_kit_proxy': library or None,\n"
     "'nss_db': nss_db or None}."},
    {"is_initialized", is_initialized, METH_NOARGS,
     "is_initialized()\n--\n\nWhether NSS has been started in this process."},
    {"tokens", list_tokens, METH_NOARGS,
     "tokens()\n--\n\nThe present PKCS#11 tokens and the certificates they show "
     "without a login."},
    {"policy_report", policy_report, METH_NOARGS,
     "policy_report()\n--\n\nThe effective policy: versions, suites, groups, schemes, key sizes."},
    {"nss_version", nss_version, METH_NOARGS,
     "nss_version()\n--\n\nThe version of the NSS library in use."},
    {"implemented_ciphers", implemented_ciphers, METH_NOARGS,
     "implemented_ciphers()\n--\n\n"
     "IANA ids of every cipher suite this NSS implements, in NSS's order."},
    {"system_trust", system_trust, METH_NOARGS,
     "system_trust()\n--\n\n"
     "Where the system's trust anchors come from: {'library': the PKCS#11\n"
     "module this package loaded, or None; 'has_roots': whether NSS has roots}."},
    {NULL, NULL, 0, NULL},
};

static PyObject *
import_attr(const char *module_name, const char *attr)
{
    PyObject *module = PyImport_ImportModule(module_name);
    if (module == NULL)
        return NULL;
    PyObject *value = PyObject_GetAttrString(module, attr);
    Py_DECREF(module);
    return value;
}

static PyTypeObject *
add_type(PyObject *module, PyType_Spec *spec)
{
    PyTypeObject *type =
        (PyTypeObject *)PyType_FromModuleAndSpec(module, spec, NULL);
    if (type == NULL)
        return NULL;
    if (PyModule_AddType(module, type) < 0) {
        Py_DECREF(type);
        return NULL;
    }
    return type;
}

static int
module_exec(PyObject *module)
{
    tls_nss_state *st = PyModule_GetState(module);

    st->context_type = add_type(module, &tls_nss_context_spec);
    if (st->context_type == NULL)
        return -1;
    st->socket_type = add_type(module, &tls_nss_socket_spec);
    if (st->socket_type == NULL)
        return -1;
    st->buffer_type = add_type(module, &tls_nss_buffer_spec);
    if (st->buffer_type == NULL)
        return -1;
#if PY_VERSION_HEX < 0x030A0000
    /* Py_TPFLAGS_DISALLOW_INSTANTIATION arrived in 3.10. */
    st->socket_type->tp_new = NULL;
    st->buffer_type->tp_new = NULL;
#endif

    st->make_error = import_attr("tls_nss._errors", "from_nss");
    if (st->make_error == NULL)
        return -1;
    st->cipher_suite = import_attr("tls_nss._api", "CipherSuite");
    if (st->cipher_suite == NULL)
        return -1;
    st->next_protocol = import_attr("tls_nss._api", "NextProtocol");
    if (st->next_protocol == NULL)
        return -1;
    st->tls_version = import_attr("tls_nss._api", "TLSVersion");
    if (st->tls_version == NULL)
        return -1;
    return 0;
}

static int
module_traverse(PyObject *module, visitproc visit, void *arg)
{
    tls_nss_state *st = PyModule_GetState(module);
    Py_VISIT(st->context_type);
    Py_VISIT(st->socket_type);
    Py_VISIT(st->buffer_type);
    Py_VISIT(st->make_error);
    Py_VISIT(st->cipher_suite);
    Py_VISIT(st->next_protocol);
    Py_VISIT(st->tls_version);
    return 0;
}

static int
module_clear(PyObject *module)
{
    tls_nss_state *st = PyModule_GetState(module);
    Py_CLEAR(st->context_type);
    Py_CLEAR(st->socket_type);
    Py_CLEAR(st->buffer_type);
    Py_CLEAR(st->make_error);
    Py_CLEAR(st->cipher_suite);
    Py_CLEAR(st->next_protocol);
    Py_CLEAR(st->tls_version);
    return 0;
}

static void
module_free(void *module)
{
    module_clear((PyObject *)module);
}

static PyModuleDef_Slot module_slots[] = {
    {Py_mod_exec, module_exec},
#if PY_VERSION_HEX >= 0x030C0000
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
    {0, NULL},
};

static struct PyModuleDef nss_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "tls_nss._nss",
    .m_doc = "The NSS half of tls_nss: contexts and TLS sockets.",
    .m_size = sizeof(tls_nss_state),
    .m_methods = module_methods,
    .m_slots = module_slots,
    .m_traverse = module_traverse,
    .m_clear = module_clear,
    .m_free = module_free,
};

TLS_NSS_PUBLIC PyMODINIT_FUNC
PyInit__nss(void)
{
    return PyModuleDef_Init(&nss_module);
}
