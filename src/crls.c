/* Certificate revocation lists, per context.
 *
 * NSS's own CRL support is process-wide: a CRL imported for one context
 * would revoke for every other. So a context keeps its CRLs to itself and
 * checks them after NSS has built and verified the chain: each certificate
 * of the chain against the CRLs its issuer signed. A CRL from one of the
 * context's anchors is checked when the context is made; one from an
 * intermediate CA, whose certificate arrives only with the peer's chain,
 * when it is used. */
#include "config.h"
#include "tls_nss.h"

#include <certdb.h>
#include <cryptohi.h>

static CERTCertificate *
anchor_named(CERTCertList *anchors, const SECItem *name)
{
    if (anchors == NULL)
        return NULL;
    for (CERTCertListNode *node = CERT_LIST_HEAD(anchors); !CERT_LIST_END(node, anchors);
         node = CERT_LIST_NEXT(node))
        if (SECITEM_ItemsAreEqual(&node->cert->derSubject, name))
            return node->cert;
    return NULL;
}

static PRBool
signed_by(CERTSignedCrl *crl, CERTCertificate *issuer)
{
    return CERT_VerifySignedDataWithPublicKeyInfo(&crl->signatureWrap,
                                                  &issuer->subjectPublicKeyInfo,
                                                  NULL) == SECSuccess;
}

static int
add_crl(tls_nss_state *st, tls_nss_crls *crls, PyObject *der_object, Py_ssize_t index)
{
    Py_buffer der;

    if (PyObject_GetBuffer(der_object, &der, PyBUF_SIMPLE) < 0)
        return -1;
    SECItem item = {siBuffer, der.buf, (unsigned int)der.len};
    /* NSS copies the DER (no CRL_DECODE_DONT_COPY_DER). */
    CERTSignedCrl *crl = der.len > 0 && der.len < INT_MAX
                             ? CERT_DecodeDERCrlWithFlags(NULL, &item, SEC_CRL_TYPE,
                                                          CRL_DECODE_DEFAULT_OPTIONS)
                             : NULL;
    PRErrorCode error = crl == NULL ? (PR_GetError() ? PR_GetError() : SEC_ERROR_BAD_DER) : 0;
    PyBuffer_Release(&der);
    if (crl == NULL) {
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, error, "decoding CRL %zd", index + 1);
        return -1;
    }
    crls->items[crls->count].crl = crl;
    crls->count++;
    CERTCertificate *anchor = anchor_named(crls->anchors, &crl->crl.derName);
    if (anchor != NULL) {
        if (!signed_by(crl, anchor)) {
            tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, SEC_ERROR_CRL_BAD_SIGNATURE,
                          "checking CRL %zd against the trust anchor that issued it",
                          index + 1);
            return -1;
        }
        crls->items[crls->count - 1].checked = PR_TRUE;
    }
    return 0;
}

int
tls_nss_crls_load(tls_nss_state *st, PyObject *sequence, CERTCertList *anchors,
                  tls_nss_crls *crls)
{
    PyObject *seq = PySequence_Fast(sequence, "crls must be a sequence of DER bytes");
    if (seq == NULL)
        return -1;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(seq);
    crls->anchors = anchors;
    crls->items = count ? PyMem_Calloc(count, sizeof(*crls->items)) : NULL;
    if (count && crls->items == NULL) {
        Py_DECREF(seq);
        PyErr_NoMemory();
        return -1;
    }
    int result = 0;
    for (Py_ssize_t i = 0; i < count && result == 0; i++)
        result = add_crl(st, crls, PySequence_Fast_GET_ITEM(seq, i), i);
    Py_DECREF(seq);
    return result;
}

void
tls_nss_crls_free(tls_nss_crls *crls)
{
    for (Py_ssize_t i = 0; i < crls->count; i++)
        SEC_DestroyCrl(crls->items[i].crl);
    PyMem_Free(crls->items);
    crls->items = NULL;
    crls->count = 0;
}

static PRBool
listed(const CERTSignedCrl *crl, const CERTCertificate *cert)
{
    for (CERTCrlEntry **entry = crl->crl.entries; entry != NULL && *entry != NULL; entry++)
        if (SECITEM_ItemsAreEqual(&(*entry)->serialNumber, &cert->serialNumber))
            return PR_TRUE;
    return PR_FALSE;
}

int
tls_nss_crls_check(const tls_nss_crls *crls, CERTCertList *chain)
{
    if (crls->count == 0 || chain == NULL)
        return -1;
    int depth = 0;
    for (CERTCertListNode *node = CERT_LIST_HEAD(chain); !CERT_LIST_END(node, chain);
         node = CERT_LIST_NEXT(node), depth++) {
        CERTCertListNode *issuer = CERT_LIST_NEXT(node);
        if (CERT_LIST_END(issuer, chain))
            break; /* the anchor: nobody above it to revoke it */
        for (Py_ssize_t i = 0; i < crls->count; i++) {
            CERTSignedCrl *crl = crls->items[i].crl;
            /* A CRL counts when the certificate's issuer signed it. */
            if (SECITEM_ItemsAreEqual(&crl->crl.derName, &node->cert->derIssuer) &&
                (crls->items[i].checked || signed_by(crl, issuer->cert)) &&
                listed(crl, node->cert))
                return depth;
        }
    }
    return -1;
}
