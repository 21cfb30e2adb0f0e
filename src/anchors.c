/* Trust anchors: the certificates a context verifies its peers against.
 *
 * Every anchor is a temporary certificate owned by the context: from DER
 * (TrustStore.from_file/from_buffer), from an NSS database opened for the
 * moment it takes to copy them (sql:DIR), or from the certificates of the
 * tokens a pkcs11: URI names. None of them is trusted process-wide. */
#include "config.h"
#include "tls_nss.h"

#include <certdb.h>
#include <errno.h>
#include <limits.h>
#include <secmod.h>
#include <stdlib.h>
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

/* Copies the DER of the certificates in `listed` that are anchors: with
 * `required_flags` in their SSL trust when that is not 0, and never when
 * NSS records them as distrusted. */
static CERTCertList *
anchors_from_listed(tls_nss_state *st, CERTCertList *listed, unsigned int required_flags,
                    const char *source)
{
    CERTCertList *anchors = CERT_NewCertList();
    if (anchors == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    for (CERTCertListNode *node = CERT_LIST_HEAD(listed); !CERT_LIST_END(node, listed);
         node = CERT_LIST_NEXT(node)) {
        CERTCertTrust trust;
        PRBool has_trust = CERT_GetCertTrust(node->cert, &trust) == SECSuccess;
        unsigned int flags = has_trust ? trust.sslFlags : 0;
        if (required_flags != 0 && (flags & required_flags) != required_flags)
            continue;
        if ((flags & CERTDB_TERMINAL_RECORD) && !(flags & (CERTDB_TRUSTED_CA | CERTDB_TRUSTED_CLIENT_CA)))
            continue;
        /* A temporary copy: the anchor must not depend on the token staying
         * open, nor lend the token's trust to anything else. */
        SECItem der = node->cert->derCert;
        CERTCertificate *copy = CERT_NewTempCertificate(CERT_GetDefaultCertDB(), &der, NULL,
                                                        PR_FALSE, PR_TRUE);
        if (copy == NULL || CERT_AddCertToListTail(anchors, copy) != SECSuccess) {
            if (copy)
                CERT_DestroyCertificate(copy);
            CERT_DestroyCertList(anchors);
            tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, PR_GetError(),
                          "copying the trust anchors of %s", source);
            return NULL;
        }
    }
    if (CERT_LIST_EMPTY(anchors)) {
        CERT_DestroyCertList(anchors);
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, 0,
                      "loading the trust store %s: it holds no %s", source,
                      required_flags == CERTDB_TRUSTED_CA
                          ? "CA certificate trusted for TLS servers (certutil -t C,,)"
                      : required_flags
                          ? "CA certificate trusted for TLS clients (certutil -t T,,)"
                          : "certificates");
        return NULL;
    }
    return anchors;
}

static const char *
nss_db_directory(const char *id)
{
    return strncmp(id, "sql:", 4) == 0 ? id + 4 : NULL;
}

/* Whether `directory` is TLS_NSS_DB's, however spelled: opening the
 * process's own database a second time would be a second token. */
static PRBool
is_process_database(const char *directory)
{
    char wanted[PATH_MAX], opened[PATH_MAX];
    const char *database = tls_nss_process_database();
    const char *own = database ? nss_db_directory(database) : NULL;
    return own != NULL && realpath(directory, wanted) != NULL &&
           realpath(own, opened) != NULL && strcmp(wanted, opened) == 0;
}

static CERTCertList *
anchors_from_database(tls_nss_state *st, const char *id, PRBool for_server)
{
    const char *directory = nss_db_directory(id);
    unsigned int flags = for_server ? CERTDB_TRUSTED_CLIENT_CA : CERTDB_TRUSTED_CA;
    PK11SlotInfo *slot = NULL;
    PRBool ours = PR_FALSE;
    char spec[1200];
    CERTCertList *listed, *anchors;
    PRErrorCode error = 0;

    if (is_process_database(directory)) {
        slot = PK11_GetInternalKeySlot();
    }
    else {
        if (directory[0] == '\0' || strchr(directory, '\'') != NULL ||
            access(directory, R_OK | X_OK) != 0) {
            tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, SEC_ERROR_BAD_DATABASE,
                          "opening the NSS database %s for the trust store: %s", id,
                          directory[0] == '\0' ? "no directory given"
                          : strchr(directory, '\'') ? "quotes in its path are not supported"
                                                  : strerror(errno));
            return NULL;
        }
        snprintf(spec, sizeof(spec),
                 "configdir='sql:%s' tokenDescription='tls_nss trust store' flags=readOnly",
                 directory);
        Py_BEGIN_ALLOW_THREADS
        slot = SECMOD_OpenUserDB(spec);
        if (slot == NULL)
            error = PR_GetError();
        Py_END_ALLOW_THREADS
        if (slot == NULL) {
            tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, error,
                          "opening the NSS database %s for the trust store", id);
            return NULL;
        }
        ours = PR_TRUE;
    }
    Py_BEGIN_ALLOW_THREADS
    listed = PK11_ListCertsInSlot(slot);
    Py_END_ALLOW_THREADS
    anchors = listed ? anchors_from_listed(st, listed, flags, id) : NULL;
    if (listed == NULL)
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, PR_GetError(),
                      "listing the certificates of the NSS database %s", id);
    if (listed)
        CERT_DestroyCertList(listed);
    if (ours) {
        /* Closed again: its trust flags must not reach other contexts. */
        Py_BEGIN_ALLOW_THREADS
        SECMOD_CloseUserDB(slot);
        Py_END_ALLOW_THREADS
    }
    PK11_FreeSlot(slot);
    return anchors;
}

CERTCertList *
tls_nss_anchors_from_id(tls_nss_state *st, const char *id, PRBool for_server,
                        tls_nss_pin_source *pins)
{
    tls_nss_object_name name;
    CERTCertList *listed, *anchors = NULL;

    if (nss_db_directory(id) != NULL)
        return anchors_from_database(st, id, for_server);
    if (!tls_nss_is_pkcs11_uri(id)) {
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, 0,
                      "reading the trust store id %s: expected sql:/path/to/nssdb or a "
                      "pkcs11: URI", id);
        return NULL;
    }
    if (tls_nss_object_name_parse(st, id, pins, &name, "trust store") < 0)
        goto done;
    listed = tls_nss_find_certificates(st, &name, pins, "trust store");
    if (listed != NULL) {
        anchors = anchors_from_listed(st, listed, 0, id);
        CERT_DestroyCertList(listed);
    }
done:
    tls_nss_object_name_clear(&name);
    return anchors;
}
