"""Structured answers from chat models, shared by the LLM moderator, translator and creative generator.

* ``InvalidAnswer``: an answer that does not validate; its message says why, in words the model is shown.
* ``answer_text``: the text of a chat completion (an answer cut off at the token limit is invalid).
* ``strip_fence`` / ``load_json``: the answer without a Markdown code fence, parsed as JSON; ``describe``: a
  pydantic validation error in a few words for the repair prompt.
* ``ask_with_repair``: one call, and if its answer does not parse, exactly one repair call that shows the model
  its own answer and the problem. A second failure is ``ProviderBadOutput`` marked not retryable (the repair
  was the retry), so the route falls back instead of repeating.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import orjson

from ..errors import ProviderBadOutput

__all__ = ["InvalidAnswer", "answer_text", "ask_with_repair", "describe", "load_json", "strip_fence"]

T = TypeVar("T")
_FENCE = re.compile(r"^```[a-zA-Z0-9_-]*\s*\n?|\n?\s*```$")


class InvalidAnswer(Exception):
    """A model answer that does not validate; the message says why (sent back in the repair prompt)."""


def answer_text(resp: dict[str, Any], cut_off_hint: str = "") -> str | None:
    """The first choice's text of a chat completion, or None when it has none."""
    choice = (resp.get("choices") or [{}])[0]
    if choice.get("finish_reason") == "length":
        raise InvalidAnswer("it was cut off at the token limit" + (f"; {cut_off_hint}" if cut_off_hint else ""))
    content = (choice.get("message") or {}).get("content")
    return content if isinstance(content, str) else None


def describe(exc: Any) -> str:
    """The first three problems of a pydantic ``ValidationError``, as ``loc: message``."""
    errs = exc.errors(include_url=False, include_input=False)[:3]
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'answer'}: {e['msg']}" for e in errs)


def strip_fence(content: str) -> str:
    return _FENCE.sub("", content.strip()).strip()


def load_json(content: str | None, expected: str) -> Any:
    """The JSON value of an answer (fence removed); ``expected`` names it in the error ("one JSON object")."""
    if not content or not content.strip():
        raise InvalidAnswer("it was empty")
    try:
        return orjson.loads(strip_fence(content))
    except orjson.JSONDecodeError:
        raise InvalidAnswer(f"it was not {expected}") from None


async def ask_with_repair(chat: Callable[[list[dict[str, Any]]], Awaitable[str | None]],
                          messages: list[dict[str, Any]], parse: Callable[[str | None], T],
                          repair: Callable[[str], str], *, provider: str, what: str,
                          on_repair: Callable[[], None] | None = None) -> T:
    """``parse(await chat(messages))``, with one repair round (see the module docstring).

    ``chat(messages)`` returns the answer's text (it may raise ``InvalidAnswer`` itself, e.g. for an answer
    cut off at the token limit); ``repair(problem)`` is the user message of the repair round; ``what`` names
    the expected output in the final error ("moderation JSON").
    """
    content: str | None = None
    try:
        content = await chat(messages)
        return parse(content)
    except InvalidAnswer as first:
        problem = str(first)
    if on_repair is not None:
        on_repair()
    again = [*messages, {"role": "assistant", "content": content or ""}, {"role": "user", "content": repair(problem)}]
    try:
        return parse(await chat(again))
    except InvalidAnswer as second:
        err = ProviderBadOutput(f"{provider}: no valid {what} after one repair retry "
                                f"(first answer: {problem}; repaired answer: {second})", provider=provider)
        err.retryable = False  # type: ignore[misc]  # the repair was the retry: fall back, don't repeat
        raise err from None
