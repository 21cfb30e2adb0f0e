/* PKCS#11 tokens: the modules that reach them, their PINs, and the
 * certificates, private keys and trust anchors named by id.
 *
 * An id is an NSS nickname ("label" for the NSS database or internal
 * token, "token:label" for any other token) or an RFC 7512 pkcs11: URI.
 * Both are resolved the same way, first the tokens and then the objects
 * in them by label and CKA_ID, so the errors read alike whichever form
 * was used. Private keys stay in their token: NSS hands out handles, and
 * every operation on them runs inside the token. */
#include "config.h"
#include "tls_nss.h"

#include <secmod.h>
#include <pkcs11uri.h>
#include <certdb.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* ---- ids ----------------------------------------------------------- */

typedef struct {
    char text[512];   /* the id for messages, its pin-value masked */
    PK11URI *uri;     /* a pkcs11: URI, or NULL for a nickname */
    char *token;      /* a nickname's token part (PORT), or NULL */
    const char *label;
    const SECItem *cka_id;
    const char *type;
} object_name;

/* Error messages end up in logs; a PIN must not. */
static void
set_display_text(object_name *name, const char *id)
{
    const char *pin = strstr(id, "pin-value=");
    if (pin == NULL) {
        snprintf(name->text, sizeof(name->text), "%s", id);
        return;
    }
    const char *rest = pin + strlen("pin-value=");
    rest += strcspn(rest, "&");
    snprintf(name->text, sizeof(name->text), "%.*spin-value=***%s",
             (int)(pin - id), id, rest);
}

static void
object_name_clear(object_name *name)
{
    if (name->uri)
        PK11URI_DestroyURI(name->uri);
    if (name->token)
        PORT_Free(name->token);
    memset(name, 0, sizeof(*name));
}

static PRBool
is_uri(const char *id)
{
    return PORT_Strncasecmp(id, "pkcs11:", 7) == 0;
}

/* NSS keeps attributes it does not know as vendor attributes, so a typo
 * ("objetc=") would silently widen the match; refuse those. RFC 7512
 * vendor attributes start with "x-". Of the query attributes, only the PIN
 * ones are supported: modules are loaded before NSS starts, not per id. */
static int
check_attributes(tls_nss_state *st, const char *id, const object_name *name,
                 const char *what)
{
    static const char *const path_names[] = {
        "token", "manufacturer", "serial", "model", "library-manufacturer",
        "library-description", "library-version", "object", "type", "id",
        "slot-manufacturer", "slot-description", "slot-id", NULL,
    };
    static const char *const query_names[] = {"pin-value", "pin-source", NULL};
    const char *const *known = path_names;
    const char *at = id + 7;

    while (*at != '\0') {
        size_t length = strcspn(at, known == path_names ? "=;?" : "=&");
        PRBool ok = length == 0 || PORT_Strncasecmp(at, "x-", 2) == 0;
        for (size_t i = 0; !ok && known[i] != NULL; i++)
            ok = strlen(known[i]) == length && strncmp(at, known[i], length) == 0;
        if (!ok) {
            char attribute[64];
            snprintf(attribute, sizeof(attribute), "%.*s", (int)length, at);
            tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, 0,
                          "reading the %s id %s: %s PKCS#11 URI attribute \"%s\"%s", what,
                          name->text, known == path_names ? "unknown" : "unsupported",
                          attribute,
                          known == path_names ? ""
                                              : " (add modules with tls_nss.add_pkcs11_module)");
            return -1;
        }
        at += strcspn(at, known == path_names ? ";?" : "&");
        if (*at == '?')
            known = query_names;
        if (*at != '\0')
            at++;
    }
    return 0;
}

/* The PIN a URI carries: pin-value, or the first line of pin-source. */
static int
take_uri_pin(tls_nss_state *st, object_name *name, tls_nss_pin_source *pins,
             const char *what)
{
    const char *value = PK11URI_GetQueryAttribute(name->uri, PK11URI_QATTR_PIN_VALUE);
    const char *source = PK11URI_GetQueryAttribute(name->uri, PK11URI_QATTR_PIN_SOURCE);
    char line[MAX_PIN_LENGTH + 2];

    if (value == NULL && source == NULL)
        return 0;
    if (value != NULL && source != NULL) {
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, 0,
                      "reading the %s id: it gives both pin-value and pin-source", what);
        return -1;
    }
    if (value != NULL)
        return tls_nss_pin_source_set_uri_pin(pins, value, "the URI's pin-value");

    const char *path = PORT_Strncasecmp(source, "file:", 5) == 0 ? source + 5 : source;
    char origin[96];
    FILE *file;
    size_t length = 0;
    int result;

    if (path[0] != '/') {
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, 0,
                      "reading the %s id: pin-source must be an absolute path or a "
                      "file: URI, not \"%s\"", what, source);
        return -1;
    }
    file = fopen(path, "re");
    if (file == NULL) {
        int saved = errno;
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, 0,
                      "reading the PIN for the %s from pin-source %s: %s", what, path,
                      strerror(saved));
        return -1;
    }
    if (fgets(line, sizeof(line), file) != NULL)
        length = strcspn(line, "\r\n");
    fclose(file);
    if (length > MAX_PIN_LENGTH) {
        PORT_Memset(line, 0, sizeof(line));
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, 0,
                      "reading the PIN for the %s from pin-source %s: the first line "
                      "is longer than %d bytes", what, path, MAX_PIN_LENGTH);
        return -1;
    }
    line[length] = '\0';
    snprintf(origin, sizeof(origin), "pin-source %.70s", path);
    result = tls_nss_pin_source_set_uri_pin(pins, line, origin);
    PORT_Memset(line, 0, sizeof(line));
    return result;
}

static int
parse_id(tls_nss_state *st, const char *id, tls_nss_pin_source *pins,
         object_name *name, const char *what)
{
    memset(name, 0, sizeof(*name));
    set_display_text(name, id);
    if (id[0] == '\0') {
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, 0, "reading the %s id: it is empty", what);
        return -1;
    }
    if (!is_uri(id)) {
        const char *colon = strchr(id, ':');
        if (colon == NULL) {
            name->label = id;
            return 0;
        }
        name->token = PORT_Strdup(id);
        if (name->token == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        name->token[colon - id] = '\0';
        name->label = colon + 1;
        return 0;
    }
    if (check_attributes(st, id, name, what) < 0)
        return -1;
    name->uri = PK11URI_ParseURI(id);
    if (name->uri == NULL) {
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, PR_GetError(),
                      "reading the %s id %s: not a valid PKCS#11 URI (RFC 7512)", what,
                      name->text);
        return -1;
    }
    name->label = PK11URI_GetPathAttribute(name->uri, PK11URI_PATTR_OBJECT);
    name->cka_id = PK11URI_GetPathAttributeItem(name->uri, PK11URI_PATTR_ID);
    name->type = PK11URI_GetPathAttribute(name->uri, PK11URI_PATTR_TYPE);
    return take_uri_pin(st, name, pins, what);
}

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

    if (PK11_GetTokenInfo(slot, &token) != SECSuccess)
        return PR_FALSE;
    if (URI_FIELD_MISMATCH(uri, PK11URI_PATTR_TOKEN, token.label) ||
        URI_FIELD_MISMATCH(uri, PK11URI_PATTR_MANUFACTURER, token.manufacturerID) ||
        URI_FIELD_MISMATCH(uri, PK11URI_PATTR_MODEL, token.model) ||
        URI_FIELD_MISMATCH(uri, PK11URI_PATTR_SERIAL, token.serialNumber))
        return PR_FALSE;
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

/* The present tokens `name` designates; none is an error that says so. */
static int
find_tokens(tls_nss_state *st, const object_name *name, token_set *set, const char *what)
{
    set->count = 0;
    if (name->uri == NULL) {
        Py_BEGIN_ALLOW_THREADS
        PK11SlotInfo *slot =
            name->token ? PK11_FindSlotByName(name->token) : PK11_GetInternalKeySlot();
        if (slot != NULL && PK11_IsPresent(slot))
            add_token(set, slot);
        if (slot != NULL)
            PK11_FreeSlot(slot);
        Py_END_ALLOW_THREADS
    }
    else {
        SECMODListLock *lock = SECMOD_GetDefaultModuleListLock();
        Py_BEGIN_ALLOW_THREADS
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
        Py_END_ALLOW_THREADS
    }
    if (set->count > 0)
        return 0;
    if (name->uri == NULL && name->token != NULL)
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, SEC_ERROR_NO_TOKEN,
                      "finding the %s %s: unknown token: no token named \"%s\" is present",
                      what, name->text, name->token);
    else
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, SEC_ERROR_NO_TOKEN,
                      "finding the %s %s: unknown token: no present token matches it",
                      what, name->text);
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
collect_certificates(PK11SlotInfo *slot, const object_name *name, CERTCertList *found)
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
type_is(const object_name *name, const char *type)
{
    return name->type == NULL || strcmp(name->type, type) == 0;
}

static int
check_type(tls_nss_state *st, const object_name *name, const char *type, const char *what)
{
    if (type_is(name, type))
        return 0;
    tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, 0,
                  "finding the %s %s: its type=%s names no %s object", what, name->text,
                  name->type, type);
    return -1;
}

static PyObject *
nicknames_of(CERTCertList *list)
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

/* Every certificate `name` selects, logging in to tokens that hide their
 * objects until then. An empty result is an "unknown object" error. */
static CERTCertList *
find_certificates(tls_nss_state *st, const object_name *name, tls_nss_pin_source *pins,
                  const char *what)
{
    token_set tokens;
    CERTCertList *found = NULL;

    if (check_type(st, name, "cert", what) < 0 || find_tokens(st, name, &tokens, what) < 0)
        return NULL;
    found = CERT_NewCertList();
    if (found == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    int collected = 0;
    Py_BEGIN_ALLOW_THREADS
    for (int i = 0; i < tokens.count && collected == 0; i++)
        collected = collect_certificates(tokens.slots[i], name, found);
    Py_END_ALLOW_THREADS
    if (collected < 0) {
        PyErr_NoMemory();
        goto fail;
    }
    if (CERT_LIST_EMPTY(found)) {
        /* Certificates are usually public; some tokens show them only after
         * a login, which needs a PIN we may have. */
        for (int i = 0; i < tokens.count; i++) {
            PK11SlotInfo *slot = tokens.slots[i];
            if (!PK11_NeedLogin(slot) || !tls_nss_pin_source_can_answer(pins))
                continue;
            if (tls_nss_log_in(st, slot, pins, what) < 0)
                goto fail;
            Py_BEGIN_ALLOW_THREADS
            collected = collect_certificates(slot, name, found);
            Py_END_ALLOW_THREADS
            if (collected < 0) {
                PyErr_NoMemory();
                goto fail;
            }
        }
    }
    if (CERT_LIST_EMPTY(found)) {
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, SEC_ERROR_UNRECOGNIZED_OID,
                      "finding the %s %s: unknown object: no matching certificate in %s%s",
                      what, name->text,
                      tokens.count == 1 ? "token " : "the matching tokens",
                      tokens.count == 1 ? PK11_GetTokenName(tokens.slots[0]) : "");
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
    object_name name;
    CERTCertList *found = NULL;
    CERTCertificate *cert = NULL;

    if (parse_id(st, id, pins, &name, what) < 0)
        goto done;
    found = find_certificates(st, &name, pins, what);
    if (found == NULL)
        goto done;
    CERTCertListNode *first = CERT_LIST_HEAD(found);
    if (!CERT_LIST_END(CERT_LIST_NEXT(first), found)) {
        PyObject *names = nicknames_of(found);
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
    object_name_clear(&name);
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

SECKEYPrivateKey *
tls_nss_private_key_from_id(tls_nss_state *st, const char *id, tls_nss_pin_source *pins,
                            const char *what)
{
    object_name name;
    token_set tokens = {.count = 0};
    SECKEYPrivateKey *key = NULL;
    int matches = 0;

    if (parse_id(st, id, pins, &name, what) < 0)
        goto done;
    if (check_type(st, &name, "private", what) < 0 || find_tokens(st, &name, &tokens, what) < 0)
        goto done;
    for (int i = 0; i < tokens.count; i++) {
        if (tls_nss_log_in(st, tokens.slots[i], pins, what) < 0)
            goto done;
        SECKEYPrivateKeyList *keys =
            list_private_keys(tokens.slots[i], name.label, name.cka_id, pins);
        if (keys == NULL)
            continue;
        for (SECKEYPrivateKeyListNode *node = PRIVKEY_LIST_HEAD(keys);
             !PRIVKEY_LIST_END(node, keys); node = PRIVKEY_LIST_NEXT(node)) {
            if (matches++ == 0)
                key = SECKEY_CopyPrivateKey(node->key);
        }
        SECKEY_DestroyPrivateKeyList(keys);
    }
    if (matches == 0 && name.uri == NULL) {
        /* An NSS nickname names a certificate; its key is the one that
         * pairs with it, whatever the key's own label. */
        CERTCertList *certs = find_certificates(st, &name, pins, what);
        if (certs == NULL)
            goto done;
        key = tls_nss_private_key_for_certificate(st, CERT_LIST_HEAD(certs)->cert, pins, what);
        CERT_DestroyCertList(certs);
        goto done;
    }
    if (matches == 0) {
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, SEC_ERROR_NO_KEY,
                      "finding the %s %s: unknown object: no matching private key", what,
                      name.text);
    }
    else if (matches > 1) {
        SECKEY_DestroyPrivateKey(key);
        key = NULL;
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, 0,
                      "finding the %s %s: the id matches %d private keys; add object= or "
                      "id= to pick one", what, name.text, matches);
    }
done:
    token_set_clear(&tokens);
    object_name_clear(&name);
    return key;
}

/* ---- trust anchors ------------------------------------------------- */

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

static char opened_db_name[1024];

/* Whether `directory` is TLS_NSS_DB's, however spelled: opening the
 * process's own database a second time would be a second token. */
static PRBool
is_process_database(const char *directory)
{
    char wanted[PATH_MAX], opened[PATH_MAX];
    const char *own = nss_db_directory(opened_db_name);
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
    object_name name;
    CERTCertList *listed, *anchors = NULL;

    if (nss_db_directory(id) != NULL)
        return anchors_from_database(st, id, for_server);
    if (!is_uri(id)) {
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, 0,
                      "reading the trust store id %s: expected sql:/path/to/nssdb or a "
                      "pkcs11: URI", id);
        return NULL;
    }
    if (parse_id(st, id, pins, &name, "trust store") < 0)
        goto done;
    listed = find_certificates(st, &name, pins, "trust store");
    if (listed != NULL) {
        anchors = anchors_from_listed(st, listed, 0, id);
        CERT_DestroyCertList(listed);
    }
done:
    object_name_clear(&name);
    return anchors;
}

/* ---- modules and the NSS database ---------------------------------- */

void
tls_nss_tokens_start(const char *nss_db)
{
    PK11_SetPasswordFunc(tls_nss_pin_for_token);
    if (nss_db != NULL)
        snprintf(opened_db_name, sizeof(opened_db_name), "%s", nss_db);
}

static PRBool
module_is_loaded(const char *library)
{
    const char *wanted = strrchr(library, '/') ? strrchr(library, '/') + 1 : library;
    SECMODListLock *lock = SECMOD_GetDefaultModuleListLock();
    PRBool loaded = PR_FALSE;

    SECMOD_GetReadLock(lock);
    for (SECMODModuleList *m = SECMOD_GetDefaultModuleList(); m && !loaded; m = m->next) {
        const char *dll = m->module->dllName;
        if (dll == NULL)
            continue;
        const char *base = strrchr(dll, '/') ? strrchr(dll, '/') + 1 : dll;
        loaded = strcmp(base, wanted) == 0;
    }
    SECMOD_ReleaseReadLock(lock);
    return loaded;
}

/* Loads one PKCS#11 module. Returns 1 if loaded, 0 if it already was, -1
 * with an exception set. */
int
tls_nss_load_module(tls_nss_state *st, const char *name, const char *library)
{
    char spec[1200];
    SECMODModule *module;
    PRErrorCode error = 0;

    if (module_is_loaded(library))
        return 0;
    if (strchr(library, '"') != NULL || strchr(name, '"') != NULL) {
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, 0,
                      "loading the PKCS#11 module %s: quotes in its name or path are "
                      "not supported", library);
        return -1;
    }
    snprintf(spec, sizeof(spec), "name=\"%s\" library=\"%s\"", name, library);
    Py_BEGIN_ALLOW_THREADS
    module = SECMOD_LoadUserModule(spec, NULL, PR_FALSE);
    if (module == NULL || !module->loaded) {
        error = PR_GetError();
        if (module != NULL) {
            SECMOD_DestroyModule(module);
            module = NULL;
        }
    }
    Py_END_ALLOW_THREADS
    if (module == NULL) {
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, error, "loading the PKCS#11 module %s",
                      library);
        return -1;
    }
    SECMOD_DestroyModule(module); /* NSS's module list keeps its own reference */
    return 1;
}

/* [{"module", "library", "token", "manufacturer", "model", "serial",
 *   "needs_login", "uri", "certificates": [nickname, ...]}], for
 * `python3 -m tls_nss tokens`. No login: what a token hides stays hidden. */
PyObject *
tls_nss_list_tokens(void)
{
    PyObject *result = PyList_New(0);
    SECMODListLock *lock = SECMOD_GetDefaultModuleListLock();

    if (result == NULL)
        return NULL;
    SECMOD_GetReadLock(lock);
    for (SECMODModuleList *m = SECMOD_GetDefaultModuleList(); m != NULL; m = m->next) {
        for (int i = 0; i < m->module->slotCount; i++) {
            PK11SlotInfo *slot = m->module->slots[i];
            CK_TOKEN_INFO info;
            if (!PK11_IsPresent(slot) || PK11_GetTokenInfo(slot, &info) != SECSuccess)
                continue;
            char *uri = PK11_GetTokenURI(slot);
            CERTCertList *certs = PK11_ListCertsInSlot(slot);
            PyObject *nicknames = certs ? nicknames_of(certs) : PyList_New(0);
            if (certs)
                CERT_DestroyCertList(certs);
            PyObject *entry = nicknames == NULL ? NULL : Py_BuildValue(
                "{s:s,s:z,s:s#,s:s#,s:s#,s:s#,s:O,s:z,s:N}",
                "module", m->module->commonName, "library", m->module->dllName,
                "token", PK11_GetTokenName(slot), (Py_ssize_t)strlen(PK11_GetTokenName(slot)),
                "manufacturer", (const char *)info.manufacturerID,
                (Py_ssize_t)sizeof(info.manufacturerID),
                "model", (const char *)info.model, (Py_ssize_t)sizeof(info.model),
                "serial", (const char *)info.serialNumber, (Py_ssize_t)sizeof(info.serialNumber),
                "needs_login", PK11_NeedLogin(slot) ? Py_True : Py_False, "uri", uri,
                "certificates", nicknames);
            if (uri)
                PORT_Free(uri);
            if (entry == NULL || PyList_Append(result, entry) < 0) {
                Py_XDECREF(entry);
                Py_CLEAR(result);
                goto done;
            }
            Py_DECREF(entry);
        }
    }
done:
    SECMOD_ReleaseReadLock(lock);
    return result;
}
