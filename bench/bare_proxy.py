"""The bare pass-through baseline: Starlette + one pooled aiohttp session, nothing else.

    UPSTREAM=http://127.0.0.1:9100/v1 uvicorn bench.bare_proxy:app --port 9200
"""

import os

import aiohttp
from starlette.applications import Starlette
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

UPSTREAM = os.environ.get("UPSTREAM", "http://127.0.0.1:9100/v1")


async def chat(request):
    body = await request.body()
    session = request.app.state.session
    if b'"stream":true' in body or b'"stream": true' in body:
        resp = await session.post(UPSTREAM + "/chat/completions", data=body, headers={"content-type": "application/json"})

        async def relay():
            async with resp:
                async for chunk in resp.content.iter_any():
                    yield chunk

        return StreamingResponse(relay(), media_type="text/event-stream")
    async with session.post(UPSTREAM + "/chat/completions", data=body, headers={"content-type": "application/json"}) as r:
        return Response(await r.read(), status_code=r.status, media_type="application/json")


async def lifespan(app):
    app.state.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256))
    yield
    await app.state.session.close()

app = Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])], lifespan=lifespan)
