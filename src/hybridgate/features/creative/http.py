"""``POST /v1/create``: JSON answer, or (``stream: true``) server-sent events.

Stream events: ``data: {"type": "delta", "text": ...}`` pieces of moderated text, then
``data: {"type": "done", ...the result without the variant text...}`` and ``data: [DONE]``.
A stream that cannot finish ends with ``data: {"error": {...}}`` and no ``[DONE]`` — never
a normal-looking end after withheld text. Errors before the first event are plain HTTP errors.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from ...errors import HybridgateError, ProviderBadOutput
from ...server.http import endpoint, json_response, request_context
from ..http import read_feature_request
from ...server.sse import EventStreamResponse
from .schemas import CreateRequest

__all__ = ["create_endpoint", "sse"]

log = logging.getLogger("hybridgate.server")
_DONE = b"data: [DONE]\n\n"


def sse(event: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(event) + b"\n\n"


def _headers(request: Request, result: dict[str, Any] | None = None) -> dict[str, str]:
    ctx = request_context(request)
    served = ctx.served_by
    gw = request.app.state.gateway
    out = {"x-hybridgate-route": f"{ctx.route}@{gw.policy_version}",
           "x-hybridgate-provider": (result or {}).get("provider") or (served.provider if served else "")}
    if result and result.get("template"):
        out["x-hybridgate-template"] = result["template"]["id"]
    return out


@endpoint
async def create_endpoint(request: Request) -> Response:
    app, _, feature, body, ctx = await read_feature_request(request, "creative", CreateRequest)
    if not body.get("stream"):
        result = await feature.create(body, ctx, app)
        return json_response(result, headers=_headers(request, result))

    events = feature.stream(body, ctx, app)
    try:
        first = await anext(events)
    except StopAsyncIteration:
        raise ProviderBadOutput("the creative stream ended before any event") from None

    async def body_iter() -> AsyncIterator[bytes]:
        event: dict[str, Any] | None = first
        try:
            while event is not None:
                yield sse(event)
                if "error" in event:
                    request.scope["hybridgate.error"] = event["error"].get("code")
                    return
                event = await anext(events, None)
        except HybridgateError as exc:
            request.scope["hybridgate.error"] = exc.code
            log.warning("creative stream failed mid-way: %s", exc.message, extra={"code": exc.code})
            yield sse(exc.to_dict(ctx.request_id))
            return
        except Exception:
            request.scope["hybridgate.error"] = "internal_error"
            log.exception("unhandled error in a creative stream")
            yield sse({"error": {"type": "server_error", "code": "internal_error",
                                 "message": f"internal error; quote request id {ctx.request_id}",
                                 "request_id": ctx.request_id}})
            return
        finally:
            await events.aclose()
        yield _DONE

    return EventStreamResponse(body_iter(), _headers(request), last=_DONE, on_close=events.aclose)
