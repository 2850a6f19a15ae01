"""``POST /v1/translate`` (shape: ``feature.py``). Data classes come from the app's config, the
``x-hybridgate-data-classes`` header and ``hybridgate.data_classes`` in the body."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ...server.http import endpoint, json_response
from ..http import read_feature_request
from .options import TranslateRequest

__all__ = ["translate_endpoint"]


@endpoint
async def translate_endpoint(request: Request) -> Response:
    app, gw, feature, body, ctx = await read_feature_request(request, "translation", TranslateRequest)
    result = await feature.translate(body, ctx, app)
    hits = result["usage"]["cache_hits"]
    headers = {"x-hybridgate-route": f"{result['route']}@{gw.policy_version}",
               "x-hybridgate-provider": result["provider"] or "",
               "x-hybridgate-cache": f"hits={hits};texts={result['usage']['texts']}"}
    return json_response(result, headers=headers)
