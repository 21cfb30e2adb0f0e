/* What a certificate says, for people: subject, issuer, validity, key,
 * names. It serves the command line's `connect` and applications that
 * show a peer's chain; nothing here decides trust. */
#include "config.h"
#include "tls_nss.h"

#include <arpa/inet.h>
#include <cryptohi.h>
#include <keyhi.h>
#include <secoid.h>

/* The short name of an EC public key's curve, or NULL. */
static const char *
curve_name(const SECKEYPublicKey *key)
{
    const SECItem *params = &key->u.ec.DEREncodedParams;

    /* The parameters are a named curve: an OBJECT IDENTIFIER, tag 0x06. */
    if (params->len < 2 || params->data[0] != 0x06 || params->data[1] != params->len - 2)
        return NULL;
    SECItem oid = {siBuffer, params->data + 2, params->len - 2};
    switch (SECOID_FindOIDTag(&oid)) {
    case SEC_OID_ANSIX962_EC_PRIME256V1:
        return "P-256";
    case SEC_OID_SECG_EC_SECP384R1:
        return "P-384";
    case SEC_OID_SECG_EC_SECP521R1:
        return "P-521";
    default:
        return NULL;
    }
}

/* {"type": "RSA"|"EC"|..., "bits": n, "curve": name or None} */
static PyObject *
describe_key(CERTCertificate *cert)
{
    SECKEYPublicKey *key = CERT_ExtractPublicKey(cert);
    const char *type = "unknown";
    const char *curve = NULL;
    unsigned bits = 0;

    if (key != NULL) {
        bits = SECKEY_PublicKeyStrengthInBits(key);
        switch (SECKEY_GetPublicKeyType(key)) {
        case rsaKey:
            type = "RSA";
            break;
        case rsaPssKey:
            type = "RSA-PSS";
            break;
        case dsaKey:
            type = "DSA";
            break;
        case ecKey:
            type = "EC";
            curve = curve_name(key);
            break;
        default:
            break;
        }
        SECKEY_DestroyPublicKey(key);
    }
    return Py_BuildValue("{s:s,s:I,s:z}", "type", type, "bits", bits, "curve", curve);
}

/* Appends the DNS names and IP addresses of the subjectAltName extension. */
static int
add_alt_names(CERTCertificate *cert, PyObject *dns_names, PyObject *ip_addresses)
{
    SECItem extension = {siBuffer, NULL, 0};
    PLArenaPool *arena;
    int status = 0;

    if (CERT_FindCertExtension(cert, SEC_OID_X509_SUBJECT_ALT_NAME, &extension) != SECSuccess)
        return 0; /* no subjectAltName */
    arena = PORT_NewArena(DER_DEFAULT_CHUNKSIZE);
    CERTGeneralName *first = arena ? CERT_DecodeAltNameExtension(arena, &extension) : NULL;
    CERTGeneralName *name = first;
    while (name != NULL && status == 0) {
        PyObject *text = NULL;
        PyObject *into = NULL;
        char address[INET6_ADDRSTRLEN];
        const SECItem *value = &name->name.other;

        if (name->type == certDNSName) {
            text = PyUnicode_DecodeASCII((const char *)value->data, value->len, "replace");
            into = dns_names;
        }
        else if (name->type == certIPAddress && (value->len == 4 || value->len == 16)) {
            inet_ntop(value->len == 4 ? AF_INET : AF_INET6, value->data, address,
                      sizeof(address));
            text = PyUnicode_FromString(address);
            into = ip_addresses;
        }
        if (into != NULL && (text == NULL || PyList_Append(into, text) < 0))
            status = -1;
        Py_XDECREF(text);
        name = CERT_GetNextGeneralName(name);
        if (name == first)
            break;
    }
    if (arena != NULL)
        PORT_FreeArena(arena, PR_FALSE);
    SECITEM_FreeItem(&extension, PR_FALSE);
    return status;
}

/* A Python str from NSS's text of a name, which NSS allocated. */
static PyObject *
name_text(const CERTName *name)
{
    char *ascii = CERT_NameToAscii((CERTName *)name);
    if (ascii == NULL)
        return PyUnicode_FromString("");
    PyObject *text = PyUnicode_DecodeUTF8(ascii, (Py_ssize_t)strlen(ascii), "replace");
    PORT_Free(ascii);
    return text;
}

static PyObject *
describe(CERTCertificate *cert)
{
    PRTime not_before = 0, not_after = 0;
    PyObject *subject = name_text(&cert->subject);
    PyObject *issuer = name_text(&cert->issuer);
    PyObject *key = describe_key(cert);
    PyObject *dns_names = PyList_New(0);
    PyObject *ip_addresses = PyList_New(0);
    PyObject *result = NULL;

    if (subject != NULL && issuer != NULL && key != NULL && dns_names != NULL &&
        ip_addresses != NULL && add_alt_names(cert, dns_names, ip_addresses) == 0) {
        CERT_GetCertTimes(cert, &not_before, &not_after);
        const char *signature =
            SECOID_FindOIDTagDescription(SECOID_GetAlgorithmTag(&cert->signature));
        result = Py_BuildValue(
            "{s:O,s:O,s:y#,s:d,s:d,s:O,s:z,s:O,s:O,s:O}", "subject", subject, "issuer", issuer,
            "serial_number", cert->serialNumber.data, (Py_ssize_t)cert->serialNumber.len,
            "not_before", (double)not_before / PR_USEC_PER_SEC, "not_after",
            (double)not_after / PR_USEC_PER_SEC, "key", key, "signature_algorithm", signature,
            "dns_names", dns_names, "ip_addresses", ip_addresses, "is_ca",
            CERT_IsCACert(cert, NULL) ? Py_True : Py_False);
    }
    Py_XDECREF(subject);
    Py_XDECREF(issuer);
    Py_XDECREF(key);
    Py_XDECREF(dns_names);
    Py_XDECREF(ip_addresses);
    return result;
}

PyObject *
tls_nss_describe_certificate(PyObject *module, PyObject *der)
{
    tls_nss_state *st = PyModule_GetState(module);

    if (!PyBytes_Check(der))
        return PyErr_Format(PyExc_TypeError,
                            "describe_certificate() takes DER bytes, not %.100s",
                            Py_TYPE(der)->tp_name);
    if (tls_nss_ensure_nss(st) < 0)
        return NULL;
    CERTCertificate *cert = tls_nss_certificate_from_object(st, der, "the certificate");
    if (cert == NULL)
        return NULL;
    PyObject *result = describe(cert);
    CERT_DestroyCertificate(cert);
    return result;
}

/* The certificates of `chain` as a list of DER bytes, in its order. */
static PyObject *
der_list(CERTCertList *chain)
{
    PyObject *result = PyList_New(0);

    for (CERTCertListNode *node = CERT_LIST_HEAD(chain);
         result != NULL && !CERT_LIST_END(node, chain); node = CERT_LIST_NEXT(node)) {
        PyObject *der = PyBytes_FromStringAndSize((const char *)node->cert->derCert.data,
                                                  node->cert->derCert.len);
        if (der == NULL || PyList_Append(result, der) < 0)
            Py_CLEAR(result);
        Py_XDECREF(der);
    }
    return result;
}

PyObject *
tls_nss_conn_unverified_chain(tls_nss_conn *conn, PyObject *unused)
{
    int settled = tls_nss_conn_settled(conn, "get_unverified_chain");
    if (settled <= 0)
        return settled < 0 ? NULL : Py_NewRef(Py_None);
    CERTCertList *chain = SSL_PeerCertificateChain(conn->fd);
    if (chain == NULL)
        Py_RETURN_NONE;
    PyObject *result = der_list(chain);
    CERT_DestroyCertList(chain);
    return result;
}

PyObject *
tls_nss_conn_verified_chain(tls_nss_conn *conn, PyObject *unused)
{
    /* The hook wrote the chain while the handshake ran; it is read only
     * once the handshake is over. */
    if (!conn->handshake_done || conn->check.verified_chain == NULL)
        Py_RETURN_NONE;
    return der_list(conn->check.verified_chain);
}
