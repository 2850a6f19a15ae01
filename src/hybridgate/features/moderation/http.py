"""``POST /v1/moderate``: decisions for text and image inputs (shape: ``feature.py``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ...errors import NotConfigured
from ...server.http import authenticate, endpoint, json_response, read_body, request_context
from ...server.validation import parse_body
from .schemas import ModerateRequest

__all__ = ["moderate_endpoint"]


@endpoint
async def moderate_endpoint(request: Request) -> Response:
    app = authenticate(request)
    gw = request.app.state.gateway
    feature = gw.features.get("moderation")
    if feature is None:  # pragma: no cover - the route exists only when the feature does
        raise NotConfigured("the moderation feature is not enabled")
    app.check_feature("moderation")
    raw = await read_body(request, request.app.state.config.server.max_body_bytes)
    body = parse_body(raw, ModerateRequest)
    ctx = request_context(request)
    ctx.request_bytes = len(raw)
    header = request.headers.get("x-hybridgate-data-classes", "")
    ctx.data_classes = ctx.data_classes | frozenset(c.strip() for c in header.split(",") if c.strip())
    result = await feature.moderate(body, ctx, app)
    deciders = sorted({p for r in result["results"] for p in r["decided_by"]})
    headers = {"x-hybridgate-route": f"{result['route']}@{gw.policy_version}",
               "x-hybridgate-provider": ",".join(deciders)}
    return json_response(result, headers=headers)
