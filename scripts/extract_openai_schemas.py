"""Extract the OpenAI component schemas the contract tests need from the published spec.

    python scripts/extract_openai_schemas.py ../shared/specs/openai/openapi.yaml tests/contract/specs/openai-schemas.json

Keeps every schema reachable from ROOTS, rewrites 3.0-style ``nullable: true`` into JSON
Schema 2020-12 (type [..., "null"]), and writes {"components": {"schemas": {...}}} so refs of the
form ``#/components/schemas/NAME`` still resolve. The spec is MIT-licensed (LICENSE beside it).
"""

from __future__ import annotations

import json
import sys

import yaml

ROOTS = [
    "CreateChatCompletionRequest", "CreateChatCompletionResponse", "CreateChatCompletionStreamResponse",
    "CreateEmbeddingRequest", "CreateEmbeddingResponse", "CreateModerationRequest", "CreateModerationResponse",
    "ListModelsResponse", "Model", "ErrorResponse",
]


def refs(node, out):
    if isinstance(node, dict):
        r = node.get("$ref")
        if isinstance(r, str) and r.startswith("#/components/schemas/"):
            out.add(r.rsplit("/", 1)[1])
        for v in node.values():
            refs(v, out)
    elif isinstance(node, list):
        for v in node:
            refs(v, out)


def fix_nullable(node):
    if isinstance(node, dict):
        for v in node.values():
            fix_nullable(v)
        if node.pop("nullable", False) is True:
            if "enum" in node and None not in node["enum"]:
                node["enum"] = [*node["enum"], None]
            t = node.get("type")
            if isinstance(t, str):
                node["type"] = [t, "null"]
            elif isinstance(t, list) and "null" not in t:
                node["type"] = [*t, "null"]
            elif t is None:
                rest = {k: node.pop(k) for k in list(node) if k not in ("description", "title", "default")}
                node["anyOf"] = [rest, {"type": "null"}]
    elif isinstance(node, list):
        for v in node:
            fix_nullable(v)
    return node


def strip_docs(node):
    if isinstance(node, dict):
        for k in [k for k in node if k in ("description", "example", "examples") or k.startswith("x-")]:
            if k == "description" and not isinstance(node[k], str):
                continue
            node.pop(k)
        for v in node.values():
            strip_docs(v)
    elif isinstance(node, list):
        for v in node:
            strip_docs(v)
    return node


def main(src: str, dst: str) -> None:
    spec = yaml.safe_load(open(src, encoding="utf-8"))
    schemas = spec["components"]["schemas"]
    keep, todo = set(), list(ROOTS)
    while todo:
        name = todo.pop()
        if name in keep:
            continue
        keep.add(name)
        found: set[str] = set()
        refs(schemas[name], found)
        todo.extend(found - keep)
    out = {"info": {"source": "openai/openai-openapi f85dbe22, openapi.yaml v2.3.0 (MIT)", "roots": ROOTS},
           "components": {"schemas": {n: strip_docs(fix_nullable(schemas[n])) for n in sorted(keep)}}}
    json.dump(out, open(dst, "w", encoding="utf-8"), separators=(",", ":"), sort_keys=True)
    print(f"{len(keep)} schemas -> {dst}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
