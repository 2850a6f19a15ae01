"""Structured JSON logs with the request id on every line, and Prometheus metrics.

The request id lives in a ContextVar set by the outer ASGI layer, so any log line written
while serving a request carries it without being passed around.
"""

from __future__ import annotations

import logging
import sys
import time
import traceback
from contextvars import ContextVar

import orjson
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from ..context import RequestContext

__all__ = ["CapStateCollector", "JsonFormatter", "Metrics", "ShadowCollector", "configure_logging",
           "current_request_id"]

current_request_id: ContextVar[str | None] = ContextVar("hybridgate_request_id", default=None)

_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": round(record.created, 6),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": current_request_id.get(),
        }
        for k, v in record.__dict__.items():
            if k not in _RESERVED and not k.startswith("_"):
                out[k] = v
        if record.exc_info:
            out["traceback"] = "".join(traceback.format_exception(*record.exc_info))
        return orjson.dumps(out, default=str).decode()


def configure_logging(level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("hybridgate")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


class Metrics:
    """One registry per gateway instance (no global default registry)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        labels = ("app", "feature", "provider")
        self.requests = Counter("hybridgate_requests", "HTTP requests served", (*labels, "status"),
                                registry=self.registry)
        self.latency = Histogram("hybridgate_request_duration_seconds", "request latency", labels,
                                 registry=self.registry,
                                 buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60))
        self.tokens = Counter("hybridgate_tokens", "tokens by direction", (*labels, "kind"), registry=self.registry)
        self.errors = Counter("hybridgate_errors", "error responses by code", (*labels, "code"),
                              registry=self.registry)
        self.upstream = Counter("hybridgate_upstream_calls", "calls to providers by outcome",
                                ("provider", "outcome"), registry=self.registry)

    def observe(self, ctx: RequestContext | None, status: int, started: float, error_code: str | None) -> None:
        app = (ctx.app if ctx else "") or "-"
        feature = (ctx.feature if ctx else "") or "-"
        served = ctx.served_by if ctx else None
        provider = served.provider if served else "-"
        self.requests.labels(app, feature, provider, str(status)).inc()
        self.latency.labels(app, feature, provider).observe(time.monotonic() - started)
        if error_code:
            self.errors.labels(app, feature, provider, error_code).inc()
        if ctx:
            for a in ctx.attempts:
                self.upstream.labels(a.provider, a.error or "ok").inc()
                if a.prompt_tokens:
                    self.tokens.labels(app, feature, a.provider, "prompt").inc(a.prompt_tokens)
                if a.completion_tokens:
                    self.tokens.labels(app, feature, a.provider, "completion").inc(a.completion_tokens)


class ShadowCollector:
    """Exposes the gateway's shadow-traffic agreement at scrape time (no copies kept here)."""

    def __init__(self, runner: object) -> None:
        self.runner = runner

    def describe(self) -> list:
        return []

    def collect(self):  # type: ignore[no-untyped-def]
        calls = CounterMetricFamily("hybridgate_shadow_calls", "shadow calls by outcome",
                                    labels=("route", "provider", "outcome"))
        agreement = GaugeMetricFamily("hybridgate_shadow_agreement", "rolling agreement of shadow vs served",
                                      labels=("route", "provider", "metric"))
        for snap in self.runner.snapshot().values():  # type: ignore[attr-defined]
            r, p = snap["route"], snap["provider"]
            for outcome in ("calls", "errors", "dropped", "skipped_by_policy"):
                calls.add_metric((r, p, outcome), snap[outcome])
            for metric, value in snap["agreement"].items():
                agreement.add_metric((r, p, metric), value)
        yield calls
        yield agreement


class CapStateCollector:
    """Per capped route, how often its vendor shares could not be read (the route failed closed:
    capped vendors went behind the others) or a served request could not be recorded."""

    def __init__(self, routes: dict) -> None:
        self.routes = routes

    def describe(self) -> list:
        return []

    def collect(self):  # type: ignore[no-untyped-def]
        errors = CounterMetricFamily("hybridgate_cap_state_errors", "vendor-share state failures of capped routes",
                                     labels=("route", "op"))
        for name, route in self.routes.items():
            if route.config.caps:
                errors.add_metric((name, "read"), route.shares.read_errors)
                errors.add_metric((name, "record"), route.shares.record_errors)
        yield errors
