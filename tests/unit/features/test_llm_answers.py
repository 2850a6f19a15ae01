"""Structured LLM answers: fences, JSON, the one repair round shared by the moderator, translator, creative."""

from __future__ import annotations

import pytest

from hybridgate.errors import ProviderBadOutput
from hybridgate.features.llm_answers import InvalidAnswer, answer_text, ask_with_repair, load_json, strip_fence


def test_fences_and_json() -> None:
    assert strip_fence('```json\n{"a": 1}\n```') == '{"a": 1}'
    assert load_json('```\n[1, 2]\n```', "an array") == [1, 2]
    with pytest.raises(InvalidAnswer, match="it was empty"):
        load_json("  ", "an array")
    with pytest.raises(InvalidAnswer, match="it was not one JSON object"):
        load_json("sure! here it is", "one JSON object")


def test_answer_text() -> None:
    assert answer_text({"choices": [{"message": {"content": "hi"}, "finish_reason": "stop"}]}) == "hi"
    assert answer_text({"choices": []}) is None
    with pytest.raises(InvalidAnswer, match="cut off at the token limit; be brief"):
        answer_text({"choices": [{"message": {"content": "hal"}, "finish_reason": "length"}]}, "be brief")


def _parse(content: str | None) -> int:
    value = load_json(content, "a number")
    if not isinstance(value, int):
        raise InvalidAnswer("it must be a number")
    return value


async def test_valid_first_answer_needs_one_call() -> None:
    calls: list[list[dict]] = []

    async def chat(msgs):
        calls.append(msgs)
        return "7"

    assert await ask_with_repair(chat, [{"role": "user", "content": "n?"}], _parse, lambda p: p,
                                 provider="p", what="number") == 7
    assert len(calls) == 1


async def test_repair_round_shows_the_answer_and_the_problem() -> None:
    answers = iter(['"seven"', "7"])
    calls: list[list[dict]] = []
    repairs: list[int] = []

    async def chat(msgs):
        calls.append(msgs)
        return next(answers)

    out = await ask_with_repair(chat, [{"role": "user", "content": "n?"}], _parse, lambda p: f"fix: {p}",
                                provider="p", what="number", on_repair=lambda: repairs.append(1))
    assert out == 7 and repairs == [1]
    assert calls[1][-2:] == [{"role": "assistant", "content": '"seven"'},
                             {"role": "user", "content": "fix: it must be a number"}]


async def test_second_failure_is_a_non_retryable_bad_output() -> None:
    async def chat(msgs):
        return "nope"

    with pytest.raises(ProviderBadOutput) as exc:
        await ask_with_repair(chat, [{"role": "user", "content": "n?"}], _parse, lambda p: p,
                              provider="gemini", what="number")
    assert exc.value.retryable is False and exc.value.provider == "gemini"
    assert "no valid number after one repair retry" in str(exc.value)
