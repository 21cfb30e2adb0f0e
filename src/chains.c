/* Signing chains: certificates and keys from their sources, checked, and
 * configured on a server's models.
 *
 * tls_nss._pem describes each certificate and key as a source: DER read
 * from a buffer or file, or an id to look up in a token. A chain's key may
 * be missing, for a certificate from a token: it is then the key that
 * pairs with the certificate there. */
#include "config.h"
#include "tls_nss.h"

/* A CertificateSource or KeySource, read: its fields are borrowed from the
 * references it holds. */
typedef struct {
    PyObject *fields[5];
    const char *description;
    PyObject *der;        /* bytes, or Py_None */
    const char *token_id; /* or NULL */
    const char *pem_label; /* keys only, or NULL */
    PyObject *password;   /* keys only: bytes for an encrypted key, or Py_None */
} source;

static void
source_clear(source *src)
{
    for (size_t i = 0; i < PR_ARRAY_SIZE(src->fields); i++)
        Py_CLEAR(src->fields[i]);
}

static int
optional_text(PyObject *value, const char **out)
{
    *out = value == Py_None ? NULL : PyUnicode_AsUTF8(value);
    return value == Py_None || *out != NULL ? 0 : -1;
}

static int
source_read(PyObject *obj, PRBool is_key, source *src)
{
    static const char *const names[] = {"description", "der", "token_id", "pem_label",
                                        "password"};
    size_t count = is_key ? 5 : 3;

    memset(src, 0, sizeof(*src));
    for (size_t i = 0; i < count; i++) {
        if ((src->fields[i] = tls_nss_get_field(obj, names[i])) == NULL)
            goto fail;
    }
    src->der = src->fields[1];
    src->password = is_key ? src->fields[4] : Py_None;
    if ((src->description = PyUnicode_AsUTF8(src->fields[0])) == NULL ||
        optional_text(src->fields[2], &src->token_id) < 0 ||
        (is_key && optional_text(src->fields[3], &src->pem_label) < 0))
        goto fail;
    if ((src->token_id == NULL) == (src->der == Py_None)) {
        PyErr_Format(PyExc_TypeError, "%s: a source has either der or token_id", src->description);
        goto fail;
    }
    return 0;
fail:
    source_clear(src);
    return -1;
}

static CERTCertificate *
certificate_from_source(tls_nss_state *st, PyObject *obj, tls_nss_pin_source *pins)
{
    source src;
    CERTCertificate *cert;

    if (source_read(obj, PR_FALSE, &src) < 0)
        return NULL;
    if (src.token_id != NULL)
        cert = tls_nss_certificate_from_id(st, src.token_id, pins, src.description);
    else
        cert = tls_nss_certificate_from_object(st, src.der, src.description);
    source_clear(&src);
    return cert;
}

/* The chain's key; Py_None stands for the key that pairs with `cert` in
 * its token. */
static SECKEYPrivateKey *
key_from_source(tls_nss_state *st, PyObject *obj, CERTCertificate *cert,
                tls_nss_pin_source *pins, const char *leaf_what)
{
    source src;
    SECKEYPrivateKey *key;

    if (obj == Py_None) {
        char paired_what[160];
        snprintf(paired_what, sizeof(paired_what), "the private key of %s", leaf_what);
        return tls_nss_private_key_for_certificate(st, cert, pins, paired_what);
    }
    if (source_read(obj, PR_TRUE, &src) < 0)
        return NULL;
    if (src.token_id != NULL)
        key = tls_nss_private_key_from_id(st, src.token_id, pins, src.description);
    else
        key = tls_nss_private_key_from_object(st, src.der, src.pem_label, src.password,
                                              src.description);
    source_clear(&src);
    return key;
}

/* The chain as sent: the leaf, then the intermediates, which are kept as
 * temporary certificates too, so that NSS can build the same chain when
 * it sends a client certificate. */
static int
load_intermediates(tls_nss_state *st, PyObject *sources, tls_nss_pin_source *pins,
                   tls_nss_chain *chain)
{
    PyObject *seq = PySequence_Fast(sources, "intermediates must be a sequence");
    if (seq == NULL)
        return -1;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(seq);
    PLArenaPool *arena = PORT_NewArena(DER_DEFAULT_CHUNKSIZE);
    CERTCertificateList *list = arena ? PORT_ArenaZNew(arena, CERTCertificateList) : NULL;

    chain->intermediates = PyMem_Calloc(count ? count : 1, sizeof(CERTCertificate *));
    if (list == NULL || chain->intermediates == NULL ||
        (list->certs = PORT_ArenaZNewArray(arena, SECItem, count + 1)) == NULL)
        goto nomem;
    list->arena = arena;
    list->len = (int)count + 1;
    chain->list = list; /* owns the arena from here on */
    arena = NULL;
    if (SECITEM_CopyItem(list->arena, &list->certs[0], &chain->cert->derCert) != SECSuccess)
        goto nomem;
    for (Py_ssize_t i = 0; i < count; i++) {
        CERTCertificate *cert = certificate_from_source(st, PySequence_Fast_GET_ITEM(seq, i), pins);
        if (cert == NULL)
            goto fail;
        chain->intermediates[chain->intermediate_count++] = cert;
        if (SECITEM_CopyItem(list->arena, &list->certs[i + 1], &cert->derCert) != SECSuccess)
            goto nomem;
    }
    Py_DECREF(seq);
    return 0;

nomem:
    PyErr_NoMemory();
fail:
    if (arena)
        PORT_FreeArena(arena, PR_FALSE);
    Py_DECREF(seq);
    return -1;
}

int
tls_nss_chain_load(tls_nss_state *st, PyObject *chain_source, tls_nss_pin_source *pins,
                   const char *policy, tls_nss_chain *out)
{
    PyObject *leaf = NULL, *key = NULL, *intermediates = NULL, *leaf_what = NULL;
    const char *what;
    int result = -1;

    memset(out, 0, sizeof(*out));
    out->pins = pins;
    if ((leaf = tls_nss_get_field(chain_source, "leaf")) == NULL ||
        (key = tls_nss_get_field(chain_source, "key")) == NULL ||
        (intermediates = tls_nss_get_field(chain_source, "intermediates")) == NULL ||
        (leaf_what = tls_nss_get_field(leaf, "description")) == NULL ||
        (what = PyUnicode_AsUTF8(leaf_what)) == NULL)
        goto done;
    out->cert = certificate_from_source(st, leaf, pins);
    if (out->cert == NULL || tls_nss_policy_check_key(st, out->cert, policy, what) < 0)
        goto done;
    out->key = key_from_source(st, key, out->cert, pins, what);
    if (out->key == NULL || tls_nss_check_key_matches(st, out->cert, out->key, what) < 0 ||
        load_intermediates(st, intermediates, pins, out) < 0)
        goto done;
    result = 0;
done:
    if (result < 0)
        tls_nss_chain_free(out);
    Py_XDECREF(leaf);
    Py_XDECREF(key);
    Py_XDECREF(intermediates);
    Py_XDECREF(leaf_what);
    return result;
}

/* ---- servers ---- */

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
add_server_cert(tls_nss_state *st, tls_nss_name_groups *groups, Py_ssize_t g,
                const tls_nss_chain *chain, Py_ssize_t index)
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
    extra.stapledOCSPResponses = chain->ocsp;
    /* NSS keeps its own copies of all four. */
    if (SSL_ConfigServerCert(groups->items[g].model, chain->cert, chain->key, &extra,
                             sizeof(extra)) != SECSuccess) {
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, PR_GetError(),
                      "configuring server certificate chain %zd", index + 1);
        return -1;
    }
    if (tls_nss_token_keys_add(groups, g, chain, extra.authType) < 0) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

/* The group whose leaf names what `leaf` names; a new one, with a model
 * copied from `base`, if there is none yet. -1 with an exception set. */
static Py_ssize_t
group_for(tls_nss_state *st, tls_nss_name_groups *groups, PRFileDesc *base,
          CERTCertificate *leaf)
{
    Py_ssize_t g = 0;

    while (g < groups->count && !same_names(groups->items[g].leaf, leaf))
        g++;
    if (g < groups->count)
        return g;
    PRFileDesc *model = tls_nss_new_model(st, base);
    if (model == NULL)
        return -1;
    groups->items[g].model = model;
    groups->items[g].leaf = CERT_DupCertificate(leaf);
    groups->count++;
    return g;
}

enum { KEY_TYPES = 8 };

/* The first chain of each key type, kept for group 0. */
typedef struct {
    tls_nss_chain chain[KEY_TYPES];
    Py_ssize_t index[KEY_TYPES];
    PRBool in_group0[KEY_TYPES];
} firsts_by_type;

/* Records `chain` (configured on group `g`) and takes it over if it is the
 * first of its key type; else frees it. */
static void
note_chain(firsts_by_type *firsts, tls_nss_chain *chain, Py_ssize_t g, Py_ssize_t index)
{
    KeyType type = SECKEY_GetPrivateKeyType(chain->key);

    if ((int)type >= 0 && (int)type < KEY_TYPES) {
        if (g == 0)
            firsts->in_group0[type] = PR_TRUE;
        if (firsts->chain[type].cert == NULL) {
            firsts->chain[type] = *chain;
            firsts->index[type] = index;
            memset(chain, 0, sizeof(*chain));
            return;
        }
    }
    tls_nss_chain_free(chain);
}

/* Up to TLS 1.2, NSS picks the cipher suite, and with it the key type,
 * before it asks about SNI, from the certificates of the connection's first
 * model. So group 0 also carries the first chain of each key type it
 * lacks; SNI then switches to the group that names the host, and a client
 * that sent no name still gets a chain it can use. */
static int
complete_group0(tls_nss_state *st, tls_nss_name_groups *groups, const firsts_by_type *firsts)
{
    for (int type = 0; type < KEY_TYPES; type++) {
        if (firsts->chain[type].cert != NULL && !firsts->in_group0[type] &&
            add_server_cert(st, groups, 0, &firsts->chain[type],
                            firsts->index[type]) < 0)
            return -1;
    }
    return 0;
}

int
tls_nss_configure_server_chains(tls_nss_state *st, PRFileDesc *base, PyObject *sources,
                                PyObject *pin_callback, tls_nss_pin_source **pins,
                                const char *policy, tls_nss_name_groups *groups)
{
    firsts_by_type firsts;
    PyObject *seq = PySequence_Fast(sources, "signing chains must be a sequence");
    int result = -1;

    memset(&firsts, 0, sizeof(firsts));
    if (seq == NULL)
        return -1;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(seq);
    groups->items = PyMem_Calloc(count ? count : 1, sizeof(tls_nss_name_group));
    /* A chain is configured on its group and, at most, on group 0 too. */
    groups->token_keys = PyMem_Calloc(count ? 2 * count : 1, sizeof(tls_nss_token_key));
    if (groups->items == NULL || groups->token_keys == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        tls_nss_chain chain;
        tls_nss_pin_source *chain_pins = tls_nss_pin_source_new(pin_callback);
        if (chain_pins == NULL)
            goto done;
        tls_nss_pin_source_chain(pins, chain_pins);
        PyObject *source = PySequence_Fast_GET_ITEM(seq, i);
        if (tls_nss_chain_load(st, source, chain_pins, policy, &chain) < 0)
            goto done;
        PyObject *response = tls_nss_get_field(source, "ocsp_response");
        int stapled = response == NULL ? -1 : tls_nss_ocsp_for_chain(st, response, &chain, i);
        Py_XDECREF(response);
        if (stapled < 0) {
            tls_nss_chain_free(&chain);
            goto done;
        }
        Py_ssize_t g = group_for(st, groups, base, chain.cert);
        if (g < 0 || add_server_cert(st, groups, g, &chain, i) < 0) {
            tls_nss_chain_free(&chain);
            goto done;
        }
        note_chain(&firsts, &chain, g, i);
    }
    if (groups->count == 0) {
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, 0,
                      "creating a server context: it needs a certificate chain");
        goto done;
    }
    result = complete_group0(st, groups, &firsts);
done:
    for (int type = 0; type < KEY_TYPES; type++)
        tls_nss_chain_free(&firsts.chain[type]);
    Py_DECREF(seq);
    return result;
}

void
tls_nss_name_groups_free(tls_nss_name_groups *groups)
{
    for (Py_ssize_t g = 0; g < groups->count; g++) {
        PR_Close(groups->items[g].model);
        if (groups->items[g].unlocked_model != NULL)
            PR_Close(groups->items[g].unlocked_model);
        CERT_DestroyCertificate(groups->items[g].leaf);
    }
    PyMem_Free(groups->items);
    groups->items = NULL;
    groups->count = 0;
    tls_nss_token_keys_free(groups);
}
