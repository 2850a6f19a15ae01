"""The ASGI application: ``create_app(config)``.

Layers, outermost first:
  ``RequestLayer`` (pure ASGI): request id (incoming ``x-request-id`` kept if sane), the
  per-request context, the ``x-request-id`` response header, one JSON access-log line,
  Prometheus metrics, and a last-resort 500 for anything that escapes;
  Starlette's router with one router per area (``openai_api``, ``ops`` ...).
"""

from __future__ import annotations

import gc
import logging
import re
import time
from contextlib import asynccontextmanager
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..config import Config
from ..context import RequestContext
from ..errors import NotConfigured
from ..gateway import Gateway
from . import admin_api, openai_api
from .http import error_response, json_response, request_context
from .observability import CapStateCollector, Metrics, ShadowCollector, current_request_id

__all__ = ["create_app"]

log = logging.getLogger("hybridgate.access")
_SANE_ID = re.compile(r"^[A-Za-z0-9._:\-]{8,128}$")


class RequestLayer:
    def __init__(self, app: Any, metrics: Metrics | None, access_log: bool = True) -> None:
        self.app = app
        self.metrics = metrics
        self.access_log = access_log

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        ctx = RequestContext()
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                rid = value.decode("latin-1")
                if _SANE_ID.match(rid):
                    ctx.request_id = rid
                break
        scope["hybridgate.ctx"] = ctx
        token = current_request_id.set(ctx.request_id)
        rid_header = (b"x-request-id", ctx.request_id.encode())
        status = 500
        response_started = False

        async def send_wrapper(message: dict) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), rid_header]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:  # last resort: nothing may escape as a crash
            scope["hybridgate.error"] = "internal_error"
            log.exception("unhandled error escaped the router")
            if not response_started:
                await error_response(exc, ctx.request_id)(scope, receive, send_wrapper)
        finally:
            error_code = scope.get("hybridgate.error")
            if self.metrics is not None and scope["path"] != "/metrics":
                self.metrics.observe(ctx, status, started, error_code)
            if self.access_log:
                served = ctx.served_by
                log.info("%s %s %d", scope["method"], scope["path"], status, extra={
                    "status": status, "app": ctx.app or None, "route": ctx.route or None,
                    "provider": served.provider if served else None, "error": error_code,
                    "latency_ms": round((time.monotonic() - started) * 1000, 3),
                })
            current_request_id.reset(token)


async def healthz(request: Request) -> Response:
    gw: Gateway = request.app.state.gateway
    return json_response({"status": "ok", "policy_version": gw.policy_version,
                          "providers": {n: {"vendor": p.vendor, "in_house": p.in_house}
                                        for n, p in gw.providers.items()}})


async def metrics(request: Request) -> Response:
    m: Metrics | None = request.app.state.metrics
    if m is None:
        return json_response({"error": {"type": "not_found_error", "code": "metrics_disabled",
                                        "message": "metrics are disabled in config",
                                        "request_id": request_context(request).request_id}}, 404)
    return Response(generate_latest(m.registry), media_type=CONTENT_TYPE_LATEST)


def _feature_off(name: str) -> Any:
    async def off(request: Request) -> Response:
        exc = NotConfigured(f"the {name} feature is off in this configuration: add `features: {{{name}: {{}}}}` "
                            f"or a route with `capability: {name}` to the config")
        request.scope["hybridgate.error"] = exc.code
        return error_response(exc, request_context(request).request_id)

    return off


def _feature_routes(gateway: Gateway) -> list[Route]:
    """Routes of the features that are on; the paths of the others answer 503 saying how to switch them on."""
    from ..features import PATHS

    routes = [r for feature in gateway.features.values() for r in feature.routes()]
    for name, paths in PATHS.items():
        if name not in gateway.features:
            routes += [Route(p, _feature_off(name), methods=["GET", "POST"]) for p in paths]
    return routes


async def _http_exception(request: Request, exc: Exception) -> Response:
    request.scope["hybridgate.error"] = "http_error"
    return error_response(exc, request_context(request).request_id)


def _tune_gc() -> None:
    """A server process allocates many short-lived objects per request and keeps its start-up objects
    forever: freeze those out of the collector's scans and run young collections less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


def create_app(config: Config, gateway: Gateway | None = None, *, access_log: bool = True,
               tune_gc: bool = False) -> Any:
    """The ASGI app. ``tune_gc`` (what ``hybridgate serve`` passes) changes process-wide GC settings once
    the gateway has started; library and test users leave it off."""
    gateway = gateway or Gateway(config)
    metrics_ = Metrics() if config.server.metrics else None
    if metrics_ is not None:
        metrics_.registry.register(ShadowCollector(gateway.shadow))
        metrics_.registry.register(CapStateCollector(gateway.routes))

    @asynccontextmanager
    async def lifespan(app: Starlette):
        await gateway.start()
        if tune_gc:
            _tune_gc()
        try:
            yield
        finally:
            await gateway.aclose()

    routes = [Route("/healthz", healthz, methods=["GET"]), Route("/metrics", metrics, methods=["GET"]),
              *openai_api.routes, *admin_api.routes, *_feature_routes(gateway)]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={HTTPException: _http_exception})
    app.state.gateway = gateway
    app.state.config = config
    app.state.metrics = metrics_
    app.state.started = int(time.time())
    outer = RequestLayer(app, metrics_, access_log)
    outer.state = app.state  # type: ignore[attr-defined]  # handy for tests and the CLI
    return outer
