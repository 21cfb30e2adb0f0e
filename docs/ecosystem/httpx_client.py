"""httpx, sync and async, HTTP/2 included, with a tls_nss.SSLContext.

    python3 httpx_client.py URL CAFILE
"""

import asyncio
import sys

import httpx

import tls_nss

url, cafile = sys.argv[1], sys.argv[2]
context = tls_nss.create_default_context(cafile=cafile)

with httpx.Client(verify=context, http2=True) as client:
    reply = client.get(url)
    print(reply.http_version, reply.status_code)


async def fetch():
    async with httpx.AsyncClient(verify=context) as client:
        return (await client.get(url)).status_code


print(asyncio.run(fetch()))
