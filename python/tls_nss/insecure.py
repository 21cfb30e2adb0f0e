"""Insecure contexts, for testing only.

Everything here weakens TLS: certificate verification, or the check that
the certificate names the host, can be turned off. Each step warns with
:class:`SecurityWarning`. To reach a server with a self-signed
certificate, put that certificate in a TrustStore instead.
"""

from __future__ import annotations

import warnings
from typing import Any

from ._api import TLSClientConfiguration, TLSImplementation, TLSServerConfiguration
from ._context import NSSClientContext, NSSServerContext, validate_config

__all__ = [
    "SecurityWarning",
    "InsecureConfiguration",
    "NSSInsecureClientContext",
    "NSSInsecureServerContext",
    "InsecureTLSImplementation",
    "NSS_INSECURE_IMPLEMENTATION",
]


class SecurityWarning(Warning):
    """Warning regarding the insecurity caused by the use of this module."""


def _warn(message: str) -> None:
    warnings.warn(message, SecurityWarning, stacklevel=3)


class InsecureConfiguration:
    """Insecure options, for testing purposes only.

    :param disable_hostname_check: accept a server certificate that does not
        name the host connected to.
    :param disable_verification: accept any server certificate at all (this
        implies disable_hostname_check). On a server, accept any client
        certificate.
    """

    __slots__ = ("_disable_hostname_check", "_disable_verification")

    def __init__(self, disable_hostname_check: bool = False, disable_verification: bool = False) -> None:
        _warn("InsecureConfiguration is insecure and must not be used in production")
        self._disable_hostname_check = disable_hostname_check
        self._disable_verification = disable_verification

    @property
    def disable_hostname_check(self) -> bool:
        return self._disable_hostname_check

    @property
    def disable_verification(self) -> bool:
        return self._disable_verification

    def __repr__(self) -> str:
        return (
            f"InsecureConfiguration(disable_hostname_check={self._disable_hostname_check}, "
            f"disable_verification={self._disable_verification})"
        )


class NSSInsecureClientContext(NSSClientContext):
    """A client context that may skip verification of the server.

    It takes every option NSSClientContext takes, passed on unchanged, so
    that the two cannot drift apart."""

    __slots__ = ("_insecure_configuration", "_verify", "_check_hostname")

    def __init__(
        self,
        tls_configuration: TLSClientConfiguration,
        insecure_configuration: InsecureConfiguration,
        **options: Any,
    ) -> None:
        _warn("an insecure client context is being created")
        self._insecure_configuration = insecure_configuration
        self._verify = not insecure_configuration.disable_verification
        self._check_hostname = (self._verify
                                and not insecure_configuration.disable_hostname_check)
        super().__init__(tls_configuration, **options)

    @property
    def insecure_configuration(self) -> InsecureConfiguration:
        return self._insecure_configuration

    def connect(self, address: tuple[str | None, int]) -> Any:
        _warn(f"insecure TLS connection to {address[0]}:{address[1]}")
        return super().connect(address)

    def create_buffer(self, server_hostname: str) -> Any:
        _warn(f"insecure TLS buffer for {server_hostname}")
        return super().create_buffer(server_hostname)


class NSSInsecureServerContext(NSSServerContext):
    """A server context that may accept any client certificate.

    It takes every option NSSServerContext takes, passed on unchanged."""

    __slots__ = ("_insecure_configuration", "_verify")

    def __init__(
        self,
        tls_configuration: TLSServerConfiguration,
        insecure_configuration: InsecureConfiguration,
        **options: Any,
    ) -> None:
        _warn("an insecure server context is being created")
        self._insecure_configuration = insecure_configuration
        self._verify = not insecure_configuration.disable_verification
        super().__init__(tls_configuration, **options)

    @property
    def insecure_configuration(self) -> InsecureConfiguration:
        return self._insecure_configuration

    def connect(self, address: tuple[str | None, int]) -> Any:
        _warn(f"insecure TLS server on {address[0]}:{address[1]}")
        return super().connect(address)

    def create_buffer(self) -> Any:
        _warn("insecure TLS server buffer")
        return super().create_buffer()


class InsecureTLSImplementation(TLSImplementation[NSSClientContext, NSSServerContext]):
    """A TLSImplementation that also offers insecure contexts."""

    __slots__ = ("_insecure_client_context", "_insecure_server_context")

    def __init__(self) -> None:
        _warn("the insecure TLS implementation is in use")
        super().__init__(NSSClientContext, NSSServerContext, validate_config)
        self._insecure_client_context = NSSInsecureClientContext
        self._insecure_server_context = NSSInsecureServerContext

    @property
    def insecure_configuration(self) -> type[InsecureConfiguration]:
        return InsecureConfiguration

    @property
    def insecure_client_context(self) -> type[NSSInsecureClientContext]:
        return self._insecure_client_context

    @property
    def insecure_server_context(self) -> type[NSSInsecureServerContext]:
        return self._insecure_server_context


NSS_INSECURE_IMPLEMENTATION = InsecureTLSImplementation()
