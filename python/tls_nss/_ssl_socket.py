"""tls_nss.SSLContext's sockets: ssl.SSLSocket, three calls shorter.

Everything an ssl.SSLSocket does, this class does by ssl.py's own code
(it is a subclass, and passes every isinstance check), except three
methods that bulk transfers call for every record: ``sendall()``,
``recv()`` and ``recv_into()``. ssl.py walks those through two or three
Python calls (and, for sendall, memoryviews sliced per record) before it
reaches the TLS object; here they reach the NSS socket's C methods at
once, with the same results and the same exceptions. Whatever is not the
plain case (flags, an unwrapped socket, data other than bytes or
bytearray) goes to ssl.py's code as it is.
"""

from __future__ import annotations

import ssl
from typing import Any, Optional

_WHOLE_BYTES = (bytes, bytearray)


class SSLSocket(ssl.SSLSocket):
    """An ssl.SSLSocket over NSS (tls_nss.SSLContext.wrap_socket makes it)."""

    # ssl.py's own attribute, which typeshed does not declare.
    _sslobj: Any

    def sendall(self, data: Any, flags: int = 0) -> None:
        engine = self._sslobj
        if engine is None or flags or type(data) not in _WHOLE_BYTES:
            return super().sendall(data, flags)
        # As the ssl module's: all of it by one deadline (its one write()).
        engine.sendall(data)
        return None

    def recv(self, buflen: int = 1024, flags: int = 0) -> bytes:
        engine = self._sslobj
        if engine is None or flags:
            return super().recv(buflen, flags)
        # A transport EOF without close_notify reads as EOF in C, while
        # suppress_ragged_eofs holds (SSLSocket.read()'s rule).
        data: bytes = engine.read(buflen)
        return data

    def recv_into(self, buffer: Any, nbytes: Optional[int] = None, flags: int = 0) -> int:
        engine = self._sslobj
        if engine is None or flags:
            return super().recv_into(buffer, nbytes, flags)
        if nbytes is None:
            nbytes = len(buffer) if buffer else 1024
        count: int = engine.read(nbytes, buffer)
        return count
