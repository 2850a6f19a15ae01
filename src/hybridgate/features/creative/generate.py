"""The creative engine: prompt → structured answer → validation (one repair) → moderation →
regeneration of blocked variants → drop with a reason.

Everything for one request runs inside one ``invoke(candidate)`` of ``Gateway.feature_call``, so
the variants of a request come from one provider, and routing, fallback, data control, the
egress ledger, budgets and usage apply to every chat call. A candidate whose answer is still
invalid after the repair retry raises ``ProviderBadOutput`` (not retried on that candidate; the
route falls back to its next candidate, if any). Output moderation (``CreativeFeature.moderate``) runs
with a child context (its own usage record, feature ``creative``): through the moderation feature's
``judge`` when that feature is on, else the raw moderation route; its failures never count against the
chat candidate. A ``Verdict`` says whether a variant is blocked; a variant the moderation feature sends
to ``review`` is blocked too unless ``features.creative.block_on_review`` is false, in which case it is
returned marked ``"review": {"categories": [...]}``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError

from ...context import RequestContext
from ...errors import NotConfigured, ProviderError
from ...providers import Capability
from ..llm_answers import InvalidAnswer as _Invalid
from ..llm_answers import answer_text, ask_with_repair, describe, strip_fence
from .schemas import (
    ALT_TEXT_MAX_CHARS,
    CreateRequest,
    ImagePart,
    LengthTarget,
    TextPart,
    clean_alt_text,
    clean_hashtags,
    input_images,
    output_model,
)
from .templates import PromptTemplate

__all__ = ["Engine", "ModerationFailed", "Plan", "RunStats", "Verdict", "length_target", "make_plan", "parse_answer",
           "verdicts_of", "verdicts_of_decisions"]

TONES = {
    "friendly": "friendly: warm, upbeat and approachable",
    "formal": "formal: polite and precise, no slang, no emoji",
    "witty": "witty: light, playful and clever, never mean",
    "concise": "concise: as few words as possible, no filler",
}
LANGUAGES = {
    "ar": "Arabic", "bn": "Bengali", "cs": "Czech", "da": "Danish", "de": "German", "el": "Greek", "en": "English",
    "es": "Spanish", "fi": "Finnish", "fr": "French", "he": "Hebrew", "hi": "Hindi", "hu": "Hungarian",
    "id": "Indonesian", "it": "Italian", "ja": "Japanese", "ko": "Korean", "nl": "Dutch", "no": "Norwegian",
    "pl": "Polish", "pt": "Portuguese", "ro": "Romanian", "ru": "Russian", "sv": "Swedish", "sw": "Swahili",
    "ta": "Tamil", "th": "Thai", "tr": "Turkish", "uk": "Ukrainian", "ur": "Urdu", "vi": "Vietnamese",
    "zh": "Chinese",
}


class ModerationFailed(Exception):
    """Output moderation could not run (wraps the moderation route's ProviderError so that the
    chat route does not fall back because of it); unwrapped by the feature."""

    def __init__(self, cause: ProviderError) -> None:
        super().__init__(cause.message)
        self.cause = cause
        self.status, self.code = cause.status, cause.code  # what the usage record shows


@dataclass(slots=True)
class Plan:
    """What was decided for one request before any provider call."""

    req: CreateRequest
    template: PromptTemplate
    target: LengthTarget
    banned: frozenset[str]
    values: dict[str, Any]
    structured: str = "json_schema"
    images: tuple[dict[str, Any], ...] = ()
    """``image_url`` parts sent with the prompt (caption, alt_text): the user message becomes multimodal."""


@dataclass(slots=True)
class RunStats:
    """What happened on the candidate that served the request."""

    generation_calls: int = 0
    repairs: int = 0
    rounds: int = 0
    checked: int = 0
    blocked: int = 0
    duplicates: int = 0
    regenerated: int = 0
    reviewed: int = 0  # variants returned although moderation said 'review' (block_on_review: false)
    hashtags_raw: int = 0
    hashtags_removed: dict[str, int] = field(default_factory=lambda: {"invalid": 0, "duplicate": 0, "banned": 0})
    alt_text_openings: int = 0  # "Image of ..." openings removed from alt texts


def render_input(req: CreateRequest) -> str:
    if isinstance(req.input, str):
        return req.input.strip()
    if any(isinstance(c, (ImagePart, TextPart)) for c in req.input):  # content parts: the texts, in order
        return "\n".join((c if isinstance(c, str) else c.text).strip() for c in req.input
                         if not isinstance(c, ImagePart))
    lines = []
    for i, c in enumerate(req.input, 1):
        if isinstance(c, str):
            lines.append(f"{i}. {c.strip()}")
        else:
            lines.append(f"{i}. {(c.author or 'someone').strip()}: {c.text.strip()}")
    return "\n".join(lines)


def length_target(template: PromptTemplate, req: CreateRequest, input_chars: int) -> LengthTarget:
    unit = "hashtags" if req.task == "hashtags" else "characters"
    if isinstance(req.length, int):
        return LengthTarget(min=1, max=req.length, hard_max=req.length, unit=unit)
    lo, hi = template.lengths[req.length or template.default_length]
    if template.relative:
        base = max(20, input_chars)
        lo, hi = lo * base, hi * base
    lo_i, hi_i = max(1, int(round(lo))), max(1, int(round(hi)))
    hard = hi_i if unit == "hashtags" else hi_i * 2
    if req.task == "alt_text":
        hi_i, hard = min(hi_i, ALT_TEXT_MAX_CHARS), min(hard, ALT_TEXT_MAX_CHARS)
    return LengthTarget(min=min(lo_i, hi_i), max=hi_i, hard_max=hard, unit=unit)


def _length_line(t: LengthTarget) -> str:
    if t.min <= 1:
        return f"at most {t.max} {t.unit} (a hard limit)"
    return f"between {t.min} and {t.max} {t.unit}"


def _image_line(task: str, count: int, text: str) -> str:
    if not count:
        return ""
    photos = "The post's photo is attached" if count == 1 else f"The post's {count} photos are attached"
    if task == "alt_text":
        return "The image to describe is attached." + (" The text below is the post it belongs to: use it "
                                                       "only to decide what matters." if text else "")
    return f"{photos}: base the caption on what {'it shows' if count == 1 else 'they show'}" + (
        " and on the post's text." if text else ".")


def make_plan(req: CreateRequest, template: PromptTemplate, banned: frozenset[str], structured: str) -> Plan:
    text = render_input(req)
    images = tuple(p.wire() for p in input_images(req.input))
    target = length_target(template, req, len(text))
    if req.language:
        name = LANGUAGES.get(req.language.split("-")[0].lower(), req.language)
        language_line = f"Write in {name} ({req.language})."
    elif images and not text:
        language_line = "Write in English (no language was requested and the post has no text)."
    else:
        language_line = "Write in the same language as the input."
    tone_line = f"Tone: {TONES[req.tone]}." if req.tone else ""
    banned_line = ("Never use these hashtags: " + ", ".join(sorted(banned)) + ".") if banned else ""
    values = {"n": req.n, "input": text or ("(no text)" if images else ""), "language_line": language_line,
              "tone_line": tone_line, "length_line": _length_line(target), "banned_line": banned_line,
              "image_line": _image_line(req.task, len(images), text)}
    return Plan(req, template, target, banned, values, structured, images)


def json_schema(task: str, n: int, tags: tuple[int, int] = (1, 30)) -> dict[str, Any]:
    """The JSON schema sent as ``response_format`` (inlined: some vendors do not follow ``$ref``)."""
    if task == "hashtags":
        item = {"type": "object", "additionalProperties": False, "required": ["tags"],
                "properties": {"tags": {"type": "array", "minItems": tags[0], "maxItems": tags[1],
                                        "items": {"type": "string", "pattern": "^#\\w+$"}}}}
    else:
        item = {"type": "object", "additionalProperties": False, "required": ["text"],
                "properties": {"text": {"type": "string"}}}
    return {"type": "object", "additionalProperties": False, "required": ["variants"],
            "properties": {"variants": {"type": "array", "minItems": n, "maxItems": n, "items": item}}}


def _extract(content: str) -> Any:
    text = strip_fence(content)
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        pass
    for opening, closing in ("{}", "[]"):  # JSON wrapped in prose
        start, end = text.find(opening), text.rfind(closing)
        if 0 <= start < end:
            try:
                return orjson.loads(text[start: end + 1])
            except orjson.JSONDecodeError:
                pass
    raise _Invalid("it was not a JSON object")


def parse_answer(content: str | None, plan: Plan, k: int, stats: RunStats | None = None) -> list[dict[str, Any]]:
    """Up to ``k`` validated variants from one answer, or ``_Invalid`` — never a partial parse."""
    if not content or not content.strip():
        raise _Invalid("it was empty")
    data = _extract(content)
    if isinstance(data, list):
        data = {"variants": data}
    model: type[BaseModel] = output_model(plan.req.task, k)
    try:
        parsed = model.model_validate(data)
    except ValidationError as exc:
        raise _Invalid(f"it did not match the required shape ({describe(exc)})") from None
    out: list[dict[str, Any]] = []
    for i, v in enumerate(parsed.variants[:k]):  # type: ignore[attr-defined]
        if plan.req.task == "hashtags":
            tags, removed = clean_hashtags(v.tags, plan.banned)
            if not tags:
                raise _Invalid(f"variant {i + 1} has no valid hashtag ('#' then letters, digits or '_')")
            if stats is not None:
                stats.hashtags_raw += len(v.tags)
                for key, count in removed.items():
                    stats.hashtags_removed[key] += count
            out.append({"tags": tags[: plan.target.hard_max], "removed": removed})
        else:
            text = v.text
            if plan.req.task == "alt_text":
                text, cut = clean_alt_text(text)
                if not text:
                    raise _Invalid(f"variant {i + 1} says only that it is an image: describe what it shows")
                if cut and stats is not None:
                    stats.alt_text_openings += 1
            if len(text) > plan.target.hard_max:
                raise _Invalid(f"variant {i + 1} has {len(text)} characters; the limit is "
                               f"{plan.target.max if plan.target.min > 1 else plan.target.hard_max}")
            out.append({"text": text})
    return out


def variant_text(v: dict[str, Any]) -> str:
    return " ".join(v["tags"]) if "tags" in v else v["text"]


def _key(v: dict[str, Any]) -> str:
    return " ".join(re.findall(r"\w+", variant_text(v).casefold()))


@dataclass(slots=True)
class Verdict:
    blocked: bool
    categories: tuple[str, ...] = ()
    decision: str = ""  # the moderation feature's allow | review | block ("" from the raw route)

    def causes(self) -> str:
        """What blocked it: the categories (``review: ...`` when the decision was review)."""
        if self.decision == "review":
            return "review: " + (", ".join(self.categories) or "uncertain")
        return ", ".join(self.categories) or "flagged"

    def reason(self) -> str:
        """Why a blocked variant was not returned (the drop reason and the regeneration prompt's)."""
        return f"blocked by moderation ({self.causes()})"


class Engine:
    """Runs one request's generation on one candidate. ``moderate(texts)`` is the output check."""

    def __init__(self, plan: Plan, ctx: RequestContext, moderate: Any, regenerations: int) -> None:
        self.plan, self.ctx, self.moderate, self.regenerations = plan, ctx, moderate, regenerations

    def messages(self, mode: str, values: dict[str, Any]) -> list[dict[str, Any]]:
        t = self.plan.template
        user = t.render("user", values)
        user = "\n".join(line for line in user.splitlines() if line.strip() or not line)  # empty option lines
        text = user + "\n\n" + t.render(mode, values)
        # with images: an OpenAI-style multimodal message, so the gateway's image path applies (vision
        # check, metadata stripping and URL rules in the provider wrappers, each vendor's own format)
        content: Any = [{"type": "text", "text": text}, *self.plan.images] if self.plan.images else text
        return [{"role": "system", "content": t.render("system", values)}, {"role": "user", "content": content}]

    def body(self, cand: Any, messages: list[dict[str, Any]], k: int, *, stream: bool = False) -> dict[str, Any]:
        t = self.plan.template
        body: dict[str, Any] = {"model": cand.model, "messages": messages, "temperature": t.temperature,
                                "max_tokens": min(4096, t.max_tokens * max(1, math.ceil(k / 2)))}
        if stream:
            body["stream"] = True
        elif Capability.JSON_MODE in cand.provider.capabilities and self.plan.structured != "prompt":
            if self.plan.structured == "json_schema":
                body["response_format"] = {"type": "json_schema", "json_schema": {
                    "name": f"creative_{self.plan.req.task}",
                    "schema": json_schema(self.plan.req.task, k, (self.plan.target.min, self.plan.target.max)),
                    "strict": False}}
            else:
                body["response_format"] = {"type": "json_object"}
        return body

    async def _chat(self, cand: Any, body: dict[str, Any], stats: RunStats) -> str | None:
        stats.generation_calls += 1
        return answer_text(await cand.provider.chat(body, self.ctx), "write shorter variants")

    async def ask(self, cand: Any, k: int, stats: RunStats, regenerate: dict[str, Any] | None) -> list[dict]:
        """``k`` variants from one call (+ one repair call if the answer does not validate)."""
        values = {**self.plan.values, "n": k}
        messages = self.messages("json", values)
        if regenerate is not None:
            messages.append({"role": "user", "content": self.plan.template.render("regenerate", regenerate)})
        body = self.body(cand, messages, k)

        def repaired() -> None:
            stats.repairs += 1

        return await ask_with_repair(
            lambda msgs: self._chat(cand, {**body, "messages": msgs}, stats), messages,
            lambda content: parse_answer(content, self.plan, k, stats),
            lambda problem: self.plan.template.render("repair", {"errors": problem}),
            provider=cand.provider.name, what=f"{self.plan.req.task} output", on_repair=repaired)

    async def run(self, cand: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]], RunStats]:
        """(accepted variants, dropped slots with reasons, stats) on one candidate."""
        n = self.plan.req.n
        stats = RunStats()
        accepted: list[dict[str, Any]] = []
        failures: list[str] = []
        rejected: list[str] = []
        while True:
            k = n - len(accepted)
            regen = None
            if stats.rounds > 0:
                stats.regenerated += k
                regen = {"k": k, "reasons": "; ".join(sorted(set(failures))) or "not returned",
                         "avoid": "\n".join(f"- {t}" for t in [*map(variant_text, accepted), *rejected][-12:])
                         or "- (none)"}
            got = await self.ask(cand, k, stats, regen)
            failures = []
            fresh, seen = [], {_key(v) for v in accepted}
            for v in got:
                if _key(v) in seen:
                    stats.duplicates += 1
                    failures.append("duplicate of another variant")
                    continue
                seen.add(_key(v))
                fresh.append(v)
            verdicts: list[Verdict] = await self.moderate([variant_text(v) for v in fresh]) if fresh else []
            for v, verdict in zip(fresh, verdicts, strict=True):
                stats.checked += 1
                if verdict.blocked:
                    stats.blocked += 1
                    failures.append(verdict.reason())
                    rejected.append(variant_text(v)[:200])
                else:
                    if verdict.decision == "review":  # block_on_review: false — returned, marked
                        stats.reviewed += 1
                        v["review"] = {"categories": list(verdict.categories)}
                    v["provider"], v["model"] = cand.provider.name, cand.model
                    accepted.append(v)
            failures += ["the provider returned fewer variants than asked"] * (k - len(got))
            if len(accepted) >= n or stats.rounds >= self.regenerations:
                break
            stats.rounds += 1
        dropped = [{"reason": f"{reason} after {stats.rounds} regeneration(s)"}
                   for reason in (failures + ["not returned"] * n)[: n - len(accepted)]]
        return accepted[:n], dropped, stats


def verdicts_of(result: dict[str, Any], threshold: float | None) -> list[Verdict]:
    """Block decisions from an OpenAI-shaped moderation result (``flagged``, or any score >= threshold)."""
    out = []
    for r in result.get("results") or ():
        if threshold is None:
            cats = tuple(sorted(k for k, v in (r.get("categories") or {}).items() if v))
            out.append(Verdict(bool(r.get("flagged")) or bool(cats), cats))
        else:
            scores = r.get("category_scores") or {}
            cats = tuple(sorted(k for k, v in scores.items() if float(v) >= threshold))
            flagged = float(r.get("flagged_score", 0.0)) >= threshold
            out.append(Verdict(bool(cats) or flagged, cats))
    return out


def verdicts_of_decisions(results: list[dict[str, Any]], block_on_review: bool) -> list[Verdict]:
    """Verdicts from the moderation feature's ``judge`` results: ``block`` blocks; ``review`` blocks when
    ``block_on_review`` (creative text reaches users with no human in the loop), else passes marked."""
    out = []
    for r in results:
        decision = str(r.get("decision") or "allow")
        blocked = decision == "block" or (decision == "review" and block_on_review)
        cats = tuple(r.get("categories") or ())
        named = tuple(c for c in cats if c != "flagged")  # 'flagged' (the overall score) only when alone
        out.append(Verdict(blocked, named or cats, decision))
    return out


def moderation_error(exc: NotConfigured) -> NotConfigured:
    return NotConfigured("creative output must pass moderation before it is returned, and there is no moderation "
                         f"route: {exc.message}")
