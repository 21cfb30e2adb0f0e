"""An aiohttp server on NSS, its certificate renewed without a restart.

    python3 aiohttp_server.py CERT KEY PORT

Loading a chain again replaces the one of its key type, so renewing is
load_cert_chain() with the new files: here, on SIGHUP.
"""

import asyncio
import signal
import ssl
import sys

from aiohttp import web

import tls_nss

cert, key, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
context = tls_nss.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)


async def hello(request):
    return web.Response(text="hello over NSS")


async def renew_on_sighup(app):
    asyncio.get_running_loop().add_signal_handler(
        signal.SIGHUP, context.load_cert_chain, cert, key)


app = web.Application()
app.router.add_get("/", hello)
app.on_startup.append(renew_on_sighup)
web.run_app(app, host="127.0.0.1", port=port, ssl_context=context, print=None)
