"""STARTTLS on the server side: a plain-text SMTP greeting, then TLS on the
same connection, as mail servers do.

    python3 starttls_server.py CERT KEY PORT
"""

import socket
import sys

import tls_nss as tls


def serve_one(context: tls.NSSServerContext, listener: socket.socket) -> bytes:
    plain, _ = listener.accept()
    # Read line by line and never ahead: bytes past STARTTLS belong to TLS.
    reader = plain.makefile("rb", buffering=0)
    plain.sendall(b"220 mail.example ESMTP\r\n")
    reader.readline()                                   # EHLO
    plain.sendall(b"250-mail.example\r\n250 STARTTLS\r\n")
    if reader.readline().strip().upper() != b"STARTTLS":
        plain.close()
        return b""
    plain.sendall(b"220 Ready to start TLS\r\n")
    reader.close()
    with context.wrap_socket(plain) as secure:          # the server handshake
        secure.sendall(b"220 mail.example ESMTP, over TLS now\r\n")
        command = secure.recv(1024)
        secure.sendall(b"221 Bye\r\n")
        return command


if __name__ == "__main__":
    cert, key, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    chain = tls.SigningChain((tls.Certificate.from_file(cert), tls.PrivateKey.from_file(key)))
    context = tls.NSSServerContext(tls.TLSServerConfiguration(certificate_chain=[chain]))
    with socket.create_server(("127.0.0.1", port)) as listener:
        print("ready", flush=True)
        print(serve_one(context, listener).decode().strip(), flush=True)
