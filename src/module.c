/* The tls_nss._nss module: its definition, state and NSS start-up. */
#include "config.h"
#include "tls_nss.h"

/* NSS keeps its state per process, whatever the number of interpreters or
 * module instances, so its start-up is process-wide too. NSS_InitContext
 * reference-counts, so other NSS users in the process keep working. */
static PRCallOnceType nss_once;
static NSSInitContext *nss_context;
static PRErrorCode nss_init_error;

static PRStatus
start_nss(void)
{
    /* No certificate or module database unless one is asked for: trust
     * comes from each context's own anchors or from the system's roots,
     * loaded on demand, and nothing is ever written. */
    PRUint32 flags = NSS_INIT_READONLY | NSS_INIT_NOCERTDB | NSS_INIT_NOMODDB |
                     NSS_INIT_FORCEOPEN | NSS_INIT_NOROOTINIT |
                     NSS_INIT_OPTIMIZESPACE;
    nss_context = NSS_InitContext("", "", "", "", NULL, flags);
    if (nss_context == NULL) {
        nss_init_error = PR_GetError();
        return PR_FAILURE;
    }
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
        tls_nss_raise(st, TLS_NSS_ERROR, nss_init_error,
                      "initialising NSS");
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
    static char *keywords[] = {"policy_config", "allow_entries", NULL};
    tls_nss_state *st = PyModule_GetState(module);
    const char *config;
    PyObject *entries;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "zO!:initialize", keywords, &config,
                                     &PyList_Type, &entries))
        return NULL;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(entries); i++) {
        if (!PyUnicode_Check(PyList_GET_ITEM(entries, i))) {
            PyErr_SetString(PyExc_TypeError, "allow_entries must be a list of str");
            return NULL;
        }
    }
    if (start_nss_once(st) < 0)
        return NULL;
    return tls_nss_apply_policy(st, config, entries);
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
     "initialize(policy_config, allow_entries)\n--\n\n"
     "Start NSS and apply the crypto policy (None: none), once per process.\n"
     "Returns {'applied_by': 'tls_nss'|'nss'|'nobody', 'ignored': [entries]}."},
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
