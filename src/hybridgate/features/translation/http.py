"""``POST /v1/translate`` (shape: ``feature.py``). Data classes come from the app's config, the
``x-hybridgate-data-classes`` header and ``hybridgate.data_classes`` in the body."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ...errors import NotConfigured
from ...server.http import authenticate, endpoint, json_response, read_body, request_context
from ...server.validation import parse_body
from .options import TranslateRequest

__all__ = ["translate_endpoint"]


@endpoint
async def translate_endpoint(request: Request) -> Response:
    app = authenticate(request)
    gw = request.app.state.gateway
    feature = gw.features.get("translation")
    if feature is None:  # pragma: no cover - the route exists only when the feature does
        raise NotConfigured("the translation feature is not enabled")
    app.check_feature("translation")
    raw = await read_body(request, request.app.state.config.server.max_body_bytes)
    body = parse_body(raw, TranslateRequest)
    ctx = request_context(request)
    ctx.request_bytes = len(raw)
    header = request.headers.get("x-hybridgate-data-classes", "")
    ctx.data_classes = ctx.data_classes | frozenset(c.strip() for c in header.split(",") if c.strip())
    result = await feature.translate(body, ctx, app)
    hits = result["usage"]["cache_hits"]
    headers = {"x-hybridgate-route": f"{result['route']}@{gw.policy_version}",
               "x-hybridgate-provider": result["provider"] or "",
               "x-hybridgate-cache": f"hits={hits};texts={result['usage']['texts']}"}
    return json_response(result, headers=headers)
