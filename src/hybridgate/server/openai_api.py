"""The OpenAI-compatible surface: /v1/chat/completions, /v1/embeddings, /v1/moderations, /v1/models."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..errors import HybridgateError, ModelNotFound, ProviderBadOutput, ValidationFailed
from .http import authenticate, endpoint, json_response, read_body, request_context
from .sse import EventStreamResponse
from .validation import ChatRequest, EmbeddingsRequest, ModerationsRequest, parse_body

__all__ = ["routes"]

log = logging.getLogger("hybridgate.server")
_DONE = b"data: [DONE]\n\n"


def _headers(request: Request) -> dict[str, str]:
    ctx = request_context(request)
    served = ctx.served_by
    gw = request.app.state.gateway
    return {
        "x-hybridgate-route": f"{ctx.route}@{gw.policy_version}",
        "x-hybridgate-provider": served.provider if served else (ctx.attempts[-1].provider if ctx.attempts else ""),
    }


async def _body(request: Request, schema: Any) -> dict[str, Any]:
    """Read, parse and validate the body; take hybridgate's own fields out of it.

    Data classes come from the ``x-hybridgate-data-classes`` header (comma-separated) or the
    body's ``hybridgate.data_classes`` (what the OpenAI SDK sends with ``extra_body``)."""
    limit = request.app.state.config.server.max_body_bytes
    raw = await read_body(request, limit)
    body = parse_body(raw, schema)
    ctx = request_context(request)
    ctx.request_bytes = len(raw)
    ext = body.pop("hybridgate", None)
    if ext is not None and not isinstance(ext, dict):  # ignoring it would drop the data classes it declares
        raise ValidationFailed('hybridgate must be an object, e.g. {"data_classes": ["private_message"]}',
                               param="hybridgate")
    classes = {c.strip() for c in request.headers.get("x-hybridgate-data-classes", "").split(",") if c.strip()}
    if isinstance(ext, dict):
        listed = ext.get("data_classes") or []
        if not isinstance(listed, list) or not all(isinstance(c, str) for c in listed):
            raise ValidationFailed("hybridgate.data_classes must be a list of strings", param="hybridgate.data_classes")
        classes.update(listed)
        if isinstance(ext.get("language"), str):
            ctx.language = ext["language"]
    ctx.data_classes = frozenset(classes)
    return body


@endpoint
async def chat_completions(request: Request) -> Response:
    app = authenticate(request)
    body = await _body(request, ChatRequest)
    gw, ctx = request.app.state.gateway, request_context(request)
    if not body.get("stream"):
        result = await gw.chat(body, ctx, app)
        return json_response(result, headers=_headers(request))

    batches = await gw.open_stream(body, ctx, app)
    try:
        first = await anext(batches)
    except StopAsyncIteration:
        raise ProviderBadOutput("the provider sent an empty stream") from None
    except BaseException:
        await batches.aclose()
        raise

    async def sse() -> AsyncIterator[bytes]:
        # one write per upstream read: the chunks that arrived together leave together
        dumps = orjson.dumps
        yield b"".join([b"data: " + dumps(c) + b"\n\n" for c in first])
        try:
            async for batch in batches:
                yield b"".join([b"data: " + dumps(c) + b"\n\n" for c in batch])
        except HybridgateError as exc:
            # never end a cut stream like a finished one: an explicit error event, no [DONE]
            request.scope["hybridgate.error"] = exc.code
            log.warning("stream failed mid-way: %s", exc.message, extra={"code": exc.code})
            yield b"data: " + orjson.dumps(exc.to_dict(ctx.request_id)) + b"\n\n"
            return
        except Exception:
            request.scope["hybridgate.error"] = "internal_error"
            log.exception("unhandled error mid-stream")
            err = {"error": {"type": "server_error", "code": "internal_error",
                             "message": f"internal error; quote request id {ctx.request_id}",
                             "request_id": ctx.request_id}}
            yield b"data: " + orjson.dumps(err) + b"\n\n"
            return
        finally:
            await batches.aclose()
        yield _DONE

    return EventStreamResponse(sse(), _headers(request), last=_DONE, on_close=batches.aclose)


@endpoint
async def embeddings(request: Request) -> Response:
    app = authenticate(request)
    body = await _body(request, EmbeddingsRequest)
    result = await request.app.state.gateway.embed(body, request_context(request), app)
    return json_response(result, headers=_headers(request))


@endpoint
async def moderations(request: Request) -> Response:
    app = authenticate(request)
    body = await _body(request, ModerationsRequest)
    result = await request.app.state.gateway.moderate(body, request_context(request), app)
    return json_response(result, headers=_headers(request))


def _model_obj(route: Any, created: int) -> dict[str, Any]:
    return {"id": route.name, "object": "model", "created": created, "owned_by": "hybridgate",
            "capability": route.capability,
            "providers": [c.provider.name for c in route.candidates]}


@endpoint
async def list_models(request: Request) -> Response:
    app = authenticate(request)
    created = request.app.state.started
    data = [_model_obj(r, created) for r in request.app.state.gateway.models_for(app)]
    return json_response({"object": "list", "data": data})


@endpoint
async def get_model(request: Request) -> Response:
    app = authenticate(request)
    name = request.path_params["model"]
    route = request.app.state.gateway.routes.get(name)
    if route is None or not app.allows_model(name):
        raise ModelNotFound(f"model {name!r} does not exist", param="model")
    return json_response(_model_obj(route, request.app.state.started))


routes = [
    Route("/v1/chat/completions", chat_completions, methods=["POST"]),
    Route("/v1/embeddings", embeddings, methods=["POST"]),
    Route("/v1/moderations", moderations, methods=["POST"]),
    Route("/v1/models", list_models, methods=["GET"]),
    Route("/v1/models/{model:path}", get_model, methods=["GET"]),
]
