"""The LLM moderator: any chat provider (Gemini, GPT, Claude, a self-hosted Llama Guard-style model) with a
written policy prompt (``templates/policy.txt``, versioned) and strict JSON answers.

Texts go several to a call (``llm.batch_size``); an input with images goes alone, its images as OpenAI
``image_url`` parts (the privacy guard strips their metadata before they leave). An answer must be one JSON
object (a Markdown code fence around it is tolerated, prose is not) that validates against ``Answer``:
one result per item, in order, every category scored in [0, 1]. A malformed answer is repaired once (the
error is sent back); a second failure raises ``ProviderBadOutput`` that is not retried on that candidate.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ...context import RequestContext
from ...errors import ConfigError
from ...providers import Capability
from ..creative.templates import split_template
from ..llm_answers import InvalidAnswer as _Invalid
from ..llm_answers import answer_text, ask_with_repair, describe, load_json
from .options import CATEGORIES, OPENAI_CATEGORIES, LLMOptions
from .schemas import Item, Scored, combine

__all__ = ["Answer", "BUILTIN_POLICY", "LLMModerator", "PolicyPrompt", "chunks", "detected_values",
           "parse_answer", "response_schema"]

BUILTIN_POLICY = Path(__file__).resolve().parent / "templates" / "policy.txt"
_SECTIONS = ("system", "user", "repair")


class Verdict(BaseModel):
    model_config = ConfigDict(extra="forbid")
    index: int = Field(ge=0)
    scores: dict[str, float]
    flagged: bool
    rationale: str | None = None

    @model_validator(mode="after")
    def _all_categories(self) -> Verdict:
        missing = [c for c in OPENAI_CATEGORIES if c not in self.scores]
        extra = sorted(set(self.scores) - set(OPENAI_CATEGORIES))
        if missing or extra:
            raise ValueError(f"scores must have exactly the 8 categories (missing {missing}, unknown {extra})")
        bad = [c for c, v in self.scores.items() if not 0.0 <= v <= 1.0]
        if bad:
            raise ValueError(f"scores must be between 0 and 1 ({bad})")
        return self


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    results: list[Verdict]


def response_schema(n: int) -> dict[str, Any]:
    """The JSON schema sent as ``response_format`` where the provider supports it."""
    scores = {"type": "object", "additionalProperties": False, "required": list(OPENAI_CATEGORIES),
              "properties": {c: {"type": "number", "minimum": 0, "maximum": 1} for c in OPENAI_CATEGORIES}}
    item = {"type": "object", "additionalProperties": False, "required": ["index", "scores", "flagged"],
            "properties": {"index": {"type": "integer"}, "scores": scores, "flagged": {"type": "boolean"},
                           "rationale": {"type": "string"}}}
    return {"type": "object", "additionalProperties": False, "required": ["results"],
            "properties": {"results": {"type": "array", "minItems": n, "maxItems": n, "items": item}}}


def parse_answer(content: str | None, n: int) -> list[Scored]:
    """``n`` judgements from one answer, or ``_Invalid`` — never a partial parse."""
    data = load_json(content, "one JSON object")
    try:
        answer = Answer.model_validate(data)
    except ValidationError as exc:
        raise _Invalid(f"it did not match the required shape ({describe(exc)})") from None
    if sorted(v.index for v in answer.results) != list(range(n)):
        raise _Invalid(f"it must have exactly one result for each index 0..{n - 1}")
    out = []
    for v in sorted(answer.results, key=lambda v: v.index):
        scores = {c: float(v.scores[c]) for c in OPENAI_CATEGORIES}
        top = max(scores.values())
        scores["flagged"] = max(top, 0.5) if v.flagged else top
        out.append(Scored(scores, v.flagged or top >= 0.5))
    return out


def _finditer(text: str, value: str) -> Iterable[int]:
    i = text.find(value)
    while i >= 0:
        yield i
        i = text.find(value, i + 1)


def _spans(text: str, keep: Iterable[str]) -> list[tuple[int, int]]:
    """Where the ``keep`` strings occur in ``text``, overlapping occurrences merged, in order."""
    found = sorted((i, i + len(v)) for v in keep if v for i in _finditer(text, v))
    merged: list[tuple[int, int]] = []
    for s, e in found:
        if merged and s < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
        else:
            merged.append((s, e))
    return merged


def chunks(text: str, size: int, keep: Iterable[str] = ()) -> list[str]:
    """``text`` in pieces of at most ``size`` characters, cut at whitespace where possible, and never inside
    an occurrence of a ``keep`` string (the request's detected personal data: a value cut in two is found, and
    pseudonymised, in neither piece); a piece grows past ``size`` rather than cut one."""
    if len(text) <= size:
        return [text]
    spans = _spans(text, keep)
    out, start = [], 0
    while start < len(text):
        end = min(start + size, len(text))
        if end < len(text):
            cut = text.rfind(" ", start + size // 2, end)
            end = cut if cut > start else end
            for s, e in spans:
                if s < end < e:
                    end = s if s > start else e
                    break
        out.append(text[start:end])
        start = end
    return out


def detected_values(ctx: RequestContext) -> list[str]:
    """The personal data the data policy detected in this request (what ``chunks`` must not cut)."""
    return [value for value, _ in getattr(ctx.privacy, "values", None) or ()]


@dataclass(frozen=True)
class PolicyPrompt:
    version: str
    sha256: str
    sections: dict[str, str]
    temperature: float
    source: str

    @property
    def id(self) -> str:
        return f"policy@{self.version}+{self.sha256[:8]}"

    def render(self, section: str, values: dict[str, Any]) -> str:
        try:
            return Template(self.sections[section]).substitute({k: str(v) for k, v in values.items()})
        except (KeyError, ValueError) as exc:
            raise ConfigError(f"{self.source}: [{section}] uses an unknown or malformed placeholder ({exc})") \
                from None

    @classmethod
    def read(cls, path: Path) -> PolicyPrompt:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the moderation policy prompt ({exc.strerror or exc})") from None
        meta, sections = split_template(path, raw.decode("utf-8"))
        missing = [s for s in _SECTIONS if s not in sections]
        if missing:
            raise ConfigError(f"{path}: missing section(s) {missing}")
        if "version" not in meta:
            raise ConfigError(f"{path}: front matter needs a 'version'")
        return cls(str(meta["version"]), hashlib.sha256(raw).hexdigest(), sections,
                   float(meta.get("temperature", 0)), str(path))


def _escape(text: str) -> str:
    return text.replace("</item>", "<\\/item>")


class LLMModerator:
    """Scores items with one chat candidate (``score``); the prompt file is read on first use."""

    def __init__(self, options: LLMOptions) -> None:
        self.options = options
        self.path = Path(options.template) if options.template else BUILTIN_POLICY
        self._prompt: PolicyPrompt | None = None
        self._lock = threading.Lock()

    @property
    def prompt(self) -> PolicyPrompt:
        if self._prompt is None:
            with self._lock:
                if self._prompt is None:
                    self._prompt = PolicyPrompt.read(self.path)
        return self._prompt

    def messages(self, texts: list[str], images: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        p = self.prompt
        listed = "\n".join(f'<item index="{i}">\n{_escape(t)}\n</item>' for i, t in enumerate(texts))
        user = p.render("user", {"n": len(texts), "items": listed})
        content: Any = user
        if images:
            content = [{"type": "text", "text": user}] + [{"type": "image_url", "image_url": {"url": u}}
                                                          for u in images]
        return [{"role": "system", "content": p.render("system", {})}, {"role": "user", "content": content}]

    def body(self, cand: Any, messages: list[dict[str, Any]], n: int) -> dict[str, Any]:
        body: dict[str, Any] = {"model": cand.model, "messages": messages, "temperature": self.prompt.temperature,
                                "max_tokens": 64 + self.options.max_tokens * n}
        mode = self.options.structured
        if mode != "prompt" and Capability.JSON_MODE in cand.provider.capabilities:
            body["response_format"] = ({"type": "json_object"} if mode == "json_object" else {
                "type": "json_schema", "json_schema": {"name": "moderation", "schema": response_schema(n),
                                                       "strict": False}})
        return body

    async def _chat(self, cand: Any, body: dict[str, Any], ctx: RequestContext) -> str | None:
        return answer_text(await cand.provider.chat(body, ctx), "keep each rationale under 15 words")

    async def ask(self, cand: Any, texts: list[str], images: tuple[str, ...], ctx: RequestContext) -> list[Scored]:
        """One call (+ one repair call if the answer does not validate) for these texts (and images)."""
        messages = self.messages(texts, images)
        body = self.body(cand, messages, len(texts))
        return await ask_with_repair(
            lambda msgs: self._chat(cand, {**body, "messages": msgs}, ctx), messages,
            lambda content: parse_answer(content, len(texts)),
            lambda problem: self.prompt.render("repair", {"errors": problem}),
            provider=cand.provider.name, what="moderation JSON")

    async def score(self, cand: Any, items: list[Item], ctx: RequestContext) -> list[Scored]:
        """One judgement per item (long texts in pieces, the maximum over pieces)."""
        ctx.extra.setdefault("moderation_policy", self.prompt.id)
        size, keep = self.options.max_chars, detected_values(ctx)
        pieces: list[tuple[int, str]] = []
        jobs: list[tuple[list[int], list[str], tuple[str, ...]]] = []
        for i, it in enumerate(items):
            if it.images:
                jobs.append(([i], [chunks(it.text, size, keep)[0] if it.texts else "(no text: judge the images)"],
                             it.images))
            else:
                pieces.extend((i, piece) for piece in chunks(it.text, size, keep))
        step = self.options.batch_size
        for k in range(0, len(pieces), step):
            batch = pieces[k:k + step]
            jobs.append(([i for i, _ in batch], [t for _, t in batch], ()))
        sem = asyncio.Semaphore(self.options.concurrency)

        async def run(texts: list[str], images: tuple[str, ...]) -> list[Scored]:
            async with sem:
                return await self.ask(cand, texts, images, ctx)

        answers = await asyncio.gather(*(run(t, im) for _, t, im in jobs))
        out: list[Scored | None] = [None] * len(items)
        for (owners, _, _), scored in zip(jobs, answers, strict=True):
            for i, s in zip(owners, scored, strict=True):
                prev = out[i]
                out[i] = s if prev is None else combine(prev, s)
        return [s if s is not None else Scored({c: 0.0 for c in CATEGORIES}, False) for s in out]
