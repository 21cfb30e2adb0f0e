/* Trust: per-context anchors, the system's roots, and the hooks NSS calls
 * to verify the peer and to pick our client certificate.
 *
 * Verification never marks a certificate trusted process-wide. A context
 * with its own TrustStore verifies against exactly its anchors, so two
 * contexts in one process never accept each other's CAs. */
#include "config.h"
#include "tls_nss.h"

#include <secmod.h>
#include <unistd.h>

CERTCertList *
tls_nss_anchors_from_der(tls_nss_state *st, PyObject *ders)
{
    PyObject *seq = PySequence_Fast(ders, "trust anchors must be a sequence of DER bytes");
    if (seq == NULL)
        return NULL;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(seq);
    CERTCertList *anchors = NULL;

    if (count == 0) {
        /* NSS falls back to the process-wide roots when given no anchors,
         * which would silently widen a custom trust store. */
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, 0,
                      "loading the trust store: it holds no certificates");
        goto fail;
    }
    anchors = CERT_NewCertList();
    if (anchors == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        char what[64];
        snprintf(what, sizeof(what), "certificate %zd of the trust store", i + 1);
        CERTCertificate *cert =
            tls_nss_certificate_from_object(st, PySequence_Fast_GET_ITEM(seq, i), what);
        if (cert == NULL)
            goto fail;
        if (CERT_AddCertToListTail(anchors, cert) != SECSuccess) {
            CERT_DestroyCertificate(cert);
            PyErr_NoMemory();
            goto fail;
        }
    }
    Py_DECREF(seq);
    return anchors;

fail:
    if (anchors)
        CERT_DestroyCertList(anchors);
    Py_DECREF(seq);
    return NULL;
}

/* The system roots are process-wide in NSS, so they are loaded once. */
static PRCallOnceType roots_once;
static SECMODModule *roots_module;
static PRErrorCode roots_error;
static char roots_library[512];

static PRStatus
load_roots_module(void)
{
    char spec[640];

    /* Another NSS user in this process may have loaded roots already;
     * loading a second copy would duplicate every trust object. */
    if (SECMOD_HasRootCerts())
        return PR_SUCCESS;

    /* p11-kit's trust module reads the distribution's CA store, with the
     * administrator's additions and distrust; NSS's built-in list is only
     * the fallback. On Fedora libnssckbi.so is p11-kit-trust anyway. */
    snprintf(roots_library, sizeof(roots_library), "%s/p11-kit-trust.so",
             TLS_NSS_PKCS11_MODULE_DIR);
    if (access(roots_library, R_OK) != 0)
        snprintf(roots_library, sizeof(roots_library), "libnssckbi.so");

    snprintf(spec, sizeof(spec), "name=\"tls_nss system trust\" library=\"%s\"",
             roots_library);
    roots_module = SECMOD_LoadUserModule(spec, NULL, PR_FALSE);
    if (roots_module == NULL || !roots_module->loaded) {
        roots_error = PR_GetError();
        if (roots_module) {
            SECMOD_DestroyModule(roots_module);
            roots_module = NULL;
        }
        return PR_FAILURE;
    }
    return PR_SUCCESS;
}

int
tls_nss_load_system_roots(tls_nss_state *st)
{
    PRStatus status;

    Py_BEGIN_ALLOW_THREADS
    status = PR_CallOnce(&roots_once, load_roots_module);
    Py_END_ALLOW_THREADS
    if (status != PR_SUCCESS) {
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, roots_error,
                      "loading the system trust store from %s", roots_library);
        return -1;
    }
    return 0;
}

PyObject *
tls_nss_system_trust_info(void)
{
    /* The library is reported only once this module has loaded it. */
    const char *library = roots_module != NULL ? roots_library : NULL;
    return Py_BuildValue("{s:z,s:O}", "library", library, "has_roots",
                         SECMOD_HasRootCerts() ? Py_True : Py_False);
}

/* Returns 0 when `cert` is acceptable, else the NSS error code that says
 * why not. Runs without the GIL. */
static PRErrorCode
verify_peer_certificate(const tls_nss_peer_check *check, CERTCertificate *cert,
                        PRBool peer_is_server)
{
    const tls_nss_trust_policy *policy = check->policy;
    CERTValInParam in[5];
    CERTValOutParam out[1];
    int n = 0;

    /* Never reach out to the network in the middle of a handshake: no AIA
     * fetching, and revocation only from CRLs NSS already has. NSS 3.87
     * also answers SEC_ERROR_INVALID_ARGS to trust anchors given without
     * revocation flags, so these are always passed. */
    in[n].type = cert_pi_useAIACertFetch;
    in[n++].value.scalar.b = PR_FALSE;
    in[n].type = cert_pi_revocationFlags;
    in[n++].value.pointer.revocation = CERT_GetClassicOCSPDisabledPolicy();
    if (policy->anchors != NULL) {
        in[n].type = cert_pi_trustAnchors;
        in[n++].value.pointer.chain = policy->anchors;
        in[n].type = cert_pi_useOnlyTrustAnchors;
        in[n++].value.scalar.b = PR_TRUE;
    }
    in[n].type = cert_pi_end;
    out[0].type = cert_po_end;

    SECCertificateUsage usage =
        peer_is_server ? certificateUsageSSLServer : certificateUsageSSLClient;
    if (CERT_PKIXVerifyCert(cert, usage, in, out, NULL) != SECSuccess) {
        PRErrorCode error = PR_GetError();
        return error ? error : SEC_ERROR_UNTRUSTED_CERT;
    }

    if (peer_is_server && policy->check_hostname) {
        /* PKIX leaves names alone. CERT_VerifyCertName matches DNS names,
         * wildcards included, and IP address literals against IP SANs. */
        if (check->hostname == NULL ||
            CERT_VerifyCertName(cert, check->hostname) != SECSuccess)
            return SSL_ERROR_BAD_CERT_DOMAIN;
    }
    return 0;
}

SECStatus
tls_nss_auth_certificate_hook(void *arg, PRFileDesc *fd, PRBool check_sig,
                              PRBool is_server)
{
    tls_nss_peer_check *check = arg;
    CERTCertificate *peer;
    PRErrorCode error;

    if (!check->policy->verify)
        return SECSuccess;

    peer = SSL_PeerCertificate(fd);
    if (peer == NULL) {
        error = SSL_ERROR_NO_CERTIFICATE;
    }
    else {
        error = verify_peer_certificate(check, peer, !is_server);
        CERT_DestroyCertificate(peer);
    }
    if (error == 0)
        return SECSuccess;
    check->verify_error = error;
    PORT_SetError(error);
    return SECFailure;
}

SECStatus
tls_nss_client_auth_data_hook(void *arg, PRFileDesc *fd, CERTDistNames *ca_names,
                              CERTCertificate **cert_out, SECKEYPrivateKey **key_out)
{
    const tls_nss_peer_check *check = arg;
    const tls_nss_trust_policy *policy = check->policy;

    if (policy->own_cert == NULL || policy->own_key == NULL)
        return SECFailure; /* continue without a client certificate */
    /* NSS takes ownership of what it is handed. */
    *cert_out = CERT_DupCertificate(policy->own_cert);
    *key_out = SECKEY_CopyPrivateKey(policy->own_key);
    if (*key_out == NULL) {
        CERT_DestroyCertificate(*cert_out);
        *cert_out = NULL;
        return SECFailure;
    }
    return SECSuccess;
}
