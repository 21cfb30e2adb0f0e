/* Keys that stay in tokens, across the token forgetting its login.
 *
 * When a token logs out (an HSM failover, a session timeout, another
 * application's C_Logout on a shared token), PKCS#11 invalidates every
 * handle to its private objects, and they stay invalid after a new login.
 * The keys NSS holds for a context are such handles. So before a
 * connection is made, each key the token no longer knows by its handle is
 * found again, after logging the token in again with the context's PIN if
 * it needs it (pins.c keeps the one that worked): a server's are
 * configured afresh on its models, a client's replaces the one its auth
 * hook hands over. Connections already made keep what they have. */
#include "config.h"
#include "tls_nss.h"

static PRBool
in_a_token(const SECKEYPrivateKey *key)
{
    return key != NULL && key->pkcs11Slot != NULL && !PK11_IsInternal(key->pkcs11Slot);
}

/* Whether the token no longer knows `key` by its handle. The token's
 * login state cannot say: after a logout, the first context to log the
 * token in again leaves every other context's handles to its keys
 * invalid. One C_GetAttributeValue on the handle can. */
static PRBool
lost(SECKEYPrivateKey *key)
{
    SECItem type = {siBuffer, NULL, 0};

    if (PK11_ReadRawAttribute(PK11_TypePrivKey, key, CKA_KEY_TYPE, &type) != SECSuccess)
        return PR_TRUE;
    SECITEM_FreeItem(&type, PR_FALSE);
    return PR_FALSE;
}

int
tls_nss_token_keys_add(tls_nss_name_groups *groups, Py_ssize_t g,
                       const tls_nss_chain *chain, SSLAuthType auth)
{
    if (!in_a_token(chain->key) || chain->pins == NULL)
        return 0;
    tls_nss_token_key *kept = &groups->token_keys[groups->token_key_count];
    memset(kept, 0, sizeof(*kept));
    kept->group = g;
    kept->auth = auth;
    kept->pins = chain->pins;
    kept->cert = CERT_DupCertificate(chain->cert);
    kept->key = SECKEY_CopyPrivateKey(chain->key);
    kept->list = chain->list != NULL ? CERT_DupCertList(chain->list) : NULL;
    kept->ocsp = chain->ocsp != NULL ? SECITEM_DupArray(NULL, chain->ocsp) : NULL;
    groups->token_key_count++;
    if (kept->key == NULL || (chain->list != NULL && kept->list == NULL) ||
        (chain->ocsp != NULL && kept->ocsp == NULL))
        return -1;
    return 0;
}

void
tls_nss_token_keys_free(tls_nss_name_groups *groups)
{
    for (Py_ssize_t i = 0; i < groups->token_key_count; i++) {
        tls_nss_token_key *kept = &groups->token_keys[i];
        if (kept->cert != NULL)
            CERT_DestroyCertificate(kept->cert);
        if (kept->key != NULL)
            SECKEY_DestroyPrivateKey(kept->key);
        if (kept->list != NULL)
            CERT_DestroyCertificateList(kept->list);
        if (kept->ocsp != NULL)
            SECITEM_FreeArray(kept->ocsp, PR_TRUE);
    }
    PyMem_Free(groups->token_keys);
    groups->token_keys = NULL;
    groups->token_key_count = 0;
}

/* One thread at a time checks and replaces keys: otherwise another,
 * running without the GIL, could still be reading a key this one destroys,
 * and both would log in and find it again. Waits without the GIL, which
 * the holder may need to finish. */
static void
hold(tls_nss_state *st)
{
    unsigned long me = PyThread_get_thread_ident();

    if (st->token_keys_depth > 0 && st->token_keys_owner == me) {
        st->token_keys_depth++;
        return;
    }
    if (!PyThread_acquire_lock(st->token_keys_lock, NOWAIT_LOCK)) {
        Py_BEGIN_ALLOW_THREADS
        PyThread_acquire_lock(st->token_keys_lock, WAIT_LOCK);
        Py_END_ALLOW_THREADS
    }
    st->token_keys_owner = me;
    st->token_keys_depth = 1;
}

static void
let_go(tls_nss_state *st)
{
    if (--st->token_keys_depth == 0)
        PyThread_release_lock(st->token_keys_lock);
}

/* Logs in again to the token of `key` and finds the key of `cert` again,
 * into `*found`; 0, or -1 with `*error` set. Each step may be a round trip
 * to an HSM: runs without the GIL. */
static int
find_again(const SECKEYPrivateKey *key, CERTCertificate *cert, tls_nss_pin_source *pins,
           SECKEYPrivateKey **found, PRErrorCode *error)
{
    /* Already logged in again for an earlier key of the token: a no-op. */
    if (PK11_Authenticate(key->pkcs11Slot, PR_TRUE, pins) != SECSuccess ||
        (*found = PK11_FindKeyByAnyCert(cert, pins)) == NULL) {
        *error = PR_GetError() ? PR_GetError() : SEC_ERROR_TOKEN_NOT_LOGGED_IN;
        return -1;
    }
    return 0;
}

/* Both of the group's models: its sockets' and its buffers'. */
static int
configure_again(tls_nss_state *st, tls_nss_name_groups *groups, tls_nss_token_key *kept,
                SECKEYPrivateKey *found)
{
    const tls_nss_name_group *group = &groups->items[kept->group];

    SECKEY_DestroyPrivateKey(kept->key);
    kept->key = found;
    SSLExtraServerCertData extra = {.authType = kept->auth, .certChain = kept->list,
                                    .stapledOCSPResponses = kept->ocsp};
    if (SSL_ConfigServerCert(group->model, kept->cert, kept->key, &extra, sizeof(extra)) ==
            SECSuccess &&
        (group->unlocked_model == NULL ||
         SSL_ConfigServerCert(group->unlocked_model, kept->cert, kept->key, &extra,
                              sizeof(extra)) == SECSuccess))
        return 0;
    tls_nss_raise(st, TLS_NSS_ERROR, PR_GetError(), "configuring the key found again in "
                  "token '%s'", PK11_GetTokenName(kept->key->pkcs11Slot));
    return -1;
}

int
tls_nss_token_keys_refresh(tls_nss_state *st, tls_nss_name_groups *groups)
{
    int result = 0;

    if (groups->token_key_count == 0)
        return 0;
    hold(st);
    for (Py_ssize_t i = 0; i < groups->token_key_count && result == 0; i++) {
        tls_nss_token_key *kept = &groups->token_keys[i];
        SECKEYPrivateKey *found = NULL;
        PRErrorCode error = 0;
        PRBool stale;

        Py_BEGIN_ALLOW_THREADS
        stale = lost(kept->key);
        if (stale)
            result = find_again(kept->key, kept->cert, kept->pins, &found, &error);
        Py_END_ALLOW_THREADS
        if (!stale)
            continue;
        if (result < 0)
            tls_nss_raise(st, TLS_NSS_ERROR, error,
                          "logging in again to token '%s', which holds a server key, with "
                          "the context's PIN", PK11_GetTokenName(kept->key->pkcs11Slot));
        else
            result = configure_again(st, groups, kept, found);
    }
    let_go(st);
    return result;
}

int
tls_nss_token_keys_refresh_own(tls_nss_state *st, tls_nss_chain *own,
                               SECKEYPrivateKey **for_connection)
{
    SECKEYPrivateKey *found = NULL;
    PRErrorCode error = 0;
    int result = 0;

    *for_connection = NULL;
    if (!in_a_token(own->key) || own->pins == NULL)
        return 0;
    hold(st);
    Py_BEGIN_ALLOW_THREADS
    if (lost(own->key))
        result = find_again(own->key, own->cert, own->pins, &found, &error);
    Py_END_ALLOW_THREADS
    if (result < 0) {
        tls_nss_raise(st, TLS_NSS_ERROR, error,
                      "logging in again to token '%s', which holds the client key, with the "
                      "context's PIN", PK11_GetTokenName(own->key->pkcs11Slot));
        goto done;
    }
    /* Connections made before keep their copies of the old key, so the
     * hooks of handshakes still running never see it change. */
    if (found != NULL) {
        SECKEY_DestroyPrivateKey(own->key);
        own->key = found;
    }
    if ((*for_connection = SECKEY_CopyPrivateKey(own->key)) == NULL) {
        tls_nss_raise(st, TLS_NSS_ERROR, PR_GetError(), "keeping the client key of token '%s'",
                      PK11_GetTokenName(own->key->pkcs11Slot));
        result = -1;
    }
done:
    let_go(st);
    return result;
}
