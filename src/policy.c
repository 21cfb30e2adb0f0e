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
#include <utilpars.h>

/* The PEP's TLSVersion values and NSS's numbers for them. */
static const struct {
    const char *name;
    PRUint16 version;
} versions[] = {
    {"TLSv1.2", SSL_LIBRARY_VERSION_TLS_1_2},
    {"TLSv1.3", SSL_LIBRARY_VERSION_TLS_1_3},
};

const char *
tls_nss_version_name(PRUint16 version)
{
    for (size_t i = 0; i < PR_ARRAY_SIZE(versions); i++)
        if (versions[i].version == version)
            return versions[i].name;
    return NULL;
}

const char *
tls_nss_describe_version(PRUint16 version, char *out, size_t size)
{
    const char *name = tls_nss_version_name(version);
    if (name != NULL)
        return name;
    snprintf(out, size, "0x%04x", version);
    return out;
}

PRUint16
tls_nss_version_by_name(const char *name)
{
    for (size_t i = 0; i < PR_ARRAY_SIZE(versions); i++)
        if (strcmp(name, versions[i].name) == 0)
            return versions[i].version;
    return 0;
}

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
    char system_file[1024]; /* the file NSS applied, or "" */
    PRErrorCode error;
} outcome;

typedef struct {
    const char *config;
    char **entries;
    size_t count;
    PRBool required;
} policy_request;

/* The file an NSS built with a system policy (Fedora's) applied when it
 * started: its "Policy File" module database names the directory and the
 * file. */
static void
find_system_file(char *out, size_t size)
{
    SECMODListLock *lock = SECMOD_GetDefaultModuleListLock();

    out[0] = '\0';
    SECMOD_GetReadLock(lock);
    for (SECMODModuleList *m = SECMOD_GetDBModuleList(); m != NULL; m = m->next) {
        const char *params = m->module->libraryParams;
        if (m->module->commonName == NULL || strcmp(m->module->commonName, "Policy File") != 0 ||
            params == NULL)
            continue;
        char *directory = NSSUTIL_ArgGetParamValue("configdir", params);
        char *file = NSSUTIL_ArgGetParamValue("secmod", params);
        if (directory != NULL && file != NULL)
            snprintf(out, size, "%s/%s",
                     strncmp(directory, "sql:", 4) == 0 ? directory + 4 : directory, file);
        PORT_Free(directory);
        PORT_Free(file);
        break;
    }
    SECMOD_ReleaseReadLock(lock);
}

static PRStatus
apply_once(void *arg)
{
    const policy_request *request = arg;
    PRUint32 ssl_policy = 0;
    PRBool *ignored = NULL;

    /* Fedora's NSS loads the system policy itself when it starts; it is
     * then in force already, and applying another could only mix the two.
     * Start-up keeps NSS from it when a policy file is required; if NSS
     * was started before us, the request cannot be met. */
    if (NSS_GetAlgorithmPolicy(SEC_OID_APPLY_SSL_POLICY, &ssl_policy) == SECSuccess &&
        (ssl_policy & NSS_USE_POLICY_IN_SSL)) {
        find_system_file(outcome.system_file, sizeof(outcome.system_file));
        if (request->required) {
            outcome.error = SEC_ERROR_POLICY_LOCKED;
            return PR_FAILURE;
        }
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
tls_nss_apply_policy(tls_nss_state *st, const char *config, PyObject *allow_entries,
                     PRBool required)
{
    policy_request request = {config, NULL, 0, required};
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
    if (status != PR_SUCCESS && outcome.error == SEC_ERROR_POLICY_LOCKED)
        return tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, outcome.error,
                             "applying the crypto policy: NSS applied the system's (%s) "
                             "when it was started in this process, before tls_nss; it "
                             "cannot be replaced now",
                             outcome.system_file[0] ? outcome.system_file : "built in");
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
    return Py_BuildValue("{s:s,s:N,s:z}", "applied_by", outcome.applied_by, "ignored", ignored,
                         "system_file", outcome.system_file[0] ? outcome.system_file : NULL);
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

PyObject *
tls_nss_policy_key_sizes(void)
{
    PyObject *sizes = PyDict_New();

    for (size_t i = 0; sizes != NULL && i < PR_ARRAY_SIZE(policy_options); i++) {
        PRInt32 value = 0;
        if (!policy_options[i].key_size)
            continue;
        NSS_OptionGet(policy_options[i].option, &value);
        PyObject *v = PyLong_FromLong(value);
        if (v == NULL || PyDict_SetItemString(sizes, policy_options[i].name, v) < 0)
            Py_CLEAR(sizes);
        Py_XDECREF(v);
    }
    return sizes;
}
