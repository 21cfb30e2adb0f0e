/* PKCS#11 modules: loading them, each once, and listing the tokens they
 * reach for `python3 -m tls_nss tokens`. */
#include "config.h"
#include "tls_nss.h"

#include <secmod.h>

static const char *
file_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* A new reference to a loaded module of `library`, matched by file name
 * (NSS itself may have loaded it by another path), or NULL. */
static SECMODModule *
find_module_of(const char *library)
{
    SECMODListLock *lock = SECMOD_GetDefaultModuleListLock();
    SECMODModule *found = NULL;

    SECMOD_GetReadLock(lock);
    for (SECMODModuleList *m = SECMOD_GetDefaultModuleList(); m && !found; m = m->next) {
        const char *dll = m->module->dllName;
        if (dll != NULL && strcmp(file_name(dll), file_name(library)) == 0)
            found = SECMOD_ReferenceModule(m->module);
    }
    SECMOD_ReleaseReadLock(lock);
    return found;
}

static PRBool
module_is_loaded(const char *library)
{
    SECMODModule *module = find_module_of(library);
    if (module != NULL)
        SECMOD_DestroyModule(module);
    return module != NULL;
}

int
tls_nss_unload_modules_of(tls_nss_state *st, const char *library)
{
    SECMODModule *module;
    int count = 0;

    while ((module = find_module_of(library)) != NULL) {
        SECStatus rv;
        Py_BEGIN_ALLOW_THREADS
        rv = SECMOD_UnloadUserModule(module);
        Py_END_ALLOW_THREADS
        SECMOD_DestroyModule(module);
        if (rv != SECSuccess) {
            tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, PR_GetError(),
                          "unloading the PKCS#11 module %s", library);
            return -1;
        }
        count++;
    }
    return count;
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
        /* A module that p11-kit's proxy has initialised already refuses a
         * second initialisation in the same process. */
        tls_nss_raise(st, TLS_NSS_CONFIG_ERROR, error, "loading the PKCS#11 module %s%s",
                      library,
                      module_is_loaded(TLS_NSS_P11_KIT_PROXY)
                          ? " (p11-kit's proxy is loaded and may reach its tokens already; "
                            "TLS_NSS_P11_KIT_PROXY=0 leaves the proxy out)"
                          : "");
        return -1;
    }
    SECMOD_DestroyModule(module); /* NSS's module list keeps its own reference */
    return 1;
}

/* What the listing shows of one present token, read without the GIL:
 * every field may be a round trip to the token. */
typedef struct {
    PK11SlotInfo *slot;
    SECMODModule *module;
    CK_TOKEN_INFO info;
    char *uri;              /* PORT */
    CERTCertList *certs;    /* those shown without a login, or NULL */
} token_listing;

#define MAX_LISTED_TOKENS 256

/* References the present tokens of every module, under the module list's
 * read lock, and reads what the listing shows of each. */
static int
read_tokens(token_listing *out, int capacity)
{
    SECMODListLock *lock = SECMOD_GetDefaultModuleListLock();
    int count = 0;

    SECMOD_GetReadLock(lock);
    for (SECMODModuleList *m = SECMOD_GetDefaultModuleList(); m != NULL; m = m->next) {
        for (int i = 0; i < m->module->slotCount && count < capacity; i++) {
            PK11SlotInfo *slot = m->module->slots[i];
            if (!PK11_IsPresent(slot) || PK11_GetTokenInfo(slot, &out[count].info) != SECSuccess)
                continue;
            out[count].slot = PK11_ReferenceSlot(slot);
            out[count].module = SECMOD_ReferenceModule(m->module);
            count++;
        }
    }
    SECMOD_ReleaseReadLock(lock);
    for (int i = 0; i < count; i++) {
        out[i].uri = PK11_GetTokenURI(out[i].slot);
        out[i].certs = PK11_ListCertsInSlot(out[i].slot);
    }
    return count;
}

static void
free_tokens(token_listing *tokens, int count)
{
    for (int i = 0; i < count; i++) {
        if (tokens[i].uri)
            PORT_Free(tokens[i].uri);
        if (tokens[i].certs)
            CERT_DestroyCertList(tokens[i].certs);
        SECMOD_DestroyModule(tokens[i].module);
        PK11_FreeSlot(tokens[i].slot);
    }
}

static PyObject *
token_entry(const token_listing *token)
{
    const CK_TOKEN_INFO *info = &token->info;
    const char *name = PK11_GetTokenName(token->slot);
    PyObject *nicknames = token->certs ? tls_nss_nicknames_of(token->certs) : PyList_New(0);

    if (nicknames == NULL)
        return NULL;
    return Py_BuildValue(
        "{s:s,s:z,s:s,s:s#,s:s#,s:s#,s:O,s:z,s:N}",
        "module", token->module->commonName, "library", token->module->dllName,
        "token", name,
        "manufacturer", (const char *)info->manufacturerID, (Py_ssize_t)sizeof(info->manufacturerID),
        "model", (const char *)info->model, (Py_ssize_t)sizeof(info->model),
        "serial", (const char *)info->serialNumber, (Py_ssize_t)sizeof(info->serialNumber),
        "needs_login", PK11_NeedLogin(token->slot) ? Py_True : Py_False,
        "uri", token->uri, "certificates", nicknames);
}

/* [{"module", "library", "token", "manufacturer", "model", "serial",
 *   "needs_login", "uri", "certificates": [nickname, ...]}]. No login:
 * what a token hides stays hidden. */
PyObject *
tls_nss_list_tokens(void)
{
    token_listing *tokens = PyMem_Calloc(MAX_LISTED_TOKENS, sizeof(token_listing));
    PyObject *result = NULL;
    int count;

    if (tokens == NULL)
        return PyErr_NoMemory();
    Py_BEGIN_ALLOW_THREADS
    count = read_tokens(tokens, MAX_LISTED_TOKENS);
    Py_END_ALLOW_THREADS
    result = PyList_New(0);
    for (int i = 0; result != NULL && i < count; i++) {
        PyObject *entry = token_entry(&tokens[i]);
        if (entry == NULL || PyList_Append(result, entry) < 0)
            Py_CLEAR(result);
        Py_XDECREF(entry);
    }
    Py_BEGIN_ALLOW_THREADS
    free_tokens(tokens, count);
    Py_END_ALLOW_THREADS
    PyMem_Free(tokens);
    return result;
}
