/* A configuration's protocol settings: TLS versions, cipher suites and ALPN.
 *
 * tls_nss._config.Settings carries what the configuration says, unwrapped
 * from the PEP's enums; this file is the one place that checks it against
 * what this NSS implements and what the crypto policy allows, and the one
 * place that turns it into NSS's settings. Context creation and
 * validate_config both read settings here, so what is refused and what NSS
 * gets cannot disagree. */
#include "config.h"
#include "tls_nss.h"

/* One bound of the version range: a TLSVersion value, or None. Open ends
 * (None, MINIMUM_SUPPORTED, MAXIMUM_SUPPORTED) stay 0 and are resolved
 * against the policy by the caller. */
static int
read_version(tls_nss_state *st, PyObject *settings, const char *field, PRBool lowest,
             PRUint16 *out)
{
    const char *open_end = lowest ? "MINIMUM_SUPPORTED" : "MAXIMUM_SUPPORTED";
    const char *wrong_end = lowest ? "MAXIMUM_SUPPORTED" : "MINIMUM_SUPPORTED";
    PyObject *value = tls_nss_get_field(settings, field);
    const char *name;
    int result = -1;

    *out = 0;
    if (value == NULL)
        return -1;
    if (value == Py_None) {
        result = 0;
        goto done;
    }
    name = PyUnicode_Check(value) ? PyUnicode_AsUTF8(value) : NULL;
    if (name == NULL) {
        if (!PyErr_Occurred())
            PyErr_Format(PyExc_TypeError, "%s must be a TLSVersion value (str), not %.100s",
                         field, Py_TYPE(value)->tp_name);
        goto done;
    }
    if (strcmp(name, open_end) == 0) {
        result = 0;
        goto done;
    }
    if (strcmp(name, wrong_end) == 0) {
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, 0,
                      "checking the TLS versions: %s cannot be the %s version", name,
                      lowest ? "lowest" : "highest");
        goto done;
    }
    if ((*out = tls_nss_version_by_name(name)) != 0) {
        result = 0;
        goto done;
    }
    tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, 0, "reading %s: %R is not a TLSVersion", field,
                  value);
done:
    Py_DECREF(value);
    return result;
}

static void
raise_outside(tls_nss_state *st, PRUint16 version, const SSLVersionRange *allowed,
              const char *policy)
{
    char asked[8], low[8], high[8];

    tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, SSL_ERROR_INVALID_VERSION_RANGE,
                  "checking the TLS versions: %s is outside %s to %s, the versions of %s",
                  tls_nss_describe_version(version, asked, sizeof(asked)),
                  tls_nss_describe_version(allowed->min, low, sizeof(low)),
                  tls_nss_describe_version(allowed->max, high, sizeof(high)), policy);
}

static int
read_versions(tls_nss_state *st, PyObject *settings, const char *policy,
              SSLVersionRange *out)
{
    SSLVersionRange allowed;
    PRUint16 lowest, highest;

    if (read_version(st, settings, "lowest_version", PR_TRUE, &lowest) < 0 ||
        read_version(st, settings, "highest_version", PR_FALSE, &highest) < 0)
        return -1;
    if (lowest && highest && lowest > highest) {
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, 0,
                      "checking the TLS versions: the lowest version (%s) is above the "
                      "highest (%s)", tls_nss_version_name(lowest), tls_nss_version_name(highest));
        return -1;
    }
    if (tls_nss_policy_version_range(&allowed) < 0) {
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, PR_GetError(),
                      "asking NSS which TLS versions it supports");
        return -1;
    }
    out->min = lowest ? lowest : allowed.min;
    out->max = highest ? highest : allowed.max;
    if (out->min < allowed.min || out->min > allowed.max) {
        raise_outside(st, out->min, &allowed, policy);
        return -1;
    }
    if (out->max > allowed.max || out->max < allowed.min) {
        raise_outside(st, out->max, &allowed, policy);
        return -1;
    }
    return 0;
}

static PRBool
is_implemented(PRUint16 suite)
{
    const PRUint16 *implemented = SSL_GetImplementedCiphers();
    for (PRUint16 i = 0; i < SSL_NumImplementedCiphers; i++)
        if (implemented[i] == suite)
            return PR_TRUE;
    return PR_FALSE;
}

/* A suite's IANA name as NSS spells it ("TLS_RSA_WITH_3DES_EDE_CBC_SHA"),
 * else "0x000a"; appended to `names`. */
static int
append_suite_name(PyObject *names, PRUint16 suite)
{
    SSLCipherSuiteInfo info;
    const char *known = tls_nss_suite_name(suite, &info);
    PyObject *name = known ? PyUnicode_FromString(known)
                           : PyUnicode_FromFormat("0x%04x", (unsigned int)suite);
    int rv = name == NULL ? -1 : PyList_Append(names, name);
    Py_XDECREF(name);
    return rv;
}

/* Raises the ConfigurationError for requested suites the policy forbids. */
static void
raise_forbidden(tls_nss_state *st, const PRUint16 *forbidden, Py_ssize_t count,
                const char *policy)
{
    PyObject *names = PyList_New(0), *separator = NULL, *joined = NULL;

    if (names == NULL)
        return;
    for (Py_ssize_t i = 0; i < count; i++)
        if (append_suite_name(names, forbidden[i]) < 0)
            goto done;
    separator = PyUnicode_FromString(", ");
    joined = separator ? PyUnicode_Join(separator, names) : NULL;
    if (joined != NULL)
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, 0,
                      "checking the cipher suites: %U forbidden by %s%s", joined, policy,
                      PK11_IsFIPS() ? " or unavailable in FIPS mode" : "");
done:
    Py_DECREF(names);
    Py_XDECREF(separator);
    Py_XDECREF(joined);
}

/* The requested suites as 16-bit ids, in order. */
static PRUint16 *
suite_ids(tls_nss_state *st, PyObject *seq, Py_ssize_t count)
{
    PRUint16 *ids = PyMem_New(PRUint16, count);

    if (ids == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
        long id = PyLong_Check(item) ? PyLong_AsLong(item) : -1;
        if (!PyLong_Check(item)) {
            PyErr_Format(PyExc_TypeError, "a cipher suite id must be an int, not %.100s",
                         Py_TYPE(item)->tp_name);
            goto fail;
        }
        if ((id == -1 && PyErr_Occurred()) || id < 0 || id > 0xFFFF) {
            PyErr_Clear();
            tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, 0,
                          "reading the cipher suites: %R is not a 16-bit IANA cipher suite id",
                          item);
            goto fail;
        }
        ids[i] = (PRUint16)id;
    }
    return ids;
fail:
    PyMem_Free(ids);
    return NULL;
}

/* Of the requested suites, those NSS implements must all be allowed by the
 * policy; those it does not implement are skipped, as long as one is left. */
static int
read_suites(tls_nss_state *st, PyObject *settings, const char *policy, tls_nss_settings *out)
{
    PyObject *value = tls_nss_get_field(settings, "cipher_suites"), *seq = NULL;
    PRUint16 *ids = NULL, *forbidden = NULL;
    Py_ssize_t count, usable = 0, refused = 0;
    int result = -1;

    if (value == NULL || value == Py_None) {
        Py_XDECREF(value);
        return value == NULL ? -1 : 0;
    }
    seq = PySequence_Fast(value, "cipher_suites must be a sequence of ints or None");
    if (seq == NULL)
        goto done;
    count = PySequence_Fast_GET_SIZE(seq);
    if (count == 0) {
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, 0, "reading the cipher suites: the list is empty");
        goto done;
    }
    if ((ids = suite_ids(st, seq, count)) == NULL)
        goto done;
    if ((forbidden = PyMem_New(PRUint16, count)) == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        if (!is_implemented(ids[i]))
            continue;
        if (tls_nss_suite_usable(ids[i]))
            ids[usable++] = ids[i];
        else
            forbidden[refused++] = ids[i];
    }
    if (refused > 0) {
        raise_forbidden(st, forbidden, refused, policy);
        goto done;
    }
    if (usable == 0) {
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, SSL_ERROR_NO_CYPHER_OVERLAP,
                      "selecting cipher suites: NSS %s can use none of %R",
                      NSS_GetVersion(), value);
        goto done;
    }
    out->suites = ids;
    out->suite_count = usable;
    ids = NULL;
    result = 0;
done:
    PyMem_Free(ids);
    PyMem_Free(forbidden);
    Py_XDECREF(seq);
    Py_XDECREF(value);
    return result;
}

/* The ALPN list, checked and put in the form SSL_SetNextProtoNego wants:
 * length-prefixed entries, the last one first: NSS's setter keeps an NPN
 * convention and moves the first entry to the end, which puts the wire
 * order back to the configured order. */
static int
read_alpn(tls_nss_state *st, PyObject *settings, tls_nss_settings *out)
{
    PyObject *value = tls_nss_get_field(settings, "inner_protocols"), *seq = NULL;
    Py_ssize_t count, total = 0, last_length = 0;
    int result = -1;

    if (value == NULL)
        return -1;
    seq = PySequence_Fast(value, "inner_protocols must be a sequence of bytes");
    if (seq == NULL)
        goto done;
    count = PySequence_Fast_GET_SIZE(seq);
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
        if (!PyBytes_Check(item)) {
            PyErr_Format(PyExc_TypeError, "an inner protocol must be bytes, not %.100s",
                         Py_TYPE(item)->tp_name);
            goto done;
        }
        Py_ssize_t length = PyBytes_GET_SIZE(item);
        if (length < 1 || length > 255) {
            tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, 0,
                          "reading the inner protocols: %R is %zd bytes long; ALPN allows "
                          "1 to 255", item, length);
            goto done;
        }
        total += 1 + length;
        last_length = 1 + length;
    }
    if (total > 0xFFFF) {
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, 0,
                      "reading the inner protocols: the list takes %zd bytes; ALPN allows "
                      "65535", total);
        goto done;
    }
    if (total > 0 && (out->alpn = PyMem_Malloc(total)) == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t at = last_length;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
        Py_ssize_t length = PyBytes_GET_SIZE(item);
        unsigned char *entry = out->alpn + (i == count - 1 ? 0 : at);
        entry[0] = (unsigned char)length;
        memcpy(entry + 1, PyBytes_AS_STRING(item), length);
        at += 1 + length;
    }
    out->alpn_length = (unsigned int)total;
    result = 0;
done:
    Py_XDECREF(seq);
    Py_DECREF(value);
    return result;
}

int
tls_nss_settings_read(tls_nss_state *st, PyObject *settings, const char *policy,
                      tls_nss_settings *out)
{
    memset(out, 0, sizeof(*out));
    PyObject *post_handshake_auth = NULL;
    if (read_versions(st, settings, policy, &out->versions) < 0 ||
        read_suites(st, settings, policy, out) < 0 || read_alpn(st, settings, out) < 0 ||
        (post_handshake_auth = tls_nss_get_field(settings, "post_handshake_auth")) == NULL) {
        tls_nss_settings_clear(out);
        return -1;
    }
    out->post_handshake_auth = PyObject_IsTrue(post_handshake_auth) ? PR_TRUE : PR_FALSE;
    Py_DECREF(post_handshake_auth);
    return 0;
}

void
tls_nss_settings_clear(tls_nss_settings *settings)
{
    PyMem_Free(settings->suites);
    PyMem_Free(settings->alpn);
    memset(settings, 0, sizeof(*settings));
}

static int
apply_versions(tls_nss_state *st, const SSLVersionRange *wanted, PRFileDesc *model)
{
    SSLVersionRange applied;

    /* NSS narrows the range to what its policy allows; read back what it
     * kept rather than trusting the request. */
    if (SSL_VersionRangeSet(model, wanted) != SECSuccess ||
        SSL_VersionRangeGet(model, &applied) != SECSuccess) {
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, PR_GetError(),
                      "setting TLS versions 0x%04x to 0x%04x", wanted->min, wanted->max);
        return -1;
    }
    if (applied.min != wanted->min || applied.max != wanted->max) {
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, SSL_ERROR_INVALID_VERSION_RANGE,
                      "setting TLS versions 0x%04x to 0x%04x: NSS kept only 0x%04x to 0x%04x",
                      wanted->min, wanted->max, applied.min, applied.max);
        return -1;
    }
    return 0;
}

static PRBool
is_listed(const tls_nss_settings *settings, PRUint16 suite)
{
    if (settings->suites == NULL)
        return tls_nss_suite_usable(suite);
    for (Py_ssize_t i = 0; i < settings->suite_count; i++)
        if (settings->suites[i] == suite)
            return PR_TRUE;
    return PR_FALSE;
}

static int
apply_suites(tls_nss_state *st, const tls_nss_settings *settings, PRFileDesc *model)
{
    const PRUint16 *implemented = SSL_GetImplementedCiphers();
    int enabled = 0;

    for (PRUint16 i = 0; i < SSL_NumImplementedCiphers; i++) {
        PRBool on = is_listed(settings, implemented[i]), really_on = PR_FALSE;
        if (SSL_CipherPrefSet(model, implemented[i], on) != SECSuccess) {
            tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, PR_GetError(),
                          "%s cipher suite 0x%04x", on ? "enabling" : "disabling",
                          implemented[i]);
            return -1;
        }
        /* NSS may answer success and change nothing; count what it kept. */
        if (on && SSL_CipherPrefGet(model, implemented[i], &really_on) == SECSuccess &&
            really_on)
            enabled++;
    }
    if (enabled == 0) {
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, SSL_ERROR_NO_CYPHER_OVERLAP,
                      "enabling cipher suites: NSS %s kept none on", NSS_GetVersion());
        return -1;
    }
    return 0;
}

int
tls_nss_settings_apply(tls_nss_state *st, const tls_nss_settings *settings, PRFileDesc *model)
{
    if (apply_versions(st, &settings->versions, model) < 0 ||
        apply_suites(st, settings, model) < 0)
        return -1;
    if (settings->alpn_length > 0 &&
        SSL_SetNextProtoNego(model, settings->alpn, settings->alpn_length) != SECSuccess) {
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, PR_GetError(), "setting the ALPN protocols");
        return -1;
    }
    if (settings->post_handshake_auth &&
        SSL_OptionSet(model, SSL_ENABLE_POST_HANDSHAKE_AUTH, PR_TRUE) != SECSuccess) {
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, PR_GetError(),
                      "offering post-handshake client authentication");
        return -1;
    }
    return 0;
}

/* A model socket: what every connection (or, for servers, every name
 * group) of a context copies, its settings applied once. */
PRFileDesc *
tls_nss_new_model(tls_nss_state *st, PRFileDesc *base)
{
    PRFileDesc *tcp = PR_NewTCPSocket();
    PRFileDesc *model = tcp ? SSL_ImportFD(base, tcp) : NULL;

    if (model == NULL) {
        tls_nss_raise(st, TLS_NSS_ERROR, PR_GetError(), "creating a model socket");
        if (tcp)
            PR_Close(tcp);
    }
    return model;
}
