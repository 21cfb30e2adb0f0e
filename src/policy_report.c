/* What the crypto policy allows, reported: versions, suites, key
 * exchange groups, signature schemes and key sizes, for tls_nss.policy and
 * `python3 -m tls_nss policy`; and the names of groups, for connections. */
#include "config.h"
#include "tls_nss.h"

#include <secoid.h>

/* Key exchange groups in NSS's order of preference, with their IANA names
 * and the OIDs the policy governs them by. The hybrid post-quantum groups
 * exist from the NSS releases that have them. */
static const struct {
    const char *name;
    SSLNamedGroup group;
    SECOidTag oid;
} groups[] = {
#if HAVE_DECL_SSL_GRP_KEM_MLKEM768X25519 && HAVE_DECL_SEC_OID_MLKEM768X25519
    {"X25519MLKEM768", ssl_grp_kem_mlkem768x25519, SEC_OID_MLKEM768X25519},
#endif
    {"x25519", ssl_grp_ec_curve25519, SEC_OID_CURVE25519},
    {"secp256r1", ssl_grp_ec_secp256r1, SEC_OID_ANSIX962_EC_PRIME256V1},
    {"secp384r1", ssl_grp_ec_secp384r1, SEC_OID_SECG_EC_SECP384R1},
    {"secp521r1", ssl_grp_ec_secp521r1, SEC_OID_SECG_EC_SECP521R1},
#if HAVE_DECL_SSL_GRP_KEM_SECP256R1MLKEM768 && HAVE_DECL_SEC_OID_SECP256R1MLKEM768
    {"SecP256r1MLKEM768", ssl_grp_kem_secp256r1mlkem768, SEC_OID_SECP256R1MLKEM768},
#endif
#if HAVE_DECL_SSL_GRP_KEM_SECP384R1MLKEM1024 && HAVE_DECL_SEC_OID_SECP384R1MLKEM1024
    {"SecP384r1MLKEM1024", ssl_grp_kem_secp384r1mlkem1024, SEC_OID_SECP384R1MLKEM1024},
#endif
    {"ffdhe2048", ssl_grp_ffdhe_2048, SEC_OID_TLS_FFDHE_2048},
    {"ffdhe3072", ssl_grp_ffdhe_3072, SEC_OID_TLS_FFDHE_3072},
    {"ffdhe4096", ssl_grp_ffdhe_4096, SEC_OID_TLS_FFDHE_4096},
    {"ffdhe6144", ssl_grp_ffdhe_6144, SEC_OID_TLS_FFDHE_6144},
    {"ffdhe8192", ssl_grp_ffdhe_8192, SEC_OID_TLS_FFDHE_8192},
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


PyObject *
tls_nss_features(void)
{
    PyObject *features = PySet_New(NULL);

    for (size_t i = 0; features != NULL && i < PR_ARRAY_SIZE(groups); i++) {
        PyObject *name = PyUnicode_FromString(groups[i].name);
        if (name == NULL || PySet_Add(features, name) < 0)
            Py_CLEAR(features);
        Py_XDECREF(name);
    }
#if HAVE_DECL_SEC_OID_ML_DSA_44
    if (features != NULL) {
        PyObject *name = PyUnicode_FromString("ML-DSA");
        if (name == NULL || PySet_Add(features, name) < 0)
            Py_CLEAR(features);
        Py_XDECREF(name);
    }
#endif
    if (features == NULL)
        return NULL;
    PyObject *frozen = PyFrozenSet_New(features);
    Py_DECREF(features);
    return frozen;
}

const char *
tls_nss_group_name(SSLNamedGroup group)
{
    for (size_t i = 0; i < PR_ARRAY_SIZE(groups); i++)
        if (groups[i].group == group)
            return groups[i].name;
    return NULL;
}

static int
allowed_for_ssl(SECOidTag oid, PRUint32 use)
{
    PRUint32 value = 0;
    return NSS_GetAlgorithmPolicy(oid, &value) == SECSuccess && (value & use) == use;
}

PRBool
tls_nss_policy_allows_group(SSLNamedGroup group)
{
    for (size_t i = 0; i < PR_ARRAY_SIZE(groups); i++)
        if (groups[i].group == group)
            return allowed_for_ssl(groups[i].oid, NSS_USE_ALG_IN_SSL_KX);
    return PR_FALSE;
}

static int
append_name(PyObject *list, const char *name)
{
    PyObject *item = PyUnicode_FromString(name);
    int rv = item == NULL ? -1 : PyList_Append(list, item);
    Py_XDECREF(item);
    return rv;
}

static PyObject *
allowed_suites(void)
{
    PyObject *suites = PyList_New(0);

    for (PRUint16 i = 0; suites != NULL && i < SSL_NumImplementedCiphers; i++) {
        PRUint16 suite = SSL_GetImplementedCiphers()[i];
        if (!tls_nss_policy_allows_suite(suite))
            continue;
        PyObject *id = PyLong_FromLong(suite);
        if (id == NULL || PyList_Append(suites, id) < 0)
            Py_CLEAR(suites);
        Py_XDECREF(id);
    }
    return suites;
}

static PyObject *
allowed_groups(void)
{
    PyObject *names = PyList_New(0);

    for (size_t i = 0; names != NULL && i < PR_ARRAY_SIZE(groups); i++) {
        if (tls_nss_policy_allows_group(groups[i].group) && append_name(names, groups[i].name) < 0)
            Py_CLEAR(names);
    }
    return names;
}

static PyObject *
allowed_schemes(void)
{
    PyObject *names = PyList_New(0);

    for (size_t i = 0; names != NULL && i < PR_ARRAY_SIZE(policy_schemes); i++) {
        if (allowed_for_ssl(policy_schemes[i].hash, NSS_USE_ALG_IN_SSL_KX) &&
            allowed_for_ssl(policy_schemes[i].key, NSS_USE_ALG_IN_SSL_KX) &&
            append_name(names, policy_schemes[i].name) < 0)
            Py_CLEAR(names);
    }
    return names;
}

PyObject *
tls_nss_policy_report(void)
{
    SSLVersionRange range;
    char low[8], high[8];

    if (tls_nss_policy_version_range(&range) < 0)
        range.min = range.max = 0;
    return Py_BuildValue("{s:(ii),s:(ss),s:N,s:N,s:N,s:N}", "versions", range.min, range.max,
                         "version_names", tls_nss_describe_version(range.min, low, sizeof(low)),
                         tls_nss_describe_version(range.max, high, sizeof(high)),
                         "cipher_suites", allowed_suites(), "groups", allowed_groups(),
                         "signature_schemes", allowed_schemes(),
                         "minimum_key_sizes", tls_nss_policy_key_sizes());
}
