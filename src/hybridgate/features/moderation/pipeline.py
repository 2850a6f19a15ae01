"""One moderation run: the first route judges every input, then only what it is unsure about goes further.

Stage 1 is one ``Gateway.feature_call`` on the primary route (routing, fallback, data control, ledger,
budgets, usage and shadow traffic apply). An input is then *escalated* when

* its language (detected by Lingua, confidence >= ``language.min_confidence``) is not covered by the
  provider that judged it — to ``language.route``, else the cascade's route (if ``cascade.languages``),
  else it is only marked ``uncertain``; or
* a watched category's score lies in the cascade's ``band`` (e.g. 0.3–0.7); or
* it has images that an in-house provider judged and ``cascade.images`` is ``always``.

Each escalation target gets ONE more ``feature_call`` with exactly the escalated inputs, on a child
context (its own usage record; its attempts are added to the request's). What happened is recorded per
input in ``Outcome``: the providers in order (``decided_by``), ``escalated`` and the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...context import RequestContext
from ...errors import PolicyRefused, ProviderError, RateLimited
from .options import CascadeOptions
from .schemas import Item, Scored, combine

__all__ = ["Lang", "Outcome", "child_context", "run_cascade", "set_language"]


@dataclass(frozen=True, slots=True)
class Lang:
    """A detected (or given) language; ``counts`` when it is sure enough to route on."""

    code: str | None
    confidence: float
    counts: bool


@dataclass(slots=True)
class Outcome:
    """What the gateway concluded about one input, and how."""

    scored: Scored
    decided_by: list[str]
    models: list[str]
    lang: Lang | None = None
    escalated: bool = False
    escalation: dict[str, Any] | None = None
    uncertain: bool = False
    uncertain_reason: str | None = None


def child_context(ctx: RequestContext) -> RequestContext:
    """A context for an escalation call: same request, app, data classes and deadline; its own attempts."""
    return RequestContext(request_id=ctx.request_id, app=ctx.app, feature=ctx.feature or "moderation",
                          data_classes=ctx.data_classes, language=ctx.language, deadline=ctx.deadline,
                          request_bytes=ctx.request_bytes, extra=ctx.extra)


def _band(scored: Scored, cascade: CascadeOptions) -> list[str]:
    lo, hi = cascade.band
    return [f"{c} {scored.scores[c]:.2f}" for c in cascade.watched() if lo <= scored.scores[c] <= hi]


def set_language(ctx: RequestContext, langs: list[Lang | None]) -> None:
    """``ctx.language`` when every input that counts is in one language (conditional routes branch on it)."""
    counted = {lang.code for lang in langs if lang is not None and lang.counts}
    if ctx.language is None and len(counted) == 1:
        ctx.language = next(iter(counted))


async def run_cascade(feature: Any, items: list[Item], langs: list[Lang | None], route: Any,
                      ctx: RequestContext, app: Any) -> list[Outcome]:
    """Outcomes for ``items`` on ``route`` with its cascade (``feature.cascade_for``), if any."""
    first = await feature.call(route, items, ctx, app)
    outs = [Outcome(Scored(dict(r["scores"]), bool(r["flagged"])), [first["provider"]], [first["model"]], lang)
            for r, lang in zip(first["results"], langs, strict=True)]
    cascade: CascadeOptions | None = feature.cascade_for(route.name)
    lang_route = feature.options.language.route or (cascade.route if cascade and cascade.languages else None)
    groups: dict[str, list[tuple[int, str]]] = {}
    served = feature.gateway.providers.get(first["provider"])
    in_house = bool(getattr(served, "in_house", False))
    for i, o in enumerate(outs):
        lang = o.lang
        if lang is not None and lang.counts and not feature.covers(first["provider"], lang.code):
            reason = f"language {lang.code!r} is not covered by {first['provider']}"
            if lang_route and lang_route != route.name:
                groups.setdefault(lang_route, []).append((i, reason))
                continue
            o.uncertain, o.uncertain_reason = True, reason
        if cascade is not None and cascade.route != route.name:
            hits = _band(o.scored, cascade)
            if hits:
                lo, hi = cascade.band
                groups.setdefault(cascade.route, []).append(
                    (i, f"uncertain band [{lo:g}, {hi:g}]: {', '.join(hits[:4])}"))
            elif cascade.images == "always" and items[i].images and in_house:
                groups.setdefault(cascade.route, []).append((i, "image input judged in-house (cascade.images)"))
    mode = cascade.combine if cascade is not None else "replace"
    for target, members in groups.items():
        await _escalate(feature, items, outs, target, members, ctx, mode, cascade)
    return outs


async def _escalate(feature: Any, items: list[Item], outs: list[Outcome], target: str,
                    members: list[tuple[int, str]], ctx: RequestContext, mode: str,
                    cascade: CascadeOptions | None) -> None:
    route = feature.gateway.routes[target]
    cctx = child_context(ctx)
    try:
        res = await feature.call(route, [items[i] for i, _ in members], cctx, None)
    except (ProviderError, PolicyRefused, RateLimited) as exc:  # partner down, data not allowed out, budget
        if cascade is not None and cascade.on_error == "fail":
            raise
        for i, reason in members:
            o = outs[i]
            o.uncertain, o.uncertain_reason = True, f"{reason}; escalation to {target} failed ({exc.code})"
            o.escalation = {"route": target, "reason": reason, "error": exc.code}
        return
    finally:
        ctx.attempts.extend(cctx.attempts)
    for (i, reason), r in zip(members, res["results"], strict=True):
        o = outs[i]
        new = Scored(dict(r["scores"]), bool(r["flagged"]))
        o.scored = new if mode == "replace" else combine(o.scored, new)
        o.decided_by.append(res["provider"])
        o.models.append(res["model"])
        o.escalated, o.escalation = True, {"route": target, "reason": reason}
        lang = o.lang
        if lang is not None and lang.counts and not feature.covers(res["provider"], lang.code):
            o.uncertain = True
            o.uncertain_reason = f"language {lang.code!r} is not covered by {res['provider']} either"
        else:
            o.uncertain, o.uncertain_reason = False, None
