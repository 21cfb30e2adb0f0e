/* A configuration turned into NSS model sockets, once per context.
 *
 * Everything a configuration says is applied to one NSS model socket; each
 * connection is then imported from that model (SSL_ImportFD) and inherits
 * it, so nothing is parsed or set again per connection. Making a context
 * is four steps: load the trust anchors, build the base model from the
 * settings, then load the client's chain onto it, or configure each of a
 * server's chains on a copy of it per name group (and a copy of that
 * without NSS's socket locks, for TLS buffers). */
#include "config.h"
#include "tls_nss.h"

#include <fcntl.h>
#include <unistd.h>

/* NSS's server session cache is process-wide and set up once. */
static PRCallOnceType session_cache_once;
static PRErrorCode session_cache_error;

static PRStatus
configure_session_cache(void *unused)
{
    if (tls_nss_configure_server_session_cache() != SECSuccess) {
        session_cache_error = PR_GetError();
        return PR_FAILURE;
    }
    return PR_SUCCESS;
}

static PRInt32 context_serial;

static int
set_option(tls_nss_state *st, PRFileDesc *model, PRInt32 option, PRIntn value,
           const char *name)
{
    if (SSL_OptionSet(model, option, value) != SECSuccess) {
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, PR_GetError(), "setting %s", name);
        return -1;
    }
    return 0;
}

/* Server options, set on the base model before its name groups copy it. */
static int
configure_server_options(tls_nss_state *st, tls_nss_context *self, PRFileDesc *base)
{
    if (tls_nss_call_once(&session_cache_once, configure_session_cache, NULL) != PR_SUCCESS) {
        tls_nss_raise(st, TLS_NSS_ERROR, session_cache_error,
                      "setting up the server session cache");
        return -1;
    }
    PRErrorCode sharing_error = tls_nss_ticket_key_sharing_error();
    if (sharing_error != 0 &&
        PyErr_WarnFormat(PyExc_RuntimeWarning, 1,
                         "this worker could not share the key that wraps session tickets "
                         "with the other workers (%s: %s): its tickets resume only in it, "
                         "unless a server certificate has an RSA key",
                         PR_ErrorToName(sharing_error) ? PR_ErrorToName(sharing_error)
                                                       : "unknown error",
                         PR_ErrorToString(sharing_error, PR_LANGUAGE_I_DEFAULT)) < 0)
        return -1;

    if (self->trust.verify) {
        if (set_option(st, base, SSL_REQUEST_CERTIFICATE, PR_TRUE,
                       "client certificate request") < 0 ||
            set_option(st, base, SSL_REQUIRE_CERTIFICATE,
                       self->client_certificate_optional ? SSL_REQUIRE_NEVER
                                                         : SSL_REQUIRE_ALWAYS,
                       "client certificate requirement") < 0)
            return -1;
        /* Names the acceptable CAs in the CertificateRequest. */
        if (self->trust.anchors != NULL &&
            SSL_SetTrustAnchors(base, self->trust.anchors) != SECSuccess) {
            tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, PR_GetError(),
                          "listing the acceptable client certificate issuers");
            return -1;
        }
    }
    return set_option(st, base, SSL_ENABLE_RENEGOTIATION, SSL_RENEGOTIATE_NEVER,
                      "renegotiation");
}

/* Every model names its groups itself: those the policy allows and NSS's
 * token can do, in NSS's order. A server then never picks a group beyond
 * the policy, even one a client offers, and SNI can restore the list after
 * switching models (connection.c).
 *
 * A client whose first group is the hybrid X25519MLKEM768 would send only
 * its key share, and every server without it would answer with a
 * HelloRetryRequest, costing a round trip and a wasted ML-KEM key. The
 * x25519 share goes beside it; NSS takes it from the hybrid's own X25519
 * key pair, so it costs no key generation. */
static int
configure_groups(tls_nss_state *st, PRFileDesc *base, PRBool is_server)
{
    SSLNamedGroup usable[TLS_NSS_MAX_GROUPS];
    unsigned int count = tls_nss_usable_groups(usable, PR_ARRAY_SIZE(usable));

    if (count == 0) {
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, 0,
                      "configuring key exchange: the crypto policy leaves no group that "
                      "NSS can use%s", PK11_IsFIPS() ? " in FIPS mode" : "");
        return -1;
    }
    if (SSL_NamedGroupConfig(base, usable, count) != SECSuccess) {
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, PR_GetError(),
                      "configuring the key exchange groups");
        return -1;
    }
#if HAVE_DECL_SSL_GRP_KEM_MLKEM768X25519 && HAVE_DECL_SEC_OID_MLKEM768X25519
    if (!is_server && usable[0] == ssl_grp_kem_mlkem768x25519 &&
        tls_nss_group_usable(ssl_grp_ec_curve25519) &&
        SSL_SendAdditionalKeyShares(base, 1) != SECSuccess) {
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, PR_GetError(),
                      "offering an x25519 key share beside X25519MLKEM768");
        return -1;
    }
#endif
    return 0;
}

/* The context's anchors: its own (from DER or an id), or the system's
 * roots, loaded into NSS once, or both. */
static int
load_trust(tls_nss_state *st, tls_nss_context *self, PyObject *trust, PyObject *pin_callback)
{
    PyObject *anchors = NULL, *token_id = NULL, *with_system = NULL, *common_name = NULL;
    int result = -1;

    if (!self->trust.verify)
        return 0;
    if ((anchors = tls_nss_get_field(trust, "anchors")) == NULL ||
        (token_id = tls_nss_get_field(trust, "token_id")) == NULL ||
        (with_system = tls_nss_get_field(trust, "with_system")) == NULL ||
        (common_name = tls_nss_get_field(trust, "common_name_fallback")) == NULL)
        goto done;
    self->trust.common_name_fallback = PyObject_IsTrue(common_name) ? PR_TRUE : PR_FALSE;
    self->trust.beside_system = PyObject_IsTrue(with_system) ? PR_TRUE : PR_FALSE;
    if (self->trust.beside_system && tls_nss_load_system_roots(st) < 0)
        goto done;
    if (token_id != Py_None) {
        const char *id = PyUnicode_AsUTF8(token_id);
        tls_nss_pin_source *pins = id ? tls_nss_pin_source_new(pin_callback) : NULL;
        if (pins == NULL)
            goto done;
        tls_nss_pin_source_chain(&self->pins, pins);
        self->trust.anchors = tls_nss_anchors_from_id(st, id, self->is_server, pins);
        result = self->trust.anchors ? 0 : -1;
    }
    else if (anchors == Py_None) {
        result = tls_nss_load_system_roots(st);
    }
    else {
        self->trust.anchors = tls_nss_anchors_from_der(st, anchors);
        result = self->trust.anchors ? 0 : -1;
    }
done:
    Py_XDECREF(anchors);
    Py_XDECREF(token_id);
    Py_XDECREF(with_system);
    Py_XDECREF(common_name);
    return result;
}

static PRFileDesc *
build_base_model(tls_nss_state *st, tls_nss_context *self, const tls_nss_settings *settings)
{
    PRFileDesc *base = tls_nss_new_model(st, NULL);

    if (base == NULL)
        return NULL;
    if (set_option(st, base, SSL_SECURITY, PR_TRUE, "TLS") < 0 ||
        set_option(st, base, self->is_server ? SSL_HANDSHAKE_AS_SERVER : SSL_HANDSHAKE_AS_CLIENT,
                   PR_TRUE, "the handshake role") < 0 ||
        set_option(st, base, SSL_ENABLE_SESSION_TICKETS, self->session_tickets,
                   "session tickets") < 0 ||
        set_option(st, base, SSL_ENABLE_EXTENDED_MASTER_SECRET, PR_TRUE,
                   "extended master secret") < 0 ||
        set_option(st, base, SSL_ENABLE_FALSE_START, PR_FALSE, "false start") < 0 ||
        set_option(st, base, SSL_ENABLE_0RTT_DATA, PR_FALSE, "0-RTT data") < 0 ||
        /* Clients ask for a stapled OCSP response, and judge it themselves. */
        (!self->is_server &&
         set_option(st, base, SSL_ENABLE_OCSP_STAPLING, PR_TRUE, "OCSP stapling") < 0) ||
        tls_nss_settings_apply(st, settings, base) < 0 ||
        configure_groups(st, base, self->is_server) < 0 ||
        (self->is_server && configure_server_options(st, self, base) < 0)) {
        PR_Close(base);
        return NULL;
    }
    return base;
}

/* TLS buffers run without NSS's socket locks (SSL_NO_LOCKS). A socket may
 * be read in one thread and written in another, and the locks keep the two
 * apart; a buffer's calls keep the GIL and take one call at a time
 * (tls_nss_conn_check_idle), so there they guard nothing, and with
 * hundreds of connections their cold cache lines cost: sealing a record on
 * one buffer and opening it on another took 26 mutex locks, 20 of them the
 * sockets' own. (The GIL is what makes this hold: the module declares no
 * Py_mod_gil, so a free-threaded interpreter keeps the GIL while it is
 * loaded. Declaring it would need the locks back, or a lock per buffer.)
 *
 * A buffer is imported from the context's model, locks and all, and turns
 * them off itself: NSS 3.87 still asks its monitors whether they are held
 * when its locks are off, so a socket made without them (imported from an
 * unlocked model) crashes on its first alert. But SNI's SSL_ReconfigFD
 * copies a model's options onto the connection, and NSS 3.123 frees a
 * socket's locks when they are turned off, so a buffer switched to a
 * locked model would take locks it no longer has. Hence each name group a
 * buffer can switch to also has a model without the locks. */
static PRFileDesc *
unlocked_copy(tls_nss_state *st, PRFileDesc *model)
{
    PRFileDesc *copy = tls_nss_new_model(st, model);

    if (copy != NULL && SSL_OptionSet(copy, SSL_NO_LOCKS, PR_TRUE) != SECSuccess) {
        tls_nss_raise(st, TLS_NSS_ERROR, PR_GetError(),
                      "copying a model without NSS's socket locks, for TLS buffers");
        PR_Close(copy);
        return NULL;
    }
    return copy;
}

static int
add_unlocked_models(tls_nss_state *st, tls_nss_name_groups *groups)
{
    for (Py_ssize_t g = 1; g < groups->count; g++) {
        if ((groups->items[g].unlocked_model = unlocked_copy(st, groups->items[g].model)) ==
            NULL)
            return -1;
    }
    return 0;
}

/* A client offers at most one chain, handed to NSS by the client auth
 * hook when a server asks. */
static int
load_client_chain(tls_nss_state *st, tls_nss_context *self, PyObject *chains,
                  PyObject *pin_callback, const char *policy)
{
    PyObject *seq = PySequence_Fast(chains, "signing chains must be a sequence");
    tls_nss_pin_source *pins;
    int result = 0;

    if (seq == NULL)
        return -1;
    if (PySequence_Fast_GET_SIZE(seq) > 0) {
        pins = tls_nss_pin_source_new(pin_callback);
        if (pins == NULL) {
            Py_DECREF(seq);
            return -1;
        }
        tls_nss_pin_source_chain(&self->pins, pins);
        result = tls_nss_chain_load(st, PySequence_Fast_GET_ITEM(seq, 0), pins, policy,
                                    &self->trust.own);
    }
    Py_DECREF(seq);
    return result;
}

static PyObject *
context_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"settings", "server", "chains", "trust", "verify",
                               "check_hostname", "policy", "pin_callback",
                               "handshake_timeout", "session_cache_size", "session_tickets",
                               "keylog_fd", "crls", "client_certificate_optional",
                               "extra_session_tickets", NULL};
    tls_nss_state *st = PyType_GetModuleState(type);
    int server, verify, check_hostname;
    PyObject *settings_object, *chains, *trust, *pin_callback = Py_None;
    PyObject *handshake_timeout = Py_None;
    const char *policy;
    tls_nss_settings settings;
    PRFileDesc *base;

    double bound = -1.0;
    Py_ssize_t session_cache_size = 0;
    int session_tickets = 1;
    int keylog_fd = -1;
    PyObject *crls = NULL;
    int client_certificate_optional = 0;
    Py_ssize_t extra_session_tickets = 0;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OpOOpps|OOnpiOpn:Context", keywords,
                                     &settings_object, &server, &chains, &trust, &verify,
                                     &check_hostname, &policy, &pin_callback,
                                     &handshake_timeout, &session_cache_size, &session_tickets,
                                     &keylog_fd, &crls, &client_certificate_optional,
                                     &extra_session_tickets))
        return NULL;
    if (session_cache_size < 0) {
        PyErr_SetString(PyExc_ValueError, "session_cache_size must not be negative");
        return NULL;
    }
    if (extra_session_tickets < 0 || extra_session_tickets > UINT_MAX) {
        PyErr_SetString(PyExc_ValueError, "extra_session_tickets out of range");
        return NULL;
    }
    if (handshake_timeout != Py_None) {
        bound = PyFloat_AsDouble(handshake_timeout);
        if (bound == -1.0 && PyErr_Occurred())
            return NULL;
        if (!(bound > 0)) {
            PyErr_SetString(PyExc_ValueError, "handshake_timeout must be None or positive");
            return NULL;
        }
    }
    if (pin_callback != Py_None && !PyCallable_Check(pin_callback)) {
        PyErr_SetString(PyExc_TypeError, "pin_callback must be callable or None");
        return NULL;
    }
    if (tls_nss_ensure_nss(st) < 0 || tls_nss_settings_read(st, settings_object, policy,
                                                            &settings) < 0)
        return NULL;
    tls_nss_context *self = (tls_nss_context *)type->tp_alloc(type, 0);
    if (self == NULL) {
        tls_nss_settings_clear(&settings);
        return NULL;
    }
    /* The caller keeps its own descriptor; ours closes with the context. */
    self->keylog_fd = keylog_fd >= 0 ? fcntl(keylog_fd, F_DUPFD_CLOEXEC, 0) : -1;
    if (keylog_fd >= 0 && self->keylog_fd < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        Py_DECREF(self);
        tls_nss_settings_clear(&settings);
        return NULL;
    }
    self->is_server = server ? PR_TRUE : PR_FALSE;
    self->client_certificate_optional = client_certificate_optional ? PR_TRUE : PR_FALSE;
    self->serial = (PRUint32)PR_ATOMIC_INCREMENT(&context_serial);
    self->handshake_timeout = bound;
    self->session_tickets = session_tickets ? PR_TRUE : PR_FALSE;
    self->extra_session_tickets = (unsigned int)extra_session_tickets;
    if (!server && session_cache_size > 0 &&
        (self->sessions = tls_nss_session_cache_new(session_cache_size)) == NULL) {
        Py_DECREF(self);
        tls_nss_settings_clear(&settings);
        return NULL;
    }
    self->trust.verify = verify ? PR_TRUE : PR_FALSE;
    self->trust.check_hostname = check_hostname ? PR_TRUE : PR_FALSE;

    base = load_trust(st, self, trust, pin_callback) < 0 ||
                   (crls != NULL && crls != Py_None && self->trust.verify &&
                    tls_nss_crls_load(st, crls, self->trust.anchors, &self->trust.crls) < 0)
               ? NULL : build_base_model(st, self, &settings);
    tls_nss_settings_clear(&settings);
    if (base == NULL)
        goto fail;
    if (server) {
        int rv = tls_nss_configure_server_chains(st, base, chains, pin_callback, &self->pins,
                                                 policy, &self->groups);
        PR_Close(base); /* each group's model is a copy */
        if (rv < 0 || add_unlocked_models(st, &self->groups) < 0)
            goto fail;
        self->model = self->groups.items[0].model;
    }
    else {
        self->model = base;
        if (load_client_chain(st, self, chains, pin_callback, policy) < 0)
            goto fail;
    }
    tls_nss_pin_source_setup_done(self->pins);
    return (PyObject *)self;

fail:
    Py_DECREF(self);
    return NULL;
}

/* A context holds Python objects only through its PIN sources: the PIN
 * callback, which may well refer back to the object that owns the
 * context (a bound method), and an error it raised. */
static int
context_traverse(tls_nss_context *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    return tls_nss_pin_source_traverse(self->pins, visit, arg);
}

static int
context_clear(tls_nss_context *self)
{
    tls_nss_pin_source_clear(self->pins);
    return 0;
}

static void
context_dealloc(tls_nss_context *self)
{
    PyTypeObject *type = Py_TYPE(self);

    PyObject_GC_UnTrack(self);
    /* A server's `model` is its group 0's. */
    if (self->groups.items != NULL)
        tls_nss_name_groups_free(&self->groups);
    else if (self->model)
        PR_Close(self->model);
    if (self->trust.anchors)
        CERT_DestroyCertList(self->trust.anchors);
    tls_nss_chain_free(&self->trust.own);
    tls_nss_crls_free(&self->trust.crls);
    tls_nss_session_cache_free(self->sessions);
    if (self->keylog_fd >= 0)
        close(self->keylog_fd);
    /* Last: the keys above pointed at these. */
    tls_nss_pin_source_free(self->pins);
    type->tp_free(self);
    Py_DECREF(type);
}

static PyObject *
context_connect(tls_nss_context *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"fd", "hostname", "owner", "timeout", "handshake_budget",
                               "handshake", "shared_descriptor", NULL};
    int fd, run_handshake = 1, shared = 0;
    const char *hostname;
    PyObject *owner, *timeout;
    double budget = -1.0;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "izOO|dpp:connect", keywords, &fd, &hostname,
                                     &owner, &timeout, &budget, &run_handshake, &shared))
        return NULL;
    return tls_nss_socket_connect(self, owner, fd, hostname, timeout, budget, run_handshake,
                                  shared);
}

static PyObject *
context_listen(tls_nss_context *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"fd", "owner", "timeout", NULL};
    int fd;
    PyObject *owner, *timeout;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "iOO:listen", keywords, &fd, &owner,
                                     &timeout))
        return NULL;
    return tls_nss_socket_listen(self, owner, fd, timeout);
}

static PyObject *
context_serve(tls_nss_context *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"fd", "owner", "timeout", "handshake", "shared_descriptor",
                               "prefix", NULL};
    int fd, run_handshake = 1, shared = 0;
    PyObject *owner, *timeout;
    Py_buffer prefix = {0};

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "iOO|ppy*:serve", keywords, &fd, &owner,
                                     &timeout, &run_handshake, &shared, &prefix))
        return NULL;
    PyObject *result =
        tls_nss_socket_serve(self, owner, fd, timeout, run_handshake, shared, &prefix);
    if (prefix.obj != NULL)
        PyBuffer_Release(&prefix);
    return result;
}

static PyObject *
context_buffer(tls_nss_context *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"hostname", "owner", NULL};
    const char *hostname;
    PyObject *owner;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "zO:buffer", keywords, &hostname, &owner))
        return NULL;
    return tls_nss_buffer_new(self, owner, hostname);
}

static PyObject *
context_cached_sessions(tls_nss_context *self, PyObject *unused)
{
    return PyLong_FromSsize_t(tls_nss_session_cache_count(self->sessions));
}

static PyMethodDef context_methods[] = {
    {"cached_sessions", (PyCFunction)context_cached_sessions, METH_NOARGS,
     "cached_sessions()\n--\n\nHow many resumable sessions the client's cache holds."},
    {"buffer", (PyCFunction)(void (*)(void))context_buffer, METH_VARARGS | METH_KEYWORDS,
     "buffer(hostname, owner)\n--\n\nA TLS buffer: TLS over in-memory queues."},
    {"connect", (PyCFunction)(void (*)(void))context_connect, METH_VARARGS | METH_KEYWORDS,
     "connect(fd, hostname, owner, timeout, handshake_budget=-1, handshake=True,\n"
     "        shared_descriptor=False)\n--\n\n"
     "Take over the connected TCP socket `fd` (shared_descriptor: a duplicate of\n"
     "it) and run the client handshake within handshake_budget seconds (< 0: no\n"
     "bound)."},
    {"listen", (PyCFunction)(void (*)(void))context_listen, METH_VARARGS | METH_KEYWORDS,
     "listen(fd, owner, timeout)\n--\n\n"
     "Take over the listening TCP socket `fd`; accept() runs server handshakes."},
    {"serve", (PyCFunction)(void (*)(void))context_serve, METH_VARARGS | METH_KEYWORDS,
     "serve(fd, owner, timeout, handshake=True, shared_descriptor=False, prefix=b'')\n"
     "--\n\n"
     "Take over the connected TCP socket `fd` (shared_descriptor: a duplicate of\n"
     "it) and run the server handshake."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot context_slots[] = {
    {Py_tp_doc, "An NSS model socket built from one TLS configuration."},
    {Py_tp_new, context_new},
    {Py_tp_dealloc, context_dealloc},
    {Py_tp_traverse, context_traverse},
    {Py_tp_clear, context_clear},
    {Py_tp_methods, context_methods},
    {0, NULL},
};

PyType_Spec tls_nss_context_spec = {
    .name = "tls_nss._nss.Context",
    .basicsize = sizeof(tls_nss_context),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | TLS_NSS_IMMUTABLE,
    .slots = context_slots,
};
