/* Server sessions shared by worker processes.
 *
 * A pre-fork server's workers each start NSS themselves: NSS's softoken
 * refuses to serve a process forked after it started. Each would then keep
 * its own session cache and ticket keys, and a client could resume only in
 * the worker that served it first. NSS can share both through memory the
 * workers inherit: the parent sets the cache up before it forks
 * (SSL_ConfigMPServerSIDCache), and each worker joins it where it would
 * otherwise make its own (SSL_InheritMPServerSIDCache).
 *
 * Ticket keys are kept there too, wrapped with an RSA key pair that every
 * worker must hold. NSS takes the key of an RSA server certificate, so an
 * EC-only server would leave each worker wrapping its own. The workers
 * therefore share one wrapping key pair through memory they inherit from
 * the parent: the first worker to need it generates it and leaves it there
 * as encrypted PKCS#8 under a random password beside it, and the others
 * import it (SSL_SetSessionTicketKeyPair). Encrypted, because NSS's FIPS
 * token gives out no private key in the clear and takes none in. The
 * memory is anonymous, seen only by the parent and its children, which
 * share the session cache already. */
#include "config.h"
#include "tls_nss.h"

#include <errno.h>
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

/* How long the lock poller thread is given to start before workers fork. */
#define POLLER_SETTLE_MS 50

/* The process that set the shared cache up, or 0: a process-wide fact, as
 * the cache is. */
static pid_t prepared_by;

typedef struct {
    pthread_mutex_t lock;  /* process-shared, robust: a worker may die holding it */
    size_t length;         /* of `der`: 0 until a worker has made the key; set last */
    unsigned char password[32];
    unsigned char der[4096];          /* EncryptedPrivateKeyInfo */
    size_t public_length;
    unsigned char public_der[1024];   /* SubjectPublicKeyInfo */
} shared_ticket_key;

/* PBKDF2's work for each worker that imports the key: about a millisecond. */
#define TICKET_KEY_ITERATIONS 10000

/* In the parent's memory, inherited by each worker; NULL if not prepared. */
static shared_ticket_key *ticket_key;
/* Why this process could not share the ticket key, or 0. */
static PRErrorCode ticket_key_error;

static int
create_shared_ticket_key(void)
{
    pthread_mutexattr_t attributes;
    void *memory = mmap(NULL, sizeof(shared_ticket_key), PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    int error;

    if (memory == MAP_FAILED)
        return errno;
    if ((error = pthread_mutexattr_init(&attributes)) != 0) {
        munmap(memory, sizeof(shared_ticket_key));
        return error;
    }
    if ((error = pthread_mutexattr_setpshared(&attributes, PTHREAD_PROCESS_SHARED)) != 0 ||
        (error = pthread_mutexattr_setrobust(&attributes, PTHREAD_MUTEX_ROBUST)) != 0 ||
        (error = pthread_mutex_init(&((shared_ticket_key *)memory)->lock, &attributes)) != 0)
        munmap(memory, sizeof(shared_ticket_key));
    else
        ticket_key = memory;
    pthread_mutexattr_destroy(&attributes);
    return error;
}

/* Copies `item` into shared memory of `room` bytes; PR_FALSE if it is
 * missing or too long. */
static PRBool
share(const SECItem *item, unsigned char *into, size_t room, size_t *length)
{
    if (item == NULL || item->len > room)
        return PR_FALSE;
    memcpy(into, item->data, item->len);
    *length = item->len;
    return PR_TRUE;
}

/* The first worker's part: a new RSA key pair, left in the shared memory
 * for the others. NULL with NSS's error if it cannot be made or exported. */
static SECKEYPrivateKey *
make_ticket_key(PK11SlotInfo *slot, SECKEYPublicKey **pub)
{
    PK11RSAGenParams params = {.keySizeInBits = 2048, .pe = 65537};
    SECItem password = {siBuffer, ticket_key->password, sizeof(ticket_key->password)};
    SECKEYEncryptedPrivateKeyInfo *encrypted = NULL;
    SECItem *der = NULL, *public_der = NULL;
    size_t length = 0;
    PRBool shared = PR_FALSE;

    SECKEYPrivateKey *priv = PK11_GenerateKeyPair(slot, CKM_RSA_PKCS_KEY_PAIR_GEN, &params, pub,
                                                  PR_FALSE, PR_TRUE, NULL);
    if (priv == NULL)
        return NULL;
    if (PK11_GenerateRandom(password.data, password.len) == SECSuccess &&
        (encrypted = PK11_ExportEncryptedPrivKeyInfoV2(
             slot, SEC_OID_PKCS5_PBES2, SEC_OID_AES_256_CBC, SEC_OID_HMAC_SHA256, &password,
             priv, TICKET_KEY_ITERATIONS, NULL)) != NULL &&
        (der = SEC_ASN1EncodeItem(NULL, NULL, encrypted,
                                  SECKEY_EncryptedPrivateKeyInfoTemplate)) != NULL &&
        (public_der = SECKEY_EncodeDERSubjectPublicKeyInfo(*pub)) != NULL) {
        shared = share(public_der, ticket_key->public_der, sizeof(ticket_key->public_der),
                       &ticket_key->public_length) &&
                 share(der, ticket_key->der, sizeof(ticket_key->der), &length);
        if (!shared)
            PORT_SetError(SEC_ERROR_LIBRARY_FAILURE);
    }
    if (encrypted != NULL)
        SECKEY_DestroyEncryptedPrivateKeyInfo(encrypted, PR_TRUE);
    SECITEM_FreeItem(der, PR_TRUE);
    SECITEM_FreeItem(public_der, PR_TRUE);
    if (shared) {
        ticket_key->length = length; /* last: the others read the key once it is set */
        return priv;
    }
    SECKEY_DestroyPublicKey(*pub);
    SECKEY_DestroyPrivateKey(priv);
    *pub = NULL;
    return NULL;
}

static SECKEYPrivateKey *
import_ticket_key(PK11SlotInfo *slot, SECKEYPublicKey **pub)
{
    SECItem der = {siBuffer, ticket_key->der, (unsigned int)ticket_key->length};
    SECItem public_der = {siBuffer, ticket_key->public_der,
                          (unsigned int)ticket_key->public_length};
    SECItem password = {siBuffer, ticket_key->password, sizeof(ticket_key->password)};
    SECKEYEncryptedPrivateKeyInfo encrypted;
    CERTSubjectPublicKeyInfo *spki = NULL;
    SECKEYPrivateKey *priv = NULL;
    PLArenaPool *arena;

    /* Another process wrote them: their lengths are checked like a peer's. */
    if (ticket_key->length > sizeof(ticket_key->der) ||
        ticket_key->public_length > sizeof(ticket_key->public_der)) {
        PORT_SetError(SEC_ERROR_BAD_DER);
        return NULL;
    }
    if ((arena = PORT_NewArena(DER_DEFAULT_CHUNKSIZE)) == NULL)
        return NULL;
    memset(&encrypted, 0, sizeof(encrypted));
    if (SEC_QuickDERDecodeItem(arena, &encrypted, SECKEY_EncryptedPrivateKeyInfoTemplate,
                               &der) == SECSuccess &&
        (spki = SECKEY_DecodeDERSubjectPublicKeyInfo(&public_der)) != NULL &&
        (*pub = SECKEY_ExtractPublicKey(spki)) != NULL &&
        (*pub)->keyType == rsaKey &&
        PK11_ImportEncryptedPrivateKeyInfoAndReturnKey(
            slot, &encrypted, &password, NULL, &(*pub)->u.rsa.modulus, PR_FALSE, PR_TRUE,
            rsaKey, KU_ALL, &priv, NULL) != SECSuccess)
        priv = NULL;
    if (priv == NULL && *pub != NULL) {
        SECKEY_DestroyPublicKey(*pub);
        *pub = NULL;
    }
    if (spki != NULL)
        SECKEY_DestroySubjectPublicKeyInfo(spki);
    PORT_FreeArena(arena, PR_FALSE);
    return priv;
}

/* Makes or imports the shared wrapping key pair and configures it. Only a
 * key pair every worker holds may be configured: one of this worker's own
 * could not unwrap the ticket keys another worker left in the cache. */
static SECStatus
use_shared_ticket_key(void)
{
    SECKEYPublicKey *pub = NULL;
    SECKEYPrivateKey *priv = NULL;
    PK11SlotInfo *slot;
    SECStatus rv = SECFailure;
    int locked = pthread_mutex_lock(&ticket_key->lock);

    if (locked == EOWNERDEAD) {
        /* The worker that held it died; `length` is still 0 unless it had
         * finished. */
        locked = pthread_mutex_consistent(&ticket_key->lock);
    }
    if (locked != 0) {
        PORT_SetError(SEC_ERROR_LIBRARY_FAILURE);
        return SECFailure;
    }
    if ((slot = PK11_GetInternalSlot()) != NULL) {
        priv = ticket_key->length == 0 ? make_ticket_key(slot, &pub)
                                       : import_ticket_key(slot, &pub);
        PK11_FreeSlot(slot);
    }
    if (priv != NULL)
        rv = SSL_SetSessionTicketKeyPair(pub, priv);
    pthread_mutex_unlock(&ticket_key->lock);
    if (pub != NULL)
        SECKEY_DestroyPublicKey(pub);
    if (priv != NULL)
        SECKEY_DestroyPrivateKey(priv);
    return rv;
}

PyObject *
tls_nss_prepare_workers(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"max_sessions", NULL};
    tls_nss_state *st = PyModule_GetState(module);
    int max_sessions = 10000;
    SECStatus rv;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|i:prepare_workers", keywords,
                                     &max_sessions))
        return NULL;
    if (max_sessions <= 0)
        return PyErr_Format(PyExc_ValueError, "max_sessions must be positive, not %d",
                            max_sessions);
    if (tls_nss_is_started())
        return tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, 0,
                             "preparing worker processes: NSS has started in this process "
                             "already, and workers forked from it could not use it; prepare "
                             "them first");
    if (prepared_by != 0)
        return tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, 0,
                             "preparing worker processes: this process did so already");
    if (ticket_key == NULL && (errno = create_shared_ticket_key()) != 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    Py_BEGIN_ALLOW_THREADS
    rv = SSL_ConfigMPServerSIDCache(max_sessions, 0, 0, NULL);
    /* NSS has just started its lock poller thread. A worker forked while
     * that thread is still starting (allocating, registering with NSPR)
     * would inherit whatever lock it held then, with no thread to release
     * it; once started, it sleeps 30 s at a time. */
    if (rv == SECSuccess)
        PR_Sleep(PR_MillisecondsToInterval(POLLER_SETTLE_MS));
    Py_END_ALLOW_THREADS
    if (rv != SECSuccess)
        return tls_nss_raise(st, TLS_NSS_ERROR, PR_GetError(),
                             "setting up the session cache shared by worker processes");
    prepared_by = getpid();
    Py_RETURN_NONE;
}

SECStatus
tls_nss_configure_server_session_cache(void)
{
    if (prepared_by == 0)
        return SSL_ConfigServerSessionIDCache(0, 0, 0, NULL);
    /* The parent's cache is its own; a worker joins it. */
    if (getpid() != prepared_by && SSL_InheritMPServerSIDCache(NULL) != SECSuccess)
        return SECFailure;
    /* Without it, tickets are shared only by RSA servers, as NSS does. */
    if (use_shared_ticket_key() != SECSuccess)
        ticket_key_error = PR_GetError() ? PR_GetError() : SEC_ERROR_LIBRARY_FAILURE;
    return SECSuccess;
}

PRErrorCode
tls_nss_ticket_key_sharing_error(void)
{
    PRErrorCode error = ticket_key_error;

    ticket_key_error = 0;
    return error;
}
