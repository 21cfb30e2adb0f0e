/* Certificates and private keys given as DER.
 *
 * PEM framing is undone in Python (tls_nss._pem); what reaches C is DER and,
 * for keys, the PEM label that says which structure it is. */
#include "config.h"
#include "tls_nss.h"

#include <stddef.h>
#include <secasn1.h>
#include <secoid.h>
#include <cryptohi.h>

static CERTCertificate *
certificate_from_der(tls_nss_state *st, const Py_buffer *der, const char *what)
{
    SECItem item = {siDERCertBuffer, der->buf, (unsigned int)der->len};
    CERTCertificate *cert;

    if (der->len <= 0 || der->len > INT_MAX) {
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, 0,
                      "decoding %s: it is empty or too large", what);
        return NULL;
    }
    /* A temporary certificate carries no trust: trust comes only from a
     * context's anchors, never from the certificate database. */
    cert = CERT_NewTempCertificate(CERT_GetDefaultCertDB(), &item, NULL,
                                   PR_FALSE, PR_TRUE);
    if (cert == NULL)
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, PR_GetError(),
                      "decoding %s as an X.509 certificate", what);
    return cert;
}

CERTCertificate *
tls_nss_certificate_from_object(tls_nss_state *st, PyObject *der_object, const char *what)
{
    Py_buffer der;

    if (PyObject_GetBuffer(der_object, &der, PyBUF_SIMPLE) < 0)
        return NULL;
    CERTCertificate *cert = certificate_from_der(st, &der, what);
    PyBuffer_Release(&der);
    return cert;
}

/* SEC1 ECPrivateKey (RFC 5915); only the curve is needed to wrap it. */
typedef struct {
    SECItem version;
    SECItem private_value;
    SECItem curve;
    SECItem public_value;
} sec1_ec_private_key;

static const SEC_ASN1Template sec1_ec_private_key_template[] = {
    {SEC_ASN1_SEQUENCE, 0, NULL, sizeof(sec1_ec_private_key)},
    {SEC_ASN1_INTEGER, offsetof(sec1_ec_private_key, version)},
    {SEC_ASN1_OCTET_STRING, offsetof(sec1_ec_private_key, private_value)},
    {SEC_ASN1_OPTIONAL | SEC_ASN1_CONSTRUCTED | SEC_ASN1_EXPLICIT |
         SEC_ASN1_CONTEXT_SPECIFIC | 0,
     offsetof(sec1_ec_private_key, curve), SEC_ObjectIDTemplate},
    {SEC_ASN1_OPTIONAL | SEC_ASN1_CONSTRUCTED | SEC_ASN1_EXPLICIT |
         SEC_ASN1_CONTEXT_SPECIFIC | 1,
     offsetof(sec1_ec_private_key, public_value), SEC_BitStringTemplate},
    {0},
};

/* PKCS#1 RSAPrivateKey: decoded only to be sure of what we wrap. */
typedef struct {
    SECItem fields[9];
} pkcs1_rsa_private_key;

#define RSA_FIELD(i) \
    {SEC_ASN1_INTEGER, offsetof(pkcs1_rsa_private_key, fields) + (i) * sizeof(SECItem)}
static const SEC_ASN1Template pkcs1_rsa_private_key_template[] = {
    {SEC_ASN1_SEQUENCE, 0, NULL, sizeof(pkcs1_rsa_private_key)},
    RSA_FIELD(0), RSA_FIELD(1), RSA_FIELD(2), RSA_FIELD(3), RSA_FIELD(4),
    RSA_FIELD(5), RSA_FIELD(6), RSA_FIELD(7), RSA_FIELD(8),
    {0},
};
#undef RSA_FIELD

typedef struct {
    SECAlgorithmID algorithm;
    SECItem encrypted;
} encrypted_private_key_info;

static const SEC_ASN1Template encrypted_private_key_info_template[] = {
    {SEC_ASN1_SEQUENCE, 0, NULL, sizeof(encrypted_private_key_info)},
    {SEC_ASN1_INLINE, offsetof(encrypted_private_key_info, algorithm),
     SECOID_AlgorithmIDTemplate},
    {SEC_ASN1_OCTET_STRING, offsetof(encrypted_private_key_info, encrypted)},
    {0},
};

typedef enum { KEY_PKCS8, KEY_PKCS1_RSA, KEY_SEC1_EC, KEY_ENCRYPTED, KEY_UNKNOWN } key_format;

static key_format
guess_key_format(PLArenaPool *arena, const SECItem *der)
{
    SECKEYPrivateKeyInfo pki;
    encrypted_private_key_info epki;
    pkcs1_rsa_private_key rsa;
    sec1_ec_private_key ec;

    memset(&pki, 0, sizeof(pki));
    if (SEC_QuickDERDecodeItem(arena, &pki, SECKEY_PrivateKeyInfoTemplate, der) == SECSuccess)
        return KEY_PKCS8;
    memset(&rsa, 0, sizeof(rsa));
    if (SEC_QuickDERDecodeItem(arena, &rsa, pkcs1_rsa_private_key_template, der) == SECSuccess)
        return KEY_PKCS1_RSA;
    memset(&ec, 0, sizeof(ec));
    if (SEC_QuickDERDecodeItem(arena, &ec, sec1_ec_private_key_template, der) == SECSuccess)
        return KEY_SEC1_EC;
    memset(&epki, 0, sizeof(epki));
    if (SEC_QuickDERDecodeItem(arena, &epki, encrypted_private_key_info_template, der) == SECSuccess)
        return KEY_ENCRYPTED;
    return KEY_UNKNOWN;
}

static key_format
format_from_label(const char *label)
{
    if (strcmp(label, "PRIVATE KEY") == 0)
        return KEY_PKCS8;
    if (strcmp(label, "RSA PRIVATE KEY") == 0)
        return KEY_PKCS1_RSA;
    if (strcmp(label, "EC PRIVATE KEY") == 0)
        return KEY_SEC1_EC;
    if (strcmp(label, "ENCRYPTED PRIVATE KEY") == 0)
        return KEY_ENCRYPTED;
    return KEY_UNKNOWN;
}

/* Wraps a PKCS#1 or SEC1 key into PrivateKeyInfo, the one form NSS imports.
 * Returns 0, or -1 with an exception set. */
static int
wrap_as_pkcs8(tls_nss_state *st, PLArenaPool *arena, key_format format,
              const SECItem *der, SECKEYPrivateKeyInfo *pki, const char *what)
{
    static const unsigned char version_zero = 0;
    SECItem *params = NULL;
    SECOidTag algorithm;

    if (format == KEY_SEC1_EC) {
        sec1_ec_private_key ec;
        memset(&ec, 0, sizeof(ec));
        if (SEC_QuickDERDecodeItem(arena, &ec, sec1_ec_private_key_template, der) != SECSuccess) {
            tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, PR_GetError(),
                          "decoding %s as a SEC1 EC private key", what);
            return -1;
        }
        if (ec.curve.len == 0) {
            tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, 0,
                          "reading %s: the EC private key does not name its curve", what);
            return -1;
        }
        params = SEC_ASN1EncodeItem(arena, NULL, &ec.curve, SEC_ObjectIDTemplate);
        if (params == NULL) {
            tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, PR_GetError(),
                          "encoding the curve of %s", what);
            return -1;
        }
        algorithm = SEC_OID_ANSIX962_EC_PUBLIC_KEY;
    }
    else {
        pkcs1_rsa_private_key rsa;
        memset(&rsa, 0, sizeof(rsa));
        if (SEC_QuickDERDecodeItem(arena, &rsa, pkcs1_rsa_private_key_template, der) != SECSuccess) {
            tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, PR_GetError(),
                          "decoding %s as a PKCS#1 RSA private key", what);
            return -1;
        }
        algorithm = SEC_OID_PKCS1_RSA_ENCRYPTION;
    }

    memset(pki, 0, sizeof(*pki));
    pki->arena = arena;
    pki->version.data = (unsigned char *)&version_zero;
    pki->version.len = 1;
    if (SECOID_SetAlgorithmID(arena, &pki->algorithm, algorithm, params) != SECSuccess) {
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, PR_GetError(),
                      "wrapping %s as PKCS#8", what);
        return -1;
    }
    pki->privateKey = *der;
    return 0;
}

/* Refuses the formats NSS cannot import from a file, saying why. */
static int
check_importable(tls_nss_state *st, key_format format, const char *pem_label,
                 PRBool have_password, const char *what)
{
    switch (format) {
    case KEY_ENCRYPTED:
        if (have_password)
            return 0;
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, 0,
                      "loading %s: the private key is encrypted, and no password was "
                      "given; give one (load_cert_chain's password), decrypt the key, or "
                      "keep it in a PKCS#11 token and use PrivateKey.from_id", what);
        return -1;
    case KEY_UNKNOWN:
        if (pem_label)
            tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, 0,
                          "loading %s: unsupported PEM block \"%s\"; expected PRIVATE KEY, "
                          "RSA PRIVATE KEY or EC PRIVATE KEY", what, pem_label);
        else
            tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, SEC_ERROR_BAD_DER,
                          "loading %s: not a PKCS#8, PKCS#1 RSA or SEC1 EC private key", what);
        return -1;
    default:
        return 0;
    }
}

/* What unwrapping a PKCS#8 key needs to know of it: its PKCS#11 type, and
 * its public value (an RSA modulus, an EC point), from which NSS makes the
 * key's CKA_ID and which its token keeps beside an EC key. Returns 0, or
 * -1 with a ConfigurationError set. */
static int
describe_pkcs8(tls_nss_state *st, PLArenaPool *arena, const SECItem *der,
               CK_KEY_TYPE *key_type, SECItem *public_value, const char *what)
{
    SECKEYPrivateKeyInfo pki;

    memset(&pki, 0, sizeof(pki));
    if (SEC_QuickDERDecodeItem(arena, &pki, SECKEY_PrivateKeyInfoTemplate, der) != SECSuccess) {
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, PR_GetError(),
                      "decoding %s as a PKCS#8 private key", what);
        return -1;
    }
    switch (SECOID_GetAlgorithmTag(&pki.algorithm)) {
    case SEC_OID_PKCS1_RSA_ENCRYPTION:
    case SEC_OID_PKCS1_RSA_PSS_SIGNATURE: {
        pkcs1_rsa_private_key rsa;
        memset(&rsa, 0, sizeof(rsa));
        if (SEC_QuickDERDecodeItem(arena, &rsa, pkcs1_rsa_private_key_template,
                                   &pki.privateKey) != SECSuccess) {
            tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, PR_GetError(),
                          "decoding the RSA private key in %s", what);
            return -1;
        }
        *key_type = CKK_RSA;
        *public_value = rsa.fields[1];
        /* The modulus as an unsigned number, as NSS takes it. */
        while (public_value->len > 1 && public_value->data[0] == 0) {
            public_value->data++;
            public_value->len--;
        }
        return 0;
    }
    case SEC_OID_ANSIX962_EC_PUBLIC_KEY: {
        sec1_ec_private_key ec;
        memset(&ec, 0, sizeof(ec));
        if (SEC_QuickDERDecodeItem(arena, &ec, sec1_ec_private_key_template,
                                   &pki.privateKey) != SECSuccess) {
            tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, PR_GetError(),
                          "decoding the EC private key in %s", what);
            return -1;
        }
        if (ec.public_value.len == 0) {
            tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, 0,
                          "loading %s: the EC private key does not carry its public key; "
                          "write it again with one (openssl ec -in KEY -out KEY)", what);
            return -1;
        }
        *key_type = CKK_EC;
        *public_value = ec.public_value;
        public_value->len = (public_value->len + 7) / 8; /* a BIT STRING counts bits */
        return 0;
    }
    default: {
        SECOidData *oid = SECOID_FindOID(&pki.algorithm.algorithm);
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, 0,
                      "loading %s: %s keys are not supported; use RSA or ECDSA", what,
                      oid && oid->desc ? oid->desc : "these");
        return -1;
    }
    }
}

/* What the key may do once in the token: what KU_ALL gave a direct import. */
static CK_ATTRIBUTE_TYPE rsa_key_usage[] = {CKA_SIGN, CKA_DECRYPT, CKA_UNWRAP, CKA_SIGN_RECOVER};
static CK_ATTRIBUTE_TYPE ec_key_usage[] = {CKA_SIGN, CKA_DERIVE};

/* Brings a PKCS#8 key into NSS's internal token the one way its FIPS mode
 * accepts, and so the way both modes take: a token refuses private keys
 * created from raw values, so the key is encrypted under a fresh AES key
 * generated inside the token and unwrapped there, as NSS's own PKCS#12
 * import does. The key becomes a sensitive session object: nothing reaches
 * the disk, it cannot be read back, and it is gone with the last context
 * that uses it. The wrapping key lives only for this call. */
static SECKEYPrivateKey *
unwrap_into_token(tls_nss_state *st, const SECItem *pkcs8, CK_KEY_TYPE key_type,
                  SECItem *public_value, const char *what)
{
    const CK_MECHANISM_TYPE mechanism = CKM_AES_CBC_PAD;
    unsigned char iv_bytes[16];
    SECItem iv = {siBuffer, iv_bytes, sizeof(iv_bytes)};
    SECItem *params = NULL;
    PK11SymKey *wrapping_key = NULL;
    SECItem wrapped = {siBuffer, NULL, 0};
    SECKEYPrivateKey *key = NULL;
    PK11SlotInfo *slot;
    const char *doing = "opening NSS's internal token";
    PRErrorCode error = 0;

    /* Padding adds at most one block. */
    if (pkcs8->len > UINT_MAX - sizeof(iv_bytes)) {
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, 0, "loading %s: it is too large", what);
        return NULL;
    }
    wrapped.data = PORT_Alloc(pkcs8->len + sizeof(iv_bytes));
    if (wrapped.data == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    if ((slot = PK11_GetInternalSlot()) == NULL)
        goto failed;
    doing = "generating the key that carries it into the token";
    if (PK11_GenerateRandom(iv_bytes, sizeof(iv_bytes)) != SECSuccess)
        goto failed;
    if ((params = PK11_ParamFromIV(mechanism, &iv)) == NULL)
        goto failed;
    if ((wrapping_key = PK11_KeyGen(slot, CKM_AES_KEY_GEN, NULL, 32, NULL)) == NULL)
        goto failed;
    doing = "wrapping it for the token";
    if (PK11_Encrypt(wrapping_key, mechanism, params, wrapped.data, &wrapped.len,
                     pkcs8->len + sizeof(iv_bytes), pkcs8->data, pkcs8->len) != SECSuccess)
        goto failed;
    doing = "unwrapping it inside the token";
    key = PK11_UnwrapPrivKey(slot, wrapping_key, mechanism, params, &wrapped, NULL, public_value,
                             PR_FALSE, PR_TRUE, key_type,
                             key_type == CKK_RSA ? rsa_key_usage : ec_key_usage,
                             key_type == CKK_RSA ? PR_ARRAY_SIZE(rsa_key_usage)
                                                 : PR_ARRAY_SIZE(ec_key_usage),
                             NULL);
failed:
    if (key == NULL)
        error = PR_GetError();
    if (wrapping_key)
        PK11_FreeSymKey(wrapping_key);
    if (params)
        SECITEM_FreeItem(params, PR_TRUE);
    if (slot)
        PK11_FreeSlot(slot);
    PORT_Free(wrapped.data);
    if (key == NULL)
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, error, "loading %s: %s", what, doing);
    return key;
}

/* An encrypted PKCS#8 key (PBES2, or PKCS#12's PBE), decrypted with
 * `password` into `arena`, where it is wiped when the arena is freed. The
 * key derived from the password is made inside NSS's token, which in FIPS
 * mode allows PBKDF2 and the AES schemes only. NULL with an exception set;
 * a wrong password usually shows as bad padding. */
static SECItem *
decrypt_pkcs8(tls_nss_state *st, PLArenaPool *arena, const SECItem *der, SECItem *password,
              const char *what)
{
    encrypted_private_key_info epki;
    PK11SlotInfo *slot = NULL;
    PK11SymKey *key = NULL;
    SECItem *params = NULL, *plain = NULL;
    const char *doing = "decoding it as encrypted PKCS#8";
    PRErrorCode error = 0;
    unsigned int length = 0;

    memset(&epki, 0, sizeof(epki));
    if (SEC_QuickDERDecodeItem(arena, &epki, encrypted_private_key_info_template, der) !=
        SECSuccess)
        goto failed;
    doing = "deriving the key from its password";
    if ((slot = PK11_GetInternalSlot()) == NULL ||
        (key = PK11_PBEKeyGen(slot, &epki.algorithm, password, PR_FALSE, NULL)) == NULL)
        goto failed;
    /* PBES2 names a bare CBC cipher; PKCS#8's padding is PKCS#7's. */
    CK_MECHANISM_TYPE mechanism =
        PK11_GetPadMechanism(PK11_GetPBECryptoMechanism(&epki.algorithm, &params, password));
    doing = "decrypting it (is the password right?)";
    if (mechanism == CKM_INVALID_MECHANISM ||
        (plain = SECITEM_AllocItem(arena, NULL, epki.encrypted.len)) == NULL ||
        PK11_Decrypt(key, mechanism, params, plain->data, &length, plain->len,
                     epki.encrypted.data, epki.encrypted.len) != SECSuccess)
        goto failed;
    plain->len = length;
    goto done;
failed:
    error = PR_GetError();
    plain = NULL;
    tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, error, "loading %s: %s", what, doing);
done:
    if (params)
        SECITEM_FreeItem(params, PR_TRUE);
    if (key)
        PK11_FreeSymKey(key);
    if (slot)
        PK11_FreeSlot(slot);
    return plain;
}

/* Imports a PKCS#8, PKCS#1 or SEC1 key, PKCS#1 and SEC1 first wrapped as
 * PKCS#8, the one form a token unwraps. */
static SECKEYPrivateKey *
import_key(tls_nss_state *st, PLArenaPool *arena, key_format format, SECItem *der,
           SECItem *password, const char *what)
{
    SECKEYPrivateKeyInfo pki;
    SECItem *pkcs8 = der;

    if (format == KEY_ENCRYPTED) {
        if ((pkcs8 = decrypt_pkcs8(st, arena, der, password, what)) == NULL)
            return NULL;
    }
    else if (format != KEY_PKCS8) {
        if (wrap_as_pkcs8(st, arena, format, der, &pki, what) < 0)
            return NULL;
        pkcs8 = SEC_ASN1EncodeItem(arena, NULL, &pki, SECKEY_PrivateKeyInfoTemplate);
        if (pkcs8 == NULL) {
            tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, PR_GetError(), "wrapping %s as PKCS#8",
                          what);
            return NULL;
        }
    }
    CK_KEY_TYPE key_type;
    SECItem public_value;
    if (describe_pkcs8(st, arena, pkcs8, &key_type, &public_value, what) < 0)
        return NULL;
    /* The arena, where the encoded copy is, is wiped when it is freed. */
    return unwrap_into_token(st, pkcs8, key_type, &public_value, what);
}

SECKEYPrivateKey *
tls_nss_private_key_from_object(tls_nss_state *st, PyObject *der_object,
                                const char *pem_label, PyObject *password_object,
                                const char *what)
{
    Py_buffer der, password = {0};
    SECItem password_item = {siBuffer, NULL, 0};
    SECKEYPrivateKey *key = NULL;
    PLArenaPool *arena = NULL;

    if (PyObject_GetBuffer(der_object, &der, PyBUF_SIMPLE) < 0)
        return NULL;
    if (password_object != Py_None) {
        if (PyObject_GetBuffer(password_object, &password, PyBUF_SIMPLE) < 0) {
            PyBuffer_Release(&der);
            return NULL;
        }
        password_item.data = password.buf;
        password_item.len = (unsigned int)password.len;
    }
    SECItem item = {siBuffer, der.buf, (unsigned int)der.len};
    if (der.len <= 0 || der.len > INT_MAX || password.len > INT_MAX) {
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, 0, "decoding %s: it is empty or too large",
                      what);
        goto done;
    }
    arena = PORT_NewArena(DER_DEFAULT_CHUNKSIZE);
    if (arena == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    key_format format = pem_label ? format_from_label(pem_label) : guess_key_format(arena, &item);
    if (check_importable(st, format, pem_label, password_object != Py_None, what) == 0)
        key = import_key(st, arena, format, &item, &password_item, what);
done:
    if (arena)
        PORT_FreeArena(arena, PR_TRUE);
    PyBuffer_Release(&der);
    if (password_object != Py_None)
        PyBuffer_Release(&password);
    return key;
}

static const char *
key_type_name(KeyType type)
{
    switch (type) {
    case rsaKey: return "RSA";
    case ecKey: return "EC";
    case rsaPssKey: return "RSA-PSS";
    case dsaKey: return "DSA";
    default: return "unsupported";
    }
}

/* The signature algorithm that proves a pair, or SEC_OID_UNKNOWN with a
 * ConfigurationError set for key types this package does not serve. */
static SECOidTag
probe_algorithm(tls_nss_state *st, const SECKEYPublicKey *public_key, KeyType private_type,
                const char *what)
{
    if (public_key->keyType != private_type) {
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, 0,
                      "%s: the private key is %s but the certificate's key is %s",
                      what, key_type_name(private_type), key_type_name(public_key->keyType));
        return SEC_OID_UNKNOWN;
    }
    switch (private_type) {
    case rsaKey: return SEC_OID_PKCS1_SHA256_WITH_RSA_ENCRYPTION;
    case ecKey: return SEC_OID_ANSIX962_ECDSA_SHA256_SIGNATURE;
    default:
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, 0, "%s: %s keys are not supported; use RSA or ECDSA",
                      what, key_type_name(private_type));
        return SEC_OID_UNKNOWN;
    }
}

int
tls_nss_check_key_matches(tls_nss_state *st, CERTCertificate *cert,
                          SECKEYPrivateKey *key, const char *what)
{
    static const unsigned char probe[] = "tls_nss key pairing probe";
    SECKEYPublicKey *public_key = CERT_ExtractPublicKey(cert);
    SECItem signature = {siBuffer, NULL, 0};
    SECOidTag algorithm;
    SECStatus rv;
    PRErrorCode error = 0;

    if (public_key == NULL) {
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, PR_GetError(),
                      "reading the public key of %s", what);
        return -1;
    }
    algorithm = probe_algorithm(st, public_key, SECKEY_GetPrivateKeyType(key), what);
    if (algorithm == SEC_OID_UNKNOWN) {
        SECKEY_DestroyPublicKey(public_key);
        return -1;
    }
    /* Signing with the key and verifying with the certificate proves the
     * pair without reading the key, which may live in a token that will not
     * give it out. It runs once per context, never per connection. */
    Py_BEGIN_ALLOW_THREADS
    rv = SEC_SignData(&signature, probe, sizeof(probe), key, algorithm);
    if (rv == SECSuccess)
        rv = VFY_VerifyData(probe, sizeof(probe), public_key, &signature, algorithm, NULL);
    if (rv != SECSuccess)
        error = PR_GetError();
    Py_END_ALLOW_THREADS
    SECITEM_FreeItem(&signature, PR_FALSE);
    SECKEY_DestroyPublicKey(public_key);
    if (rv == SECSuccess)
        return 0;
    if (error == SEC_ERROR_BAD_SIGNATURE)
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, error,
                      "%s: the private key does not match the certificate", what);
    else
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, error,
                      "%s: checking that the private key matches the certificate", what);
    return -1;
}
