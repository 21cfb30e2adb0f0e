/* What the crypto policy allows, reported: versions, suites, key
 * exchange groups, signature schemes and key sizes, for tls_nss.policy and
 * `python3 -m tls_nss policy`, as far as NSS's token (in FIPS mode too) can
 * give them; the groups every model is configured with; and the names of
 * groups and suites. */
#include "config.h"
#include "tls_nss.h"

#include <secoid.h>

#ifdef CKM_ML_KEM_KEY_PAIR_GEN
#define ML_KEM_MECHANISM CKM_ML_KEM_KEY_PAIR_GEN
#else
#define ML_KEM_MECHANISM CKM_ECDH1_DERIVE /* no hybrid group without it */
#endif

/* Key exchange groups in NSS's order of preference, with their IANA names,
 * the OIDs the policy governs them by, and the mechanism NSS's token must
 * have for them (its FIPS mode may lack some). The hybrid post-quantum
 * groups exist from the NSS releases that have them. */
static const struct {
    const char *name;
    SSLNamedGroup group;
    SECOidTag oid;
    CK_MECHANISM_TYPE mechanism;
} groups[] = {
#if HAVE_DECL_SSL_GRP_KEM_MLKEM768X25519 && HAVE_DECL_SEC_OID_MLKEM768X25519
    {"X25519MLKEM768", ssl_grp_kem_mlkem768x25519, SEC_OID_MLKEM768X25519, ML_KEM_MECHANISM},
#endif
    {"x25519", ssl_grp_ec_curve25519, SEC_OID_CURVE25519, CKM_ECDH1_DERIVE},
    {"secp256r1", ssl_grp_ec_secp256r1, SEC_OID_ANSIX962_EC_PRIME256V1, CKM_ECDH1_DERIVE},
    {"secp384r1", ssl_grp_ec_secp384r1, SEC_OID_SECG_EC_SECP384R1, CKM_ECDH1_DERIVE},
    {"secp521r1", ssl_grp_ec_secp521r1, SEC_OID_SECG_EC_SECP521R1, CKM_ECDH1_DERIVE},
#if HAVE_DECL_SSL_GRP_KEM_SECP256R1MLKEM768 && HAVE_DECL_SEC_OID_SECP256R1MLKEM768
    {"SecP256r1MLKEM768", ssl_grp_kem_secp256r1mlkem768, SEC_OID_SECP256R1MLKEM768, ML_KEM_MECHANISM},
#endif
#if HAVE_DECL_SSL_GRP_KEM_SECP384R1MLKEM1024 && HAVE_DECL_SEC_OID_SECP384R1MLKEM1024
    {"SecP384r1MLKEM1024", ssl_grp_kem_secp384r1mlkem1024, SEC_OID_SECP384R1MLKEM1024, ML_KEM_MECHANISM},
#endif
    {"ffdhe2048", ssl_grp_ffdhe_2048, SEC_OID_TLS_FFDHE_2048, CKM_DH_PKCS_DERIVE},
    {"ffdhe3072", ssl_grp_ffdhe_3072, SEC_OID_TLS_FFDHE_3072, CKM_DH_PKCS_DERIVE},
    {"ffdhe4096", ssl_grp_ffdhe_4096, SEC_OID_TLS_FFDHE_4096, CKM_DH_PKCS_DERIVE},
    {"ffdhe6144", ssl_grp_ffdhe_6144, SEC_OID_TLS_FFDHE_6144, CKM_DH_PKCS_DERIVE},
    {"ffdhe8192", ssl_grp_ffdhe_8192, SEC_OID_TLS_FFDHE_8192, CKM_DH_PKCS_DERIVE},
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

/* What the policy allows is not all a handshake can use: NSS's token must
 * also have the mechanism, and in FIPS mode it may not. */
static PRBool
group_usable(size_t i)
{
    return allowed_for_ssl(groups[i].oid, NSS_USE_ALG_IN_SSL_KX) &&
           PK11_TokenExists(groups[i].mechanism);
}

PRBool
tls_nss_group_usable(SSLNamedGroup group)
{
    for (size_t i = 0; i < PR_ARRAY_SIZE(groups); i++)
        if (groups[i].group == group)
            return group_usable(i);
    return PR_FALSE;
}

unsigned int
tls_nss_usable_groups(SSLNamedGroup *out, unsigned int room)
{
    unsigned int count = 0;
    for (size_t i = 0; i < PR_ARRAY_SIZE(groups) && count < room; i++)
        if (group_usable(i))
            out[count++] = groups[i].group;
    return count;
}

/* The mechanism a suite's record protection needs, as libssl asks the
 * token for it; CKM_INVALID_MECHANISM for none (NULL ciphers). */
static CK_MECHANISM_TYPE
bulk_mechanism(SSLCipherAlgorithm cipher)
{
    switch (cipher) {
    case ssl_calg_aes_gcm: return CKM_AES_GCM;
    case ssl_calg_aes: return CKM_AES_CBC;
    case ssl_calg_chacha20: return CKM_CHACHA20_POLY1305;
    case ssl_calg_3des: return CKM_DES3_CBC;
    case ssl_calg_des: return CKM_DES_CBC;
    case ssl_calg_rc4: return CKM_RC4;
    case ssl_calg_rc2: return CKM_RC2_CBC;
    case ssl_calg_camellia: return CKM_CAMELLIA_CBC;
    case ssl_calg_seed: return CKM_SEED_CBC;
    case ssl_calg_idea: return CKM_IDEA_CBC;
    default: return CKM_INVALID_MECHANISM;
    }
}

PRBool
tls_nss_suite_usable(PRUint16 suite)
{
    SSLCipherSuiteInfo info;

    if (!tls_nss_policy_allows_suite(suite) ||
        SSL_GetCipherSuiteInfo(suite, &info, sizeof(info)) != SECSuccess)
        return PR_FALSE;
    CK_MECHANISM_TYPE mechanism = bulk_mechanism(info.symCipher);
    return mechanism == CKM_INVALID_MECHANISM || PK11_TokenExists(mechanism);
}

const char *
tls_nss_suite_name(PRUint16 suite, SSLCipherSuiteInfo *info)
{
    if (SSL_GetCipherSuiteInfo(suite, info, sizeof(*info)) != SECSuccess ||
        info->length < offsetof(SSLCipherSuiteInfo, cipherSuiteName) +
                           sizeof(info->cipherSuiteName))
        return NULL;
    return info->cipherSuiteName;
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
        if (!tls_nss_suite_usable(suite))
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
        if (group_usable(i) && append_name(names, groups[i].name) < 0)
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
    return Py_BuildValue("{s:(ii),s:(ss),s:N,s:N,s:N,s:N,s:O}", "versions", range.min, range.max,
                         "version_names", tls_nss_describe_version(range.min, low, sizeof(low)),
                         tls_nss_describe_version(range.max, high, sizeof(high)),
                         "cipher_suites", allowed_suites(), "groups", allowed_groups(),
                         "signature_schemes", allowed_schemes(),
                         "minimum_key_sizes", tls_nss_policy_key_sizes(),
                         "fips_mode", PK11_IsFIPS() ? Py_True : Py_False);
}
