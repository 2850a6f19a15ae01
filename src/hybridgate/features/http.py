"""What every feature endpoint does before its feature runs: authenticate the app, find the feature and check
the app may use it, read and validate the body, and build the request context (body size, and the data
classes the ``x-hybridgate-data-classes`` header adds to the app's own)."""

from __future__ import annotations

from typing import Any, NamedTuple

from starlette.requests import Request

from ..context import RequestContext
from ..errors import NotConfigured
from ..server.http import authenticate, read_body, request_context
from ..server.validation import parse_body

__all__ = ["FeatureRequest", "read_feature_request"]


class FeatureRequest(NamedTuple):
    app: Any
    gateway: Any
    feature: Any
    body: Any
    ctx: RequestContext


async def read_feature_request(request: Request, name: str, schema: Any) -> FeatureRequest:
    app = authenticate(request)
    gw = request.app.state.gateway
    feature = gw.features.get(name)
    if feature is None:  # pragma: no cover - the route exists only when the feature does
        raise NotConfigured(f"the {name} feature is not enabled")
    app.check_feature(name)
    raw = await read_body(request, request.app.state.config.server.max_body_bytes)
    body = parse_body(raw, schema)
    ctx = request_context(request)
    ctx.request_bytes = len(raw)
    header = request.headers.get("x-hybridgate-data-classes", "")
    ctx.data_classes = ctx.data_classes | frozenset(c.strip() for c in header.split(",") if c.strip())
    return FeatureRequest(app, gw, feature, body, ctx)
