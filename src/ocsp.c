/* OCSP stapling: what a DER OCSP response says about a certificate.
 *
 * Servers check each response they are given to staple when the context
 * is made; clients read the response the server stapled during the
 * handshake. Nothing is fetched from the network, and nothing goes into
 * NSS's process-wide OCSP cache: a response counts for the connection it
 * came with. */
#include "config.h"
#include "tls_nss.h"

#include <cryptohi.h>
#include <ocsp.h>
#include <secasn1.h>
#include <secoid.h>
#include <stddef.h>

/* Just enough of RFC 6960's OCSPResponse and BasicOCSPResponse to check
 * the signature: NSS's own check trusts only its certificate database,
 * never a context's anchors. */
typedef struct {
    SECItem type;
    SECItem response;
} response_bytes;

typedef struct {
    SECItem status;
    response_bytes *bytes;
} outer_response;

typedef struct {
    SECItem tbs; /* tbsResponseData, as signed */
    SECAlgorithmID algorithm;
    SECItem signature;
    SECItem **certs; /* the responder's, if it sent any */
} basic_response;

SEC_ASN1_MKSUB(SECOID_AlgorithmIDTemplate)
SEC_ASN1_MKSUB(SEC_SequenceOfAnyTemplate)

static const SEC_ASN1Template response_bytes_template[] = {
    {SEC_ASN1_SEQUENCE, 0, NULL, sizeof(response_bytes)},
    {SEC_ASN1_OBJECT_ID, offsetof(response_bytes, type)},
    {SEC_ASN1_OCTET_STRING, offsetof(response_bytes, response)},
    {0},
};

static const SEC_ASN1Template outer_response_template[] = {
    {SEC_ASN1_SEQUENCE, 0, NULL, sizeof(outer_response)},
    {SEC_ASN1_ENUMERATED, offsetof(outer_response, status)},
    {SEC_ASN1_OPTIONAL | SEC_ASN1_EXPLICIT | SEC_ASN1_CONSTRUCTED | SEC_ASN1_CONTEXT_SPECIFIC |
         SEC_ASN1_POINTER | 0,
     offsetof(outer_response, bytes), response_bytes_template},
    {0},
};

static const SEC_ASN1Template basic_response_template[] = {
    {SEC_ASN1_SEQUENCE, 0, NULL, sizeof(basic_response)},
    {SEC_ASN1_ANY, offsetof(basic_response, tbs)},
    {SEC_ASN1_INLINE | SEC_ASN1_XTRN, offsetof(basic_response, algorithm),
     SEC_ASN1_SUB(SECOID_AlgorithmIDTemplate)},
    {SEC_ASN1_BIT_STRING, offsetof(basic_response, signature)},
    {SEC_ASN1_OPTIONAL | SEC_ASN1_EXPLICIT | SEC_ASN1_CONSTRUCTED | SEC_ASN1_CONTEXT_SPECIFIC |
         SEC_ASN1_XTRN | 0,
     offsetof(basic_response, certs), SEC_ASN1_SUB(SEC_SequenceOfAnyTemplate)},
    {0},
};

/* Decodes the BasicOCSPResponse inside `der` into `basic`, in `arena`. */
static SECStatus
decode_basic(PLArenaPool *arena, const SECItem *der, basic_response *basic)
{
    outer_response outer = {{0}};

    memset(basic, 0, sizeof(*basic));
    if (SEC_QuickDERDecodeItem(arena, &outer, outer_response_template, der) != SECSuccess ||
        outer.bytes == NULL ||
        SECOID_FindOIDTag(&outer.bytes->type) != SEC_OID_PKIX_OCSP_BASIC_RESPONSE)
        return SECFailure;
    return SEC_QuickDERDecodeItem(arena, basic, basic_response_template,
                                  &outer.bytes->response);
}

/* The issuer of `cert` among the certificates the response carries, as a
 * temporary certificate (a new reference), or NULL. A server uses it to
 * tell whether a response is about its certificate when the chain it
 * sends stops short of the issuer; clients never do. */
static CERTCertificate *
embedded_issuer(const SECItem *der, CERTCertificate *cert)
{
    PLArenaPool *arena = PORT_NewArena(DER_DEFAULT_CHUNKSIZE);
    basic_response basic;
    CERTCertificate *issuer = NULL;

    if (arena == NULL)
        return NULL;
    if (decode_basic(arena, der, &basic) == SECSuccess) {
        for (SECItem **item = basic.certs; item != NULL && *item != NULL && !issuer; item++) {
            CERTCertificate *candidate = CERT_NewTempCertificate(CERT_GetDefaultCertDB(), *item,
                                                                 NULL, PR_FALSE, PR_TRUE);
            if (candidate != NULL &&
                SECITEM_ItemsAreEqual(&candidate->derSubject, &cert->derIssuer))
                issuer = candidate;
            else if (candidate != NULL)
                CERT_DestroyCertificate(candidate);
        }
    }
    PORT_FreeArena(arena, PR_FALSE);
    return issuer;
}

/* Whether `issuer` signed the response in `der`: responses from the CA
 * itself, the common case; a delegated responder is not looked for. */
static PRBool
signed_by(const SECItem *der, CERTCertificate *issuer)
{
    PLArenaPool *arena = PORT_NewArena(DER_DEFAULT_CHUNKSIZE);
    basic_response basic;
    PRBool good = PR_FALSE;

    if (arena == NULL)
        return PR_FALSE;
    SECKEYPublicKey *key = CERT_ExtractPublicKey(issuer);
    if (key != NULL && decode_basic(arena, der, &basic) == SECSuccess) {
        SECItem signature = basic.signature;
        signature.len = (signature.len + 7) / 8; /* a BIT STRING's length is in bits */
        good = VFY_VerifyDataWithAlgorithmID(basic.tbs.data, (int)basic.tbs.len, key, &signature,
                                             &basic.algorithm, NULL, NULL) == SECSuccess;
    }
    if (key != NULL)
        SECKEY_DestroyPublicKey(key);
    PORT_FreeArena(arena, PR_FALSE);
    return good;
}

/* The issuer of `cert` among `candidates` (which may be NULL), else as NSS
 * finds it among the certificates it knows; a new reference, or NULL. */
static CERTCertificate *
find_issuer(CERTCertificate *cert, CERTCertList *candidates)
{
    if (candidates != NULL) {
        for (CERTCertListNode *node = CERT_LIST_HEAD(candidates);
             !CERT_LIST_END(node, candidates); node = CERT_LIST_NEXT(node)) {
            if (node->cert != cert && SECITEM_ItemsAreEqual(&node->cert->derSubject,
                                                            &cert->derIssuer))
                return CERT_DupCertificate(node->cert);
        }
    }
    return CERT_FindCertIssuer(cert, PR_Now(), certUsageAnyCA);
}

PRErrorCode
tls_nss_ocsp_status(CERTCertificate *cert, CERTCertList *chain, const SECItem *der,
                    tls_nss_ocsp_verdict *verdict)
{
    CERTCertDBHandle *db = CERT_GetDefaultCertDB();
    CERTCertificate *issuer = NULL;
    CERTOCSPCertID *id = NULL;
    PRErrorCode error = 0;
    PRTime now = PR_Now();

    *verdict = TLS_NSS_OCSP_NONE;
    CERTOCSPResponse *response = CERT_DecodeOCSPResponse(der);
    if (response == NULL || CERT_GetOCSPResponseStatus(response) != SECSuccess) {
        error = PR_GetError() ? PR_GetError() : SEC_ERROR_OCSP_MALFORMED_RESPONSE;
        goto done;
    }
    if ((issuer = find_issuer(cert, chain)) == NULL) {
        error = SEC_ERROR_UNKNOWN_ISSUER;
        goto done;
    }
    if ((id = CERT_CreateOCSPCertID(cert, now)) == NULL) {
        error = PR_GetError() ? PR_GetError() : SEC_ERROR_UNKNOWN_ISSUER;
        goto done;
    }
    if (!signed_by(der, issuer)) {
        error = SEC_ERROR_OCSP_BAD_SIGNATURE;
        goto done;
    }
    /* With the issuer as signer, NSS checks only that the response is
     * about `cert`, is fresh, and what it says. */
    if (CERT_GetOCSPStatusForCertID(db, response, id, issuer, now) == SECSuccess)
        *verdict = TLS_NSS_OCSP_GOOD;
    else if ((error = PR_GetError()) == SEC_ERROR_REVOKED_CERTIFICATE)
        *verdict = TLS_NSS_OCSP_REVOKED;
    else if (error == 0)
        error = SEC_ERROR_OCSP_UNKNOWN_CERT;
done:
    if (id != NULL)
        CERT_DestroyOCSPCertID(id);
    if (issuer != NULL)
        CERT_DestroyCertificate(issuer);
    if (response != NULL)
        CERT_DestroyOCSPResponse(response);
    return *verdict == TLS_NSS_OCSP_REVOKED ? 0 : error;
}

int
tls_nss_ocsp_for_chain(tls_nss_state *st, PyObject *response, tls_nss_chain *chain,
                       Py_ssize_t index)
{
    Py_buffer der;
    tls_nss_ocsp_verdict verdict;

    if (response == Py_None)
        return 0;
    if (PyObject_GetBuffer(response, &der, PyBUF_SIMPLE) < 0)
        return -1;
    SECItem item = {siBuffer, der.buf, (unsigned int)der.len};
    PRErrorCode error = SEC_ERROR_OCSP_MALFORMED_RESPONSE;
    if (der.len > 0 && der.len < INT_MAX) {
        /* Held while the status is read, so that NSS finds it. */
        CERTCertificate *carried = embedded_issuer(&item, chain->cert);
        error = tls_nss_ocsp_status(chain->cert, NULL, &item, &verdict);
        if (carried != NULL)
            CERT_DestroyCertificate(carried);
    }
    /* The list of one NSS staples: it keeps its own copy. */
    if (error == 0 && (chain->ocsp = SECITEM_AllocArray(NULL, NULL, 1)) != NULL &&
        SECITEM_CopyItem(NULL, &chain->ocsp->items[0], &item) != SECSuccess) {
        SECITEM_FreeArray(chain->ocsp, PR_TRUE);
        chain->ocsp = NULL;
    }
    PyBuffer_Release(&der);
    if (error != 0) {
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, error,
                      "checking the OCSP response for server certificate chain %zd", index + 1);
        return -1;
    }
    if (chain->ocsp == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

/* A client: asks for a staple, and judges the one that came. Runs in the
 * certificate hook, after the chain was verified, without the GIL. */
PRErrorCode
tls_nss_ocsp_check_stapled(tls_nss_peer_check *check, PRFileDesc *fd, CERTCertificate *peer)
{
    const SECItemArray *staples = SSL_PeerStapledOCSPResponses(fd);
    tls_nss_ocsp_verdict verdict = TLS_NSS_OCSP_NONE;

    if (staples == NULL || staples->len == 0)
        return 0;
    /* An expired, unsigned or foreign response counts as no response. */
    tls_nss_ocsp_status(peer, check->verified_chain, &staples->items[0], &verdict);
    check->ocsp = verdict;
    return verdict == TLS_NSS_OCSP_REVOKED ? SEC_ERROR_REVOKED_CERTIFICATE : 0;
}
