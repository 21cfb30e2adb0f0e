/* A configuration turned into NSS settings, once per context.
 *
 * Everything a configuration says is applied to one NSS model socket; each
 * connection is then imported from that model (SSL_ImportFD) and inherits
 * it, so nothing is parsed or set again per connection. */
#include "config.h"
#include "tls_nss.h"

/* Version bounds as given by Python: these two mean "as low / as high as
 * the library and the policy allow". */
#define VERSION_LOWEST_ALLOWED 0
#define VERSION_HIGHEST_ALLOWED 0xFFFF

/* NSS's server session cache is process-wide and set up once. */
static PRCallOnceType session_cache_once;
static PRErrorCode session_cache_error;

static PRStatus
configure_session_cache(void)
{
    if (SSL_ConfigServerSessionIDCache(0, 0, 0, NULL) != SECSuccess) {
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

static int
configure_versions(tls_nss_state *st, PRFileDesc *model, int lowest, int highest)
{
    SSLVersionRange supported, wanted, applied;

    if (tls_nss_policy_version_range(&supported) < 0) {
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, PR_GetError(),
                      "asking NSS which TLS versions it supports");
        return -1;
    }

    wanted.min = lowest == VERSION_LOWEST_ALLOWED ? supported.min : (PRUint16)lowest;
    wanted.max = highest == VERSION_HIGHEST_ALLOWED ? supported.max : (PRUint16)highest;
    if (wanted.min < supported.min || wanted.max > supported.max ||
        wanted.min > wanted.max) {
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, SSL_ERROR_INVALID_VERSION_RANGE,
                      "setting TLS versions 0x%04x to 0x%04x: allowed are 0x%04x to 0x%04x",
                      wanted.min, wanted.max, supported.min, supported.max);
        return -1;
    }
    /* NSS narrows the range to what its policy allows; read back what it
     * kept rather than trusting the request. */
    if (SSL_VersionRangeSet(model, &wanted) != SECSuccess ||
        SSL_VersionRangeGet(model, &applied) != SECSuccess) {
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, PR_GetError(),
                      "setting TLS versions 0x%04x to 0x%04x", wanted.min, wanted.max);
        return -1;
    }
    if (applied.min != wanted.min || applied.max != wanted.max) {
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, SSL_ERROR_INVALID_VERSION_RANGE,
                      "setting TLS versions 0x%04x to 0x%04x: NSS's policy allows only "
                      "0x%04x to 0x%04x", wanted.min, wanted.max, applied.min, applied.max);
        return -1;
    }
    return 0;
}

static int
is_requested(const long *ids, Py_ssize_t count, PRUint16 cipher)
{
    for (Py_ssize_t i = 0; i < count; i++)
        if (ids[i] == cipher)
            return 1;
    return 0;
}

/* Enables every suite the policy allows. */
static int
configure_policy_ciphers(tls_nss_state *st, PRFileDesc *model)
{
    const PRUint16 *implemented = SSL_GetImplementedCiphers();
    for (PRUint16 i = 0; i < SSL_NumImplementedCiphers; i++) {
        if (SSL_CipherPrefSet(model, implemented[i],
                              tls_nss_policy_allows_suite(implemented[i])) != SECSuccess) {
            tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, PR_GetError(),
                          "enabling cipher suite 0x%04x", implemented[i]);
            return -1;
        }
    }
    return 0;
}

/* Enables exactly the requested suites that NSS implements and the policy
 * allows (None: all the policy allows). Suites it cannot use are skipped;
 * a list it can use none of is an error that names them. */
static int
configure_ciphers(tls_nss_state *st, PRFileDesc *model, PyObject *cipher_ids)
{
    if (cipher_ids == Py_None)
        return configure_policy_ciphers(st, model);
    PyObject *seq = PySequence_Fast(cipher_ids, "ciphers must be a sequence of ints");
    if (seq == NULL)
        return -1;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(seq);
    long *ids = PyMem_New(long, count ? count : 1);
    int result = -1, enabled = 0;

    if (ids == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        ids[i] = PyLong_AsLong(PySequence_Fast_GET_ITEM(seq, i));
        if (ids[i] == -1 && PyErr_Occurred())
            goto done;
    }

    const PRUint16 *implemented = SSL_GetImplementedCiphers();
    for (PRUint16 i = 0; i < SSL_NumImplementedCiphers; i++) {
        PRBool on = is_requested(ids, count, implemented[i]) &&
                    tls_nss_policy_allows_suite(implemented[i]);
        if (SSL_CipherPrefSet(model, implemented[i], on) != SECSuccess) {
            /* The policy forbids enabling it; leave it off. */
            continue;
        }
        PRBool really_on = PR_FALSE;
        if (on && SSL_CipherPrefGet(model, implemented[i], &really_on) == SECSuccess &&
            really_on)
            enabled++;
    }
    if (enabled == 0) {
        PyObject *names = PyObject_Repr(seq);
        if (names != NULL)
            tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, SSL_ERROR_NO_CYPHER_OVERLAP,
                          "selecting cipher suites: NSS %s can use none of %U",
                          NSS_GetVersion(), names);
        Py_XDECREF(names);
        goto done;
    }
    result = 0;

done:
    PyMem_Free(ids);
    Py_DECREF(seq);
    return result;
}

/* NSS's ALPN setter keeps an NPN convention and moves the first protocol
 * to the end; hand it the list rotated the other way so the wire order is
 * the configured order. */
static int
configure_alpn(tls_nss_state *st, PRFileDesc *model, const Py_buffer *wire)
{
    const unsigned char *data = wire->buf;
    Py_ssize_t len = wire->len, last = 0, at = 0;

    if (len == 0)
        return 0;
    while (at < len) {
        last = at;
        at += 1 + data[at];
    }
    if (at != len || len > 0xFFFF) {
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, SSL_ERROR_NEXT_PROTOCOL_DATA_INVALID,
                      "setting the ALPN protocols: malformed list");
        return -1;
    }
    unsigned char *rotated = PyMem_Malloc(len);
    if (rotated == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    memcpy(rotated, data + last, len - last);
    memcpy(rotated + (len - last), data, last);
    SECStatus rv = SSL_SetNextProtoNego(model, rotated, (unsigned int)len);
    PyMem_Free(rotated);
    if (rv != SECSuccess) {
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, PR_GetError(), "setting the ALPN protocols");
        return -1;
    }
    return 0;
}

/* The chain a server sends: leaf first, then the given intermediates. */
static CERTCertificateList *
certificate_list(tls_nss_state *st, CERTCertificate *leaf, PyObject *chain_ders)
{
    PyObject *seq = PySequence_Fast(chain_ders, "a chain must be a sequence of DER bytes");
    if (seq == NULL)
        return NULL;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(seq);
    PLArenaPool *arena = PORT_NewArena(DER_DEFAULT_CHUNKSIZE);
    CERTCertificateList *list = NULL;

    if (arena == NULL)
        goto nomem;
    list = PORT_ArenaZNew(arena, CERTCertificateList);
    if (list == NULL)
        goto nomem;
    list->arena = arena;
    list->len = (int)count + 1;
    list->certs = PORT_ArenaZNewArray(arena, SECItem, count + 1);
    if (list->certs == NULL)
        goto nomem;
    if (SECITEM_CopyItem(arena, &list->certs[0], &leaf->derCert) != SECSuccess)
        goto nomem;
    for (Py_ssize_t i = 0; i < count; i++) {
        char what[64];
        snprintf(what, sizeof(what), "chain certificate %zd", i + 1);
        /* Decoding makes it a temporary certificate too, which lets NSS
         * build the same chain when it sends a client certificate. */
        CERTCertificate *cert =
            tls_nss_certificate_from_object(st, PySequence_Fast_GET_ITEM(seq, i), what);
        if (cert == NULL)
            goto fail;
        SECStatus rv = SECITEM_CopyItem(arena, &list->certs[i + 1], &cert->derCert);
        CERT_DestroyCertificate(cert);
        if (rv != SECSuccess)
            goto nomem;
    }
    Py_DECREF(seq);
    return list;

nomem:
    PyErr_NoMemory();
fail:
    if (arena)
        PORT_FreeArena(arena, PR_FALSE);
    Py_DECREF(seq);
    return NULL;
}

/* Loads a signing chain given as
 * (leaf_der, leaf_source, key_der, key_pem_label, key_source, chain_ders). */
static int
load_signing_chain(tls_nss_state *st, tls_nss_context *self, PyObject *chain_spec,
                   const char *policy, CERTCertificateList **list_out)
{
    Py_buffer leaf_der = {0}, key_der = {0};
    const char *leaf_source, *key_label, *key_source;
    PyObject *chain_ders;
    int result = -1;

    if (!PyArg_ParseTuple(chain_spec, "y*sy*zsO;signing chain", &leaf_der, &leaf_source,
                          &key_der, &key_label, &key_source, &chain_ders))
        return -1;

    CERTCertificate *cert = tls_nss_certificate_from_der(st, &leaf_der, leaf_source);
    if (cert == NULL)
        goto done;
    if (tls_nss_policy_check_key(st, cert, policy, leaf_source) < 0) {
        CERT_DestroyCertificate(cert);
        goto done;
    }
    SECKEYPrivateKey *key = tls_nss_private_key_from_der(st, &key_der, key_label, key_source);
    if (key == NULL) {
        CERT_DestroyCertificate(cert);
        goto done;
    }
    if (self->is_server) {
        self->server_cert = cert;
        self->server_key = key;
    }
    else {
        self->trust.own_cert = cert;
        self->trust.own_key = key;
    }
    if (tls_nss_check_key_matches(st, cert, key, leaf_source) < 0)
        goto done;
    *list_out = certificate_list(st, cert, chain_ders);
    if (*list_out == NULL)
        goto done;
    result = 0;

done:
    PyBuffer_Release(&leaf_der);
    PyBuffer_Release(&key_der);
    return result;
}

static int
configure_server(tls_nss_state *st, tls_nss_context *self, CERTCertificateList *chain)
{
    PRStatus status;
    SSLExtraServerCertData extra;

    Py_BEGIN_ALLOW_THREADS
    status = PR_CallOnce(&session_cache_once, configure_session_cache);
    Py_END_ALLOW_THREADS
    if (status != PR_SUCCESS) {
        tls_nss_raise(st, TLS_NSS_ERROR, session_cache_error,
                      "setting up the server session cache");
        return -1;
    }

    memset(&extra, 0, sizeof(extra));
    extra.authType = ssl_auth_null; /* every type the key can serve */
    extra.certChain = chain;
    /* NSS keeps its own copies of all three. */
    if (SSL_ConfigServerCert(self->model, self->server_cert, self->server_key, &extra,
                             sizeof(extra)) != SECSuccess) {
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, PR_GetError(),
                      "configuring the server certificate");
        return -1;
    }
    if (self->trust.verify) {
        if (set_option(st, self->model, SSL_REQUEST_CERTIFICATE, PR_TRUE,
                       "client certificate request") < 0 ||
            set_option(st, self->model, SSL_REQUIRE_CERTIFICATE, SSL_REQUIRE_ALWAYS,
                       "client certificate requirement") < 0)
            return -1;
        /* Names the acceptable CAs in the CertificateRequest. */
        if (self->trust.anchors != NULL &&
            SSL_SetTrustAnchors(self->model, self->trust.anchors) != SECSuccess) {
            tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, PR_GetError(),
                          "listing the acceptable client certificate issuers");
            return -1;
        }
    }
    return set_option(st, self->model, SSL_ENABLE_RENEGOTIATION, SSL_RENEGOTIATE_NEVER,
                      "renegotiation");
}

static PyObject *
context_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"server", "lowest_version", "highest_version", "ciphers",
                               "alpn", "signing_chain", "anchors", "verify",
                               "check_hostname", "policy", NULL};
    tls_nss_state *st = PyType_GetModuleState(type);
    int server, lowest, highest, verify, check_hostname;
    PyObject *ciphers, *signing_chain, *anchors;
    const char *policy;
    Py_buffer alpn = {0};
    CERTCertificateList *chain = NULL;
    tls_nss_context *self = NULL;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "piiOy*OOpps:Context", keywords, &server,
                                     &lowest, &highest, &ciphers, &alpn, &signing_chain,
                                     &anchors, &verify, &check_hostname, &policy))
        return NULL;
    if (tls_nss_ensure_nss(st) < 0)
        goto fail;

    self = (tls_nss_context *)type->tp_alloc(type, 0);
    if (self == NULL)
        goto fail;
    self->is_server = server ? PR_TRUE : PR_FALSE;
    self->serial = (PRUint32)PR_ATOMIC_INCREMENT(&context_serial);
    self->trust.verify = verify ? PR_TRUE : PR_FALSE;
    self->trust.check_hostname = check_hostname ? PR_TRUE : PR_FALSE;

    if (verify) {
        if (anchors == Py_None) {
            if (tls_nss_load_system_roots(st) < 0)
                goto fail;
        }
        else if ((self->trust.anchors = tls_nss_anchors_from_der(st, anchors)) == NULL) {
            goto fail;
        }
    }
    if (signing_chain != Py_None &&
        load_signing_chain(st, self, signing_chain, policy, &chain) < 0)
        goto fail;
    if (server && self->server_cert == NULL) {
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, 0,
                      "creating a server context: it needs a certificate chain");
        goto fail;
    }

    PRFileDesc *tcp = PR_NewTCPSocket();
    if (tcp == NULL) {
        tls_nss_raise(st, TLS_NSS_ERROR, PR_GetError(), "creating the model socket");
        goto fail;
    }
    self->model = SSL_ImportFD(NULL, tcp);
    if (self->model == NULL) {
        tls_nss_raise(st, TLS_NSS_ERROR, PR_GetError(), "creating the model socket");
        PR_Close(tcp);
        goto fail;
    }

    if (set_option(st, self->model, SSL_SECURITY, PR_TRUE, "TLS") < 0 ||
        set_option(st, self->model, server ? SSL_HANDSHAKE_AS_SERVER : SSL_HANDSHAKE_AS_CLIENT,
                   PR_TRUE, "the handshake role") < 0 ||
        set_option(st, self->model, SSL_ENABLE_SESSION_TICKETS, PR_TRUE,
                   "session tickets") < 0 ||
        set_option(st, self->model, SSL_ENABLE_EXTENDED_MASTER_SECRET, PR_TRUE,
                   "extended master secret") < 0 ||
        set_option(st, self->model, SSL_ENABLE_FALSE_START, PR_FALSE, "false start") < 0 ||
        set_option(st, self->model, SSL_ENABLE_0RTT_DATA, PR_FALSE, "0-RTT data") < 0)
        goto fail;
    if (configure_versions(st, self->model, lowest, highest) < 0 ||
        configure_ciphers(st, self->model, ciphers) < 0 ||
        configure_alpn(st, self->model, &alpn) < 0)
        goto fail;
    if (server && configure_server(st, self, chain) < 0)
        goto fail;

    if (chain)
        CERT_DestroyCertificateList(chain);
    PyBuffer_Release(&alpn);
    return (PyObject *)self;

fail:
    if (chain)
        CERT_DestroyCertificateList(chain);
    PyBuffer_Release(&alpn);
    Py_XDECREF(self);
    return NULL;
}

static void
context_dealloc(tls_nss_context *self)
{
    PyTypeObject *type = Py_TYPE(self);

    if (self->model)
        PR_Close(self->model);
    if (self->trust.anchors)
        CERT_DestroyCertList(self->trust.anchors);
    if (self->trust.own_cert)
        CERT_DestroyCertificate(self->trust.own_cert);
    if (self->trust.own_key)
        SECKEY_DestroyPrivateKey(self->trust.own_key);
    if (self->server_cert)
        CERT_DestroyCertificate(self->server_cert);
    if (self->server_key)
        SECKEY_DestroyPrivateKey(self->server_key);
    type->tp_free(self);
    Py_DECREF(type);
}

static PyObject *
context_connect(tls_nss_context *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"fd", "hostname", "owner", "timeout", NULL};
    int fd;
    const char *hostname;
    PyObject *owner, *timeout;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "izOO:connect", keywords, &fd, &hostname,
                                     &owner, &timeout))
        return NULL;
    return tls_nss_socket_connect(self, owner, fd, hostname, timeout);
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
context_buffer(tls_nss_context *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"hostname", "owner", NULL};
    const char *hostname;
    PyObject *owner;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "zO:buffer", keywords, &hostname, &owner))
        return NULL;
    return tls_nss_buffer_new(self, owner, hostname);
}

static PyMethodDef context_methods[] = {
    {"buffer", (PyCFunction)(void (*)(void))context_buffer, METH_VARARGS | METH_KEYWORDS,
     "buffer(hostname, owner)\n--\n\nA TLS buffer: TLS over in-memory queues."},
    {"connect", (PyCFunction)(void (*)(void))context_connect, METH_VARARGS | METH_KEYWORDS,
     "connect(fd, hostname, owner, timeout)\n--\n\n"
     "Take over the connected TCP socket `fd` and run the client handshake."},
    {"listen", (PyCFunction)(void (*)(void))context_listen, METH_VARARGS | METH_KEYWORDS,
     "listen(fd, owner, timeout)\n--\n\n"
     "Take over the listening TCP socket `fd`; accept() runs server handshakes."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot context_slots[] = {
    {Py_tp_doc, "An NSS model socket built from one TLS configuration."},
    {Py_tp_new, context_new},
    {Py_tp_dealloc, context_dealloc},
    {Py_tp_methods, context_methods},
    {0, NULL},
};

PyType_Spec tls_nss_context_spec = {
    .name = "tls_nss._nss.Context",
    .basicsize = sizeof(tls_nss_context),
    .flags = Py_TPFLAGS_DEFAULT,
    .slots = context_slots,
};
