/* The tls_nss._nss module: its definition, its state, and its functions. */
#include "config.h"
#include "tls_nss.h"

static PyObject *
initialize(PyObject *module, PyObject *args, PyObject *kwargs)
{
    return tls_nss_initialize(PyModule_GetState(module), args, kwargs);
}

static PyObject *
is_initialized(PyObject *module, PyObject *unused)
{
    return PyBool_FromLong(tls_nss_is_started());
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
cipher_suite_name(PyObject *module, PyObject *arg)
{
    long id = PyLong_AsLong(arg);
    SSLCipherSuiteInfo info;

    if (id == -1 && PyErr_Occurred())
        return NULL;
    if (id < 0 || id > 0xffff) {
        PyErr_Format(PyExc_ValueError, "a cipher suite id is 16 bits, not %ld", id);
        return NULL;
    }
    const char *name = tls_nss_suite_name((PRUint16)id, &info);
    if (name == NULL)
        Py_RETURN_NONE;
    return PyUnicode_FromString(name);
}

static PyObject *
features(PyObject *module, PyObject *unused)
{
    return tls_nss_features();
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

/* As after an HSM failover or a token's own timeout: every token forgets
 * its login. For tests of logins during handshakes, and administrators. */
static PyObject *
logout_all(PyObject *module, PyObject *unused)
{
    if (tls_nss_ensure_nss(PyModule_GetState(module)) < 0)
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    PK11_LogoutAll();
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyObject *
check_settings(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"settings", "policy", NULL};
    tls_nss_state *st = PyModule_GetState(module);
    tls_nss_settings settings;
    PyObject *object;
    const char *policy;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "Os:check_settings", keywords, &object,
                                     &policy) ||
        tls_nss_ensure_nss(st) < 0 ||
        tls_nss_settings_read(st, object, policy, &settings) < 0)
        return NULL;
    tls_nss_settings_clear(&settings);
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"initialize", (PyCFunction)(void (*)(void))initialize, METH_VARARGS | METH_KEYWORDS,
     "initialize(policy_config, allow_entries, *, nss_db=None, read_write=False,\n"
     "           modules=[], p11_kit_proxy=True, replace_system_policy=False)\n--\n\n"
     "Start NSS (with the NSS database nss_db, if given) and apply the crypto\n"
     "policy (None: none), once per process; then load (or, with\n"
     "p11_kit_proxy false, unload) p11-kit's proxy, and load the (name, library)\n"
     "PKCS#11 modules. replace_system_policy keeps an NSS built with a system\n"
     "policy from applying it; if NSS applied it before, that is an error.\n"
     "Returns {'applied_by': 'tls_nss'|'nss'|'nobody', 'ignored': [entries],\n"
     "'system_file': the file NSS applied or None, 'p11_kit_proxy': library or\n"
     "None, 'nss_db': nss_db or None}."},
    {"check_settings", (PyCFunction)(void (*)(void))check_settings,
     METH_VARARGS | METH_KEYWORDS,
     "check_settings(settings, policy)\n--\n\n"
     "Raise ConfigurationError if NSS cannot use these tls_nss._config.Settings\n"
     "or the crypto policy (described as `policy` in messages) forbids them."},
    {"is_initialized", is_initialized, METH_NOARGS,
     "is_initialized()\n--\n\nWhether NSS has been started in this process."},
    {"tokens", list_tokens, METH_NOARGS,
     "tokens()\n--\n\nThe present PKCS#11 tokens and the certificates they show "
     "without a login."},
    {"policy_report", policy_report, METH_NOARGS,
     "policy_report()\n--\n\nThe effective policy: versions, suites, groups, schemes, key sizes,\n"
     "as far as NSS's token can give them, and whether NSS is in FIPS mode."},
    {"client_hello_server_name", tls_nss_client_hello_server_name, METH_O,
     "client_hello_server_name(data)\n--\n\n"
     "The SNI host name of the ClientHello that the bytes `data` start with (TLS\n"
     "records); False while it is not all there; None when it names none or\n"
     "is not a ClientHello."},
    {"cipher_suite_name", cipher_suite_name, METH_O,
     "cipher_suite_name(id)\n--\n\nThe IANA name NSS gives the suite, or None for one it lacks."},
    {"features", features, METH_NOARGS,
     "features()\n--\n\n"
     "The algorithms this build of NSS knows beyond the classics: frozenset of\n"
     "key exchange group names (\"X25519MLKEM768\", \"x25519\", ...) and \"ML-DSA\"."},
    {"nss_version", nss_version, METH_NOARGS,
     "nss_version()\n--\n\nThe version of the NSS library in use."},
    {"implemented_ciphers", implemented_ciphers, METH_NOARGS,
     "implemented_ciphers()\n--\n\n"
     "IANA ids of every cipher suite this NSS implements, in NSS's order."},
    {"describe_certificate", tls_nss_describe_certificate, METH_O,
     "describe_certificate(der)\n--\n\n"
     "What the DER certificate says: {'subject', 'issuer' (RFC 4514 text),\n"
     "'serial_number' (bytes), 'not_before', 'not_after' (POSIX seconds), 'key':\n"
     "{'type', 'bits', 'curve'}, 'signature_algorithm', 'dns_names',\n"
     "'ip_addresses', 'is_ca'}."},
    {"prepare_workers", (PyCFunction)(void (*)(void))tls_nss_prepare_workers,
     METH_VARARGS | METH_KEYWORDS,
     "prepare_workers(max_sessions=10000)\n--\n\n"
     "Set up a server session cache in shared memory for the worker processes\n"
     "this process forks afterwards, so that clients resume in any worker.\n"
     "Call it before NSS starts in this process."},
    {"logout_all", logout_all, METH_NOARGS,
     "logout_all()\n--\n\n"
     "Log out of every PKCS#11 token, as an HSM failover would; the next\n"
     "handshake that needs a token's key logs in again with its context's PIN."},
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

/* {member.value: member} for the members of the enum `module_name`.`name`. */
static PyObject *
enum_members_by_value(const char *module_name, const char *name)
{
    PyObject *enum_type = import_attr(module_name, name);
    PyObject *members = enum_type ? PyObject_GetIter(enum_type) : NULL;
    PyObject *by_value = members ? PyDict_New() : NULL;
    PyObject *member;

    Py_XDECREF(enum_type);
    if (by_value == NULL) {
        Py_XDECREF(members);
        return NULL;
    }
    while ((member = PyIter_Next(members)) != NULL) {
        PyObject *value = PyObject_GetAttrString(member, "value");
        int failed = value == NULL || PyDict_SetItem(by_value, value, member) < 0;
        Py_XDECREF(value);
        Py_DECREF(member);
        if (failed)
            break;
    }
    Py_DECREF(members);
    if (PyErr_Occurred())
        Py_CLEAR(by_value);
    return by_value;
}

static PyTypeObject *
add_type(PyObject *module, PyType_Spec *spec, PyTypeObject *base)
{
    /* A tuple of bases: CPython 3.9 takes no single type there. */
    PyObject *bases = base ? PyTuple_Pack(1, (PyObject *)base) : NULL;
    if (base != NULL && bases == NULL)
        return NULL;
    PyTypeObject *type = (PyTypeObject *)PyType_FromModuleAndSpec(module, spec, bases);
    Py_XDECREF(bases);
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

    st->context_type = add_type(module, &tls_nss_context_spec, NULL);
    if (st->context_type == NULL)
        return -1;
    st->connection_type = add_type(module, &tls_nss_connection_spec, NULL);
    if (st->connection_type == NULL)
        return -1;
    st->socket_type = add_type(module, &tls_nss_socket_spec, st->connection_type);
    if (st->socket_type == NULL)
        return -1;
    st->buffer_type = add_type(module, &tls_nss_buffer_spec, st->connection_type);
    if (st->buffer_type == NULL)
        return -1;
#if PY_VERSION_HEX < 0x030A0000
    /* Py_TPFLAGS_DISALLOW_INSTANTIATION arrived in 3.10. */
    st->connection_type->tp_new = NULL;
    st->socket_type->tp_new = NULL;
    st->buffer_type->tp_new = NULL;
#endif

    st->make_error = import_attr("tls_nss._errors", "from_nss");
    if (st->make_error == NULL)
        return -1;
    if ((st->want_read_error = import_attr("tls_nss._errors", "NSSWantReadError")) == NULL ||
        (st->want_write_error = import_attr("tls_nss._errors", "NSSWantWriteError")) == NULL ||
        (st->str_operation = PyUnicode_InternFromString("operation")) == NULL ||
        (st->str_nss_code = PyUnicode_InternFromString("nss_code")) == NULL ||
        (st->str_nss_name = PyUnicode_InternFromString("nss_name")) == NULL ||
        (st->str_nss_text = PyUnicode_InternFromString("nss_text")) == NULL)
        return -1;
    if ((st->cipher_suites = enum_members_by_value("tls_nss._api", "CipherSuite")) == NULL ||
        (st->next_protocols = enum_members_by_value("tls_nss._api", "NextProtocol")) == NULL ||
        (st->tls_versions = enum_members_by_value("tls_nss._api", "TLSVersion")) == NULL)
        return -1;
    if ((st->ssl_want_read = import_attr("ssl", "SSLWantReadError")) == NULL ||
        (st->ssl_want_write = import_attr("ssl", "SSLWantWriteError")) == NULL ||
        /* As _ssl words them, with SSL_ERROR_WANT_READ (2) and _WRITE (3). */
        (st->ssl_want_read_args =
             Py_BuildValue("(is)", 2, "The operation did not complete (read)")) == NULL ||
        (st->ssl_want_write_args =
             Py_BuildValue("(is)", 3, "The operation did not complete (write)")) == NULL ||
        (st->ssl_memory_bio = import_attr("ssl", "MemoryBIO")) == NULL ||
        (st->str_eof = PyUnicode_InternFromString("eof")) == NULL ||
        (st->str_read = PyUnicode_InternFromString("read")) == NULL ||
        (st->str_write = PyUnicode_InternFromString("write")) == NULL ||
        (st->str_release = PyUnicode_InternFromString("release")) == NULL ||
        (st->str_gettimeout = PyUnicode_InternFromString("gettimeout")) == NULL)
        return -1;
    /* Where Python runs signal handlers, whichever thread imports us. */
    PyObject *main_thread = import_attr("threading", "main_thread");
    PyObject *thread = main_thread ? PyObject_CallNoArgs(main_thread) : NULL;
    PyObject *ident = thread ? PyObject_GetAttrString(thread, "ident") : NULL;
    Py_XDECREF(main_thread);
    Py_XDECREF(thread);
    if (ident == NULL)
        return -1;
    st->main_thread = PyLong_AsUnsignedLong(ident);
    Py_DECREF(ident);
    if (PyErr_Occurred())
        return -1;
    if ((st->token_keys_lock = PyThread_allocate_lock()) == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

static int
module_traverse(PyObject *module, visitproc visit, void *arg)
{
    tls_nss_state *st = PyModule_GetState(module);
    Py_VISIT(st->context_type);
    Py_VISIT(st->connection_type);
    Py_VISIT(st->socket_type);
    Py_VISIT(st->buffer_type);
    Py_VISIT(st->make_error);
    Py_VISIT(st->want_read_error);
    Py_VISIT(st->want_write_error);
    Py_VISIT(st->cipher_suites);
    Py_VISIT(st->next_protocols);
    Py_VISIT(st->tls_versions);
    Py_VISIT(st->ssl_want_read);
    Py_VISIT(st->ssl_want_write);
    Py_VISIT(st->ssl_want_read_args);
    Py_VISIT(st->ssl_want_write_args);
    Py_VISIT(st->ssl_memory_bio);
    return 0;
}

static int
module_clear(PyObject *module)
{
    tls_nss_state *st = PyModule_GetState(module);
    Py_CLEAR(st->context_type);
    Py_CLEAR(st->connection_type);
    Py_CLEAR(st->socket_type);
    Py_CLEAR(st->buffer_type);
    Py_CLEAR(st->make_error);
    Py_CLEAR(st->want_read_error);
    Py_CLEAR(st->want_write_error);
    Py_CLEAR(st->str_operation);
    Py_CLEAR(st->str_nss_code);
    Py_CLEAR(st->str_nss_name);
    Py_CLEAR(st->str_nss_text);
    Py_CLEAR(st->cipher_suites);
    Py_CLEAR(st->next_protocols);
    Py_CLEAR(st->tls_versions);
    Py_CLEAR(st->ssl_want_read);
    Py_CLEAR(st->ssl_want_write);
    Py_CLEAR(st->ssl_want_read_args);
    Py_CLEAR(st->ssl_want_write_args);
    Py_CLEAR(st->ssl_memory_bio);
    Py_CLEAR(st->str_eof);
    Py_CLEAR(st->str_gettimeout);
    Py_CLEAR(st->str_read);
    Py_CLEAR(st->str_write);
    Py_CLEAR(st->str_release);
    return 0;
}

static void
module_free(void *module)
{
    tls_nss_state *st = PyModule_GetState((PyObject *)module);

    module_clear((PyObject *)module);
    if (st->token_keys_lock != NULL) {
        PyThread_free_lock(st->token_keys_lock);
        st->token_keys_lock = NULL;
    }
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
