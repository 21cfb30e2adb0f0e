/* Shared declarations of the tls_nss._nss extension.
 *
 * The extension is split by responsibility, in layers: each file calls only
 * files listed before it here, so the layers form no circle
 * (tests/test_design.py checks both, and that every file is listed).
 *   util.c        helpers every layer uses: NamedTuple fields, keyword arguments,
 *                 once-only set-up
 *   errors.c      turning NSS/NSPR failures into the package's exceptions
 *   memio.c       an NSPR I/O layer over two in-memory byte queues
 *   policy.c      the system crypto policy: applied once, queried; TLS versions
 *   policy_report.c  what the policy and NSS's token allow, reported; names
 *   settings.c    a configuration's protocol settings, checked; model sockets
 *   certs.c       certificates and private keys from DER; key pairing
 *   crls.c        certificate revocation lists, per context
 *   ocsp.c        OCSP: stapled responses, served and judged
 *   pins.c        PINs for PKCS#11 tokens: where they come from, logging in
 *   pkcs11_uri.c  ids: NSS nicknames and pkcs11: URIs, parsed
 *   tokens.c      certificates and private keys found in tokens by id
 *   token_keys.c  keys in tokens found again after a logout
 *   modules.c     PKCS#11 modules: loading them, listing their tokens
 *   startup.c     process-wide NSS start-up: database, policy, modules
 *   anchors.c     trust anchors: from DER, NSS databases and tokens
 *   trust.c       the system's roots and the certificate hooks
 *   cert_info.c   certificates described, and the chains of a connection
 *   chains.c      signing chains: loaded, and configured on server models
 *   sessions.c    a client context's session cache: resumption tokens
 *   keylog.c      the key log of TLS 1.3 secrets
 *   keying.c      exported keying material and channel bindings
 *   client_hello.c  the ClientHello as it passes: for the key log and SNI
 *   connection.c  the base type of sockets and buffers: import, results
 *   socket_io.c   the one path of the sockets' blocking I/O: deadlines, signals
 *   socket.c      TLS sockets (socket.h)
 *   buffer.c      TLS buffers: TLS over memio.c, and the ssl module's BIOs
 *   workers.c     pre-fork servers: sessions and ticket keys shared
 *   context.c     a configuration turned into NSS model sockets
 *   module.c      module definition, module state, the module's functions
 */
#ifndef TLS_NSS_H
#define TLS_NSS_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <nspr.h>
#include <nss.h>
#include <cert.h>
#include <keyhi.h>
#include <pk11pub.h>
#include <pkcs11uri.h>
#include <ssl.h>
#include <sslproto.h>
#include <sslexp.h>
#include <secerr.h>
#include <sslerr.h>

#define TLS_NSS_PUBLIC __attribute__((visibility("default")))

/* Compatibility with the oldest supported CPython (3.9). */
#if PY_VERSION_HEX < 0x030A0000
static inline PyObject *
Py_NewRef(PyObject *obj)
{
    Py_INCREF(obj);
    return obj;
}

static inline PyObject *
Py_XNewRef(PyObject *obj)
{
    Py_XINCREF(obj);
    return obj;
}
#endif

/* For the types only this module makes (module.c clears tp_new on 3.9). */
#if PY_VERSION_HEX >= 0x030A0000
#define TLS_NSS_NOT_INSTANTIABLE Py_TPFLAGS_DISALLOW_INSTANTIATION
#else
#define TLS_NSS_NOT_INSTANTIABLE 0
#endif
/* Types whose attributes no program should replace (3.10 on). */
#ifdef Py_TPFLAGS_IMMUTABLETYPE
#define TLS_NSS_IMMUTABLE Py_TPFLAGS_IMMUTABLETYPE
#else
#define TLS_NSS_IMMUTABLE 0
#endif

typedef struct {
    PyTypeObject *context_type;
    PyTypeObject *connection_type; /* the base of the two below */
    PyTypeObject *socket_type;
    PyTypeObject *buffer_type;
    /* tls_nss._errors.from_nss: builds the exception for a failure. */
    PyObject *make_error;
    /* NSSWantReadError and NSSWantWriteError, raised without from_nss:
     * asynchronous callers meet them on nearly every call. */
    PyObject *want_read_error, *want_write_error;
    PyObject *str_operation, *str_nss_code, *str_nss_name, *str_nss_text;
    /* The members of the PEP 748 enums from tls_nss._api, by value, for
     * results read back from NSS: calling an enum runs Python for each. */
    PyObject *cipher_suites;
    PyObject *next_protocols;
    PyObject *tls_versions;
    /* Under ssl.SSLObject (buffer.c): the ssl module's want errors, and the
     * names of the ssl.MemoryBIO attributes used on every call. */
    PyObject *ssl_want_read;
    PyObject *ssl_want_write;
    /* Their arguments, as _ssl gives them: (SSL_ERROR_WANT_READ, text). */
    PyObject *ssl_want_read_args, *ssl_want_write_args;
    /* ssl.MemoryBIO, whose write() copies at once and keeps nothing: it
     * is handed NSS's outgoing queue itself, without a copy in between. */
    PyObject *ssl_memory_bio;
    PyObject *str_eof, *str_read, *str_write, *str_release;
    /* Under ssl.SSLSocket (socket.c): its timeout, read on every call. */
    PyObject *str_gettimeout;
    /* threading.main_thread().ident: where signal handlers run. */
    unsigned long main_thread;
    /* Held while keys in tokens are checked and found again (token_keys.c),
     * which runs without the GIL; by the thread `token_keys_owner`, which
     * may take it again (a PIN callback may connect). Both read and
     * written holding the GIL. */
    PyThread_type_lock token_keys_lock;
    unsigned long token_keys_owner;
    int token_keys_depth;
} tls_nss_state;

static inline tls_nss_state *
tls_nss_state_of(PyObject *obj)
{
    return (tls_nss_state *)PyType_GetModuleState(Py_TYPE(obj));
}

/* Reads the attribute `name` of `obj` (a NamedTuple from tls_nss): a new
 * reference, or NULL with an exception set. */
PyObject *tls_nss_get_field(PyObject *obj, const char *name);

/* For METH_FASTCALL methods: 0 when `nargs` is within [least, most], else
 * -1 with a TypeError naming the method. */
static inline int
tls_nss_check_arg_count(Py_ssize_t nargs, Py_ssize_t least, Py_ssize_t most, const char *name)
{
    if (nargs >= least && nargs <= most)
        return 0;
    PyErr_Format(PyExc_TypeError, "%s() takes %zd to %zd arguments (%zd given)", name, least,
                 most, nargs);
    return -1;
}

/* For METH_FASTCALL | METH_KEYWORDS methods: puts the arguments in
 * `placed[0 .. count-1]` by position, each keyword in the place whose name
 * `names` gives it (a NULL name: positional only); a place not given is
 * NULL. 0, or -1 with a TypeError naming `function` when an argument is
 * missing among the first `least`, extra, unknown or given twice. The
 * references are borrowed. */
int tls_nss_place_args(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
                       const char *const *names, Py_ssize_t least, Py_ssize_t count,
                       PyObject **placed, const char *function);

/* PR_CallOnceWithArg without the GIL: process-wide set-up may block, and
 * the thread doing it may wait for another interpreter's. */
PRStatus tls_nss_call_once(PRCallOnceType *once, PRCallOnceWithArgFN setup, void *arg);

/* ---- startup.c ---- */

/* 0 once NSS has started and its policy is settled, else -1 with an
 * exception set: nothing may reach SSL before that. */
int tls_nss_ensure_nss(tls_nss_state *st);
PyObject *tls_nss_initialize(tls_nss_state *st, PyObject *args, PyObject *kwargs);
PRBool tls_nss_is_started(void);
/* The NSS database NSS was started with ("sql:DIR"), or NULL. */
const char *tls_nss_process_database(void);

/* ---- errors.c ---- */

typedef enum {
    TLS_NSS_ERROR,        /* a failure of a TLS operation */
    TLS_NSS_CONFIG_ERROR, /* a configuration NSS cannot use */
    TLS_NSS_WANT_READ,
    TLS_NSS_WANT_WRITE,
    TLS_NSS_RAGGED_EOF,   /* transport EOF without the peer's close_notify */
    TLS_NSS_CLOSED,       /* the socket or buffer was closed on our side */
    TLS_NSS_CERT_ERROR,   /* our check of the peer's certificate refused it */
} tls_nss_error_kind;

/* Raises the exception for NSS/NSPR error `code` (0: no NSS error) that
 * ended `operation`, a printf-style description of what we were doing.
 * Always returns NULL. */
PyObject *tls_nss_raise(tls_nss_state *st, tls_nss_error_kind kind,
                        PRErrorCode code, const char *operation, ...);
/* A refused peer certificate: as tls_nss_raise, naming the certificate
 * the refusal concerns ("depth 1: CN=...") when it is known. */
PyObject *tls_nss_raise_refused(tls_nss_state *st, PRErrorCode code, const char *certificate,
                                const char *operation, ...);
/* Under ssl.SSLSocket and ssl.SSLObject: calls `on_error` (of the
 * connection, tls_nss._ssl_engine) with the connection, the pending
 * exception and the ssl module's name of what failed ("read", "write",
 * "handshake"), and raises the ssl module's exception it answers, chained
 * to ours; NULL then. Returns Py_None (a new reference), with nothing
 * raised, when on_error answers None: a ragged EOF that
 * OP_IGNORE_UNEXPECTED_EOF makes an EOF. Without `on_error`, the exception
 * stays as it is. */
PyObject *tls_nss_translate_pending(PyObject *on_error, PyObject *connection,
                                    const char *operation);
/* The same for a write or a handshake, which no EOF ends quietly: always
 * NULL, with the exception set. */
PyObject *tls_nss_translate_failure(PyObject *on_error, PyObject *connection,
                                    const char *operation);

/* ---- workers.c ---- */

/* prepare_workers(max_sessions=10000): a session cache in shared memory
 * for worker processes forked afterwards; before NSS starts. */
PyObject *tls_nss_prepare_workers(PyObject *module, PyObject *args, PyObject *kwargs);
/* The server session cache of this process, set up once: its own, or the
 * one it shares with the other workers. */
SECStatus tls_nss_configure_server_session_cache(void);
/* Once: why a worker could not share the key that wraps ticket keys (its
 * tickets then resume only where they were issued, unless an RSA
 * certificate's key wraps them), or 0. */
PRErrorCode tls_nss_ticket_key_sharing_error(void);

/* ---- cert_info.c ---- */

/* describe_certificate(der): subject, issuer, validity, key and names. */
PyObject *tls_nss_describe_certificate(PyObject *module, PyObject *der);

/* ---- policy.c ---- */

/* A TLS version's PEP 748 name ("TLSv1.3"), or NULL for one it lacks. */
const char *tls_nss_version_name(PRUint16 version);
/* For messages: the name, or "0x0301" for versions the PEP does not name;
 * `out` holds at least 8 bytes. */
const char *tls_nss_describe_version(PRUint16 version, char *out, size_t size);
/* NSS's number for a PEP 748 TLSVersion value ("TLSv1.2"), or 0. */
PRUint16 tls_nss_version_by_name(const char *name);

/* Applies the crypto policy `config` (a crypto-policies config= string, or
 * NULL for none) once per process, unless NSS applied one itself; with
 * `required`, that is a ConfigurationError instead. `allow_entries` lists
 * the policy's allow= entries, to find those this NSS ignores. Returns
 * {"applied_by": "tls_nss"|"nss"|"nobody", "ignored": [...],
 * "system_file": the file NSS applied, or None}, the same for every call. */
PyObject *tls_nss_apply_policy(tls_nss_state *st, const char *config,
                               PyObject *allow_entries, PRBool required);
PRBool tls_nss_policy_ready(void);

/* The TLS versions both NSS and the policy allow. 0, or -1 on failure. */
int tls_nss_policy_version_range(SSLVersionRange *range);
PRBool tls_nss_policy_allows_suite(PRUint16 suite);

/* 0 if `cert`'s key meets the policy's minimum size, else -1 with a
 * ConfigurationError that names `policy`. */
int tls_nss_policy_check_key(tls_nss_state *st, CERTCertificate *cert,
                             const char *policy, const char *what);

/* {"RSA-MIN": bits, "DH-MIN": bits, "DSA-MIN": bits}. */
PyObject *tls_nss_policy_key_sizes(void);

/* ---- policy_report.c ---- */

/* The effective policy as a dict, for tls_nss.policy. */
PyObject *tls_nss_policy_report(void);
/* What this build of NSS offers beyond the classics: the names of the key
 * exchange groups it knows, and "ML-DSA" where it has ML-DSA. */
PyObject *tls_nss_features(void);
/* A key exchange group's IANA name ("X25519MLKEM768"), or NULL. */
const char *tls_nss_group_name(SSLNamedGroup group);
/* Whether the policy allows a group, a suite, and NSS's token (in FIPS
 * mode too) can do it. */
PRBool tls_nss_group_usable(SSLNamedGroup group);
PRBool tls_nss_suite_usable(PRUint16 suite);
/* The usable groups, in NSS's order of preference; how many. */
enum { TLS_NSS_MAX_GROUPS = 16 };
unsigned int tls_nss_usable_groups(SSLNamedGroup *out, unsigned int room);
/* A suite's IANA name, as NSS spells it, or NULL; kept in `info`. */
const char *tls_nss_suite_name(PRUint16 suite, SSLCipherSuiteInfo *info);

/* ---- settings.c ---- */


/* A configuration's protocol settings (tls_nss._config.Settings), checked
 * against what NSS implements and the policy allows. */
typedef struct {
    SSLVersionRange versions;
    PRUint16 *suites;        /* to enable; NULL: every suite the policy allows */
    Py_ssize_t suite_count;
    unsigned char *alpn;     /* ALPN list as SSL_SetNextProtoNego takes it */
    unsigned int alpn_length;
    /* Clients: offer a certificate when a server asks after the handshake. */
    PRBool post_handshake_auth;
} tls_nss_settings;

/* Fills `out` from a Settings object; -1 with a ConfigurationError (naming
 * `policy` where the policy forbids something) or a TypeError. */
int tls_nss_settings_read(tls_nss_state *st, PyObject *settings, const char *policy,
                          tls_nss_settings *out);
int tls_nss_settings_apply(tls_nss_state *st, const tls_nss_settings *settings,
                           PRFileDesc *model);
void tls_nss_settings_clear(tls_nss_settings *settings);

/* ---- certs.c ---- */

/* A certificate from DER in any bytes-like object, as an NSS temporary
 * certificate. `what` names its source for error messages. */
CERTCertificate *tls_nss_certificate_from_object(tls_nss_state *st,
                                                 PyObject *der_object,
                                                 const char *what);

/* A private key from DER (PKCS#8, PKCS#1 RSA or SEC1 EC, or encrypted
 * PKCS#8 with `password`, bytes, else Py_None), imported into NSS's
 * internal token as a sensitive session object. `pem_label` is the PEM
 * label it came with, or NULL when it came as bare DER. */
SECKEYPrivateKey *tls_nss_private_key_from_object(tls_nss_state *st,
                                                  PyObject *der_object,
                                                  const char *pem_label,
                                                  PyObject *password,
                                                  const char *what);

/* 0 if `key` is the private half of `cert`'s public key, else -1 with a
 * ConfigurationError set. */
int tls_nss_check_key_matches(tls_nss_state *st, CERTCertificate *cert,
                              SECKEYPrivateKey *key, const char *what);

/* ---- pins.c ---- */

/* PINs are at most this long. */
#define MAX_PIN_LENGTH 1024

/* Where PINs come from for the lookups of one context: the id's
 * pin-value/pin-source, then the Python callback (asked only while the
 * context is created). NSS keeps it as the keys' wincx, so it lives as
 * long as the context. */
typedef struct tls_nss_pin_source tls_nss_pin_source;

tls_nss_pin_source *tls_nss_pin_source_new(PyObject *callback);
/* Prepends `pins` to a context's list; the list is freed as a whole. */
void tls_nss_pin_source_chain(tls_nss_pin_source **list, tls_nss_pin_source *pins);

void tls_nss_pin_source_free(tls_nss_pin_source *list);
/* The Python objects a list holds (the PIN callbacks, and an error one
 * raised), for the garbage collector of the context that owns it. */
int tls_nss_pin_source_traverse(tls_nss_pin_source *list, visitproc visit, void *arg);
void tls_nss_pin_source_clear(tls_nss_pin_source *list);
/* The context is made: keep the PINs that worked, for later logins. */
void tls_nss_pin_source_setup_done(tls_nss_pin_source *list);
/* The PIN an id carried (pin-value, pin-source), replacing an earlier one. */
int tls_nss_pin_source_set_uri_pin(tls_nss_pin_source *pins, const char *pin,
                                   const char *origin);
PRBool tls_nss_pin_source_can_answer(const tls_nss_pin_source *pins);
/* Whether NSS asked for a PIN during the last token call. */
PRBool tls_nss_pin_source_was_asked(const tls_nss_pin_source *pins);

/* NSS's password function (PK11_SetPasswordFunc). */
char *tls_nss_pin_for_token(PK11SlotInfo *slot, PRBool retry, void *arg);
/* Around a token call that may need a PIN: releases and retakes the GIL,
 * so that the callback can run on this thread from inside NSS. */
void tls_nss_begin_token_call(tls_nss_pin_source *pins);
void tls_nss_end_token_call(tls_nss_pin_source *pins);
/* Logs in to `slot` if it needs it; -1 with a ConfigurationError that
 * says why not (no PIN, wrong PIN, callback declined or raised). */
int tls_nss_log_in(tls_nss_state *st, PK11SlotInfo *slot, tls_nss_pin_source *pins,
                   const char *what);
void tls_nss_raise_login_failure(tls_nss_state *st, tls_nss_pin_source *pins,
                                 const char *token, PRErrorCode code, const char *what);

/* ---- pkcs11_uri.c ---- */

/* An id, parsed: what tokens.c matches tokens and objects against. */
typedef struct {
    char text[512];   /* the id for messages, its pin-value masked */
    PK11URI *uri;     /* a pkcs11: URI, or NULL for a nickname */
    char *token;      /* a nickname's token part (PORT), or NULL */
    const char *label;
    const SECItem *cka_id;
    const char *type;
} tls_nss_object_name;

PRBool tls_nss_is_pkcs11_uri(const char *id);
/* Parses `id`, handing a PIN it carries to `pins`: 0, or -1 with a
 * ConfigurationError. Clear `name` afterwards either way. */
int tls_nss_object_name_parse(tls_nss_state *st, const char *id, tls_nss_pin_source *pins,
                              tls_nss_object_name *name, const char *what);
void tls_nss_object_name_clear(tls_nss_object_name *name);

/* ---- tokens.c ---- */

/* Objects named by an NSS nickname or a pkcs11: URI; NULL with a
 * ConfigurationError that says which case failed (unknown token, nothing
 * found, several matches, PIN). */
CERTCertificate *tls_nss_certificate_from_id(tls_nss_state *st, const char *id,
                                             tls_nss_pin_source *pins, const char *what);
SECKEYPrivateKey *tls_nss_private_key_from_id(tls_nss_state *st, const char *id,
                                              tls_nss_pin_source *pins, const char *what);
/* The key in a token that pairs with `cert` (same CKA_ID). */
SECKEYPrivateKey *tls_nss_private_key_for_certificate(tls_nss_state *st,
                                                      CERTCertificate *cert,
                                                      tls_nss_pin_source *pins,
                                                      const char *what);
/* Every certificate `name` selects (a non-empty list), logging in to
 * tokens that hide them when a PIN is at hand. */
CERTCertList *tls_nss_find_certificates(tls_nss_state *st, const tls_nss_object_name *name,
                                        tls_nss_pin_source *pins, const char *what);
/* The nicknames of a certificate list, as a Python list. */
PyObject *tls_nss_nicknames_of(CERTCertList *list);

/* ---- modules.c ---- */

/* 1 if loaded, 0 if a module of that library is loaded already, -1 with an
 * exception set. */
int tls_nss_load_module(tls_nss_state *st, const char *name, const char *library);
/* Unloads every module of `library` (matched by file name); their count,
 * or -1 with an exception set. */
int tls_nss_unload_modules_of(tls_nss_state *st, const char *library);
PyObject *tls_nss_list_tokens(void);

/* ---- anchors.c ---- */

/* Per-context anchors from a sequence of DER certificates. */
CERTCertList *tls_nss_anchors_from_der(tls_nss_state *st, PyObject *ders);
/* Anchors from "sql:/nssdb" (CAs trusted for the peer's role) or from the
 * certificates of the tokens a pkcs11: URI names. */
CERTCertList *tls_nss_anchors_from_id(tls_nss_state *st, const char *id,
                                      PRBool for_server, tls_nss_pin_source *pins);

/* ---- trust.c ---- */

/* A signing chain as loaded: the leaf, its key, and the chain as sent.
 * The intermediates are kept as temporary certificates for as long as the
 * chain lives, so NSS can build a client's chain from them. */
typedef struct {
    CERTCertificate *cert;
    SECKEYPrivateKey *key;
    CERTCertificateList *list;      /* leaf and intermediates, as DER */
    CERTCertificate **intermediates;
    Py_ssize_t intermediate_count;
    SECItemArray *ocsp;             /* servers: the OCSP response to staple, or NULL */
    tls_nss_pin_source *pins;       /* what logs in for the key (the context's) */
} tls_nss_chain;

void tls_nss_chain_free(tls_nss_chain *chain);

/* What a stapled OCSP response said about the peer's certificate; NONE
 * also for a response that was expired, badly signed or for another. */
typedef enum {
    TLS_NSS_OCSP_NONE = 0,
    TLS_NSS_OCSP_GOOD,
    TLS_NSS_OCSP_REVOKED,
} tls_nss_ocsp_verdict;

/* A context's CRLs; `checked` once its signature was verified against
 * the trust anchor that issued it. */
typedef struct {
    CERTSignedCrl *crl;
    PRBool checked;
} tls_nss_crl;

typedef struct {
    tls_nss_crl *items;
    Py_ssize_t count;
    CERTCertList *anchors; /* the context's, borrowed; NULL: the system's */
} tls_nss_crls;

/* ---- crls.c ---- */

/* Decodes the DER CRLs of `sequence` into `crls`, checking at once those
 * that one of `anchors` issued; -1 with ConfigurationError for one that
 * does not decode or whose anchor did not sign it. */
int tls_nss_crls_load(tls_nss_state *st, PyObject *sequence, CERTCertList *anchors,
                      tls_nss_crls *crls);
void tls_nss_crls_free(tls_nss_crls *crls);
/* The depth in the verified `chain` (leaf first, anchor last) of the first
 * certificate a CRL of its issuer lists, or -1. Runs without the GIL. */
int tls_nss_crls_check(const tls_nss_crls *crls, CERTCertList *chain);

/* What a connection's certificate hooks need. Plain C data that is fixed
 * while the handshake runs, so the hooks can read it without the GIL. */
typedef struct {
    /* Per-context anchors, or NULL to trust the system's roots. */
    CERTCertList *anchors;
    PRBool beside_system;  /* the anchors are trusted beside the system's roots */
    PRBool verify;         /* verify the peer's certificate at all */
    PRBool check_hostname; /* clients: match it against `hostname` */
    /* A leaf without subjectAltName may match by its subject's CN. */
    PRBool common_name_fallback;
    tls_nss_chain own;     /* clients: the chain to offer, if any */
    tls_nss_crls crls;     /* revocation lists, this context's only */
} tls_nss_trust_policy;

typedef struct {
    const tls_nss_trust_policy *policy;
    char *hostname; /* the name the client asked for (PyMem), or NULL */
    /* The reason the peer's certificate was refused, or 0. Kept because
     * NSS may report the handshake failure under a different code. */
    PRErrorCode verify_error;
    /* Which certificate the refusal concerns: its depth in the chain (0:
     * the peer's own) and subject, or -1 and "" when NSS did not say. */
    int verify_error_depth;
    char verify_error_subject[256];
    PRBool verify_error_self_signed; /* the certificate issued itself */
    /* The chain NSS built from the peer's certificate to a trust anchor,
     * anchor included, once verification passed; NULL otherwise. */
    CERTCertList *verified_chain;
    /* Clients whose key stays in a token: the key as it was when the
     * connection was made (the context's may be found again after a
     * logout), owned; NULL to hand over the context's. */
    SECKEYPrivateKey *own_key;
    tls_nss_ocsp_verdict ocsp; /* clients: what the server stapled */
} tls_nss_peer_check;

/* ---- ocsp.c ---- */

/* What the DER OCSP response `der` says of `cert`, whose issuer is looked
 * for in `chain` (or NULL) and among the certificates NSS knows. 0 with
 * `verdict` set, or the NSS error that makes the response unusable. */
PRErrorCode tls_nss_ocsp_status(CERTCertificate *cert, CERTCertList *chain, const SECItem *der,
                                tls_nss_ocsp_verdict *verdict);
/* Servers: checks `response` (bytes or None) against `chain`'s leaf and
 * keeps it in `chain` to staple; -1 with ConfigurationError if it does not
 * parse or is for another certificate. */
int tls_nss_ocsp_for_chain(tls_nss_state *st, PyObject *response, tls_nss_chain *chain,
                           Py_ssize_t index);
/* Clients: the verdict of the staple on `fd`, if any, into `check`;
 * SEC_ERROR_REVOKED_CERTIFICATE if it says revoked, else 0. */
PRErrorCode tls_nss_ocsp_check_stapled(tls_nss_peer_check *check, PRFileDesc *fd,
                                       CERTCertificate *peer);

/* Makes the operating system's trust anchors available to NSS, once. */
int tls_nss_load_system_roots(tls_nss_state *st);

/* {"library": path loaded by us or None, "has_roots": bool}. */
PyObject *tls_nss_system_trust_info(void);

SECStatus tls_nss_auth_certificate_hook(void *arg, PRFileDesc *fd,
                                        PRBool check_sig, PRBool is_server);
SECStatus tls_nss_client_auth_data_hook(void *arg, PRFileDesc *fd,
                                        CERTDistNames *ca_names,
                                        CERTCertificate **cert_out,
                                        SECKEYPrivateKey **key_out);

/* ---- chains.c ---- */

/* Loads a signing chain from a tls_nss._pem.ChainSource: checks the key
 * against the certificate and the policy's key sizes. 0, or -1 with an
 * exception set and `out` empty. */
int tls_nss_chain_load(tls_nss_state *st, PyObject *source, tls_nss_pin_source *pins,
                       const char *policy, tls_nss_chain *out);

/* A server's certificates for one set of names: every signing chain whose
 * leaf carries the same subjectAltName (say an RSA and an ECDSA chain for
 * one site) is configured on one model, and NSS picks among them by the
 * client's signature algorithms. */
typedef struct {
    PRFileDesc *model;
    /* The same without NSS's socket locks, for SNI to switch a TLS buffer
     * to (context.c); NULL for group 0, which no connection switches to. */
    PRFileDesc *unlocked_model;
    CERTCertificate *leaf; /* the group's first leaf, for SNI matching */
} tls_nss_name_group;

/* A chain configured on a model with a key that stays in a token: what
 * it takes to find the key again and configure it afresh, should the token
 * forget its login (PKCS#11 then invalidates the key's handle). */
typedef struct {
    Py_ssize_t group; /* configured on this group's models */
    CERTCertificate *cert;
    SECKEYPrivateKey *key;
    CERTCertificateList *list;
    SECItemArray *ocsp;
    SSLAuthType auth;
    tls_nss_pin_source *pins; /* borrowed: the context's */
} tls_nss_token_key;

typedef struct {
    tls_nss_name_group *items; /* in configuration order */
    Py_ssize_t count;
    tls_nss_token_key *token_keys;
    Py_ssize_t token_key_count;
} tls_nss_name_groups;

/* ---- token_keys.c ---- */

/* Keeps what configuring `chain` on group `g` took, if its key is in a
 * token; -1 with MemoryError. */
int tls_nss_token_keys_add(tls_nss_name_groups *groups, Py_ssize_t g,
                           const tls_nss_chain *chain, SSLAuthType auth);
void tls_nss_token_keys_free(tls_nss_name_groups *groups);
/* Before a server connection is made: each key its token no longer knows
 * by its handle (after a logout: an HSM failover, a timeout) is found
 * again, the token logged in again with the context's PIN if it needs it,
 * and configured afresh. -1 with a TLSError naming the token if that
 * fails. */
int tls_nss_token_keys_refresh(tls_nss_state *st, tls_nss_name_groups *groups);
/* Before a client connection is made: the same for the context's own key,
 * `own`, then a copy of it into `*for_connection` when it stays in a
 * token, for the client auth hook to hand over (NULL otherwise: the hook
 * takes the context's). -1 with a TLSError naming the token. */
int tls_nss_token_keys_refresh_own(tls_nss_state *st, tls_nss_chain *own,
                                   SECKEYPrivateKey **for_connection);

/* Loads every chain of `sources` and configures each on the model of its
 * name group, copied from `base`. Keys found in tokens keep PIN sources
 * chained to `*pins`. */
int tls_nss_configure_server_chains(tls_nss_state *st, PRFileDesc *base, PyObject *sources,
                                    PyObject *pin_callback, tls_nss_pin_source **pins,
                                    const char *policy, tls_nss_name_groups *groups);
void tls_nss_name_groups_free(tls_nss_name_groups *groups);

/* ---- sessions.c ---- */

typedef struct tls_nss_session_cache tls_nss_session_cache;

/* A cache of at most `capacity` (> 0) sessions, or NULL with an exception. */
tls_nss_session_cache *tls_nss_session_cache_new(Py_ssize_t capacity);
void tls_nss_session_cache_free(tls_nss_session_cache *cache);
Py_ssize_t tls_nss_session_cache_count(tls_nss_session_cache *cache);

/* ---- context.c ---- */

typedef struct {
    PyObject_HEAD
    PRFileDesc *model; /* the model every connection is imported from */
    PRBool is_server;
    PRBool client_certificate_optional; /* servers: ask, but accept none */
    PRUint32 serial;   /* distinguishes contexts in NSS's session cache */
    double handshake_timeout; /* servers: bounds accept()'s handshake */
    PRBool session_tickets;   /* servers: issue tickets */
    /* Servers: TLS 1.3 tickets sent after a full handshake before NSS's
     * own one (the ssl module's num_tickets, less one). */
    unsigned int extra_session_tickets;
    tls_nss_trust_policy trust;
    /* Servers: group 0's model is `model`, used when SNI names none. */
    tls_nss_name_groups groups;
    /* PIN sources of the keys found in tokens; NSS keeps pointers to them. */
    tls_nss_pin_source *pins;
    /* Clients: resumable sessions, or NULL for no resumption. */
    tls_nss_session_cache *sessions;
    /* The key log, opened for appending, or -1 for none. */
    int keylog_fd;
} tls_nss_context;

extern PyType_Spec tls_nss_context_spec;

/* A new model socket copied from `base` (NULL: NSS's defaults); NULL with
 * an exception set. */
PRFileDesc *tls_nss_new_model(tls_nss_state *st, PRFileDesc *base);

/* ---- connection.c ---- */

/* How many of the peer's first bytes a not-TLS error quotes. */
#define TLS_NSS_FIRST_BYTES 8

/* One TLS connection, whatever carries its bytes: the base object of
 * sockets and buffers. */
typedef struct {
    PyObject_HEAD
    PRFileDesc *fd;          /* the SSL layer, or NULL */
    tls_nss_context *ctx;    /* the model's owner */
    PyObject *owner;         /* the Python context, returned as .context */
    /* Under ssl.SSLSocket and ssl.SSLObject (tls_nss._ssl_engine), set
     * once by bind_ssl(), NULL otherwise. Sockets: `ssl_socket`, a callable
     * that answers the SSLSocket (a weak reference), whose timeout and
     * suppress_ragged_eofs each call follows. Buffers: the two
     * ssl.MemoryBIOs they are pumped from and to. Both: `on_error`, which
     * answers the ssl module's exception for a failure
     * (tls_nss_translate_pending). */
    PyObject *ssl_socket;
    PyObject *ssl_incoming, *ssl_outgoing;
    PyObject *on_error;
    tls_nss_peer_check check;
    char peer[160];          /* who we talk to, for error messages */
    char session_key[300];   /* clients: "host:port", what sessions are kept under */
    /* Set by NSS callbacks, without the GIL, on the thread doing I/O. */
    PRBool handshake_done;
    PRBool close_notify_received;
    PRBool close_notify_sent;
    /* The descriptor duplicates one the program keeps using (under an
     * ssl.SSLSocket): TLS's shutdown sends close_notify but leaves the
     * TCP connection open, for unwrap() to go on in the clear. */
    PRBool transport_shared;
    /* Dropped with the ssl.SSLSocket over it: as the ssl module, no
     * close_notify (a forked child may go on with the connection). */
    PRBool closing_quietly;
    /* What the peer sent first, judged before NSS reads it. */
    PRBool first_record_judged;
    PRBool not_tls;
    unsigned char first_bytes[TLS_NSS_FIRST_BYTES];
    size_t first_bytes_length;
    /* With a key log: the ClientHello's first bytes, to its random. */
    unsigned char hello[43];
    size_t hello_length;
    /* Servers that switch models on SNI: the ClientHello, until then. */
    unsigned char *client_hello;
    size_t client_hello_length;
    /* Sockets: bytes read from the descriptor before NSS took it over (the
     * ssl module's sni_callback reads the ClientHello first), which NSS
     * reads before the descriptor's. */
    unsigned char *prefix;
    size_t prefix_length, prefix_read;
    /* Buffers: a buffer is driven with the GIL held, so nothing else runs
     * during an NSS call unless NSS itself runs Python (a PIN callback
     * during a handshake); `busy_with` names the call under way then, and
     * the buffer refuses any other call into NSS or its queues meanwhile
     * (tls_nss_conn_check_idle). With that, NSS's socket locks have
     * nothing left to guard, and a buffer is `unlocked` (context.c). */
    const char *busy_with;
    PRBool unlocked;
} tls_nss_conn;

/* 0 if no call on `conn` is inside NSS; else -1 with RuntimeError: NSS
 * ran Python (a PIN callback) in the middle of `busy_with`, and `operation`
 * would run NSS under it. Sockets are never busy in this sense. */
static inline int
tls_nss_conn_check_idle(const tls_nss_conn *conn, const char *operation)
{
    if (conn->busy_with == NULL)
        return 0;
    PyErr_Format(PyExc_RuntimeError,
                 "%s: the TLS buffer is %s %s, and NSS ran Python code (a PIN callback) "
                 "in the middle of it; a buffer takes one call at a time",
                 operation, conn->busy_with, conn->peer);
    return -1;
}

/* Whether NSS can be asked what the handshake settled: 1 once it is done
 * and no call is inside NSS; 0 before (the getters answer None); -1 with
 * RuntimeError from tls_nss_conn_check_idle. */
static inline int
tls_nss_conn_settled(const tls_nss_conn *conn, const char *operation)
{
    if (conn->fd == NULL || !conn->handshake_done)
        return 0;
    return tls_nss_conn_check_idle(conn, operation) < 0 ? -1 : 1;
}

extern PyType_Spec tls_nss_connection_spec;
int tls_nss_conn_traverse(tls_nss_conn *conn, visitproc visit, void *arg);

/* Defines `spec`, the spec of a subtype of the connection base type with
 * its own struct, methods, repr and attributes (getset: NULL for none);
 * everything else is inherited. The
 * traverse is named again because CPython wants a GC type's traverse before
 * it inherits anything. */
#define TLS_NSS_CONNECTION_SUBTYPE(spec, type_name, struct_type, doc, repr, methods,  \
                                   getset)                                        \
    static PyType_Slot spec##_slots[] = {                                         \
        {Py_tp_doc, doc},                                                         \
        {Py_tp_traverse, tls_nss_conn_traverse},                                  \
        {Py_tp_repr, repr},                                                       \
        {Py_tp_methods, methods},                                                 \
        {Py_tp_getset, getset},                                                   \
        {0, NULL},                                                                \
    };                                                                            \
    PyType_Spec spec = {                                                          \
        .name = type_name,                                                        \
        .basicsize = sizeof(struct_type),                                         \
        .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | TLS_NSS_NOT_INSTANTIABLE |    \
                 TLS_NSS_IMMUTABLE,                                                \
        .slots = spec##_slots,                                                    \
    }

/* A new connection object of `type` (a subtype of the base), GC-tracked,
 * for `ctx`'s model and the Python context `owner`. */
tls_nss_conn *tls_nss_conn_new(PyTypeObject *type, tls_nss_context *ctx, PyObject *owner);
int tls_nss_conn_set_hostname(tls_nss_conn *conn, const char *hostname);
/* bind_ssl() of sockets (`ssl_socket`) and buffers (the two BIOs), once;
 * -1 with an exception set if not callable or already bound. */
int tls_nss_conn_bind_ssl(tls_nss_conn *conn, PyObject *ssl_socket, PyObject *incoming,
                          PyObject *outgoing, PyObject *on_error);
/* Puts TLS from the context's model on `lower` (taken over, closed on
 * failure) with this connection's hooks, ready for the handshake. */
int tls_nss_conn_import(tls_nss_state *st, tls_nss_conn *conn, PRFileDesc *lower,
                        PRBool as_server);
/* Judges the first bytes the peer sent (the start of the stream, `n` >= 1
 * of them, whatever came first): a TLS record starts with a handshake or
 * alert content type and version 3.x. Without the GIL. A peer that speaks something else
 * (SSH, HTTP) is told apart at once, instead of NSS waiting for a "record"
 * of the length its banner spells. */
void tls_nss_conn_judge_first_bytes(tls_nss_conn *conn, const unsigned char *bytes, size_t n);
/* A client connection about to handshake: offers the session cached for
 * its session_key, and has new ones stored there; without a cache, turns
 * resumption off. 0, or -1 with an exception set. */
int tls_nss_session_cache_attach(tls_nss_state *st, tls_nss_conn *conn);
/* Raises for a failed call; PR_WOULD_BLOCK_ERROR becomes `when_blocked`,
 * and a peer judged not to speak TLS is reported as such. */
PyObject *tls_nss_conn_raise(tls_nss_state *st, const tls_nss_conn *conn,
                             PRErrorCode error, tls_nss_error_kind when_blocked,
                             const char *operation);

/* One read of application data: the count (0 at EOF), or -1 with an
 * exception set. `arg` is the caller's, passed through. */
typedef Py_ssize_t (*tls_nss_reader)(tls_nss_conn *conn, void *arg, char *buf, Py_ssize_t len);

/* Reads application data with `read_once`: the count; 0 after the peer's
 * close_notify, for ever; -1 with an exception set. A transport EOF
 * without close_notify raises RaggedEOF, or, given `ragged`, sets it and
 * reads 0. */
Py_ssize_t tls_nss_conn_read(tls_nss_conn *conn, tls_nss_reader read_once, void *arg,
                             char *out, Py_ssize_t count, const char *operation,
                             PRBool *ragged);
/* NSS hands out at most one record's plaintext per read (sslsecur.c's
 * DoRecv), and a record holds at most 2^14 bytes. A read that asks for
 * more can get no more, so the bytes it returns are allocated at most
 * this large: asyncio asks for 256 KiB at a time, and fresh memory that
 * large is faulted in for every read and given back at once. */
#define TLS_NSS_READ_ALLOCATION_MAX 16384

/* The same, into a new bytes object of at most `size` bytes (and at most
 * TLS_NSS_READ_ALLOCATION_MAX). */
PyObject *tls_nss_conn_read_bytes(tls_nss_conn *conn, tls_nss_reader read_once, void *arg,
                                  Py_ssize_t size, const char *operation, PRBool *ragged);
/* Reads and drops what comes before the peer's close_notify: 1 once it
 * has come, 0 at EOF without it, -1 with an exception set. */
int tls_nss_conn_drain(tls_nss_conn *conn, tls_nss_reader read_once, void *arg);
PyObject *tls_nss_conn_raise_ragged_eof(tls_nss_conn *conn, const char *operation);
/* get_unverified_chain(): the peer's certificates as it sent them, and
 * get_verified_chain(): the chain NSS built to an anchor (cert_info.c). */
PyObject *tls_nss_conn_unverified_chain(tls_nss_conn *conn, PyObject *unused);
PyObject *tls_nss_conn_verified_chain(tls_nss_conn *conn, PyObject *unused);
/* ---- client_hello.c ---- */

/* Bytes on their way out of (`outgoing`) or into the connection, before
 * TLS: the ClientHello is kept from them for the key log and for SNI. */
void tls_nss_conn_observe_hello(tls_nss_conn *conn, const void *bytes, size_t n,
                                PRBool outgoing);
/* A server connection whose context switches models on SNI keeps its
 * ClientHello. 0, or -1 with an exception set. */
int tls_nss_conn_watch_hello(tls_nss_conn *conn, PRBool as_server);
void tls_nss_conn_forget_hello(tls_nss_conn *conn);
/* After SSL_ReconfigFD in the SNI hook: narrows the socket's groups to
 * those the client listed again, as NSS had before the switch. Without
 * the GIL; frees the kept ClientHello. */
SECStatus tls_nss_conn_restore_client_groups(tls_nss_conn *conn, PRFileDesc *fd);
/* _nss.client_hello_server_name(data): the SNI host name of the ClientHello
 * `data` starts with; False while it is not all there; None without one. */
PyObject *tls_nss_client_hello_server_name(PyObject *module, PyObject *data);

/* ---- keylog.c ---- */

/* Logs the connection's TLS 1.3 secrets, if its context keeps a key log. */
int tls_nss_keylog_attach(tls_nss_state *st, tls_nss_conn *conn);

/* export_keying_material() and get_channel_binding() (keying.c). */
PyObject *tls_nss_conn_export_keying_material(tls_nss_conn *conn, PyObject *args,
                                             PyObject *kwargs);
PyObject *tls_nss_conn_channel_binding(tls_nss_conn *conn, PyObject *args, PyObject *kwargs);

/* ---- socket.c ---- */

extern PyType_Spec tls_nss_socket_spec;

/* A TLS socket for an established TCP connection (client side: with
 * `run_handshake`, the handshake runs before this returns; else at the
 * first do_handshake, read or write) or for a listening socket. The
 * descriptor is taken over; with `transport_shared`, it stays the
 * caller's, and the socket works over a duplicate of it. */
PyObject *tls_nss_socket_connect(tls_nss_context *ctx, PyObject *owner,
                                 int os_fd, const char *hostname,
                                 PyObject *timeout, double handshake_budget,
                                 PRBool run_handshake, PRBool transport_shared);
PyObject *tls_nss_socket_listen(tls_nss_context *ctx, PyObject *owner,
                                int os_fd, PyObject *timeout);
/* A server connection over the connected descriptor `os_fd` (taken over,
 * or duplicated with `transport_shared`), with `run_handshake` its
 * handshake run within the socket's timeout and the context's bound. */
PyObject *tls_nss_socket_serve(tls_nss_context *ctx, PyObject *owner, int os_fd,
                               PyObject *timeout, PRBool run_handshake,
                               PRBool transport_shared, const Py_buffer *prefix);

/* ---- memio.c ---- */

/* The queues are bounded: process_incoming() refuses data past
 * TLS_NSS_INCOMING_LIMIT (a single chunk larger than that is still taken
 * into an empty queue), and NSS's writes stop at TLS_NSS_OUTGOING_LIMIT,
 * after which writes answer PR_WOULD_BLOCK_ERROR until the queue drains.
 * NSS may keep one record of its own beyond that. */
#define TLS_NSS_INCOMING_LIMIT (1 << 20)
#define TLS_NSS_OUTGOING_LIMIT (1 << 20)

typedef struct tls_nss_memio tls_nss_memio;

/* A new layer with empty queues, which it owns and frees when closed; NULL
 * with the NSPR error set. */
PRFileDesc *tls_nss_memio_new(void);
tls_nss_memio *tls_nss_memio_of(PRFileDesc *layer);
/* Ciphertext from the network; -1 when out of memory. */
int tls_nss_memio_put_incoming(tls_nss_memio *io, const char *bytes, size_t n);
/* The same for a bytes object, kept rather than copied when nothing else
 * waits (the GIL held, as for every memio call). */
int tls_nss_memio_give_incoming(tls_nss_memio *io, PyObject *bytes);
void tls_nss_memio_set_eof(tls_nss_memio *io);
/* Whether NSS has anything left to read: bytes, or the network's EOF. */
PRBool tls_nss_memio_has_input(const tls_nss_memio *io);
/* Copies up to `n` of the first queued incoming bytes into `out`. */
size_t tls_nss_memio_peek_incoming(tls_nss_memio *io, unsigned char *out, size_t n);
/* Takes up to `n` bytes of ciphertext for the network into `out`. */
size_t tls_nss_memio_take_outgoing(tls_nss_memio *io, char *out, size_t n);
/* The outgoing queue in place: its first byte (valid until the queue next
 * changes), and dropping its first `n` bytes once they have been sent. */
const char *tls_nss_memio_outgoing_data(const tls_nss_memio *io);
void tls_nss_memio_drop_outgoing(tls_nss_memio *io, size_t n);
size_t tls_nss_memio_incoming_length(const tls_nss_memio *io);
size_t tls_nss_memio_outgoing_length(const tls_nss_memio *io);

/* ---- buffer.c ---- */

extern PyType_Spec tls_nss_buffer_spec;

/* A TLS buffer: `hostname` is the server's name for a client, else NULL. */
PyObject *tls_nss_buffer_new(tls_nss_context *ctx, PyObject *owner, const char *hostname);

#endif
