/* Certificates and private keys in PKCS#11 tokens, found by id.
 *
 * Nicknames and pkcs11: URIs (parsed by pkcs11_uri.c) are resolved the same
 * way, first the tokens and then the objects in them by label and CKA_ID,
 * so the errors read alike whichever form was used. Private keys stay in
 * their token: NSS hands out handles, and every operation on them runs
 * inside the token. */
#include "config.h"
#include "tls_nss.h"

#include <secmod.h>
#include <pkcs11uri.h>
#include <stdlib.h>

/* ---- tokens -------------------------------------------------------- */

/* Whether a blank-padded PKCS#11 string field equals `wanted`. */
static PRBool
field_is(const char *wanted, const unsigned char *field, size_t size)
{
    while (size > 0 && (field[size - 1] == ' ' || field[size - 1] == '\0'))
        size--;
    return strlen(wanted) == size && memcmp(wanted, field, size) == 0;
}

#define URI_FIELD_MISMATCH(uri, attribute, field) \
    ((value = PK11URI_GetPathAttribute((uri), (attribute))) != NULL && \
     !field_is(value, (field), sizeof(field)))

static PRBool
module_matches(PK11URI *uri, SECMODModule *module)
{
    const char *value;
    CK_INFO info;

    if (PK11URI_GetPathAttribute(uri, PK11URI_PATTR_LIBRARY_MANUFACTURER) == NULL &&
        PK11URI_GetPathAttribute(uri, PK11URI_PATTR_LIBRARY_DESCRIPTION) == NULL &&
        PK11URI_GetPathAttribute(uri, PK11URI_PATTR_LIBRARY_VERSION) == NULL)
        return PR_TRUE;
    if (PK11_GetModInfo(module, &info) != SECSuccess)
        return PR_FALSE;
    if (URI_FIELD_MISMATCH(uri, PK11URI_PATTR_LIBRARY_MANUFACTURER, info.manufacturerID) ||
        URI_FIELD_MISMATCH(uri, PK11URI_PATTR_LIBRARY_DESCRIPTION, info.libraryDescription))
        return PR_FALSE;
    value = PK11URI_GetPathAttribute(uri, PK11URI_PATTR_LIBRARY_VERSION);
    if (value != NULL) {
        char version[16];
        /* "M" stands for "M.0" (RFC 7512, 2.3). */
        snprintf(version, sizeof(version), "%d.%d", info.libraryVersion.major,
                 info.libraryVersion.minor);
        if (strcmp(value, version) != 0 &&
            !(info.libraryVersion.minor == 0 && strchr(value, '.') == NULL &&
              atoi(value) == info.libraryVersion.major))
            return PR_FALSE;
    }
    return PR_TRUE;
}

static PRBool
slot_matches(PK11URI *uri, PK11SlotInfo *slot)
{
    const char *value;
    CK_TOKEN_INFO token;
    CK_SLOT_INFO info;

    /* The label as NSS read it when the token appeared, which is how
     * PK11_FindSlotByName matches nicknames: no call into the module, which
     * a busy token may fail for a moment (SoftHSM, while another process
     * logs in and rewrites the token's file), turning a present token into
     * an "unknown" one. */
    const char *label = PK11_GetTokenName(slot);
    value = PK11URI_GetPathAttribute(uri, PK11URI_PATTR_TOKEN);
    if (value != NULL && !field_is(value, (const unsigned char *)label, strlen(label)))
        return PR_FALSE;
    if (PK11URI_GetPathAttribute(uri, PK11URI_PATTR_MANUFACTURER) != NULL ||
        PK11URI_GetPathAttribute(uri, PK11URI_PATTR_MODEL) != NULL ||
        PK11URI_GetPathAttribute(uri, PK11URI_PATTR_SERIAL) != NULL) {
        if (PK11_GetTokenInfo(slot, &token) != SECSuccess ||
            URI_FIELD_MISMATCH(uri, PK11URI_PATTR_MANUFACTURER, token.manufacturerID) ||
            URI_FIELD_MISMATCH(uri, PK11URI_PATTR_MODEL, token.model) ||
            URI_FIELD_MISMATCH(uri, PK11URI_PATTR_SERIAL, token.serialNumber))
            return PR_FALSE;
    }
    if (PK11URI_GetPathAttribute(uri, PK11URI_PATTR_SLOT_MANUFACTURER) != NULL ||
        PK11URI_GetPathAttribute(uri, PK11URI_PATTR_SLOT_DESCRIPTION) != NULL) {
        if (PK11_GetSlotInfo(slot, &info) != SECSuccess ||
            URI_FIELD_MISMATCH(uri, PK11URI_PATTR_SLOT_MANUFACTURER, info.manufacturerID) ||
            URI_FIELD_MISMATCH(uri, PK11URI_PATTR_SLOT_DESCRIPTION, info.slotDescription))
            return PR_FALSE;
    }
    value = PK11URI_GetPathAttribute(uri, PK11URI_PATTR_SLOT_ID);
    if (value != NULL) {
        char id[24];
        snprintf(id, sizeof(id), "%lu", (unsigned long)PK11_GetSlotID(slot));
        if (strcmp(value, id) != 0)
            return PR_FALSE;
    }
    return PR_TRUE;
}

/* One token reached through two modules (say p11-kit's proxy and the
 * module itself) is one token. */
static PRBool
same_token(PK11SlotInfo *a, PK11SlotInfo *b)
{
    CK_TOKEN_INFO x, y;
    if (PK11_GetTokenInfo(a, &x) != SECSuccess || PK11_GetTokenInfo(b, &y) != SECSuccess)
        return PR_FALSE;
    return memcmp(x.label, y.label, sizeof(x.label)) == 0 &&
           memcmp(x.manufacturerID, y.manufacturerID, sizeof(x.manufacturerID)) == 0 &&
           memcmp(x.model, y.model, sizeof(x.model)) == 0 &&
           memcmp(x.serialNumber, y.serialNumber, sizeof(x.serialNumber)) == 0;
}

#define MAX_TOKENS 64

typedef struct {
    PK11SlotInfo *slots[MAX_TOKENS];
    int count;
} token_set;

static void
token_set_clear(token_set *set)
{
    for (int i = 0; i < set->count; i++)
        PK11_FreeSlot(set->slots[i]);
    set->count = 0;
}

static void
add_token(token_set *set, PK11SlotInfo *slot)
{
    for (int i = 0; i < set->count; i++)
        if (set->slots[i] == slot || same_token(set->slots[i], slot))
            return;
    if (set->count < MAX_TOKENS)
        set->slots[set->count++] = PK11_ReferenceSlot(slot);
}

/* "; present: \"A\", \"B\"": the names of the tokens present, for a
 * message that says no token matched, so that a misspelt label shows
 * beside the right one. Holds the module list's read lock; runs without
 * the GIL (names are NSS's copies: no module call). */
static void
describe_present_tokens(char *out, size_t size)
{
    SECMODListLock *lock = SECMOD_GetDefaultModuleListLock();
    size_t used = 0;
    int listed = 0;

    out[0] = '\0';
    SECMOD_GetReadLock(lock);
    for (SECMODModuleList *m = SECMOD_GetDefaultModuleList(); m != NULL; m = m->next) {
        for (int i = 0; i < m->module->slotCount; i++) {
            PK11SlotInfo *slot = m->module->slots[i];
            const char *token = PK11_GetTokenName(slot);
            if (token == NULL || token[0] == '\0' || !PK11_IsPresent(slot))
                continue;
            /* Truncated lists end in "...": the message stays one line. */
            int wrote = snprintf(out + used, size - used, "%s\"%s\"",
                                 listed ? ", " : "; present: ", token);
            if (wrote < 0 || (size_t)wrote >= size - used) {
                if (size > 4)
                    strcpy(out + (used < size - 4 ? used : size - 4), "...");
                SECMOD_ReleaseReadLock(lock);
                return;
            }
            used += (size_t)wrote;
            listed++;
        }
    }
    SECMOD_ReleaseReadLock(lock);
    if (listed == 0)
        snprintf(out, size, "; no token is present");
}

/* The present tokens `name` designates; none is an error that says so. */
static int
find_tokens(tls_nss_state *st, const tls_nss_object_name *name, token_set *set, const char *what)
{
    char present[320];

    set->count = 0;
    Py_BEGIN_ALLOW_THREADS
    if (name->uri == NULL) {
        PK11SlotInfo *slot =
            name->token ? PK11_FindSlotByName(name->token) : PK11_GetInternalKeySlot();
        if (slot != NULL && PK11_IsPresent(slot))
            add_token(set, slot);
        if (slot != NULL)
            PK11_FreeSlot(slot);
    }
    else {
        SECMODListLock *lock = SECMOD_GetDefaultModuleListLock();
        SECMOD_GetReadLock(lock);
        for (SECMODModuleList *m = SECMOD_GetDefaultModuleList(); m != NULL; m = m->next) {
            if (!module_matches(name->uri, m->module))
                continue;
            for (int i = 0; i < m->module->slotCount; i++) {
                PK11SlotInfo *slot = m->module->slots[i];
                if (PK11_IsPresent(slot) && slot_matches(name->uri, slot))
                    add_token(set, slot);
            }
        }
        SECMOD_ReleaseReadLock(lock);
    }
    if (set->count == 0)
        describe_present_tokens(present, sizeof(present));
    Py_END_ALLOW_THREADS
    if (set->count > 0)
        return 0;
    if (name->uri == NULL && name->token != NULL)
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, SEC_ERROR_NO_TOKEN,
                      "finding the %s %s: unknown token: no token named \"%s\" is present%s",
                      what, name->text, name->token, present);
    else
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, SEC_ERROR_NO_TOKEN,
                      "finding the %s %s: unknown token: no present token matches it%s",
                      what, name->text, present);
    return -1;
}

/* ---- objects ------------------------------------------------------- */

static PRBool
cka_id_is(const SECItem *wanted, SECItem *actual)
{
    PRBool same = actual != NULL && SECITEM_ItemsAreEqual(wanted, actual);
    if (actual != NULL)
        SECITEM_FreeItem(actual, PR_TRUE);
    return same;
}

/* The label of a certificate's object, from the nickname NSS built for it
 * in `slot` ("token:label" outside the internal key token). */
static const char *
label_in_token(PK11SlotInfo *slot, const char *nickname)
{
    const char *token = PK11_GetTokenName(slot);
    size_t length = strlen(token);
    if (nickname == NULL)
        return "";
    if (!PK11_IsInternalKeySlot(slot) && strncmp(nickname, token, length) == 0 &&
        nickname[length] == ':')
        return nickname + length + 1;
    return nickname;
}

/* Adds to `found` the certificates in `slot` that `name` selects. Runs
 * without the GIL; -1 when out of memory. */
static int
collect_certificates(PK11SlotInfo *slot, const tls_nss_object_name *name, CERTCertList *found)
{
    CERTCertList *listed = PK11_ListCertsInSlot(slot);
    if (listed == NULL)
        return 0;
    for (CERTCertListNode *node = CERT_LIST_HEAD(listed); !CERT_LIST_END(node, listed);
         node = CERT_LIST_NEXT(node)) {
        const char *label = label_in_token(slot, node->appData);
        if (name->label != NULL && strcmp(name->label, label) != 0)
            continue;
        if (name->cka_id != NULL &&
            !cka_id_is(name->cka_id, PK11_GetLowLevelKeyIDForCert(slot, node->cert, NULL)))
            continue;
        PRBool seen = PR_FALSE;
        for (CERTCertListNode *f = CERT_LIST_HEAD(found); !CERT_LIST_END(f, found);
             f = CERT_LIST_NEXT(f))
            seen = seen || SECITEM_ItemsAreEqual(&f->cert->derCert, &node->cert->derCert);
        if (seen)
            continue;
        char *nickname = PORT_ArenaStrdup(found->arena, node->appData ? node->appData : label);
        CERTCertificate *cert = CERT_DupCertificate(node->cert);
        if (nickname == NULL ||
            CERT_AddCertToListTailWithData(found, cert, nickname) != SECSuccess) {
            CERT_DestroyCertificate(cert);
            CERT_DestroyCertList(listed);
            return -1;
        }
    }
    CERT_DestroyCertList(listed);
    return 0;
}

static PRBool
type_is(const tls_nss_object_name *name, const char *type)
{
    return name->type == NULL || strcmp(name->type, type) == 0;
}

static int
check_type(tls_nss_state *st, const tls_nss_object_name *name, const char *type, const char *what)
{
    if (type_is(name, type))
        return 0;
    tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, 0,
                  "finding the %s %s: its type=%s names no %s object", what, name->text,
                  name->type, type);
    return -1;
}

PyObject *
tls_nss_nicknames_of(CERTCertList *list)
{
    PyObject *names = PyList_New(0);
    if (names == NULL)
        return NULL;
    for (CERTCertListNode *node = CERT_LIST_HEAD(list); !CERT_LIST_END(node, list);
         node = CERT_LIST_NEXT(node)) {
        PyObject *nick = PyUnicode_FromString(node->appData ? (char *)node->appData : "?");
        if (nick == NULL || PyList_Append(names, nick) < 0) {
            Py_XDECREF(nick);
            Py_DECREF(names);
            return NULL;
        }
        Py_DECREF(nick);
    }
    return names;
}

/* An id that names tokens but no object in them: say which id, where we
 * looked, and that nothing was there. */
static void
raise_nothing_found(tls_nss_state *st, const tls_nss_object_name *name, const token_set *tokens,
                    const char *kind, const char *what)
{
    if (tokens->count == 1)
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, 0,
                      "finding the %s %s: unknown object: token \"%s\" holds no %s that "
                      "matches the id", what, name->text, PK11_GetTokenName(tokens->slots[0]),
                      kind);
    else
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, 0,
                      "finding the %s %s: unknown object: none of the %d tokens it names "
                      "holds a %s that matches the id", what, name->text, tokens->count, kind);
}

/* Certificates are usually public; some tokens show them only after a
 * login, which needs a PIN we may have. */
static int
collect_after_login(tls_nss_state *st, const token_set *tokens, const tls_nss_object_name *name,
                    tls_nss_pin_source *pins, CERTCertList *found, const char *what)
{
    for (int i = 0; i < tokens->count; i++) {
        PK11SlotInfo *slot = tokens->slots[i];
        int collected;
        if (!PK11_NeedLogin(slot) || !tls_nss_pin_source_can_answer(pins))
            continue;
        if (tls_nss_log_in(st, slot, pins, what) < 0)
            return -1;
        Py_BEGIN_ALLOW_THREADS
        collected = collect_certificates(slot, name, found);
        Py_END_ALLOW_THREADS
        if (collected < 0) {
            PyErr_NoMemory();
            return -1;
        }
    }
    return 0;
}

CERTCertList *
tls_nss_find_certificates(tls_nss_state *st, const tls_nss_object_name *name,
                          tls_nss_pin_source *pins, const char *what)
{
    token_set tokens;
    CERTCertList *found = NULL;
    int collected = 0;

    if (check_type(st, name, "cert", what) < 0 || find_tokens(st, name, &tokens, what) < 0)
        return NULL;
    found = CERT_NewCertList();
    if (found == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    Py_BEGIN_ALLOW_THREADS
    for (int i = 0; i < tokens.count && collected == 0; i++)
        collected = collect_certificates(tokens.slots[i], name, found);
    Py_END_ALLOW_THREADS
    if (collected < 0) {
        PyErr_NoMemory();
        goto fail;
    }
    if (CERT_LIST_EMPTY(found) &&
        collect_after_login(st, &tokens, name, pins, found, what) < 0)
        goto fail;
    if (CERT_LIST_EMPTY(found)) {
        raise_nothing_found(st, name, &tokens, "certificate", what);
        goto fail;
    }
    token_set_clear(&tokens);
    return found;

fail:
    if (found)
        CERT_DestroyCertList(found);
    token_set_clear(&tokens);
    return NULL;
}

CERTCertificate *
tls_nss_certificate_from_id(tls_nss_state *st, const char *id, tls_nss_pin_source *pins,
                            const char *what)
{
    tls_nss_object_name name;
    CERTCertList *found = NULL;
    CERTCertificate *cert = NULL;

    if (tls_nss_object_name_parse(st, id, pins, &name, what) < 0)
        goto done;
    found = tls_nss_find_certificates(st, &name, pins, what);
    if (found == NULL)
        goto done;
    CERTCertListNode *first = CERT_LIST_HEAD(found);
    if (!CERT_LIST_END(CERT_LIST_NEXT(first), found)) {
        PyObject *names = tls_nss_nicknames_of(found);
        if (names != NULL)
            tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, 0,
                          "finding the %s %s: the id matches several certificates (%R); "
                          "add object= or id= to pick one", what, name.text, names);
        Py_XDECREF(names);
        goto done;
    }
    cert = CERT_DupCertificate(first->cert);
done:
    if (found)
        CERT_DestroyCertList(found);
    tls_nss_object_name_clear(&name);
    return cert;
}

/* Private keys in `slot` labelled `label` (any, if NULL) with CKA_ID `id`. */
static SECKEYPrivateKeyList *
list_private_keys(PK11SlotInfo *slot, const char *label, const SECItem *cka_id,
                  tls_nss_pin_source *pins)
{
    SECKEYPrivateKeyList *keys;

    tls_nss_begin_token_call(pins);
    keys = PK11_ListPrivKeysInSlot(slot, (char *)label, pins);
    tls_nss_end_token_call(pins);
    if (keys == NULL || cka_id == NULL)
        return keys;
    SECKEYPrivateKeyListNode *node = PRIVKEY_LIST_HEAD(keys);
    while (!PRIVKEY_LIST_END(node, keys)) {
        SECKEYPrivateKeyListNode *next = PRIVKEY_LIST_NEXT(node);
        if (!cka_id_is(cka_id, PK11_GetLowLevelKeyIDForPrivateKey(node->key)))
            SECKEY_RemovePrivateKeyListNode(node);
        node = next;
    }
    return keys;
}

SECKEYPrivateKey *
tls_nss_private_key_for_certificate(tls_nss_state *st, CERTCertificate *cert,
                                    tls_nss_pin_source *pins, const char *what)
{
    SECKEYPrivateKey *key;
    PRErrorCode error = 0;

    /* Log in first, so that a PIN problem is reported as one rather than
     * as a missing key. */
    if (cert->slot != NULL && tls_nss_log_in(st, cert->slot, pins, what) < 0)
        return NULL;
    tls_nss_begin_token_call(pins);
    key = PK11_FindKeyByAnyCert(cert, pins);
    if (key == NULL)
        error = PR_GetError();
    tls_nss_end_token_call(pins);
    if (key != NULL)
        return key;
    if (tls_nss_pin_source_was_asked(pins)) {
        tls_nss_raise_login_failure(st, pins, cert->slot ? PK11_GetTokenName(cert->slot) : "?",
                            error, what);
        return NULL;
    }
    tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, error,
                  "finding %s: a certificate without a matching key: no token holds a "
                  "private key that pairs with \"%s\" (give the key and the certificate "
                  "the same CKA_ID)", what, cert->nickname ? cert->nickname : cert->subjectName);
    return NULL;
}

/* Logs in to each token and counts the keys `name` selects there; the
 * first is kept in `*first`. -1 with an exception set. */
static int
count_private_keys(tls_nss_state *st, const token_set *tokens, const tls_nss_object_name *name,
                   tls_nss_pin_source *pins, SECKEYPrivateKey **first, const char *what)
{
    int matches = 0;

    for (int i = 0; i < tokens->count; i++) {
        if (tls_nss_log_in(st, tokens->slots[i], pins, what) < 0)
            return -1;
        SECKEYPrivateKeyList *keys =
            list_private_keys(tokens->slots[i], name->label, name->cka_id, pins);
        if (keys == NULL)
            continue;
        for (SECKEYPrivateKeyListNode *node = PRIVKEY_LIST_HEAD(keys);
             !PRIVKEY_LIST_END(node, keys); node = PRIVKEY_LIST_NEXT(node)) {
            if (matches++ == 0)
                *first = SECKEY_CopyPrivateKey(node->key);
        }
        SECKEY_DestroyPrivateKeyList(keys);
    }
    return matches;
}

/* An NSS nickname names a certificate; its key is the one that pairs with
 * it, whatever the key's own label. */
static SECKEYPrivateKey *
private_key_of_nickname(tls_nss_state *st, const tls_nss_object_name *name,
                        tls_nss_pin_source *pins, const char *what)
{
    CERTCertList *certs = tls_nss_find_certificates(st, name, pins, what);
    if (certs == NULL)
        return NULL;
    SECKEYPrivateKey *key =
        tls_nss_private_key_for_certificate(st, CERT_LIST_HEAD(certs)->cert, pins, what);
    CERT_DestroyCertList(certs);
    return key;
}

SECKEYPrivateKey *
tls_nss_private_key_from_id(tls_nss_state *st, const char *id, tls_nss_pin_source *pins,
                            const char *what)
{
    tls_nss_object_name name;
    token_set tokens = {.count = 0};
    SECKEYPrivateKey *key = NULL;
    int matches;

    if (tls_nss_object_name_parse(st, id, pins, &name, what) < 0 ||
        check_type(st, &name, "private", what) < 0 || find_tokens(st, &name, &tokens, what) < 0)
        goto done;
    matches = count_private_keys(st, &tokens, &name, pins, &key, what);
    if (matches == 0 && name.uri == NULL) {
        key = private_key_of_nickname(st, &name, pins, what);
    }
    else if (matches == 0) {
        raise_nothing_found(st, &name, &tokens, "private key", what);
    }
    else if (matches > 1) {
        SECKEY_DestroyPrivateKey(key);
        key = NULL;
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, 0,
                      "finding the %s %s: the id matches %d private keys; add object= or "
                      "id= to pick one", what, name.text, matches);
    }
done:
    if (PyErr_Occurred() && key != NULL) {
        SECKEY_DestroyPrivateKey(key);
        key = NULL;
    }
    token_set_clear(&tokens);
    tls_nss_object_name_clear(&name);
    return key;
}
