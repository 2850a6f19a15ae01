"""Operations endpoints: usage and cost (``/v1/usage``), the egress ledger (``/v1/ledger``, admin only)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..errors import InvalidRequest, PermissionDenied
from .http import authenticate, endpoint, json_response

__all__ = ["routes"]


def _since(request: Request) -> float | None:
    from ..ledger.records import parse_since

    value = request.query_params.get("since")
    try:
        return parse_since(value)
    except ValueError:
        raise InvalidRequest(f"since={value!r}: expected 24h, 7d, an ISO-8601 time or Unix seconds",
                             param="since") from None


@endpoint
async def usage(request: Request) -> Response:
    """Totals per app/feature/provider. An app sees its own usage; an admin key sees all."""
    app = authenticate(request)
    q = request.query_params
    wanted_app = q.get("app")
    if not app.admin:
        if wanted_app not in (None, app.name):
            raise PermissionDenied(f"app {app.name!r} may only read its own usage", code="admin_only")
        wanted_app = app.name
    store_handle = request.app.state.gateway.accountant.usage
    if store_handle is None:
        raise InvalidRequest("usage logging is off in this configuration (ledger.usage: false)",
                             code="usage_disabled")
    store = await store_handle.get()
    group_by = tuple(g for g in q.get("group_by", "app,feature,provider").split(",") if g)
    try:
        report = await store.summary(app=wanted_app, feature=q.get("feature"), provider=q.get("provider"),
                                     since=_since(request), group_by=group_by)
    except ValueError as exc:
        raise InvalidRequest(str(exc), param="group_by") from None
    return json_response(report.to_dict())


@endpoint
async def ledger(request: Request) -> Response:
    app = authenticate(request)
    if not app.admin:
        raise PermissionDenied("the egress ledger is readable with an admin key only", code="admin_only")
    q = request.query_params
    try:
        limit = int(q.get("limit", "100"))
    except ValueError:
        raise InvalidRequest("limit must be an integer", param="limit") from None
    led = await request.app.state.gateway.ledger.get()
    page = await led.query(since=_since(request), app=q.get("app"), provider=q.get("provider"), limit=limit,
                           cursor=q.get("cursor"))
    return json_response({"object": "list", "data": page.records, "next_cursor": page.next_cursor})


@endpoint
async def shadow(request: Request) -> Response:
    """Rolling agreement of every shadow provider with what was served (admin key only)."""
    app = authenticate(request)
    if not app.admin:
        raise PermissionDenied("shadow statistics are readable with an admin key only", code="admin_only")
    return json_response({"object": "shadow_stats", "data": list(request.app.state.gateway.shadow.snapshot().values())})


routes = [
    Route("/v1/shadow", shadow, methods=["GET"]),
    Route("/v1/usage", usage, methods=["GET"]),
    Route("/v1/ledger", ledger, methods=["GET"]),
]
