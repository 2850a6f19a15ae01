"""Shadow traffic on creative routes: what a shadow candidate is asked, and how its answer is scored.

A route's ``shadow`` candidates get the served request's prompt (same template, images, length and
``n``) once, after the served answer exists (``routing/shadow.py`` runs it in the background). The
shadow's answer is never released, so it gets no repair retry, no regeneration and no output
moderation: what is measured is how the candidate does on the first try.

``compare_creative(served, shadow)`` (per mirrored request; ``ShadowStats`` averages them):

* ``format_compliance``  1.0 when the answer validates against the task's output schema as a whole
  (JSON object, exactly ``n`` variants, every variant valid: non-empty text / at least one valid
  hashtag / an alt text that is more than "Image of"), else 0.0;
* ``length_adherence``   of a compliant answer, the share of variants within the requested length band
  (characters, or tags for hashtags; the band the served request used). Absent when not compliant,
  so it reads "how well the length is kept when the format is right";
* ``chrf``               chrF of the shadow's variants against the served ones (pairwise, first to
  first ...), when the served answer carries variants (not for sentence-mode streams, whose text
  was never held as a whole).

A shadow candidate without vision is not sent a request with images (counted as a shadow error).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ...context import RequestContext
from ...errors import UnsupportedCapability
from ...providers import Capability
from ...routing.shadow import compare_texts
from .generate import Engine, Plan, RunStats, _Invalid, parse_answer, variant_text
from .schemas import LengthTarget

__all__ = ["ShadowSample", "compare_creative", "shadow_sample"]


@dataclass(slots=True)
class ShadowSample:
    """A shadow candidate's answer to one creative request: its variants, or why it did not validate."""

    task: str
    n: int
    target: LengthTarget
    variants: list[dict[str, Any]] | None
    problem: str | None = None


async def shadow_sample(plan: Plan, ctx: RequestContext, cand: Any) -> ShadowSample:
    """One structured call to ``cand`` with the served request's prompt (``ctx`` is the shadow's own)."""
    if plan.images and Capability.VISION not in cand.provider.capabilities:
        raise UnsupportedCapability(f"{cand.provider.name} has no vision: a request with images is not mirrored "
                                    "to it")
    n = plan.req.n
    engine = Engine(plan, ctx, None, 0)
    body = engine.body(cand, engine.messages("json", {**plan.values, "n": n}), n)
    # lengths are scored, not enforced: an over-long variant is a length miss, not a format failure
    lenient = replace(plan, target=plan.target.model_copy(update={"hard_max": 1 << 30}))
    try:
        content = await engine._chat(cand, body, RunStats())
        variants = parse_answer(content, lenient, n)
    except _Invalid as exc:
        return ShadowSample(plan.req.task, n, plan.target, None, str(exc))
    if len(variants) < n:
        return ShadowSample(plan.req.task, n, plan.target, None, f"{len(variants)} of {n} variants")
    return ShadowSample(plan.req.task, n, plan.target, variants)


def _size(v: dict[str, Any]) -> int:
    return len(v["tags"]) if "tags" in v else len(v["text"])


def compare_creative(served: Any, shadow: ShadowSample) -> dict[str, float]:
    """Agreement metrics of one mirrored request (see the module docstring). ``served`` is what the
    served invoke returned: ``(variants, dropped, stats)``, or a candidate for a sentence-mode stream."""
    if shadow.variants is None:
        return {"format_compliance": 0.0}
    out = {"format_compliance": 1.0,
           "length_adherence": sum(shadow.target.fits(_size(v)) for v in shadow.variants) / len(shadow.variants)}
    given = served[0] if isinstance(served, tuple) and served and isinstance(served[0], list) else []
    m = min(len(given), len(shadow.variants))
    if m:
        out.update(compare_texts([variant_text(v) for v in given[:m]],
                                 [variant_text(v) for v in shadow.variants[:m]]))
    return out
