"""The recommendations feature: events and catalogue in, ranked items out, optional partner rerank.

HTTP (bearer key of an app allowed the ``recommendations`` feature):

* ``POST /v1/events`` — one event ``{"user", "item", "type", "weight"?, "timestamp"?}`` or ``{"events": [...]}``;
  ``type`` ∈ view | like | share | comment | hide. Stored, then fed to the model at once.
* ``POST /v1/items`` — one item ``{"id", "title"?, "caption"?, "metadata"?}`` or ``{"items": [...]}`` (upsert).
* ``POST /v1/recommend`` — ``{"user"?, "k", "candidates"?, "exclude_seen", "exclude"?, "filters"?, "session"?,
  "rerank"?}`` → ``{"object": "list", "data": [{"item", "score", "reason", "similar_to"?}], "model", "rerank"}``.
  Unknown users get a cold start (their ``session`` items, else popularity). Items the user hid never come
  back: the model drops them and, by default, the stored hides are checked again per request.

The database and model are opened on first use (or at start when they already exist); a periodic task picks
up events other workers stored and models ``hybridgate train recommendations`` saved, and refits the CF
weights in a daemon thread every ``refresh_interval_s`` while serving continues on the old ones.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...errors import ValidationFailed
from ...server.http import authenticate, endpoint, json_response, read_body, request_context
from ...server.validation import parse_body
from ..base import Feature
from .options import Options, resolve
from .rerank import candidate_view, rerank, session_summary
from .schemas import RecommendIn, event_rows, item_rows, validate

if TYPE_CHECKING:  # pragma: no cover
    from .service import RecommendationService

__all__ = ["RecommendationsFeature"]

log = logging.getLogger("hybridgate.recommendations")
FEATURE = "recommendations"


def _predicate(want: Any) -> Callable[[Any], bool]:
    """A metadata filter: equal to ``want`` (or one of a list); list-valued metadata match on any element."""
    allowed = list(want) if isinstance(want, list) else [want]

    def ok(v: Any) -> bool:
        values = v if isinstance(v, (list, tuple)) else [v]
        return any(x == a and type(x) is type(a) for x in values for a in allowed)

    return ok


class RecommendationsFeature(Feature):
    name = FEATURE
    Options = Options

    def __init__(self, gateway: Any, options: dict[str, Any] | None = None) -> None:
        super().__init__(gateway, options)
        self.resolved = resolve(self.options, gateway.config.state_dir)
        self._service: RecommendationService | None = None  # built on first use (imports numpy, scipy)
        self._ready = False
        self._init_lock: asyncio.Lock | None = None
        self._task: asyncio.Task | None = None

    # --------------------------------------------------------------- life cycle
    def _has_state(self) -> bool:
        url = self.resolved.database_url
        if not url.startswith("sqlite"):
            return True
        db = url.split(":///", 1)[-1]
        return Path(db).exists() or (self.resolved.model_dir / "CURRENT").exists()

    @property
    def service(self) -> RecommendationService:
        if self._service is None:
            from .service import RecommendationService

            self._service = RecommendationService(self.resolved)
        return self._service

    async def start(self) -> None:
        """Load the saved model (or fit from stored events) when there is state; else wait for first use."""
        if self._has_state():
            await self.ready()

    async def ready(self) -> RecommendationService:
        if self._ready:
            return self.service
        if self._init_lock is None:
            self._init_lock = asyncio.Lock()
        async with self._init_lock:
            if not self._ready:
                await asyncio.to_thread(self.service.load_or_fit)
                self._ready = True
                if self._background_wanted():
                    self._task = asyncio.create_task(self._maintain(), name="recommendations-maintenance")
        return self.service

    def _background_wanted(self) -> bool:
        return bool(self.options.sync_interval_s) or bool(self.options.refresh_interval_s)

    async def _maintain(self) -> None:
        sync_every = self.options.sync_interval_s or None
        refresh_every = self.options.refresh_interval_s or None
        tick = min(x for x in (sync_every, refresh_every) if x)
        last_refresh = time.monotonic()
        svc = self.service
        while True:
            await asyncio.sleep(tick)
            try:
                if sync_every:
                    await asyncio.to_thread(svc.adopt_newer_version)
                    await asyncio.to_thread(svc.sync)
                if refresh_every and time.monotonic() - last_refresh >= refresh_every and svc.pending:
                    last_refresh = time.monotonic()
                    await self.refresh_now()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - maintenance must outlive one bad round
                log.exception("recommendations maintenance failed; serving continues on the current model")

    async def refresh_now(self) -> str | None:
        """Refit CF in a daemon thread without blocking serving, then save the result as a new version."""
        svc = await self.ready()
        thread = await asyncio.to_thread(svc.start_refit)
        while thread is not None and thread.is_alive():
            await asyncio.sleep(0.05)
        return await asyncio.to_thread(svc.save_current)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
            self._task = None
        if self._service is not None:
            self._service.store.close()

    def routes(self) -> list[Any]:
        return [
            Route("/v1/events", endpoint(self._events), methods=["POST"]),
            Route("/v1/items", endpoint(self._items), methods=["POST"]),
            Route("/v1/recommend", endpoint(self._recommend), methods=["POST"]),
        ]

    # --------------------------------------------------------------------- HTTP
    async def _body(self, request: Request) -> tuple[Any, dict[str, Any]]:
        app = authenticate(request)
        app.check_feature(FEATURE)
        request_context(request).feature = FEATURE
        raw = await read_body(request, request.app.state.config.server.max_body_bytes)
        return app, parse_body(raw)

    async def _events(self, request: Request) -> Response:
        _, data = await self._body(request)
        rows = event_rows(data, self.options.max_batch)
        svc = await self.ready()
        n = await asyncio.to_thread(svc.add_events, rows)
        return json_response({"object": "events.ingest", "accepted": n})

    async def _items(self, request: Request) -> Response:
        _, data = await self._body(request)
        rows = item_rows(data, self.options.max_batch)
        svc = await self.ready()
        n = await asyncio.to_thread(svc.add_items, rows)
        return json_response({"object": "items.ingest", "accepted": n})

    async def _recommend(self, request: Request) -> Response:
        app, data = await self._body(request)
        req = validate(RecommendIn, data)
        if req.k > self.options.max_k:
            raise ValidationFailed(f"k: at most {self.options.max_k}", param="k")
        ro = self.options.rerank
        want_rerank = ro.enabled if req.rerank is None else req.rerank
        svc = await self.ready()
        exclude = list(req.exclude)
        if req.user is not None and self.options.check_hidden_in_db:
            exclude += await asyncio.to_thread(svc.store.hidden_items, req.user)
        filters = {k: _predicate(v) for k, v in (req.filters or {}).items()}
        n = max(req.k, ro.top_n) if want_rerank else req.k
        recs = svc.recommend(req.user, n, candidates=req.candidates, exclude=exclude, filters=filters or None,
                             history=req.session, exclude_seen=req.exclude_seen)
        out = [self._item(r) for r in recs]
        status: dict[str, Any] | None = None
        if want_rerank and len(out) > 1:
            out, status = await self._rerank(request, app, req, out)
        return json_response({"object": "list", "user": req.user, "data": out[: req.k],
                              "model": {"version": svc.version, "trained_at": svc.trained_at},
                              "rerank": status})

    @staticmethod
    def _item(r: Any) -> dict[str, Any]:
        d: dict[str, Any] = {"item": str(r.item), "score": round(float(r.score), 6), "reason": r.reason}
        if r.detail and "similar_to" in r.detail:
            d["similar_to"] = str(r.detail["similar_to"])
        return d

    async def _rerank(self, request: Request, app: Any, req: RecommendIn,
                      out: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        ro = self.options.rerank
        svc = self.service
        head, tail = out[: ro.top_n], out[ro.top_n:]
        ids = [d["item"] for d in head]
        recent: list[str] = []
        if req.user is not None and ro.summary_events:
            recent = await asyncio.to_thread(svc.store.recent_items, req.user, ro.summary_events)
        recent += [s for s in req.session or [] if s not in recent]
        rows = await asyncio.to_thread(svc.store.get_items, list(dict.fromkeys(ids + recent)))
        cands = [candidate_view(i, rows.get(i), ro.metadata_fields, ro.max_title_chars) for i in ids]
        summary = session_summary((rows.get(i) for i in recent), ro.metadata_fields)
        result = await rerank(self.gateway, ro, cands, summary, request_context(request), app)
        if result.order is None:
            return out, result.status
        by_id = {d["item"]: d for d in head}
        return [by_id[i] for i in result.order] + tail, result.status
