"""``POST /v1/moderate``: decisions for text and image inputs (shape: ``feature.py``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ...server.http import endpoint, json_response
from ..http import read_feature_request
from .schemas import ModerateRequest

__all__ = ["moderate_endpoint"]


@endpoint
async def moderate_endpoint(request: Request) -> Response:
    app, gw, feature, body, ctx = await read_feature_request(request, "moderation", ModerateRequest)
    result = await feature.moderate(body, ctx, app)
    deciders = sorted({p for r in result["results"] for p in r["decided_by"]})
    headers = {"x-hybridgate-route": f"{result['route']}@{gw.policy_version}",
               "x-hybridgate-provider": ",".join(deciders)}
    return json_response(result, headers=headers)
