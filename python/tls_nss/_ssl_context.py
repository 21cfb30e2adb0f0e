"""tls_nss.SSLContext: the ssl module's SSLContext, with NSS doing the TLS.

It is an ssl.SSLContext, configured the ssl module's way, and the sockets
and objects it makes are the ssl module's: ssl.SSLObject itself, and an
ssl.SSLSocket whose sendall(), recv() and recv_into() reach NSS without
ssl.py's Python in between (tls_nss._ssl_socket). Under them, the two
hooks ``_wrap_socket`` and ``_wrap_bio`` are NSS's (tls_nss._ssl_engine).

Settings are kept where the ssl module keeps them, in the OpenSSL context
the class inherits, so that they read back, validate and interact exactly
as they do there (check_hostname and verify_mode, the OP_NO_* options and
the version bounds, get_ca_certs() and cert_store_stats()). What NSS needs
is read from them once, when a connection is wrapped after a change, into
an NSS context (tls_nss._context.make_core) that every later connection is
imported from. The system crypto policy stays the ceiling: what a setting
asks beyond it is narrowed to it, and where nothing is left, wrapping
fails with an ssl.SSLError that names the policy.
"""

from __future__ import annotations

import os
import ssl
import sys
import warnings
from typing import Any, Callable, Optional, Union

from . import _config, _nss, _pem, _ssl_engine, _ssl_errors, _ssl_socket
from ._context import make_core
from ._errors import TLSError
from .policy import effective_policy

#: The OpenSSL context type under ssl.SSLContext, whose getset descriptors
#: hold the settings. Reached directly, never through ssl.SSLContext,
#: which is rebound while this package is injected.
_OpenSSLBase = ssl._ssl._SSLContext  # type: ignore[attr-defined]
_ORIGINAL_SSLCONTEXT = ssl.SSLContext

_PasswordArg = Union[None, str, bytes, bytearray, Callable[[], Union[str, bytes, bytearray]]]

_VERSION_NAMES = {ssl.TLSVersion.TLSv1_2: "TLSv1.2", ssl.TLSVersion.TLSv1_3: "TLSv1.3"}

#: The settings kept in OpenSSL's context that an NSS context is built
#: from, as plain values: a change to any of them builds a new one.
_SETTINGS_READ = tuple(getattr(_OpenSSLBase, name).__get__ for name in (
    "options", "minimum_version", "maximum_version", "verify_mode", "check_hostname",
    "verify_flags", "_host_flags", "num_tickets"))

_num_tickets: Callable[[Any], int] = _OpenSSLBase.num_tickets.__get__
# The protocol as an int: ssl.SSLContext.protocol makes an enum member of
# it, for each connection.
_raw_protocol: Callable[[Any], int] = _OpenSSLBase.protocol.__get__

# verify_flags NSS's verification already has (strict X.509, partial
# chains ending at any given anchor, trusted certificates first) or that
# select CRL checking; any other flag is refused.
_HONOURED_VERIFY_FLAGS = (ssl.VERIFY_DEFAULT | ssl.VERIFY_CRL_CHECK_LEAF
                          | ssl.VERIFY_CRL_CHECK_CHAIN | ssl.VERIFY_X509_STRICT
                          | ssl.VERIFY_X509_TRUSTED_FIRST
                          | getattr(ssl, "VERIFY_X509_PARTIAL_CHAIN", 0))


def _password_bytes(password: _PasswordArg) -> Optional[bytes]:
    """load_cert_chain's password, as the ssl module takes it."""
    if password is None:
        return None
    if callable(password):
        password = password()
        if not isinstance(password, (str, bytes, bytearray)):
            raise TypeError("password callback must return a string")
    if isinstance(password, str):
        password = password.encode("utf-8")
    if not isinstance(password, (bytes, bytearray)):
        raise TypeError("password should be a string or callable")
    if len(password) > 1023:  # as _ssl's PEM_BUFSIZE
        raise ValueError("password cannot be longer than 1023 bytes")
    return bytes(password)


class SSLContext(_ORIGINAL_SSLCONTEXT):
    """An ssl.SSLContext whose connections NSS makes.

    Configure it as ssl.SSLContext. Beyond it, load_cert_chain() also takes
    a pkcs11: URI or an NSS nickname for the certificate and the key, so
    that a key can stay in a PKCS#11 token, the password then being the
    token's PIN.
    """

    sslsocket_class = _ssl_socket.SSLSocket

    def __new__(cls, protocol: Any = None, *args: Any, **kwargs: Any) -> "SSLContext":
        if protocol is None:
            if sys.version_info >= (3, 10):
                warnings.warn("ssl.SSLContext() without protocol argument is deprecated.",
                              category=DeprecationWarning, stacklevel=2)
            protocol = ssl.PROTOCOL_TLS
        context: SSLContext = _OpenSSLBase.__new__(cls, protocol)
        return context

    def __init__(self, protocol: Any = None, *args: Any, **kwargs: Any) -> None:
        self._nss_chains: list[_pem.ChainSource] = []
        self._nss_anchors: list[bytes] = []
        self._nss_crls: list[bytes] = []
        self._nss_system_trust = False
        self._nss_alpn: tuple[bytes, ...] = ()
        self._nss_ciphers_set = False
        self._nss_keylog: Optional[str] = None
        self._nss_post_handshake_auth: Optional[bool] = None
        self._nss_pin: Optional[str] = None
        self._nss_sni_callback: Optional[Callable[..., Any]] = None
        self._nss_generation = 0
        self._nss_cores: dict[bool, tuple[tuple[Any, ...], Any]] = {}
        self._nss_stats = {"connect": 0, "accept": 0, "hits": 0}

    def _changed(self) -> None:
        self._nss_generation += 1

    # ---- settings the ssl module keeps in properties, read without going
    # through ssl.SSLContext (see _OpenSSLBase)

    @property
    def options(self) -> ssl.Options:
        return ssl.Options(_OpenSSLBase.options.__get__(self))

    @options.setter
    def options(self, value: int) -> None:
        _OpenSSLBase.options.__set__(self, value)

    @property
    def minimum_version(self) -> ssl.TLSVersion:
        return ssl.TLSVersion(_OpenSSLBase.minimum_version.__get__(self))

    @minimum_version.setter
    def minimum_version(self, value: ssl.TLSVersion) -> None:
        if value == ssl.TLSVersion.SSLv3:
            self.options &= ~ssl.Options.OP_NO_SSLv3
        _OpenSSLBase.minimum_version.__set__(self, value)

    @property
    def maximum_version(self) -> ssl.TLSVersion:
        return ssl.TLSVersion(_OpenSSLBase.maximum_version.__get__(self))

    @maximum_version.setter
    def maximum_version(self, value: ssl.TLSVersion) -> None:
        _OpenSSLBase.maximum_version.__set__(self, value)

    @property
    def verify_flags(self) -> ssl.VerifyFlags:
        return ssl.VerifyFlags(_OpenSSLBase.verify_flags.__get__(self))

    @verify_flags.setter
    def verify_flags(self, value: int) -> None:
        unsupported = int(value) & ~_HONOURED_VERIFY_FLAGS
        if unsupported:
            raise ValueError(f"tls_nss: verify flags {ssl.VerifyFlags(unsupported)!r} "
                             "are not supported by NSS")
        _OpenSSLBase.verify_flags.__set__(self, value)

    @property
    def verify_mode(self) -> ssl.VerifyMode:
        return ssl.VerifyMode(_OpenSSLBase.verify_mode.__get__(self))

    @verify_mode.setter
    def verify_mode(self, value: int) -> None:
        _OpenSSLBase.verify_mode.__set__(self, value)

    @property  # type: ignore[override]
    def keylog_filename(self) -> Optional[str]:
        return self._nss_keylog

    @keylog_filename.setter
    def keylog_filename(self, value: Any) -> None:
        if value is not None:
            value = os.fsdecode(os.fspath(value))
            # As the ssl module: the file must be writable when it is set.
            with open(value, "a"):
                pass
        self._nss_keylog = value
        self._changed()

    @property  # type: ignore[override]
    def post_handshake_auth(self) -> Optional[bool]:
        return self._nss_post_handshake_auth

    @post_handshake_auth.setter
    def post_handshake_auth(self, value: bool) -> None:
        # Clients offer post-handshake authentication (NSS's
        # SSL_ENABLE_POST_HANDSHAKE_AUTH) and answer with load_cert_chain's
        # chain; servers cannot ask for it (verify_client_post_handshake).
        self._nss_post_handshake_auth = bool(value)
        self._changed()

    @property
    def sni_callback(self) -> Optional[Callable[..., Any]]:
        """Called as callback(sslsocket_or_sslobject, server_name, context)
        with the ClientHello's name (None: none) before the handshake goes
        on; it may set the connection's ``context`` to another
        tls_nss.SSLContext, whose certificates and settings the handshake
        then takes, or return an alert number to refuse the client. It runs
        in Python before NSS starts, never inside NSS."""
        return self._nss_sni_callback

    @sni_callback.setter
    def sni_callback(self, callback: Optional[Callable[..., Any]]) -> None:
        if self.protocol == ssl.PROTOCOL_TLS_CLIENT:
            raise ValueError("sni_callback cannot be set on TLS_CLIENT context")
        if callback is not None and not callable(callback):
            raise TypeError("not a callable object")
        self._nss_sni_callback = callback

    @property
    def _msg_callback(self) -> None:
        return None

    @_msg_callback.setter
    def _msg_callback(self, callback: Any) -> None:
        if callback is not None:
            raise NotImplementedError("tls_nss: _msg_callback is OpenSSL's")

    # ---- certificates, keys and trust

    def load_cert_chain(self, certfile: Any, keyfile: Any = None,
                        password: _PasswordArg = None) -> None:
        """As ssl.SSLContext's, and also with ``certfile`` (and ``keyfile``)
        a pkcs11: URI or NSS nickname: the certificate, and its key, found
        in a token, ``password`` being the token's PIN."""
        secret = _password_bytes(password)
        certfile = os.fsdecode(os.fspath(certfile))
        keyfile = None if keyfile is None else os.fsdecode(os.fspath(keyfile))
        # A missing file named by a path is the ssl module's FileNotFoundError.
        if _pem.is_token_id(certfile) and (certfile.startswith("pkcs11:") or
                                           os.sep not in certfile):
            chain = self._token_chain(certfile, keyfile, secret)
        else:
            chain = self._file_chain(certfile, keyfile, secret)
        self._check_chain(chain)
        # As OpenSSL: a chain replaces the one of its key type, so that a
        # running server takes a renewed certificate by loading it again.
        kind = _key_type(chain)
        same = [i for i, c in enumerate(self._nss_chains) if kind and _key_type(c) == kind]
        if same:
            self._nss_chains[same[0]] = chain  # in its place: the order is the preference
        else:
            self._nss_chains.append(chain)
        self._changed()

    def _check_chain(self, chain: _pem.ChainSource) -> None:
        """Loads the chain into NSS once, as the ssl module loads it here: a
        wrong password, a key that does not match, or one the policy finds
        too small fails now, not at the first connection."""
        try:
            make_core(_config.Settings(None, None, None, ()), server=True, sources=[chain],
                      trust=_pem.TrustSource(), verify=False, check_hostname=False,
                      keylog_filename="", pin_callback=self._pin_callback())
        except TLSError as e:
            raise _ssl_errors.translate(e) from e

    @staticmethod
    def _read(path: str) -> bytes:
        with open(path, "rb") as f:  # FileNotFoundError etc., as the ssl module
            return f.read()

    def _file_chain(self, certfile: str, keyfile: Optional[str],
                    password: Optional[bytes]) -> _pem.ChainSource:
        data = self._read(certfile)
        where = f"certificate file {certfile}"
        certificates = [der for label, der in _pem.pem_blocks(data, where)
                        if label in ("CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE")]
        if not certificates:
            raise _ssl_errors.translate(_config_error(f"reading {where}",
                                                      "it holds no PEM CERTIFICATE block"))
        key_data = data if keyfile is None else self._read(keyfile)
        key_where = where if keyfile is None else f"private key file {keyfile}"
        blocks = [(label, der) for label, der in _pem.pem_blocks(key_data, key_where)
                  if label.endswith("PRIVATE KEY")]
        if not blocks:
            raise _ssl_errors.translate(_config_error(f"reading {key_where}",
                                                      "it holds no PEM PRIVATE KEY block"))
        label, key_der = blocks[0]
        if password is None and label == "ENCRYPTED PRIVATE KEY":
            raise _ssl_errors.ssl_error("BAD_PASSWORD_READ", f"the key in {key_where} is "
                                        "encrypted, and no password was given")
        if password is not None and _pem._LEGACY_ENCRYPTION in key_data:
            raise _ssl_errors.translate(_config_error(
                f"loading {key_where}", "the key is encrypted in OpenSSL's legacy PEM form "
                "(Proc-Type: 4,ENCRYPTED), which NSS does not read; convert it to encrypted "
                "PKCS#8 with 'openssl pkcs8 -topk8 -in KEY -out NEW'"))
        return _pem.ChainSource(
            leaf=_pem.CertificateSource(where, der=certificates[0]),
            key=_pem.KeySource(key_where, der=key_der, pem_label=label,
                               password=password if label == "ENCRYPTED PRIVATE KEY" else None),
            intermediates=tuple(_pem.CertificateSource(f"certificate {n} of {where}", der=der)
                                for n, der in enumerate(certificates[1:], 2)),
        )

    def _token_chain(self, cert_id: str, key_id: Optional[str],
                     pin: Optional[bytes]) -> _pem.ChainSource:
        if pin is not None:
            self._nss_pin = pin.decode("utf-8")
        return _pem.ChainSource(
            # The messages quote the id after its description, with its PIN
            # masked: the description must not quote it again.
            leaf=_pem.CertificateSource("certificate", token_id=cert_id),
            key=None if key_id is None else _pem.KeySource("private key", token_id=key_id),
            intermediates=(),
        )

    def load_verify_locations(self, cafile: Any = None, capath: Any = None,
                              cadata: Any = None) -> None:
        # The ssl module's own store too: get_ca_certs() and
        # cert_store_stats() read it, and it checks the arguments as the
        # ssl module does.
        super().load_verify_locations(cafile, capath, cadata)
        anchors: list[bytes] = []
        crls: list[bytes] = []
        if cafile is not None:
            self._take_pem(self._read(os.fsdecode(os.fspath(cafile))), anchors, crls)
        if capath is not None:
            directory = os.fsdecode(os.fspath(capath))
            for name in sorted(os.listdir(directory)):
                path = os.path.join(directory, name)
                if os.path.isfile(path):
                    self._take_pem(self._read(path), anchors, crls)
        if cadata is not None:
            if isinstance(cadata, str):
                self._take_pem(cadata.encode("ascii"), anchors, crls)
            else:
                anchors.extend(_split_der(bytes(cadata)))
        self._nss_anchors.extend(anchors)
        self._nss_crls.extend(crls)
        self._changed()

    @staticmethod
    def _take_pem(data: bytes, anchors: list[bytes], crls: list[bytes]) -> None:
        for label, der in _pem.pem_blocks(data, "trust store"):
            if label in ("CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE"):
                anchors.append(der)
            elif label == "X509 CRL":
                crls.append(der)

    def load_default_certs(self, purpose: ssl.Purpose = ssl.Purpose.SERVER_AUTH) -> None:
        """The system's trust, as TrustStore.system() defines it (NSS's
        system roots: p11-kit's trust module where there is one)."""
        if not isinstance(purpose, ssl._ASN1Object):
            raise TypeError(purpose)
        self.set_default_verify_paths()

    def set_default_verify_paths(self) -> None:
        super().set_default_verify_paths()
        self._nss_system_trust = True
        self._changed()

    # ---- protocol settings

    def set_ciphers(self, cipherlist: str) -> None:
        """OpenSSL's cipher string, resolved by OpenSSL as the ssl module
        does, then narrowed to the suites NSS has and the policy allows."""
        super().set_ciphers(cipherlist)
        self._nss_ciphers_set = True
        self._changed()

    def get_ciphers(self) -> Any:
        """The suites connections may use, in the ssl module's format."""
        usable = {int(s) for s in effective_policy().cipher_suites}
        return [c for c in super().get_ciphers() if c["id"] & 0xFFFF in usable]

    def set_alpn_protocols(self, alpn_protocols: Any) -> None:
        super().set_alpn_protocols(alpn_protocols)
        self._nss_alpn = tuple(p.encode("ascii") for p in alpn_protocols)
        self._changed()

    def set_npn_protocols(self, npn_protocols: Any) -> None:
        raise NotImplementedError("tls_nss: NPN is obsolete and NSS does not offer it; "
                                  "use set_alpn_protocols()")

    def set_ecdh_curve(self, name: str) -> None:
        raise NotImplementedError(
            "tls_nss: the key exchange groups are the crypto policy's "
            f"({', '.join(effective_policy().groups)}); choose them there")

    def load_dh_params(self, path: Any) -> None:
        raise NotImplementedError(
            "tls_nss: NSS takes no DH parameters; TLS 1.2's DHE uses the RFC 7919 "
            "groups the crypto policy allows, and ECDHE comes first")

    if hasattr(_OpenSSLBase, "set_psk_client_callback"):  # Python 3.13
        def set_psk_client_callback(self, callback: Any) -> None:
            raise NotImplementedError("tls_nss: external PSKs are not offered")

        def set_psk_server_callback(self, callback: Any, identity_hint: Any = None) -> None:
            raise NotImplementedError("tls_nss: external PSKs are not offered")

    def session_stats(self) -> dict[str, int]:
        stats = dict.fromkeys(("number", "connect", "connect_good", "connect_renegotiate",
                               "accept", "accept_good", "accept_renegotiate", "hits", "misses",
                               "timeouts", "cache_full"), 0)
        stats.update(self._nss_stats)
        for core_entry in self._nss_cores.values():
            stats["number"] += core_entry[1].cached_sessions()
        return stats

    # ---- the two hooks under SSLSocket and SSLObject

    def _wrap_socket(self, sock: Any, server_side: bool, server_hostname: Optional[str] = None,
                     *, owner: Any = None, session: Any = None) -> _ssl_engine.SocketEngine:
        core = self._core(server_side, server_hostname)
        engine = _ssl_engine.SocketEngine(self, core, owner if owner is not None else sock,
                                          server_side, server_hostname)
        if session is not None:
            engine.session = session
        self._nss_stats["accept" if server_side else "connect"] += 1
        return engine

    def _wrap_bio(self, incoming: ssl.MemoryBIO, outgoing: ssl.MemoryBIO, server_side: bool,
                  server_hostname: Optional[str] = None, *, owner: Any = None,
                  session: Any = None) -> _ssl_engine.BIOEngine:
        core = self._core(server_side, server_hostname)
        engine = _ssl_engine.BIOEngine(self, core, incoming, outgoing, owner, server_side,
                                       server_hostname)
        if session is not None:
            engine.session = session
        self._nss_stats["accept" if server_side else "connect"] += 1
        return engine

    def _core(self, server_side: bool, server_hostname: Optional[str]) -> Any:
        protocol = _raw_protocol(self)
        if server_side and protocol == ssl.PROTOCOL_TLS_CLIENT:
            raise ValueError("Cannot create a server socket with a PROTOCOL_TLS_CLIENT context")
        if not server_side and protocol == ssl.PROTOCOL_TLS_SERVER:
            raise ValueError("Cannot create a client socket with a PROTOCOL_TLS_SERVER context")
        if not server_side and self.check_hostname and not server_hostname:
            raise ValueError("check_hostname requires server_hostname")
        # Read raw from OpenSSL's context: this runs for every connection.
        key = (self._nss_generation, *[read(self) for read in _SETTINGS_READ])
        cached = self._nss_cores.get(server_side)
        if cached is not None and cached[0] == key:
            return cached[1]
        try:
            core = self._build_core(server_side)
        except TLSError as e:
            raise _ssl_errors.translate(e) from e
        self._nss_cores[server_side] = (key, core)
        return core

    def _versions(self) -> tuple[Optional[str], Optional[str]]:
        policy = effective_policy()
        low, high = self.minimum_version, self.maximum_version
        options = self.options
        if options & ssl.OP_NO_TLSv1_3:
            high = min(high, ssl.TLSVersion.TLSv1_2, key=_version_rank)
        if options & ssl.OP_NO_TLSv1_2:
            low = max(low, ssl.TLSVersion.TLSv1_3, key=_version_rank)
        # Below TLS 1.2 the policy is the floor; this package speaks 1.2 and 1.3.
        lowest = _VERSION_NAMES.get(low) if _version_rank(low) > _version_rank(
            ssl.TLSVersion.TLSv1_2) else None
        highest = None
        if _version_rank(high) < _version_rank(ssl.TLSVersion.TLSv1_2) or \
                _version_rank(low) > _version_rank(high):
            raise _ssl_errors.ssl_error(
                "NO_PROTOCOLS_AVAILABLE", f"no protocols available: {low.name} to {high.name} "
                f"leaves nothing that {policy.describe()} allows (TLS versions "
                f"{policy.version_names[0]} to {policy.version_names[1]})")
        if _version_rank(high) == _version_rank(ssl.TLSVersion.TLSv1_2):
            highest = "TLSv1.2"
        return lowest, highest

    def _cipher_suites(self, lowest: Optional[str],
                       highest: Optional[str]) -> Optional[tuple[int, ...]]:
        """The suites set_ciphers() chose, narrowed to those NSS has, the
        policy allows and the versions can use; None: the policy's."""
        if not self._nss_ciphers_set:
            return None
        policy = effective_policy()
        usable = {int(s) for s in policy.cipher_suites}
        chosen = tuple(c["id"] & 0xFFFF for c in super().get_ciphers()
                       if c["id"] & 0xFFFF in usable)
        for_versions = [s for s in chosen
                        if not (highest == "TLSv1.2" and _is_tls13_suite(s))
                        and not (lowest == "TLSv1.3" and not _is_tls13_suite(s))]
        if not for_versions:
            raise _ssl_errors.ssl_error(
                "NO_CIPHER_MATCH", "No cipher can be selected: the cipher string leaves none "
                f"that NSS has, {policy.describe()} allows and the TLS versions can use")
        return chosen

    def _build_core(self, server_side: bool) -> Any:
        lowest, highest = self._versions()
        settings = _config.Settings(lowest, highest, self._cipher_suites(lowest, highest),
                                    self._nss_alpn,
                                    post_handshake_auth=bool(self._nss_post_handshake_auth)
                                    and not server_side)
        verify = self.verify_mode != ssl.CERT_NONE
        if verify and not self._nss_anchors and not self._nss_system_trust:
            raise _no_anchors(server_side)
        trust = _pem.TrustSource(
            anchors=tuple(self._nss_anchors) or None,
            with_system=bool(self._nss_anchors) and self._nss_system_trust,
            common_name_fallback=bool(self.hostname_checks_common_name),
        )
        crl_check = self.verify_flags & (ssl.VERIFY_CRL_CHECK_LEAF | ssl.VERIFY_CRL_CHECK_CHAIN)
        if crl_check and not self._nss_crls:
            raise _ssl_errors.ssl_error("CERTIFICATE_VERIFY_FAILED", "CRL checking is on, but "
                                        "load_verify_locations() loaded no CRL")
        # num_tickets: TLS 1.3 tickets a server sends after a full handshake.
        tickets = _num_tickets(self) if server_side else 1
        chains = self._nss_chains if server_side else self._nss_chains[:1]
        if server_side and not chains:
            raise _ssl_errors.ssl_error("NO_CERTIFICATE_ASSIGNED", "a server needs a "
                                        "certificate: call load_cert_chain() first")
        return make_core(
            settings,
            server=server_side,
            sources=chains,
            trust=trust,
            verify=verify,
            check_hostname=self.check_hostname and not server_side,
            # Clients resume by themselves, unless told OP_NO_TICKET.
            session_cache_size=0 if server_side or self.options & ssl.OP_NO_TICKET else 256,
            session_tickets=not (self.options & ssl.OP_NO_TICKET) and tickets > 0,
            # NSS sends one ticket after a handshake by itself.
            extra_session_tickets=max(tickets - 1, 0),
            keylog_filename=self._nss_keylog if self._nss_keylog is not None else "",
            crls=tuple(self._nss_crls) if crl_check else None,
            client_certificate_optional=server_side and self.verify_mode == ssl.CERT_OPTIONAL,
            pin_callback=self._pin_callback(),
        )

    def _pin_callback(self) -> Optional[Callable[[str, bool], Optional[str]]]:
        """load_cert_chain's password as the PIN of the token holding the
        key; tokens.set_pin_callback()'s callback where none was given."""
        pin = self._nss_pin
        if pin is None:
            return None

        def answer(token: str, retry: bool) -> Optional[str]:
            return None if retry else pin

        return answer


def _key_type(chain: _pem.ChainSource) -> Optional[str]:
    """"RSA", "EC", ... for a chain read from files; None for one in a
    token, whose certificate is known only once NSS finds it."""
    if chain.leaf.der is None:
        return None
    key: dict[str, Any] = _nss.describe_certificate(chain.leaf.der)["key"]
    return str(key["type"])


def _is_tls13_suite(suite: int) -> bool:
    return 0x1301 <= suite <= 0x13FF


def _version_rank(version: ssl.TLSVersion) -> int:
    """TLSVersion's order: MINIMUM_SUPPORTED (-2) and MAXIMUM_SUPPORTED (-1)
    are the ends."""
    value = int(version)
    if value == ssl.TLSVersion.MINIMUM_SUPPORTED:
        return -(1 << 30)
    if value == ssl.TLSVersion.MAXIMUM_SUPPORTED:
        return 1 << 30
    return value


def _config_error(operation: str, problem: str) -> TLSError:
    from ._errors import configuration_error

    return configuration_error(operation, problem)


def _no_anchors(server_side: bool) -> ssl.SSLError:
    error = ssl.SSLCertVerificationError(
        ssl.SSL_ERROR_SSL, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable "
        "to get local issuer certificate (no trust anchors: call load_default_certs() or "
        f"load_verify_locations() to verify {'clients' if server_side else 'servers'} by)")
    error.reason = "CERTIFICATE_VERIFY_FAILED"
    error.library = "SSL"
    error.verify_code = 20
    error.verify_message = "unable to get local issuer certificate"
    return error


def _split_der(data: bytes) -> list[bytes]:
    """cadata as DER: one or more DER certificates back to back."""
    certificates = []
    while data:
        if len(data) < 4 or data[0] != 0x30:
            raise _ssl_errors.ssl_error("NOT_ENOUGH_DATA", "cadata is not DER")
        if data[1] < 0x80:
            length, header = data[1], 2
        else:
            size = data[1] & 0x7F
            if size == 0 or size > 4 or len(data) < 2 + size:
                raise _ssl_errors.ssl_error("BAD_LENGTH", "cadata is not DER")
            length, header = int.from_bytes(data[2:2 + size], "big"), 2 + size
        end = header + length
        if end > len(data):
            raise _ssl_errors.ssl_error("NOT_ENOUGH_DATA", "cadata is cut short")
        certificates.append(data[:end])
        data = data[end:]
    return certificates


def create_default_context(purpose: ssl.Purpose = ssl.Purpose.SERVER_AUTH, *,
                           cafile: Any = None, capath: Any = None,
                           cadata: Any = None) -> SSLContext:
    """ssl.create_default_context(), with NSS doing the TLS."""
    if not isinstance(purpose, ssl._ASN1Object):
        raise TypeError(purpose)
    if purpose == ssl.Purpose.SERVER_AUTH:
        context = SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.verify_mode = ssl.CERT_REQUIRED
        context.check_hostname = True
    elif purpose == ssl.Purpose.CLIENT_AUTH:
        context = SSLContext(ssl.PROTOCOL_TLS_SERVER)
    else:
        raise ValueError(purpose)
    context.verify_flags |= getattr(ssl, "VERIFY_X509_STRICT", 0)
    if cafile or capath or cadata:
        context.load_verify_locations(cafile, capath, cadata)
    elif context.verify_mode != ssl.CERT_NONE:
        context.load_default_certs(purpose)
    return context

