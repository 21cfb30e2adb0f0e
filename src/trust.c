/* Trust: the system's roots, and the hooks NSS calls to verify the peer
 * and to pick our client certificate.
 *
 * Verification never marks a certificate trusted process-wide. A context
 * with its own TrustStore verifies against exactly its anchors, so two
 * contexts in one process never accept each other's CAs. */
#include "config.h"
#include "tls_nss.h"

#include <plstr.h>
#include <secmod.h>
#include <unistd.h>

/* The system roots are process-wide in NSS, so they are loaded once. */
static PRCallOnceType roots_once;
static SECMODModule *roots_module;
/* Set once the roots module is in place; read outside the once. */
static PRInt32 roots_loaded_by_us;
static PRErrorCode roots_error;
static char roots_library[512];

static PRStatus
load_roots_module(void *unused)
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
    PR_ATOMIC_SET(&roots_loaded_by_us, 1);
    return PR_SUCCESS;
}

int
tls_nss_load_system_roots(tls_nss_state *st)
{
    if (tls_nss_call_once(&roots_once, load_roots_module, NULL) != PR_SUCCESS) {
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
    const char *library = PR_ATOMIC_ADD(&roots_loaded_by_us, 0) ? roots_library : NULL;
    return Py_BuildValue("{s:z,s:O}", "library", library, "has_roots",
                         SECMOD_HasRootCerts() ? Py_True : Py_False);
}

/* Notes which certificate a refusal concerns: the first that NSS's log
 * blames for `error`, else the first it blames at all. */
static void
note_refused_certificate(tls_nss_peer_check *check, const CERTVerifyLog *log,
                         PRErrorCode error)
{
    const CERTVerifyLogNode *blamed = log->head;

    for (const CERTVerifyLogNode *node = log->head; node != NULL; node = node->next) {
        if (node->error == error) {
            blamed = node;
            break;
        }
    }
    if (blamed == NULL || blamed->cert == NULL)
        return;
    check->verify_error_depth = (int)blamed->depth;
    check->verify_error_self_signed =
        SECITEM_ItemsAreEqual(&blamed->cert->derSubject, &blamed->cert->derIssuer);
    char *subject = CERT_NameToAscii(&blamed->cert->subject);
    if (subject != NULL) {
        PL_strncpyz(check->verify_error_subject, subject, sizeof(check->verify_error_subject));
        PORT_Free(subject);
    }
}

/* Notes the certificate at `depth` of the verified chain as refused. */
static void
note_revoked(tls_nss_peer_check *check, int depth, PRErrorCode error)
{
    CERTCertListNode *node = CERT_LIST_HEAD(check->verified_chain);
    for (int i = 0; i < depth; i++)
        node = CERT_LIST_NEXT(node);
    CERTVerifyLogNode entry = {.cert = node->cert, .error = error, .depth = (unsigned)depth};
    CERTVerifyLog named = {.head = &entry, .tail = &entry, .count = 1};
    note_refused_certificate(check, &named, error);
}

static void
free_verify_log(CERTVerifyLog *log)
{
    for (CERTVerifyLogNode *node = log->head; node != NULL; node = node->next)
        if (node->cert != NULL)
            CERT_DestroyCertificate(node->cert);
    PORT_FreeArena(log->arena, PR_FALSE);
}

/* Keeps `chain` (taken over) with `anchor` (taken over) appended unless it
 * ends there already, as the connection's verified chain. */
static void
keep_verified_chain(tls_nss_peer_check *check, CERTCertList *chain, CERTCertificate *anchor)
{
    if (check->verified_chain != NULL)
        CERT_DestroyCertList(check->verified_chain);
    check->verified_chain = chain;
    if (anchor == NULL)
        return;
    if (chain == NULL || (!CERT_LIST_EMPTY(chain) &&
                          CERT_CompareCerts(CERT_LIST_TAIL(chain)->cert, anchor)) ||
        CERT_AddCertToListTail(chain, anchor) != SECSuccess)
        CERT_DestroyCertificate(anchor);
}

/* CERT_VerifyCertName falls back to the subject's CN when a certificate
 * has no subjectAltName; a context may refuse that, as the ssl module does
 * by default (hostname_checks_common_name). */
static PRBool
names_may_match(const tls_nss_trust_policy *policy, CERTCertificate *cert)
{
    SECItem names = {siBuffer, NULL, 0};

    if (policy->common_name_fallback)
        return PR_TRUE;
    if (CERT_FindCertExtension(cert, SEC_OID_X509_SUBJECT_ALT_NAME, &names) != SECSuccess)
        return PR_FALSE;
    SECITEM_FreeItem(&names, PR_FALSE);
    return PR_TRUE;
}

/* Returns 0 when `cert` is acceptable, else the NSS error code that says
 * why not, with the certificate it concerns noted in `check`. Runs
 * without the GIL. */
static PRErrorCode
verify_peer_certificate(tls_nss_peer_check *check, CERTCertificate *cert, PRBool peer_is_server)
{
    const tls_nss_trust_policy *policy = check->policy;
    CERTVerifyLog log = {.arena = PORT_NewArena(DER_DEFAULT_CHUNKSIZE)};
    CERTValInParam in[5];
    CERTValOutParam out[4];
    int n = 0;

    if (log.arena == NULL)
        return PR_OUT_OF_MEMORY_ERROR;
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
        in[n++].value.scalar.b = !policy->beside_system;
    }
    in[n].type = cert_pi_end;
    out[0].type = cert_po_errorLog;
    out[0].value.pointer.log = &log;
    out[1].type = cert_po_certList;
    out[1].value.pointer.chain = NULL;
    out[2].type = cert_po_trustAnchor;
    out[2].value.pointer.cert = NULL;
    out[3].type = cert_po_end;

    check->verify_error_depth = -1;
    check->verify_error_subject[0] = '\0';
    SECCertificateUsage usage =
        peer_is_server ? certificateUsageSSLServer : certificateUsageSSLClient;
    PRErrorCode error = 0;
    if (CERT_PKIXVerifyCert(cert, usage, in, out, NULL) != SECSuccess) {
        error = PR_GetError();
        if (error == 0)
            error = SEC_ERROR_UNTRUSTED_CERT;
        note_refused_certificate(check, &log, error);
        /* NSS's log puts a self-signed leaf again above itself. */
        if (check->verify_error_self_signed &&
            SECITEM_ItemsAreEqual(&cert->derSubject, &cert->derIssuer))
            check->verify_error_depth = 0;
    }
    /* PKIX leaves names alone. CERT_VerifyCertName matches DNS names,
     * wildcards included, and IP address literals against IP SANs. */
    else if (peer_is_server && policy->check_hostname &&
             (check->hostname == NULL || !names_may_match(policy, cert) ||
              CERT_VerifyCertName(cert, check->hostname) != SECSuccess)) {
        error = SSL_ERROR_BAD_CERT_DOMAIN;
        CERTVerifyLogNode leaf = {.cert = cert, .error = error, .depth = 0};
        CERTVerifyLog named = {.head = &leaf, .tail = &leaf, .count = 1};
        note_refused_certificate(check, &named, error);
    }
    if (error == 0) {
        /* Taken over: the connection keeps the chain it verified. */
        keep_verified_chain(check, out[1].value.pointer.chain, out[2].value.pointer.cert);
        out[1].value.pointer.chain = NULL;
        out[2].value.pointer.cert = NULL;
        int revoked_at = tls_nss_crls_check(&policy->crls, check->verified_chain);
        if (revoked_at >= 0) {
            error = SEC_ERROR_REVOKED_CERTIFICATE;
            note_revoked(check, revoked_at, error);
        }
    }
    else {
        keep_verified_chain(check, NULL, NULL);
    }
    if (out[1].value.pointer.chain != NULL)
        CERT_DestroyCertList(out[1].value.pointer.chain);
    if (out[2].value.pointer.cert != NULL)
        CERT_DestroyCertificate(out[2].value.pointer.cert);
    free_verify_log(&log);
    return error;
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
        check->verify_error_depth = -1;
        check->verify_error_subject[0] = '\0';
        error = SSL_ERROR_NO_CERTIFICATE;
    }
    else {
        error = verify_peer_certificate(check, peer, !is_server);
        if (error == 0 && !is_server &&
            (error = tls_nss_ocsp_check_stapled(check, fd, peer)) != 0) {
            CERTVerifyLogNode leaf = {.cert = peer, .error = error, .depth = 0};
            CERTVerifyLog named = {.head = &leaf, .tail = &leaf, .count = 1};
            note_refused_certificate(check, &named, error);
        }
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
    const SECKEYPrivateKey *key = check->own_key != NULL ? check->own_key : policy->own.key;

    if (policy->own.cert == NULL || key == NULL)
        return SECFailure; /* continue without a client certificate */
    /* NSS takes ownership of what it is handed. */
    *cert_out = CERT_DupCertificate(policy->own.cert);
    *key_out = SECKEY_CopyPrivateKey(key);
    if (*key_out == NULL) {
        CERT_DestroyCertificate(*cert_out);
        *cert_out = NULL;
        return SECFailure;
    }
    return SECSuccess;
}

void
tls_nss_chain_free(tls_nss_chain *chain)
{
    if (chain->cert)
        CERT_DestroyCertificate(chain->cert);
    if (chain->key)
        SECKEY_DestroyPrivateKey(chain->key);
    if (chain->list)
        CERT_DestroyCertificateList(chain->list);
    if (chain->ocsp)
        SECITEM_FreeArray(chain->ocsp, PR_TRUE);
    for (Py_ssize_t i = 0; i < chain->intermediate_count; i++)
        CERT_DestroyCertificate(chain->intermediates[i]);
    PyMem_Free(chain->intermediates);
    memset(chain, 0, sizeof(*chain));
}
