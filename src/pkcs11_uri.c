/* Ids: NSS nicknames and RFC 7512 pkcs11: URIs, parsed into what
 * tokens.c matches tokens and objects against.
 *
 * A nickname is "label" (the NSS database or internal token) or
 * "token:label". A URI's path names tokens and objects; its query may
 * carry a PIN (pin-value, or pin-source naming a file), which goes to the
 * lookup's PIN source and never into a message. */
#include "config.h"
#include "tls_nss.h"

#include <errno.h>
#include <stdio.h>
#include <pkcs11uri.h>

/* Error messages end up in logs; a PIN must not. Masked: every value in
 * a URI's query but pin-source's (a path, which helps the reader), and a
 * pin-value wherever it stands, since the ids refused for a misspelt
 * "Pin-Value=", a second pin-value or a pin-value put in the path (";"
 * for "?") are quoted in their messages. */
static PRBool
attribute_is(const char *attribute, size_t length, const char *wanted)
{
    return length == strlen(wanted) && PORT_Strncasecmp(attribute, wanted, length) == 0;
}

static void
set_display_text(tls_nss_object_name *name, const char *id)
{
    const size_t size = sizeof(name->text);
    const char *at = id + 7;  /* after "pkcs11:" */
    PRBool in_query = PR_FALSE;
    size_t used;

    if (!tls_nss_is_pkcs11_uri(id)) {
        snprintf(name->text, size, "%s", id);
        return;
    }
    used = (size_t)snprintf(name->text, size, "%.7s", id);
    while (*at != '\0' && used < size) {
        /* One attribute with the separator before it, if any: ";" or "?"
         * in the path, "&" in the query (whose values may hold ";"). */
        PRBool separated = strchr(in_query ? "&" : ";?", *at) != NULL;
        in_query = in_query || *at == '?';
        const char *attribute = at + separated;
        size_t end = strcspn(attribute, in_query ? "&" : ";?");
        size_t length = (size_t)(attribute - at) + end;
        size_t key = strcspn(attribute, "=");
        if (key > end)
            key = end;
        PRBool masked = attribute[key] == '=' &&
                        ((in_query && !attribute_is(attribute, key, "pin-source")) ||
                         attribute_is(attribute, key, "pin-value"));
        if (masked)
            used += (size_t)snprintf(name->text + used, size - used, "%.*s=***",
                                     (int)(attribute + key - at), at);
        else
            used += (size_t)snprintf(name->text + used, size - used, "%.*s", (int)length, at);
        at += length;
    }
}

void
tls_nss_object_name_clear(tls_nss_object_name *name)
{
    if (name->uri)
        PK11URI_DestroyURI(name->uri);
    if (name->token)
        PORT_Free(name->token);
    memset(name, 0, sizeof(*name));
}

PRBool
tls_nss_is_pkcs11_uri(const char *id)
{
    return PORT_Strncasecmp(id, "pkcs11:", 7) == 0;
}

/* NSS keeps attributes it does not know as vendor attributes, so a typo
 * ("objetc=") would silently widen the match; refuse those. RFC 7512
 * vendor attributes start with "x-". Of the query attributes, only the PIN
 * ones are supported: modules are loaded before NSS starts, not per id. */
static int
check_attributes(tls_nss_state *st, const char *id, const tls_nss_object_name *name,
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
take_uri_pin(tls_nss_state *st, tls_nss_object_name *name, tls_nss_pin_source *pins,
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

int
tls_nss_object_name_parse(tls_nss_state *st, const char *id, tls_nss_pin_source *pins,
                          tls_nss_object_name *name, const char *what)
{
    memset(name, 0, sizeof(*name));
    set_display_text(name, id);
    if (id[0] == '\0') {
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, 0, "reading the %s id: it is empty", what);
        return -1;
    }
    if (!tls_nss_is_pkcs11_uri(id)) {
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
    /* The parser sets no error of its own: none is better than a stale one. */
    PR_SetError(0, 0);
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
