"""Where the text is in an OpenAI-shaped request or response, for scanning and rewriting.

``iter_texts`` and ``map_texts`` visit the same slots in the same order, so the i-th text
scanned is the i-th text rewritten: message contents (strings and text parts), tool-call
arguments (also those of the deprecated ``function_call``), the predicted output's content,
embedding and moderation inputs.
Containers are copied on the way down; the caller's body is never mutated.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["iter_texts", "map_response_texts", "map_texts", "unscanned"]


def _message_slots(messages: list[Any]) -> Iterator[tuple[tuple, str]]:
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            continue
        content = m.get("content")
        if isinstance(content, str):
            yield (i, "content"), content
        elif isinstance(content, list):
            for j, part in enumerate(content):
                if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str):
                    yield (i, "content", j, "text"), part["text"]
        for k, tc in enumerate(m.get("tool_calls") or ()):
            args = (tc.get("function") or {}).get("arguments") if isinstance(tc, dict) else None
            if isinstance(args, str):
                yield (i, "tool_calls", k, "function", "arguments"), args
        legacy = m.get("function_call")  # the deprecated function-calling API, still accepted upstream
        if isinstance(legacy, dict) and isinstance(legacy.get("arguments"), str):
            yield (i, "function_call", "arguments"), legacy["arguments"]


def _input_slots(inp: Any) -> Iterator[tuple[tuple, str]]:
    if isinstance(inp, str):
        yield (), inp
    elif isinstance(inp, list):
        for i, item in enumerate(inp):
            if isinstance(item, str):
                yield (i,), item
            elif isinstance(item, dict) and item.get("type") == "text" and isinstance(item.get("text"), str):
                yield (i, "text"), item["text"]


def _slots(method: str, body: dict[str, Any]) -> Iterator[tuple[str, tuple, str]]:
    if method in ("chat", "chat_stream"):
        for path, text in _message_slots(body.get("messages") or []):
            yield "messages", path, text
        prediction = body.get("prediction")  # OpenAI's predicted output: usually the user's own document
        if isinstance(prediction, dict):
            for path, text in _message_slots([prediction]):
                yield "prediction", path[1:], text
    else:
        for path, text in _input_slots(body.get("input")):
            yield "input", path, text


_SEEN_PARTS = frozenset({"text", "image_url"})  # text is scanned; images are re-encoded and documented as sent


def unscanned(method: str, body: dict[str, Any]) -> set[str]:
    """What of ``body`` would leave without the PII scan having read it: content parts other than text and
    images (``file``, ``input_audio`` ...) and token ids, by kind."""
    found: set[str] = set()
    if method in ("chat", "chat_stream"):
        for m in body.get("messages") or ():
            content = m.get("content") if isinstance(m, dict) else None
            for part in content if isinstance(content, list) else ():
                kind = part.get("type") if isinstance(part, dict) else None
                if kind not in _SEEN_PARTS:
                    found.add(f"{kind or 'untyped'} part")
        return found
    inp = body.get("input")
    for item in inp if isinstance(inp, list) else ():
        if isinstance(item, (int, list)):
            found.add("token ids")
        elif isinstance(item, dict) and item.get("type") not in _SEEN_PARTS:
            found.add(f"{item.get('type') or 'untyped'} part")
    return found


def iter_texts(method: str, body: dict[str, Any]) -> Iterator[tuple[tuple, str]]:
    for key, path, text in _slots(method, body):
        yield (key, *path), text


def _set(container: Any, path: tuple, value: str) -> Any:
    """A copy of ``container`` with ``value`` at ``path`` (containers along the path are copied)."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    copy = list(container) if isinstance(container, list) else dict(container)
    copy[head] = _set(container[head], rest, value)
    return copy


def map_texts(method: str, body: dict[str, Any], fn: Callable[[int, str], str]) -> dict[str, Any]:
    """A copy of ``body`` with ``fn(index, text)`` applied to every text slot."""
    out = body
    for index, (key, path, text) in enumerate(list(_slots(method, body))):
        new = fn(index, text)
        if new != text:
            out = {**out, key: _set(out[key], path, new)}
    return out


def map_response_texts(result: dict[str, Any], fn: Callable[[str], str],
                       arguments: Callable[[str], str] | None = None) -> dict[str, Any]:
    """Apply ``fn`` to the texts of a chat completion (contents, refusals, tool-call arguments) in place;
    ``arguments`` (default ``fn``) to tool-call arguments, which are JSON."""
    for choice in result.get("choices") or ():
        msg = choice.get("message") or {}
        for key in ("content", "refusal"):
            if isinstance(msg.get(key), str):
                msg[key] = fn(msg[key])
        for tc in msg.get("tool_calls") or ():
            f = tc.get("function") or {}
            if isinstance(f.get("arguments"), str):
                f["arguments"] = (arguments or fn)(f["arguments"])
    return result
