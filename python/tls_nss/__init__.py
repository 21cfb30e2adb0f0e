"""TLS for Python through Mozilla NSS, behind PEP 748's unified TLS API.

    import tls_nss as tls
    config = tls.TLSClientConfiguration(trust_store=tls.TrustStore.system())
    with tls.NSS_IMPLEMENTATION.client_context(config).connect(("example.org", 443)) as sock:
        ...
"""

from ._api import (
    DEFAULT_CIPHER_LIST,
    Certificate,
    CipherSuite,
    ClientContext,
    NextProtocol,
    PrivateKey,
    ServerContext,
    SigningChain,
    TLSBuffer,
    TLSClientConfiguration,
    TLSImplementation,
    TLSServerConfiguration,
    TLSShutdownMode,
    TLSSocket,
    TLSVersion,
    TrustStore,
)
from ._errors import (
    CertificateVerificationError,
    ConfigurationError,
    NSSConfigurationError,
    NSSError,
    NSSRaggedEOF,
    NSSWantReadError,
    NSSWantWriteError,
    RaggedEOF,
    TLSConnectionError,
    TLSError,
    TLSTimeoutError,
    WantReadError,
    WantWriteError,
)
from ._nss import NSSTLSBuffer, NSSTLSSocket, nss_version
from ._context import (
    NSS_IMPLEMENTATION,
    NSSClientContext,
    NSSServerContext,
    prepare_workers,
    validate_config,
)
from .tokens import add_pkcs11_module, set_pin_callback
from ._ssl_context import SSLContext, create_default_context
from ._ssl_inject import extract_from_ssl, inject_into_ssl
from . import certinfo
from ._version import __version__ as __version__


__all__ = [
    # PEP 748
    "TLSClientConfiguration",
    "TLSServerConfiguration",
    "ClientContext",
    "ServerContext",
    "TLSSocket",
    "TLSShutdownMode",
    "TLSBuffer",
    "CipherSuite",
    "DEFAULT_CIPHER_LIST",
    "NextProtocol",
    "TLSVersion",
    "TLSError",
    "WantWriteError",
    "WantReadError",
    "RaggedEOF",
    "ConfigurationError",
    "Certificate",
    "PrivateKey",
    "SigningChain",
    "TrustStore",
    "TLSImplementation",
    # NSS
    "NSS_IMPLEMENTATION",
    "NSSClientContext",
    "NSSServerContext",
    "NSSTLSSocket",
    "NSSTLSBuffer",
    "validate_config",
    "prepare_workers",
    "nss_version",
    "set_pin_callback",
    "add_pkcs11_module",
    "NSSError",
    "NSSConfigurationError",
    "NSSWantReadError",
    "NSSWantWriteError",
    "NSSRaggedEOF",
    "CertificateVerificationError",
    "TLSTimeoutError",
    "TLSConnectionError",
    # the ssl module's API
    "SSLContext",
    "create_default_context",
    "inject_into_ssl",
    "extract_from_ssl",
]
