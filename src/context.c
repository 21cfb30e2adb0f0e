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

/* A certificate given as ("der", bytes, what) or ("id", str, what). */
static CERTCertificate *
certificate_from_spec(tls_nss_state *st, PyObject *spec, tls_nss_pin_source *pins)
{
    const char *kind, *what;
    PyObject *data;

    if (!PyArg_ParseTuple(spec, "sOs;a certificate is (kind, data, description)", &kind,
                          &data, &what))
        return NULL;
    if (strcmp(kind, "id") == 0) {
        const char *id = PyUnicode_AsUTF8(data);
        return id ? tls_nss_certificate_from_id(st, id, pins, what) : NULL;
    }
    return tls_nss_certificate_from_object(st, data, what);
}

/* A private key given as ("der", bytes, pem_label, what) or ("id", str,
 * None, what); None means the key that pairs with `cert` in its token. */
static SECKEYPrivateKey *
private_key_from_spec(tls_nss_state *st, PyObject *spec, CERTCertificate *cert,
                      tls_nss_pin_source *pins, const char *leaf_what)
{
    const char *kind, *label, *what;
    PyObject *data;
    Py_buffer der;

    if (spec == Py_None) {
        char paired_what[160];
        snprintf(paired_what, sizeof(paired_what), "the private key of %s", leaf_what);
        return tls_nss_private_key_for_certificate(st, cert, pins, paired_what);
    }
    if (!PyArg_ParseTuple(spec, "sOzs;a private key is (kind, data, pem_label, description)",
                          &kind, &data, &label, &what))
        return NULL;
    if (strcmp(kind, "id") == 0) {
        const char *id = PyUnicode_AsUTF8(data);
        return id ? tls_nss_private_key_from_id(st, id, pins, what) : NULL;
    }
    if (PyObject_GetBuffer(data, &der, PyBUF_SIMPLE) < 0)
        return NULL;
    SECKEYPrivateKey *key = tls_nss_private_key_from_der(st, &der, label, what);
    PyBuffer_Release(&der);
    return key;
}

/* The chain a server sends: leaf first, then the given intermediates. */
static CERTCertificateList *
certificate_list(tls_nss_state *st, CERTCertificate *leaf, PyObject *intermediates,
                 tls_nss_pin_source *pins)
{
    PyObject *seq = PySequence_Fast(intermediates, "a chain must be a sequence");
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
        /* Decoding makes it a temporary certificate too, which lets NSS
         * build the same chain when it sends a client certificate. */
        CERTCertificate *cert = certificate_from_spec(st, PySequence_Fast_GET_ITEM(seq, i), pins);
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

typedef struct {
    CERTCertificate *cert;
    SECKEYPrivateKey *key;
    CERTCertificateList *list; /* leaf and intermediates, as sent */
} loaded_chain;

static void
loaded_chain_free(loaded_chain *chain)
{
    if (chain->cert)
        CERT_DestroyCertificate(chain->cert);
    if (chain->key)
        SECKEY_DestroyPrivateKey(chain->key);
    if (chain->list)
        CERT_DestroyCertificateList(chain->list);
    memset(chain, 0, sizeof(*chain));
}

/* Loads a signing chain given as (leaf, key, intermediates) specs: checks
 * the key against the certificate and the policy's key sizes. Keys found
 * in tokens keep a PIN source owned by the context. */
static int
load_signing_chain(tls_nss_state *st, tls_nss_context *self, PyObject *chain_spec,
                   PyObject *pin_callback, const char *policy, loaded_chain *out)
{
    PyObject *leaf_spec, *key_spec, *intermediates;
    const char *leaf_what;
    tls_nss_pin_source *pins;

    memset(out, 0, sizeof(*out));
    if (!PyArg_ParseTuple(chain_spec, "OOO;a signing chain is (leaf, key, intermediates)",
                          &leaf_spec, &key_spec, &intermediates))
        return -1;
    if (!PyTuple_Check(leaf_spec) || PyTuple_GET_SIZE(leaf_spec) != 3 ||
        (leaf_what = PyUnicode_AsUTF8(PyTuple_GET_ITEM(leaf_spec, 2))) == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "a certificate is (kind, data, description)");
        return -1;
    }
    pins = tls_nss_pin_source_new(pin_callback);
    if (pins == NULL)
        return -1;
    tls_nss_pin_source_chain(&self->pins, pins);

    out->cert = certificate_from_spec(st, leaf_spec, pins);
    if (out->cert == NULL || tls_nss_policy_check_key(st, out->cert, policy, leaf_what) < 0)
        goto fail;
    out->key = private_key_from_spec(st, key_spec, out->cert, pins, leaf_what);
    if (out->key == NULL || tls_nss_check_key_matches(st, out->cert, out->key, leaf_what) < 0)
        goto fail;
    out->list = certificate_list(st, out->cert, intermediates, pins);
    if (out->list == NULL)
        goto fail;
    return 0;

fail:
    loaded_chain_free(out);
    return -1;
}

/* Whether two leaves name the same things: equal subjectAltName. */
static PRBool
same_names(CERTCertificate *a, CERTCertificate *b)
{
    SECItem names_a = {siBuffer, NULL, 0}, names_b = {siBuffer, NULL, 0};
    PRBool same = PR_FALSE;

    if (CERT_FindCertExtension(a, SEC_OID_X509_SUBJECT_ALT_NAME, &names_a) == SECSuccess &&
        CERT_FindCertExtension(b, SEC_OID_X509_SUBJECT_ALT_NAME, &names_b) == SECSuccess)
        same = SECITEM_ItemsAreEqual(&names_a, &names_b);
    SECITEM_FreeItem(&names_a, PR_FALSE);
    SECITEM_FreeItem(&names_b, PR_FALSE);
    return same;
}

static int
add_server_cert(tls_nss_state *st, PRFileDesc *model, const loaded_chain *chain,
                Py_ssize_t index)
{
    SSLExtraServerCertData extra;

    memset(&extra, 0, sizeof(extra));
    extra.authType = ssl_auth_null; /* every type the key can serve */
    /* An RSA key in a token signs only: RSA key exchange would make NSS
     * copy the key a second time for its session-ticket wrapping key, a
     * copy tokens refuse for keys that never leave them. */
    if (SECKEY_GetPrivateKeyType(chain->key) == rsaKey && chain->key->pkcs11Slot != NULL &&
        !PK11_IsInternal(chain->key->pkcs11Slot))
        extra.authType = ssl_auth_rsa_sign;
    extra.certChain = chain->list;
    /* NSS keeps its own copies of all three. */
    if (SSL_ConfigServerCert(model, chain->cert, chain->key, &extra, sizeof(extra)) !=
        SECSuccess) {
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, PR_GetError(),
                      "configuring server certificate chain %zd", index + 1);
        return -1;
    }
    return 0;
}

/* Loads every signing chain of a server and configures each on the model
 * of its name group; `base` is the configured model without certificates.
 *
 * Up to TLS 1.2, NSS picks the cipher suite, and with it the key type,
 * before it asks us about SNI, from the certificates of the connection's
 * first model. So group 0 also carries the first chain of each key type
 * it lacks; SNI then switches to the group that names the host, and a
 * client that sent no name still gets a chain it can use. */
static int
configure_server_chains(tls_nss_state *st, tls_nss_context *self, PRFileDesc *base,
                        PyObject *chain_specs, PyObject *pin_callback, const char *policy)
{
    enum { KEY_TYPES = 8 };
    loaded_chain first_of_type[KEY_TYPES];
    Py_ssize_t first_index[KEY_TYPES];
    PRBool in_group0[KEY_TYPES];
    PyObject *seq = PySequence_Fast(chain_specs, "signing chains must be a sequence");
    int result = -1;

    memset(first_of_type, 0, sizeof(first_of_type));
    memset(in_group0, 0, sizeof(in_group0));
    if (seq == NULL)
        return -1;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(seq);
    self->groups = PyMem_Calloc(count ? count : 1, sizeof(tls_nss_name_group));
    if (self->groups == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        loaded_chain chain;
        if (load_signing_chain(st, self, PySequence_Fast_GET_ITEM(seq, i), pin_callback, policy,
                               &chain) < 0)
            goto done;
        Py_ssize_t g = 0;
        while (g < self->group_count && !same_names(self->groups[g].leaf, chain.cert))
            g++;
        if (g == self->group_count) {
            /* A new name set: a model of its own, copied from the base. */
            PRFileDesc *tcp = PR_NewTCPSocket();
            PRFileDesc *model = tcp ? SSL_ImportFD(base, tcp) : NULL;
            if (model == NULL) {
                tls_nss_raise(st, TLS_NSS_ERROR, PR_GetError(), "creating a model socket");
                if (tcp)
                    PR_Close(tcp);
                loaded_chain_free(&chain);
                goto done;
            }
            self->groups[g].model = model;
            self->groups[g].leaf = CERT_DupCertificate(chain.cert);
            self->group_count++;
        }
        if (add_server_cert(st, self->groups[g].model, &chain, i) < 0) {
            loaded_chain_free(&chain);
            goto done;
        }
        KeyType type = SECKEY_GetPrivateKeyType(chain.key);
        if ((int)type >= 0 && (int)type < KEY_TYPES) {
            if (g == 0)
                in_group0[type] = PR_TRUE;
            if (first_of_type[type].cert == NULL) {
                first_of_type[type] = chain; /* kept for group 0 below */
                first_index[type] = i;
                continue;
            }
        }
        loaded_chain_free(&chain);
    }
    if (self->group_count == 0) {
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, 0,
                      "creating a server context: it needs a certificate chain");
        goto done;
    }
    for (int type = 0; type < KEY_TYPES; type++) {
        if (first_of_type[type].cert != NULL && !in_group0[type] &&
            add_server_cert(st, self->groups[0].model, &first_of_type[type],
                            first_index[type]) < 0)
            goto done;
    }
    result = 0;
done:
    for (int type = 0; type < KEY_TYPES; type++)
        loaded_chain_free(&first_of_type[type]);
    Py_DECREF(seq);
    return result;
}

/* Server options, set on the base model before its name groups copy it. */
static int
configure_server(tls_nss_state *st, tls_nss_context *self, PRFileDesc *base)
{
    PRStatus status;

    Py_BEGIN_ALLOW_THREADS
    status = PR_CallOnce(&session_cache_once, configure_session_cache);
    Py_END_ALLOW_THREADS
    if (status != PR_SUCCESS) {
        tls_nss_raise(st, TLS_NSS_ERROR, session_cache_error,
                      "setting up the server session cache");
        return -1;
    }

    if (self->trust.verify) {
        if (set_option(st, base, SSL_REQUEST_CERTIFICATE, PR_TRUE,
                       "client certificate request") < 0 ||
            set_option(st, base, SSL_REQUIRE_CERTIFICATE, SSL_REQUIRE_ALWAYS,
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

static PyObject *
context_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"server", "lowest_version", "highest_version", "ciphers",
                               "alpn", "signing_chains", "anchors", "verify",
                               "check_hostname", "policy", "trust_id", "pin_callback", NULL};
    tls_nss_state *st = PyType_GetModuleState(type);
    int server, lowest, highest, verify, check_hostname;
    PyObject *ciphers, *signing_chains, *anchors, *pin_callback = Py_None;
    const char *policy, *trust_id = NULL;
    Py_buffer alpn = {0};
    PRFileDesc *base = NULL;
    tls_nss_context *self = NULL;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "piiOy*OOpps|$zO:Context", keywords,
                                     &server, &lowest, &highest, &ciphers, &alpn,
                                     &signing_chains, &anchors, &verify, &check_hostname,
                                     &policy, &trust_id, &pin_callback))
        return NULL;
    if (pin_callback != Py_None && !PyCallable_Check(pin_callback)) {
        PyErr_SetString(PyExc_TypeError, "pin_callback must be callable or None");
        PyBuffer_Release(&alpn);
        return NULL;
    }
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
        if (trust_id != NULL) {
            tls_nss_pin_source *pins = tls_nss_pin_source_new(pin_callback);
            if (pins == NULL)
                goto fail;
            tls_nss_pin_source_chain(&self->pins, pins);
            self->trust.anchors = tls_nss_anchors_from_id(st, trust_id, self->is_server, pins);
            if (self->trust.anchors == NULL)
                goto fail;
        }
        else if (anchors == Py_None) {
            if (tls_nss_load_system_roots(st) < 0)
                goto fail;
        }
        else if ((self->trust.anchors = tls_nss_anchors_from_der(st, anchors)) == NULL) {
            goto fail;
        }
    }
    /* Everything but certificates goes on one base model, once. */
    PRFileDesc *tcp = PR_NewTCPSocket();
    if (tcp == NULL) {
        tls_nss_raise(st, TLS_NSS_ERROR, PR_GetError(), "creating the model socket");
        goto fail;
    }
    base = SSL_ImportFD(NULL, tcp);
    if (base == NULL) {
        tls_nss_raise(st, TLS_NSS_ERROR, PR_GetError(), "creating the model socket");
        PR_Close(tcp);
        goto fail;
    }
    if (set_option(st, base, SSL_SECURITY, PR_TRUE, "TLS") < 0 ||
        set_option(st, base, server ? SSL_HANDSHAKE_AS_SERVER : SSL_HANDSHAKE_AS_CLIENT,
                   PR_TRUE, "the handshake role") < 0 ||
        set_option(st, base, SSL_ENABLE_SESSION_TICKETS, PR_TRUE, "session tickets") < 0 ||
        set_option(st, base, SSL_ENABLE_EXTENDED_MASTER_SECRET, PR_TRUE,
                   "extended master secret") < 0 ||
        set_option(st, base, SSL_ENABLE_FALSE_START, PR_FALSE, "false start") < 0 ||
        set_option(st, base, SSL_ENABLE_0RTT_DATA, PR_FALSE, "0-RTT data") < 0)
        goto fail;
    if (configure_versions(st, base, lowest, highest) < 0 ||
        configure_ciphers(st, base, ciphers) < 0 ||
        configure_alpn(st, base, &alpn) < 0)
        goto fail;

    if (server) {
        if (configure_server(st, self, base) < 0 ||
            configure_server_chains(st, self, base, signing_chains, pin_callback, policy) < 0)
            goto fail;
        self->model = self->groups[0].model;
        PR_Close(base);
    }
    else {
        PyObject *seq = PySequence_Fast(signing_chains, "signing chains must be a sequence");
        if (seq == NULL)
            goto fail;
        if (PySequence_Fast_GET_SIZE(seq) > 0) {
            loaded_chain chain;
            int rv = load_signing_chain(st, self, PySequence_Fast_GET_ITEM(seq, 0), pin_callback,
                                        policy, &chain);
            Py_DECREF(seq);
            if (rv < 0)
                goto fail;
            /* The client auth hook hands these to NSS; NSS builds the chain
             * it sends from the temporary certificates. */
            self->trust.own_cert = chain.cert;
            self->trust.own_key = chain.key;
            CERT_DestroyCertificateList(chain.list);
        }
        else {
            Py_DECREF(seq);
        }
        self->model = base;
    }
    /* The callback is for setting up; handshakes use the ids' PINs only. */
    tls_nss_pin_source_drop_callback(self->pins);
    PyBuffer_Release(&alpn);
    return (PyObject *)self;

fail:
    if (base != NULL && (self == NULL || self->model != base))
        PR_Close(base);
    PyBuffer_Release(&alpn);
    Py_XDECREF(self);
    return NULL;
}

static void
context_dealloc(tls_nss_context *self)
{
    PyTypeObject *type = Py_TYPE(self);

    if (self->groups != NULL) {
        /* `model` is group 0's. */
        for (Py_ssize_t g = 0; g < self->group_count; g++) {
            PR_Close(self->groups[g].model);
            CERT_DestroyCertificate(self->groups[g].leaf);
        }
        PyMem_Free(self->groups);
    }
    else if (self->model) {
        PR_Close(self->model);
    }
    if (self->trust.anchors)
        CERT_DestroyCertList(self->trust.anchors);
    if (self->trust.own_cert)
        CERT_DestroyCertificate(self->trust.own_cert);
    if (self->trust.own_key)
        SECKEY_DestroyPrivateKey(self->trust.own_key);
    /* Last: the keys above pointed at these. */
    tls_nss_pin_source_free(self->pins);
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
