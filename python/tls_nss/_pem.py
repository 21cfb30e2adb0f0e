"""Reading certificates, keys and trust stores into DER.

Works on any PEP 748 implementation's objects: they are read by the PEP's
attribute names (``_buffer``, ``_path``, ``_id``), never by type.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from typing import Any, NamedTuple, Optional

from ._errors import configuration_error

_PEM_BLOCK = re.compile(
    rb"-----BEGIN ([A-Z0-9 ]+)-----[ \t]*\r?\n(.*?)-----END \1-----", re.DOTALL
)
_PEM_MARKER = b"-----BEGIN "
_CERTIFICATE_LABELS = ("CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE")


class Source(NamedTuple):
    data: bytes
    description: str  # for messages: "certificate file /etc/x.pem"


class KeyDER(NamedTuple):
    der: bytes
    pem_label: str | None  # None when the key came as bare DER
    description: str


def source_of(obj: Any) -> tuple[bytes | None, Any, bytes | None]:
    """The (buffer, path, id) a PEP 748 Certificate, PrivateKey or TrustStore holds."""
    return (
        getattr(obj, "_buffer", None),
        getattr(obj, "_path", None),
        getattr(obj, "_id", None),
    )


def read(obj: Any, what: str) -> Source:
    """The bytes behind a certificate, key or trust store given by buffer or path."""
    buffer, path, _ = source_of(obj)
    if buffer is not None:
        if not isinstance(buffer, (bytes, bytearray, memoryview)):
            raise TypeError(f"a {what} buffer must be bytes, not {type(buffer).__name__}")
        return Source(bytes(buffer), f"{what} buffer")
    if path is None:
        raise configuration_error(f"loading the {what}", "it names no buffer or file")
    try:
        filename = os.fspath(path)
    except TypeError:
        raise TypeError(f"a {what} path must be str or os.PathLike, not {type(path).__name__}") from None
    try:
        with open(filename, "rb") as f:
            return Source(f.read(), f"{what} file {os.fsdecode(filename)}")
    except OSError as e:
        raise configuration_error(
            f"reading {what} file {os.fsdecode(filename)}", e.strerror or str(e)
        ) from e


def pem_blocks(data: bytes, description: str) -> list[tuple[str, bytes]]:
    """Every PEM block in ``data``, as (label, DER)."""
    blocks = []
    for match in _PEM_BLOCK.finditer(data):
        label = match.group(1).decode("ascii")
        body = match.group(2)
        if b"Proc-Type:" in body:
            # RFC 1421 headers: the legacy OpenSSL form of an encrypted key.
            if b"ENCRYPTED" in body:
                label = "ENCRYPTED PRIVATE KEY"
            body = body.split(b"\n\n", 1)[-1].split(b"\r\n\r\n", 1)[-1]
        try:
            der = base64.b64decode(b"".join(body.split()), validate=True)
        except binascii.Error as e:
            raise configuration_error(
                f"reading {description}", f"the PEM block {label!r} is not valid base64 ({e})"
            ) from None
        blocks.append((label, der))
    return blocks


_LEGACY_ENCRYPTION = b"Proc-Type: 4,ENCRYPTED"


def is_token_id(value: str) -> bool:
    """A PKCS#11 URI or NSS nickname rather than a file: pkcs11: URIs, and
    names that are not files ("token:nickname")."""
    return value.startswith("pkcs11:") or not os.path.exists(value)


def is_pem(data: bytes) -> bool:
    return _PEM_MARKER in data


def certificate_der(cert: Any, what: str = "certificate") -> Source:
    """A certificate's DER: the first CERTIFICATE block, or the data as DER."""
    source = read(cert, what)
    if not is_pem(source.data):
        return source
    for label, der in pem_blocks(source.data, source.description):
        if label in _CERTIFICATE_LABELS:
            return Source(der, source.description)
    raise configuration_error(f"reading {source.description}", "it holds no PEM CERTIFICATE block")


def private_key_der(key: Any) -> KeyDER:
    """A private key's DER and the PEM label that says which structure it is."""
    source = read(key, "private key")
    if not is_pem(source.data):
        return KeyDER(source.data, None, source.description)
    for label, der in pem_blocks(source.data, source.description):
        if label.endswith("PRIVATE KEY"):
            return KeyDER(der, label, source.description)
    raise configuration_error(f"reading {source.description}", "it holds no PEM PRIVATE KEY block")


def id_text(obj: Any, what: str) -> str | None:
    """The id a from_id object holds, as text (NSS takes UTF-8), else None."""
    _, _, id_ = source_of(obj)
    if id_ is None:
        return None
    if not isinstance(id_, (bytes, bytearray, memoryview)):
        raise TypeError(f"a {what} id must be bytes, not {type(id_).__name__}")
    try:
        text = bytes(id_).decode("utf-8")
    except UnicodeDecodeError as e:
        raise configuration_error(f"reading the {what} id", f"it is not UTF-8 ({e})") from None
    if not text or "\0" in text:
        # Not quoted: the id may carry a PIN.
        raise configuration_error(f"reading the {what} id", "it is empty or holds a NUL character")
    return text


class CertificateSource(NamedTuple):
    """A certificate as _nss.Context loads it: DER, or an id in a token."""

    description: str  # for messages: "certificate file /etc/x.pem"
    der: Optional[bytes] = None
    token_id: Optional[str] = None


class KeySource(NamedTuple):
    """A private key as _nss.Context loads it: DER, or an id in a token."""

    description: str
    der: Optional[bytes] = None
    pem_label: Optional[str] = None  # None when the key came as bare DER
    token_id: Optional[str] = None
    #: The password of an encrypted PKCS#8 key.
    password: Optional[bytes] = None


class ChainSource(NamedTuple):
    """A signing chain as _nss.Context loads it."""

    leaf: CertificateSource
    #: None: the key that pairs with the leaf in the leaf's token.
    key: Optional[KeySource]
    intermediates: tuple[CertificateSource, ...]
    #: Servers: a DER OCSP response for the leaf, to staple.
    ocsp_response: Optional[bytes] = None


class TrustSource(NamedTuple):
    """Where a context's trust anchors come from; neither: the system's."""

    anchors: Optional[tuple[bytes, ...]] = None
    token_id: Optional[str] = None
    #: The anchors are trusted beside the system's roots, not instead.
    with_system: bool = False
    #: A server certificate without subjectAltName may match by its CN.
    common_name_fallback: bool = True


def certificate_source(cert: Any, what: str = "certificate") -> CertificateSource:
    token_id = id_text(cert, what)
    if token_id is not None:
        return CertificateSource(what, token_id=token_id)
    source = certificate_der(cert, what)
    return CertificateSource(source.description, der=source.data)


def key_source(key: Any, password: bytes | None = None) -> KeySource:
    token_id = id_text(key, "private key")
    if token_id is not None:
        return KeySource("private key", token_id=token_id)
    der = private_key_der(key)
    if password is not None and _LEGACY_ENCRYPTION in read(key, "private key").data:
        raise configuration_error(
            f"loading {der.description}",
            "the key is encrypted in OpenSSL's legacy PEM form (Proc-Type: 4,ENCRYPTED), "
            "which NSS does not read; convert it to encrypted PKCS#8 with "
            "'openssl pkcs8 -topk8 -in KEY -out NEW'")
    return KeySource(der.description, der=der.der, pem_label=der.pem_label, password=password)


def trust_anchor_ders(store: Any) -> tuple[bytes, ...]:
    """The certificates of a trust store given by buffer or path."""
    source = read(store, "trust store")
    if not is_pem(source.data):
        return (source.data,) if source.data else ()
    ders = tuple(
        der
        for label, der in pem_blocks(source.data, source.description)
        if label in _CERTIFICATE_LABELS
    )
    if not ders:
        raise configuration_error(
            f"reading {source.description}", "it holds no PEM CERTIFICATE block"
        )
    return ders


def crl_ders(crls: Any) -> tuple[bytes, ...]:
    """The DER of every CRL given: each item DER or PEM bytes (every
    X509 CRL block), or the path of a file of either."""
    if isinstance(crls, (bytes, str, os.PathLike)) or not hasattr(crls, "__iter__"):
        raise TypeError("crls must be a sequence of CRLs (bytes or paths)")
    ders: list[bytes] = []
    for number, item in enumerate(crls, 1):
        if isinstance(item, (bytes, bytearray, memoryview)):
            data, description = bytes(item), f"CRL {number}"
        elif isinstance(item, (str, os.PathLike)):
            filename = os.fspath(item)
            try:
                with open(filename, "rb") as f:
                    data = f.read()
            except OSError as e:
                raise configuration_error(f"reading CRL file {os.fsdecode(filename)}",
                                          e.strerror or str(e)) from e
            description = f"CRL file {os.fsdecode(filename)}"
        else:
            raise TypeError(f"a CRL must be bytes or a path, not {type(item).__name__}")
        if not is_pem(data):
            ders.append(data)
            continue
        found = [der for label, der in pem_blocks(data, description) if label == "X509 CRL"]
        if not found:
            raise configuration_error(f"reading {description}", "it holds no PEM X509 CRL block")
        ders.extend(found)
    return tuple(ders)
