/* A client context's session cache: resumption tokens that NSS hands out
 * (SSL_SetResumptionTokenCallback), kept per server name and port, at most
 * `capacity` of them, the least recently stored going first.
 *
 * NSS's own client cache is process-wide and keeps every TLS 1.3 ticket
 * for up to two days, used or not; with a token callback set, NSS leaves
 * it empty and asks us instead. A token is taken out when a connection
 * offers it, as a ticket is for one use. The callback runs without the
 * GIL, on whichever thread does the connection's I/O, so a lock guards
 * the cache. */
#include "config.h"
#include "tls_nss.h"

#include <sslexp.h>

typedef struct session {
    struct session *newer, *older;
    char *key;               /* "host:port" */
    unsigned char *token;
    unsigned int length;
} session;

struct tls_nss_session_cache {
    PRLock *lock;
    session *newest, *oldest;
    Py_ssize_t count, capacity;
};

tls_nss_session_cache *
tls_nss_session_cache_new(Py_ssize_t capacity)
{
    tls_nss_session_cache *cache = PyMem_RawCalloc(1, sizeof(*cache));

    if (cache == NULL || (cache->lock = PR_NewLock()) == NULL) {
        PyMem_RawFree(cache);
        PyErr_NoMemory();
        return NULL;
    }
    cache->capacity = capacity;
    return cache;
}

static void
unlink_session(tls_nss_session_cache *cache, session *s)
{
    if (s->newer)
        s->newer->older = s->older;
    else
        cache->newest = s->older;
    if (s->older)
        s->older->newer = s->newer;
    else
        cache->oldest = s->newer;
    cache->count--;
}

static void
free_session(session *s)
{
    if (s->token) {
        PORT_Memset(s->token, 0, s->length);
        PyMem_RawFree(s->token);
    }
    PyMem_RawFree(s->key);
    PyMem_RawFree(s);
}

void
tls_nss_session_cache_free(tls_nss_session_cache *cache)
{
    if (cache == NULL)
        return;
    while (cache->newest) {
        session *s = cache->newest;
        unlink_session(cache, s);
        free_session(s);
    }
    PR_DestroyLock(cache->lock);
    PyMem_RawFree(cache);
}

/* The session stored under `key`, unlinked; the caller owns it. Locked. */
static session *
take(tls_nss_session_cache *cache, const char *key)
{
    for (session *s = cache->newest; s != NULL; s = s->older) {
        if (strcmp(s->key, key) == 0) {
            unlink_session(cache, s);
            return s;
        }
    }
    return NULL;
}

/* Stores a token as the newest for its key, replacing an older one for the
 * same key and, past the capacity, the least recent. Without the GIL. */
static SECStatus PR_CALLBACK
store_token(PRFileDesc *fd, const PRUint8 *token, unsigned int length, void *arg)
{
    tls_nss_conn *conn = arg;
    tls_nss_session_cache *cache = conn->ctx->sessions;
    session *s = PyMem_RawCalloc(1, sizeof(*s)), *replaced, *evicted = NULL;

    if (s == NULL || (s->token = PyMem_RawMalloc(length ? length : 1)) == NULL ||
        (s->key = PyMem_RawMalloc(strlen(conn->session_key) + 1)) == NULL) {
        if (s)
            free_session(s);
        return SECSuccess; /* no room: the connection goes on, unresumable */
    }
    memcpy(s->token, token, length);
    s->length = length;
    strcpy(s->key, conn->session_key);

    PR_Lock(cache->lock);
    replaced = take(cache, s->key);
    s->older = cache->newest;
    if (cache->newest)
        cache->newest->newer = s;
    cache->newest = s;
    if (cache->oldest == NULL)
        cache->oldest = s;
    cache->count++;
    if (cache->count > cache->capacity) {
        evicted = cache->oldest;
        unlink_session(cache, evicted);
    }
    PR_Unlock(cache->lock);
    if (replaced)
        free_session(replaced);
    if (evicted)
        free_session(evicted);
    return SECSuccess;
}

int
tls_nss_session_cache_attach(tls_nss_state *st, tls_nss_conn *conn)
{
    tls_nss_session_cache *cache = conn->ctx->sessions;
    session *offered;

    if (cache == NULL) {
        /* No cache: no resumption, and nothing kept in NSS's. */
        if (SSL_OptionSet(conn->fd, SSL_NO_CACHE, PR_TRUE) != SECSuccess)
            goto fail;
        return 0;
    }
    if (SSL_SetResumptionTokenCallback(conn->fd, store_token, conn) != SECSuccess)
        goto fail;
    PR_Lock(cache->lock);
    offered = take(cache, conn->session_key);
    PR_Unlock(cache->lock);
    if (offered != NULL) {
        /* An expired or unusable token is refused; it is gone either way. */
        (void)SSL_SetResumptionToken(conn->fd, offered->token, offered->length);
        free_session(offered);
    }
    return 0;
fail:
    tls_nss_raise(st, TLS_NSS_ERROR, PR_GetError(), "setting up session resumption with %s",
                  conn->peer);
    return -1;
}

Py_ssize_t
tls_nss_session_cache_count(tls_nss_session_cache *cache)
{
    Py_ssize_t count;

    if (cache == NULL)
        return 0;
    PR_Lock(cache->lock);
    count = cache->count;
    PR_Unlock(cache->lock);
    return count;
}
