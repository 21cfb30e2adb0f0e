/* The system crypto policy, applied through NSS's own policy machinery.
 *
 * crypto-policies writes NSS's policy as the config= string of a
 * policyOnly module. Loading that module sets NSS's algorithm policy and
 * its option limits (versions, key sizes); SSL reads them once, when it
 * first initialises, so the policy is applied before any SSL call.
 * tls_nss._policy_file finds and parses the file; this file applies it,
 * reports it, and answers what it allows. */
#include "config.h"
#include "tls_nss.h"

#include <secmod.h>
#include <secoid.h>

/* Option limits a policy may set, by their crypto-policies names. */
static const struct {
    const char *name;
    PRInt32 option;
    PRBool key_size;
} policy_options[] = {
    {"tls-version-min", NSS_TLS_VERSION_MIN_POLICY, PR_FALSE},
    {"tls-version-max", NSS_TLS_VERSION_MAX_POLICY, PR_FALSE},
    {"dtls-version-min", NSS_DTLS_VERSION_MIN_POLICY, PR_FALSE},
    {"dtls-version-max", NSS_DTLS_VERSION_MAX_POLICY, PR_FALSE},
    {"RSA-MIN", NSS_RSA_MIN_KEY_SIZE, PR_TRUE},
    {"DH-MIN", NSS_DH_MIN_KEY_SIZE, PR_TRUE},
    {"DSA-MIN", NSS_DSA_MIN_KEY_SIZE, PR_TRUE},
};

/* Named groups NSS can use for key exchange, with their policy OIDs. */
static const struct {
    const char *name;
    SECOidTag oid;
} policy_groups[] = {
    {"x25519", SEC_OID_CURVE25519},
    {"secp256r1", SEC_OID_ANSIX962_EC_PRIME256V1},
    {"secp384r1", SEC_OID_SECG_EC_SECP384R1},
    {"secp521r1", SEC_OID_SECG_EC_SECP521R1},
    {"ffdhe2048", SEC_OID_TLS_FFDHE_2048},
    {"ffdhe3072", SEC_OID_TLS_FFDHE_3072},
    {"ffdhe4096", SEC_OID_TLS_FFDHE_4096},
    {"ffdhe6144", SEC_OID_TLS_FFDHE_6144},
    {"ffdhe8192", SEC_OID_TLS_FFDHE_8192},
};

/* Signature schemes, with the hash and key algorithms the policy governs. */
static const struct {
    const char *name;
    SSLSignatureScheme scheme;
    SECOidTag hash;
    SECOidTag key;
} policy_schemes[] = {
    {"ecdsa_secp256r1_sha256", ssl_sig_ecdsa_secp256r1_sha256, SEC_OID_SHA256, SEC_OID_ANSIX962_EC_PUBLIC_KEY},
    {"ecdsa_secp384r1_sha384", ssl_sig_ecdsa_secp384r1_sha384, SEC_OID_SHA384, SEC_OID_ANSIX962_EC_PUBLIC_KEY},
    {"ecdsa_secp521r1_sha512", ssl_sig_ecdsa_secp521r1_sha512, SEC_OID_SHA512, SEC_OID_ANSIX962_EC_PUBLIC_KEY},
    {"rsa_pss_rsae_sha256", ssl_sig_rsa_pss_rsae_sha256, SEC_OID_SHA256, SEC_OID_PKCS1_RSA_PSS_SIGNATURE},
    {"rsa_pss_rsae_sha384", ssl_sig_rsa_pss_rsae_sha384, SEC_OID_SHA384, SEC_OID_PKCS1_RSA_PSS_SIGNATURE},
    {"rsa_pss_rsae_sha512", ssl_sig_rsa_pss_rsae_sha512, SEC_OID_SHA512, SEC_OID_PKCS1_RSA_PSS_SIGNATURE},
    {"rsa_pss_pss_sha256", ssl_sig_rsa_pss_pss_sha256, SEC_OID_SHA256, SEC_OID_PKCS1_RSA_PSS_SIGNATURE},
    {"rsa_pss_pss_sha384", ssl_sig_rsa_pss_pss_sha384, SEC_OID_SHA384, SEC_OID_PKCS1_RSA_PSS_SIGNATURE},
    {"rsa_pss_pss_sha512", ssl_sig_rsa_pss_pss_sha512, SEC_OID_SHA512, SEC_OID_PKCS1_RSA_PSS_SIGNATURE},
    {"rsa_pkcs1_sha256", ssl_sig_rsa_pkcs1_sha256, SEC_OID_SHA256, SEC_OID_PKCS1_RSA_ENCRYPTION},
    {"rsa_pkcs1_sha384", ssl_sig_rsa_pkcs1_sha384, SEC_OID_SHA384, SEC_OID_PKCS1_RSA_ENCRYPTION},
    {"rsa_pkcs1_sha512", ssl_sig_rsa_pkcs1_sha512, SEC_OID_SHA512, SEC_OID_PKCS1_RSA_ENCRYPTION},
    {"ecdsa_sha1", ssl_sig_ecdsa_sha1, SEC_OID_SHA1, SEC_OID_ANSIX962_EC_PUBLIC_KEY},
    {"rsa_pkcs1_sha1", ssl_sig_rsa_pkcs1_sha1, SEC_OID_SHA1, SEC_OID_PKCS1_RSA_ENCRYPTION},
};

static SECMODModule *
load_policy_module(const char *config)
{
    size_t size = strlen(config) + 96;
    char *spec = PORT_Alloc(size);
    if (spec == NULL)
        return NULL;
    snprintf(spec, size, "name=\"tls_nss policy\" NSS=\"flags=policyOnly,moduleDB\" config=\"%s\"",
             config);
    SECMODModule *module = SECMOD_LoadModule(spec, NULL, PR_TRUE);
    PORT_Free(spec);
    return module;
}

static PRBool
loads(const char *config)
{
    SECMODModule *module = load_policy_module(config);
    if (module == NULL)
        return PR_FALSE;
    SECMOD_DestroyModule(module);
    return PR_TRUE;
}

/* NSS's algorithm policy, and the option limits, as one comparable state. */
typedef struct {
    PRUint32 algorithms[SEC_OID_TOTAL];
    PRInt32 options[PR_ARRAY_SIZE(policy_options)];
} policy_state;

static void
read_state(policy_state *state)
{
    for (int tag = 0; tag < SEC_OID_TOTAL; tag++) {
        state->algorithms[tag] = 0;
        NSS_GetAlgorithmPolicy((SECOidTag)tag, &state->algorithms[tag]);
    }
    for (size_t i = 0; i < PR_ARRAY_SIZE(policy_options); i++) {
        state->options[i] = 0;
        NSS_OptionGet(policy_options[i].option, &state->options[i]);
    }
}

/* Sets every option limit to a value no policy uses, so that an entry
 * setting any of them shows as a change. */
static void
mark_options(void)
{
    for (size_t i = 0; i < PR_ARRAY_SIZE(policy_options); i++)
        NSS_OptionSet(policy_options[i].option, 0x7531);
}

/* NSS skips entries it does not know (newer algorithms, newer usage
 * qualifiers) without a word. Each entry is tried alone, on a cleared
 * policy, and one that changes nothing is one this NSS ignores. The option
 * limits are restored afterwards, and the real policy starts with
 * disallow=ALL, so the trials leave nothing behind. Runs once per process,
 * without the GIL. */
static int
find_ignored_entries(char **entries, size_t count, PRBool *ignored)
{
    policy_state *cleared = PORT_Alloc(sizeof(policy_state));
    policy_state *tried = PORT_Alloc(sizeof(policy_state));
    PRInt32 saved[PR_ARRAY_SIZE(policy_options)];
    int result = -1;

    if (cleared == NULL || tried == NULL)
        goto done;
    for (size_t i = 0; i < PR_ARRAY_SIZE(policy_options); i++)
        NSS_OptionGet(policy_options[i].option, &saved[i]);
    mark_options();
    if (!loads("disallow=ALL"))
        goto restore;
    read_state(cleared);
    for (size_t i = 0; i < count; i++) {
        size_t size = strlen(entries[i]) + 32;
        char *config = PORT_Alloc(size);
        if (config == NULL)
            goto restore;
        snprintf(config, size, "disallow=ALL allow=%s", entries[i]);
        mark_options();
        ignored[i] = PR_TRUE;
        if (loads(config)) {
            read_state(tried);
            ignored[i] = memcmp(cleared, tried, sizeof(*tried)) == 0;
        }
        PORT_Free(config);
    }
    result = 0;
restore:
    for (size_t i = 0; i < PR_ARRAY_SIZE(policy_options); i++)
        NSS_OptionSet(policy_options[i].option, saved[i]);
done:
    PORT_Free(cleared);
    PORT_Free(tried);
    return result;
}

/* What applying the policy did, once per process like NSS's policy.
 * Written inside the once; `ready` is set last, atomically, for readers
 * outside it. */
static PRInt32 ready;
static struct {
    const char *applied_by; /* "tls_nss", "nss" or "nobody" */
    char **ignored;         /* never freed: it describes the process */
    size_t ignored_count;
    PRErrorCode error;
} outcome;

typedef struct {
    const char *config;
    char **entries;
    size_t count;
} policy_request;

static PRStatus
apply_once(void *arg)
{
    const policy_request *request = arg;
    PRUint32 ssl_policy = 0;
    PRBool *ignored = NULL;

    /* Fedora's NSS loads the system policy itself when it starts; it is
     * then in force already, and applying it again could only differ. */
    if (NSS_GetAlgorithmPolicy(SEC_OID_APPLY_SSL_POLICY, &ssl_policy) == SECSuccess &&
        (ssl_policy & NSS_USE_POLICY_IN_SSL)) {
        outcome.applied_by = "nss";
        goto start_ssl;
    }
    if (request->config == NULL) {
        outcome.applied_by = "nobody";
        goto start_ssl;
    }
    ignored = PORT_ZNewArray(PRBool, request->count + 1);
    outcome.ignored = PORT_ZNewArray(char *, request->count + 1);
    if (ignored == NULL || outcome.ignored == NULL ||
        find_ignored_entries(request->entries, request->count, ignored) < 0) {
        outcome.error = SEC_ERROR_NO_MEMORY;
        return PR_FAILURE;
    }
    for (size_t i = 0; i < request->count; i++)
        if (ignored[i])
            outcome.ignored[outcome.ignored_count++] = PORT_Strdup(request->entries[i]);
    PORT_Free(ignored);
    if (!loads(request->config)) {
        outcome.error = PR_GetError();
        return PR_FAILURE;
    }
    outcome.applied_by = "tls_nss";

start_ssl:
    /* SSL takes the policy over when it initialises, on its first socket;
     * make that happen now rather than leave it to chance. */
    {
        PRFileDesc *tcp = PR_NewTCPSocket();
        PRFileDesc *probe = tcp ? SSL_ImportFD(NULL, tcp) : NULL;
        if (probe != NULL)
            PR_Close(probe);
        else if (tcp != NULL)
            PR_Close(tcp);
    }
    PR_ATOMIC_SET(&ready, 1);
    return PR_SUCCESS;
}

static PRCallOnceType policy_once;

PRBool
tls_nss_policy_ready(void)
{
    return PR_ATOMIC_ADD(&ready, 0) != 0;
}

PyObject *
tls_nss_apply_policy(tls_nss_state *st, const char *config, PyObject *allow_entries)
{
    policy_request request = {config, NULL, 0};
    PRStatus status;

    if (allow_entries != NULL) {
        request.count = (size_t)PyList_GET_SIZE(allow_entries);
        request.entries = PyMem_New(char *, request.count + 1);
        if (request.entries == NULL)
            return PyErr_NoMemory();
        for (size_t i = 0; i < request.count; i++) {
            request.entries[i] = (char *)PyUnicode_AsUTF8(PyList_GET_ITEM(allow_entries, i));
            if (request.entries[i] == NULL) {
                PyMem_Free(request.entries);
                return NULL;
            }
        }
    }
    status = tls_nss_call_once(&policy_once, apply_once, &request);
    PyMem_Free(request.entries);
    if (status != PR_SUCCESS || !tls_nss_policy_ready())
        return tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, outcome.error,
                             "applying the crypto policy: NSS rejected it");

    PyObject *ignored = PyList_New((Py_ssize_t)outcome.ignored_count);
    if (ignored == NULL)
        return NULL;
    for (size_t i = 0; i < outcome.ignored_count; i++) {
        PyObject *name = PyUnicode_FromString(outcome.ignored[i] ? outcome.ignored[i] : "?");
        if (name == NULL) {
            Py_DECREF(ignored);
            return NULL;
        }
        PyList_SET_ITEM(ignored, (Py_ssize_t)i, name);
    }
    return Py_BuildValue("{s:s,s:N}", "applied_by", outcome.applied_by, "ignored", ignored);
}

int
tls_nss_policy_version_range(SSLVersionRange *range)
{
    PRInt32 min = 0, max = 0;

    if (SSL_VersionRangeGetSupported(ssl_variant_stream, range) != SECSuccess)
        return -1;
    if (NSS_OptionGet(NSS_TLS_VERSION_MIN_POLICY, &min) == SECSuccess && min > range->min)
        range->min = (PRUint16)min;
    if (NSS_OptionGet(NSS_TLS_VERSION_MAX_POLICY, &max) == SECSuccess && max > 0 &&
        max < range->max)
        range->max = (PRUint16)max;
    return 0;
}

PRBool
tls_nss_policy_allows_suite(PRUint16 suite)
{
    PRInt32 policy = SSL_NOT_ALLOWED;
    return SSL_CipherPolicyGet(suite, &policy) == SECSuccess && policy == SSL_ALLOWED;
}

int
tls_nss_policy_check_key(tls_nss_state *st, CERTCertificate *cert, const char *policy,
                         const char *what)
{
    SECKEYPublicKey *key = CERT_ExtractPublicKey(cert);
    PRInt32 minimum = 0;
    const char *kind = NULL;

    if (key == NULL)
        return 0; /* reported where the key is paired */
    switch (key->keyType) {
    case rsaKey:
    case rsaPssKey:
        kind = "RSA-MIN";
        NSS_OptionGet(NSS_RSA_MIN_KEY_SIZE, &minimum);
        break;
    case dsaKey:
        kind = "DSA-MIN";
        NSS_OptionGet(NSS_DSA_MIN_KEY_SIZE, &minimum);
        break;
    default:
        break;
    }
    unsigned int bits = SECKEY_PublicKeyStrengthInBits(key);
    SECKEY_DestroyPublicKey(key);
    if (kind != NULL && bits < (unsigned int)minimum) {
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, SEC_ERROR_INVALID_KEY,
                      "%s: its %u-bit key is below %s=%d of %s", what, bits, kind,
                      (int)minimum, policy);
        return -1;
    }
    return 0;
}

static int
append_name(PyObject *list, const char *name)
{
    PyObject *item = PyUnicode_FromString(name);
    int rv = item == NULL ? -1 : PyList_Append(list, item);
    Py_XDECREF(item);
    return rv;
}

static int
allowed_for_ssl(SECOidTag oid, PRUint32 use)
{
    PRUint32 value = 0;
    return NSS_GetAlgorithmPolicy(oid, &value) == SECSuccess && (value & use) == use;
}

PyObject *
tls_nss_policy_report(void)
{
    SSLVersionRange range;
    PyObject *report = NULL, *suites = NULL, *groups = NULL, *schemes = NULL, *sizes = NULL;

    if (tls_nss_policy_version_range(&range) < 0)
        range.min = range.max = 0;
    if ((suites = PyList_New(0)) == NULL || (groups = PyList_New(0)) == NULL ||
        (schemes = PyList_New(0)) == NULL || (sizes = PyDict_New()) == NULL)
        goto done;

    for (PRUint16 i = 0; i < SSL_NumImplementedCiphers; i++) {
        PRUint16 suite = SSL_GetImplementedCiphers()[i];
        if (!tls_nss_policy_allows_suite(suite))
            continue;
        PyObject *id = PyLong_FromLong(suite);
        if (id == NULL || PyList_Append(suites, id) < 0) {
            Py_XDECREF(id);
            goto done;
        }
        Py_DECREF(id);
    }
    for (size_t i = 0; i < PR_ARRAY_SIZE(policy_groups); i++) {
        if (allowed_for_ssl(policy_groups[i].oid, NSS_USE_ALG_IN_SSL_KX) &&
            append_name(groups, policy_groups[i].name) < 0)
            goto done;
    }
    for (size_t i = 0; i < PR_ARRAY_SIZE(policy_schemes); i++) {
        if (allowed_for_ssl(policy_schemes[i].hash, NSS_USE_ALG_IN_SSL_KX) &&
            allowed_for_ssl(policy_schemes[i].key, NSS_USE_ALG_IN_SSL_KX) &&
            append_name(schemes, policy_schemes[i].name) < 0)
            goto done;
    }
    for (size_t i = 0; i < PR_ARRAY_SIZE(policy_options); i++) {
        if (!policy_options[i].key_size)
            continue;
        PRInt32 value = 0;
        NSS_OptionGet(policy_options[i].option, &value);
        PyObject *v = PyLong_FromLong(value);
        if (v == NULL || PyDict_SetItemString(sizes, policy_options[i].name, v) < 0) {
            Py_XDECREF(v);
            goto done;
        }
        Py_DECREF(v);
    }
    char low[8], high[8];
    report = Py_BuildValue("{s:(ii),s:(ss),s:O,s:O,s:O,s:O}", "versions", range.min, range.max,
                           "version_names", tls_nss_describe_version(range.min, low, sizeof(low)),
                           tls_nss_describe_version(range.max, high, sizeof(high)),
                           "cipher_suites", suites, "groups", groups,
                           "signature_schemes", schemes, "minimum_key_sizes", sizes);
done:
    Py_XDECREF(suites);
    Py_XDECREF(groups);
    Py_XDECREF(schemes);
    Py_XDECREF(sizes);
    return report;
}
