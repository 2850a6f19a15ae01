"""Scripted chat answers for the vendor emulators (opt-in; without rules nothing changes).

A rule replaces the canned chat answer of the requests it matches:

    {"match": "substring of the request body", "content": "exact answer text", "times": 1}
    {"match": "\\"creative_", "schema_instance": true, "times": null}

* ``match`` (optional): the rule applies only when this substring occurs in the request's JSON body.
* ``content``: the answer text (plain or streamed, in the vendor's own wire format).
* ``schema_instance``: answer with a JSON instance of the request's JSON schema (OpenAI
  ``response_format.json_schema.schema``, Gemini ``responseJsonSchema``, Anthropic ``output_config.format.schema``;
  a ``{minItems: N}`` hint in an array's description is honoured like a model reading it), strings made from the
  prompt's words (those between the first ``<tag>`` and ``</tag>``, if any) — a stand-in for a model that honours structured output. Without a schema the
  rule falls back to ``content`` (or is skipped when it has none).
* ``times``: how many requests the rule answers (default 1); ``null`` means every matching request.

The first rule that matches wins. Rules are set with ``POST /_emulator/script {"rules": [...]}``,
``EmulatorThread.script([...])`` in tests, or a JSON file named by ``HYBRIDGATE_EMULATOR_SCRIPT``
when the emulator is started with ``hybridgate emulate`` (demos).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = ["Script", "ScriptRule", "schema_instance"]

_WORD = re.compile(r"[^\W\d_][\w'-]*", re.UNICODE)
_QUOTED = re.compile(r"<([a-z_]+)>(.+?)</\1>", re.DOTALL)
_COUNT_HINT = re.compile(r"\bminItems: (\d+)")


@dataclass(slots=True)
class ScriptRule:
    content: str | None = None
    match: str | None = None
    schema_instance: bool = False
    times: int | None = 1

    @classmethod
    def parse(cls, raw: Any) -> ScriptRule:
        if not isinstance(raw, dict):
            raise ValueError("a script rule is an object with 'content' and/or 'schema_instance'")
        unknown = set(raw) - {"content", "match", "schema_instance", "times"}
        if unknown:
            raise ValueError(f"unknown script rule field(s) {sorted(unknown)}")
        rule = cls(content=raw.get("content"), match=raw.get("match"),
                   schema_instance=bool(raw.get("schema_instance", False)), times=raw.get("times", 1))
        if rule.content is None and not rule.schema_instance:
            raise ValueError("a script rule needs 'content' or 'schema_instance: true'")
        if rule.content is not None and not isinstance(rule.content, str):
            raise ValueError("'content' must be a string")
        if rule.times is not None and (not isinstance(rule.times, int) or rule.times < 1):
            raise ValueError("'times' must be a positive integer or null")
        return rule


class Script:
    """The rules in force for one emulator."""

    def __init__(self, rules: list[Any] | None = None) -> None:
        self.rules: list[ScriptRule] = [ScriptRule.parse(r) for r in rules or ()]

    def __bool__(self) -> bool:
        return bool(self.rules)

    def answer(self, body: Any, prompt: str, schema: dict[str, Any] | None, vendor: str) -> str | None:
        """The scripted answer for this request, or None for the emulator's usual canned one."""
        if not self.rules:
            return None
        raw = orjson.dumps(body).decode() if body is not None else ""
        for rule in self.rules:
            if rule.match is not None and rule.match not in raw:
                continue
            if rule.schema_instance and schema is not None:
                text = orjson.dumps(schema_instance(schema, prompt, vendor)).decode()
            elif rule.content is not None:
                text = rule.content
            else:
                continue
            if rule.times is not None:
                rule.times -= 1
                if rule.times <= 0:
                    self.rules.remove(rule)
            return text
        return None


class _Filler:
    """Builds schema instances: strings from the prompt's words, a different window per string."""

    def __init__(self, root: dict[str, Any], prompt: str, vendor: str) -> None:
        self.root, self.vendor = root, vendor
        quoted = _QUOTED.search(prompt)  # material between <tag> and </tag> makes better strings
        self.words = _WORD.findall(quoted.group(2) if quoted else prompt) or ["emulated"]
        self.k = 0

    def _resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            target: Any = self.root
            for part in ref[2:].split("/"):
                target = target.get(part, {}) if isinstance(target, dict) else {}
            return {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return node

    def string(self, node: dict[str, Any]) -> str:
        self.k += 1
        n = len(self.words)
        if "#" in str(node.get("pattern", "")):
            return "#" + re.sub(r"\W", "", self.words[(self.k * 7) % n]).lower() + str(self.k)
        start = (self.k * 5) % n
        window = " ".join(self.words[(start + i) % n] for i in range(min(8, n)))
        text = f"{self.vendor} emulator {self.k}: {window}."
        if isinstance(node.get("maxLength"), int):
            text = text[: node["maxLength"]]
        return text

    def fill(self, node: Any, depth: int = 0) -> Any:
        if not isinstance(node, dict) or depth > 12:
            return None
        node = self._resolve(node)
        if "enum" in node and node["enum"]:
            return node["enum"][0]
        if "const" in node:
            return node["const"]
        for key in ("anyOf", "oneOf", "allOf"):
            if node.get(key):
                choices = [c for c in node[key] if self._resolve(c).get("type") != "null"] or node[key]
                return self.fill(choices[0], depth + 1)
        kind = node.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind == "object" or "properties" in node:
            return {k: self.fill(v, depth + 1) for k, v in (node.get("properties") or {}).items()}
        if kind == "array":
            hint = _COUNT_HINT.search(str(node.get("description", "")))  # {minItems: 3}: a count put in words
            count = max(int(node.get("minItems") or 0), int(hint.group(1)) if hint else 0, 1)
            if isinstance(node.get("maxItems"), int):
                count = min(count, node["maxItems"])
            return [self.fill(node.get("items") or {"type": "string"}, depth + 1) for _ in range(count)]
        if kind == "string":
            return self.string(node)
        if kind == "integer":
            return int(node.get("minimum") or 1)
        if kind == "number":
            return float(node.get("minimum") or 1.0)
        if kind == "boolean":
            return True
        return None


def schema_instance(schema: dict[str, Any], prompt: str, vendor: str) -> Any:
    """A JSON value that validates against ``schema`` (common JSON Schema subset), built from ``prompt``."""
    return _Filler(schema, prompt, vendor).fill(schema)
