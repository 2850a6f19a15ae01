"""One route candidate judges a list of inputs, the way that candidate can.

* a provider with the ``moderation`` capability on a moderation route (the in-house ``local`` provider, the
  OpenAI moderations endpoint): its ``moderate`` — plain texts batched, an input with images as OpenAI parts;
* any chat provider (and a moderation route's chat-only targets, e.g. a self-hosted Llama Guard): the LLM
  moderator (``llm.py``);
* anything else refuses locally (``CannotServe``), so the route's next candidate gets the request.

The result is OpenAI-shaped, ``{"provider", "model", "results": [...]}``, so a route's ``shadow:`` can compare
it with ``routing.shadow.compare_moderation``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ...context import RequestContext
from ...errors import ProviderBadOutput, ProviderInvalidRequest
from ...providers import Capability
from .llm import LLMModerator, chunks, detected_values
from .schemas import Item, Scored, combine, normalise_result

__all__ = ["CannotServe", "Scorer", "mode_of"]


class CannotServe(ProviderInvalidRequest):
    """This candidate cannot judge these inputs (refused locally, nothing sent: the next candidate may)."""

    code = "unsupported_capability"
    local = True


def mode_of(cand: Any, route_capability: str) -> str:
    """``vendor`` (its moderation endpoint), ``llm`` (chat with the policy prompt) or ``none``."""
    caps = cand.provider.capabilities
    if Capability.MODERATION in caps and (route_capability == "moderation" or Capability.CHAT not in caps):
        return "vendor"
    if Capability.CHAT in caps:
        return "llm"
    return "none"


class Scorer:
    """Builds ``invoke(candidate, ctx)`` functions for ``Gateway.feature_call``."""

    def __init__(self, llm: LLMModerator, vendor_batch: int, vendor_max_chars: int) -> None:
        self.llm = llm
        self.vendor_batch = vendor_batch
        self.vendor_max_chars = vendor_max_chars

    def invoke(self, items: list[Item], route_capability: str) -> Any:
        async def invoke(cand: Any, ctx: RequestContext) -> dict[str, Any]:
            return await self.score(cand, items, route_capability, ctx)

        return invoke

    async def score(self, cand: Any, items: list[Item], route_capability: str, ctx: RequestContext
                    ) -> dict[str, Any]:
        mode = mode_of(cand, route_capability)
        name = cand.provider.name
        if mode == "vendor":
            scored = await self._vendor(cand, items, ctx)
        elif mode == "llm":
            if any(it.images for it in items) and Capability.VISION not in cand.provider.capabilities:
                raise CannotServe(f"{name}: judging images needs a vision model", provider=name)
            scored = await self.llm.score(cand, items, ctx)
        else:
            raise CannotServe(f"{name}: neither a moderation endpoint nor a chat model", provider=name)
        return {"object": "moderation.scores", "provider": name, "model": cand.model, "mode": mode,
                "results": [s.to_result() | {"scores": s.scores} for s in scored]}

    async def _call(self, cand: Any, inp: Any, ctx: RequestContext, expect: int) -> list[Scored]:
        res = await cand.provider.moderate({"input": inp, "model": cand.model}, ctx)
        results = res.get("results") if isinstance(res, dict) else None
        if not isinstance(results, list) or not results or (expect and len(results) != expect):
            got = len(results) if isinstance(results, list) else 0
            raise ProviderBadOutput(f"{cand.provider.name}: moderation returned {got} results for "
                                    f"{expect or 'one'} input(s)", provider=cand.provider.name)
        return [normalise_result(r if isinstance(r, dict) else {}) for r in results]

    async def _vendor(self, cand: Any, items: list[Item], ctx: RequestContext) -> list[Scored]:
        in_house = getattr(cand.provider, "in_house", False)
        size, keep = self.vendor_max_chars, detected_values(ctx)
        pieces: list[tuple[int, str]] = []
        singles: list[int] = []
        for i, it in enumerate(items):
            if it.parts:
                singles.append(i)
            elif in_house:  # the in-house model chunks long texts itself
                pieces.append((i, it.text))
            else:
                pieces.extend((i, p) for p in chunks(it.text, size, keep))
        jobs: list[tuple[list[int], Any, int]] = []
        step = max(len(pieces), 1) if in_house else self.vendor_batch
        for k in range(0, len(pieces), step):
            batch = pieces[k:k + step]
            jobs.append(([i for i, _ in batch], [t for _, t in batch], len(batch)))
        for i in singles:  # one combined result per input with parts (vendors may return one per part)
            jobs.append(([i], items[i].as_parts(), 0))
        answers = await asyncio.gather(*(self._call(cand, inp, ctx, n) for _, inp, n in jobs))
        out: list[Scored | None] = [None] * len(items)
        for (owners, _, n), scored in zip(jobs, answers, strict=True):
            if n == 0:  # parts: fold every returned result into the one input
                owners = owners * len(scored)
            for i, s in zip(owners, scored, strict=True):
                prev = out[i]
                out[i] = s if prev is None else combine(prev, s)
        return [s for s in out if s is not None]
