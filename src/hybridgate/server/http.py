"""What every endpoint shares: the error -> HTTP table, body reading with a size limit,
authentication, and the ``endpoint`` decorator that turns any exception into our error shape.

Errors are rendered in exactly one place (``error_response``): ``{"error": {"type", "code",
"message", "request_id"}}``. Only ``HybridgateError`` subclasses choose their status; anything
else is a bug, logged with its traceback, and answered 500 ``internal_error``.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from ..auth import App
from ..context import RequestContext
from ..errors import HybridgateError, PayloadTooLarge

__all__ = ["JSON", "authenticate", "endpoint", "error_response", "json_response", "read_body",
           "request_context"]

log = logging.getLogger("hybridgate.server")
JSON = "application/json"
_HTTP_CODES = {404: ("not_found_error", "route_not_found"), 405: ("invalid_request_error", "method_not_allowed")}


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type=JSON, headers=headers)


def error_response(exc: BaseException, request_id: str | None) -> Response:
    if isinstance(exc, HybridgateError):
        headers = {}
        retry = getattr(exc, "retry_after", None)
        if retry is not None:
            headers["retry-after"] = str(max(1, math.ceil(retry)))
        return json_response(exc.to_dict(request_id), exc.status, headers)
    if isinstance(exc, HTTPException):
        etype, code = _HTTP_CODES.get(exc.status_code, ("invalid_request_error", f"http_{exc.status_code}"))
        body = {"error": {"type": etype, "code": code, "message": str(exc.detail), "request_id": request_id}}
        return json_response(body, exc.status_code, dict(exc.headers or {}))
    body = {"error": {"type": "server_error", "code": "internal_error",
                      "message": f"internal error; quote request id {request_id} when reporting it",
                      "request_id": request_id}}
    return json_response(body, 500)


def request_context(request: Request) -> RequestContext:
    """The per-request context the outer ASGI layer created (request id already set)."""
    ctx = request.scope.get("hybridgate.ctx")
    if ctx is None:  # called outside the ASGI layer (tests building a bare app)
        ctx = RequestContext()
        request.scope["hybridgate.ctx"] = ctx
    return ctx


async def read_body(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise PayloadTooLarge(f"request body of {int(length)} bytes is over the limit of {limit} bytes")
    chunks, size = [], 0
    receive = request.receive  # straight from the server: no async generator per request
    while True:
        message = await receive()
        if message["type"] != "http.request":  # http.disconnect: the client left mid-body
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body is over the limit of {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    request._body = body  # what Starlette's request.body() returns later, if anyone asks
    return body


def authenticate(request: Request) -> App:
    app = request.app.state.gateway.apps.authenticate(request.headers.get("authorization"))
    request_context(request).app = app.name
    return app


Handler = Callable[[Request], Awaitable[Response]]


def endpoint(fn: Handler) -> Handler:
    """Run ``fn``; any exception becomes an error response with the request id."""

    @functools.wraps(fn)
    async def wrapper(request: Request) -> Response:
        try:
            return await fn(request)
        except HybridgateError as exc:
            request.scope["hybridgate.error"] = exc.code
            return _with_routing(request, error_response(exc, request_context(request).request_id))
        except Exception as exc:
            request.scope["hybridgate.error"] = "internal_error"
            log.exception("unhandled error in %s", request.url.path)
            return _with_routing(request, error_response(exc, request_context(request).request_id))

    return wrapper


def _with_routing(request: Request, response: Response) -> Response:
    """An error answer says which route (and policy version) and provider it came from, once they are known."""
    ctx = request_context(request)
    if ctx.route:
        gw = getattr(request.app.state, "gateway", None)
        response.headers["x-hybridgate-route"] = f"{ctx.route}@{gw.policy_version}" if gw else ctx.route
    if ctx.attempts:
        response.headers["x-hybridgate-provider"] = ctx.attempts[-1].provider
    return response
