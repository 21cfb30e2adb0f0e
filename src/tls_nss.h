/* Shared declarations of the tls_nss._nss extension.
 *
 * The extension is split by responsibility:
 *   module.c   module definition, module state, process-wide NSS start-up
 *   errors.c   turning NSS/NSPR failures into the package's exceptions
 *   certs.c    certificates and private keys from DER
 *   trust.c    trust anchors, system roots, certificate verification hooks
 *   pins.c     PINs for PKCS#11 tokens: where they come from, logging in
 *   tokens.c   PKCS#11 tokens: modules, and objects and anchors by id
 *   policy.c   the system crypto policy: applied once, reported, enforced
 *   context.c  a configuration turned into an NSS model socket
 *   connection.c  what sockets and buffers share: import, hooks, results
 *   socket.c   TLS sockets imported from a context's model
 *   buffer.c   TLS buffers: the same over an in-memory NSPR I/O layer
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
#include <ssl.h>
#include <sslproto.h>
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
#endif

typedef struct {
    PyTypeObject *context_type;
    PyTypeObject *socket_type;
    PyTypeObject *buffer_type;
    /* tls_nss._errors.from_nss: builds the exception for a failure. */
    PyObject *make_error;
    /* The PEP 748 enums from tls_nss._api, for results read back from NSS. */
    PyObject *cipher_suite;
    PyObject *next_protocol;
    PyObject *tls_version;
} tls_nss_state;

/* ---- module.c ---- */

/* Starts NSS once per process; returns 0, or -1 with an exception set. */
int tls_nss_ensure_nss(tls_nss_state *st);

/* ---- errors.c ---- */

typedef enum {
    TLS_NSS_ERROR,        /* a failure of a TLS operation */
    TLS_NSS_CONFIG_ERROR, /* a configuration NSS cannot use */
    TLS_NSS_WANT_READ,
    TLS_NSS_WANT_WRITE,
    TLS_NSS_RAGGED_EOF,   /* transport EOF without the peer's close_notify */
} tls_nss_error_kind;

/* Raises the exception for NSS/NSPR error `code` (0: no NSS error) that
 * ended `operation`, a printf-style description of what we were doing.
 * Always returns NULL. */
PyObject *tls_nss_raise(tls_nss_state *st, tls_nss_error_kind kind,
                        PRErrorCode code, const char *operation, ...);

/* ---- certs.c ---- */

/* A certificate from DER, as an NSS temporary certificate. `what` names
 * its source for error messages. Returns a new reference, or NULL with an
 * exception set. */
CERTCertificate *tls_nss_certificate_from_der(tls_nss_state *st,
                                              const Py_buffer *der,
                                              const char *what);

/* The same, from any bytes-like object. */
CERTCertificate *tls_nss_certificate_from_object(tls_nss_state *st,
                                                 PyObject *der_object,
                                                 const char *what);

/* A private key from DER (PKCS#8, PKCS#1 RSA or SEC1 EC), imported into
 * NSS's internal slot as a session object. `pem_label` is the PEM label it
 * came with, or NULL when it came as bare DER. */
SECKEYPrivateKey *tls_nss_private_key_from_der(tls_nss_state *st,
                                               const Py_buffer *der,
                                               const char *pem_label,
                                               const char *what);

/* 0 if `key` is the private half of `cert`'s public key, else -1 with a
 * ConfigurationError set. */
int tls_nss_check_key_matches(tls_nss_state *st, CERTCertificate *cert,
                              SECKEYPrivateKey *key, const char *what);

/* ---- trust.c ---- */

/* What a connection's certificate hooks need. Plain C data that is fixed
 * while the handshake runs, so the hooks can read it without the GIL. */
typedef struct {
    /* Per-context anchors, or NULL to trust the system's roots. */
    CERTCertList *anchors;
    PRBool verify;         /* verify the peer's certificate at all */
    PRBool check_hostname; /* clients: match it against `hostname` */
    CERTCertificate *own_cert; /* clients: the certificate to offer */
    SECKEYPrivateKey *own_key;
} tls_nss_trust_policy;

typedef struct {
    const tls_nss_trust_policy *policy;
    char *hostname; /* the name the client asked for (PyMem), or NULL */
    /* The reason the peer's certificate was refused, or 0. Kept because
     * NSS may report the handshake failure under a different code. */
    PRErrorCode verify_error;
} tls_nss_peer_check;

/* Builds per-context anchors from a sequence of DER certificates. */
CERTCertList *tls_nss_anchors_from_der(tls_nss_state *st, PyObject *ders);

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
void tls_nss_pin_source_drop_callback(tls_nss_pin_source *pins);
void tls_nss_pin_source_free(tls_nss_pin_source *list);
/* The PIN an id carried (pin-value, pin-source), replacing an earlier one. */
int tls_nss_pin_source_set_uri_pin(tls_nss_pin_source *pins, const char *pin,
                                   const char *origin);
void tls_nss_pin_source_forget_uri_pin(tls_nss_pin_source *pins);
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

/* ---- tokens.c ---- */

/* Objects named by an NSS nickname or a pkcs11: URI; NULL with a
 * ConfigurationError that says which case failed (unknown token, unknown
 * object, several matches, PIN). */
CERTCertificate *tls_nss_certificate_from_id(tls_nss_state *st, const char *id,
                                             tls_nss_pin_source *pins, const char *what);
SECKEYPrivateKey *tls_nss_private_key_from_id(tls_nss_state *st, const char *id,
                                              tls_nss_pin_source *pins, const char *what);
/* The key in a token that pairs with `cert` (same CKA_ID). */
SECKEYPrivateKey *tls_nss_private_key_for_certificate(tls_nss_state *st,
                                                      CERTCertificate *cert,
                                                      tls_nss_pin_source *pins,
                                                      const char *what);
/* Anchors from "sql:/nssdb" (CAs trusted for the peer's role) or from the
 * certificates of the tokens a pkcs11: URI names. */
CERTCertList *tls_nss_anchors_from_id(tls_nss_state *st, const char *id,
                                      PRBool for_server, tls_nss_pin_source *pins);

/* At NSS start-up: installs the PIN function; `nss_db` is TLS_NSS_DB. */
void tls_nss_tokens_start(const char *nss_db);
/* 1 if loaded, 0 if already loaded, -1 with an exception set. */
int tls_nss_load_module(tls_nss_state *st, const char *name, const char *library);
PyObject *tls_nss_list_tokens(void);

/* ---- policy.c ---- */

/* Applies the crypto policy `config` (a crypto-policies config= string, or
 * NULL for none) once per process, unless NSS applied one itself.
 * `allow_entries` lists the policy's allow= entries, to find those this
 * NSS ignores. Returns {"applied_by": "tls_nss"|"nss"|"nobody",
 * "ignored": [...]}, the same for every call. */
PyObject *tls_nss_apply_policy(tls_nss_state *st, const char *config,
                               PyObject *allow_entries);
PRBool tls_nss_policy_ready(void);

/* The TLS versions both NSS and the policy allow. 0, or -1 on failure. */
int tls_nss_policy_version_range(SSLVersionRange *range);
PRBool tls_nss_policy_allows_suite(PRUint16 suite);

/* 0 if `cert`'s key meets the policy's minimum size, else -1 with a
 * ConfigurationError that names `policy`. */
int tls_nss_policy_check_key(tls_nss_state *st, CERTCertificate *cert,
                             const char *policy, const char *what);

/* The effective policy as a dict, for tls_nss.policy. */
PyObject *tls_nss_policy_report(void);

/* ---- context.c ---- */

/* A server's certificates for one set of names: every signing chain whose
 * leaf carries the same subjectAltName (say an RSA and an ECDSA chain for
 * one site) is configured on one model, and NSS picks among them by the
 * client's signature algorithms. */
typedef struct {
    PRFileDesc *model;
    CERTCertificate *leaf; /* the group's first leaf, for SNI matching */
} tls_nss_name_group;

typedef struct {
    PyObject_HEAD
    PRFileDesc *model; /* the model every connection is imported from */
    PRBool is_server;
    PRUint32 serial;   /* distinguishes contexts in NSS's session cache */
    tls_nss_trust_policy trust;
    /* Servers: one group per name set, in configuration order; group 0's
     * model is `model`, used when SNI names none of them. */
    tls_nss_name_group *groups;
    Py_ssize_t group_count;
    /* PIN sources of the keys found in tokens; NSS keeps pointers to them. */
    tls_nss_pin_source *pins;
} tls_nss_context;

extern PyType_Spec tls_nss_context_spec;

/* ---- connection.c ---- */

/* One TLS connection, whatever carries its bytes. */
typedef struct {
    PRFileDesc *fd;          /* the SSL layer, or NULL */
    tls_nss_context *ctx;    /* the model's owner */
    PyObject *owner;         /* the Python context, returned as .context */
    tls_nss_peer_check check;
    char peer[160];          /* who we talk to, for error messages */
    /* Set by NSS callbacks, without the GIL, on the thread doing I/O. */
    PRBool handshake_done;
    PRBool close_notify_received;
    PRBool close_notify_sent;
} tls_nss_conn;

void tls_nss_conn_init(tls_nss_conn *conn, tls_nss_context *ctx, PyObject *owner);
int tls_nss_conn_set_hostname(tls_nss_conn *conn, const char *hostname);
/* Closes the descriptor without waiting, and drops the references. */
void tls_nss_conn_release(tls_nss_conn *conn);
/* Puts TLS from the context's model on `lower` (taken over, closed on
 * failure) with this connection's hooks, ready for the handshake. */
int tls_nss_conn_import(tls_nss_state *st, tls_nss_conn *conn, PRFileDesc *lower,
                        PRBool as_server);
/* Raises for a failed call; PR_WOULD_BLOCK_ERROR becomes `when_blocked`. */
PyObject *tls_nss_conn_raise(tls_nss_state *st, const tls_nss_conn *conn,
                             PRErrorCode error, tls_nss_error_kind when_blocked,
                             const char *operation);
PyObject *tls_nss_conn_cipher(tls_nss_state *st, const tls_nss_conn *conn);
PyObject *tls_nss_conn_negotiated_protocol(tls_nss_state *st, const tls_nss_conn *conn);
PyObject *tls_nss_conn_tls_version(tls_nss_state *st, const tls_nss_conn *conn);
PyObject *tls_nss_conn_peercert(const tls_nss_conn *conn);

/* ---- socket.c ---- */

extern PyType_Spec tls_nss_socket_spec;

/* A TLS socket for an established TCP connection (client side: the
 * handshake runs before this returns) or for a listening socket. */
PyObject *tls_nss_socket_connect(tls_nss_context *ctx, PyObject *owner,
                                 int os_fd, const char *hostname,
                                 PyObject *timeout);
PyObject *tls_nss_socket_listen(tls_nss_context *ctx, PyObject *owner,
                                int os_fd, PyObject *timeout);

/* ---- buffer.c ---- */

extern PyType_Spec tls_nss_buffer_spec;

/* A TLS buffer: `hostname` is the server's name for a client, else NULL. */
PyObject *tls_nss_buffer_new(tls_nss_context *ctx, PyObject *owner, const char *hostname);

static inline tls_nss_state *
tls_nss_state_of(PyObject *obj)
{
    return (tls_nss_state *)PyType_GetModuleState(Py_TYPE(obj));
}

#endif
