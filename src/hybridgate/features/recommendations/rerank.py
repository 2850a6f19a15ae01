"""Optional rerank of the in-house top-N by a chat model, under the data-control policy.

What may leave is fixed here, by construction: the prompt is built from candidate item ids, titles and
the operator's allow-listed metadata fields, plus an anonymous session summary (counts of allow-listed
metadata values over the user's recent items). The builder is never given the user id or the history's
item ids or titles. The call goes through ``Gateway.feature_call``, so routing, the data policy (PII
pseudonymisation or refusal), the egress ledger, budgets and usage apply as for chat. The policy scans every
string of the prompt (ids, titles, metadata and summary values) one by one; pseudonymised values are
replaced wherever they occur and restored in the answer before it is parsed.

The answer must be one JSON object ``{"order": [ids]}`` that is a permutation of the candidate ids
(whitespace and one Markdown code fence around it are tolerated); anything else is rejected whole and the
in-house order is kept.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from ...context import RequestContext
from ...errors import HybridgateError
from ...providers import Capability
from .options import RerankOptions
from .store import ItemRow

__all__ = ["RerankResult", "build_messages", "candidate_view", "parse_order", "rerank", "scanned_texts",
           "session_summary"]

SYSTEM_PROMPT = (
    "You reorder recommendation candidates for one anonymous user of a content app. You get the user's "
    "recent interests as counts of item attributes and the candidates (id, title, attributes), in the "
    "order an in-house model ranked them. Put the candidates the user is most likely to enjoy first, keeping "
    "the list varied. Reply with only a JSON object {\"order\": [...]} that lists every candidate id exactly "
    "once, as given, best first."
)
_FENCE = re.compile(r"^```(?:json|JSON)?[ \t]*\n(.*)\n[ \t]*```$", re.DOTALL)
_MAX_VALUE_CHARS = 80


def _scalar(v: Any) -> Any:
    if isinstance(v, str):
        return v[:_MAX_VALUE_CHARS]
    if isinstance(v, (bool, int, float)) or v is None:
        return v
    return None


def _field_value(v: Any) -> Any:
    """An allow-listed metadata value as sent: a scalar or a short list of scalars (others dropped)."""
    if isinstance(v, (list, tuple)):
        out = [_scalar(x) for x in v[:20]]
        return [x for x in out if x is not None]
    return _scalar(v)


def candidate_view(item_id: str, row: ItemRow | None, fields: Sequence[str], max_title: int) -> dict[str, Any]:
    """What the chat model sees of one candidate: id, title, allow-listed metadata — nothing else."""
    view: dict[str, Any] = {"id": item_id}
    if row is not None and row.title:
        view["title"] = row.title[:max_title]
    meta = (row.metadata or {}) if row is not None else {}
    for f in fields:
        if f in meta:
            v = _field_value(meta[f])
            if v is not None and v != []:
                view[f] = v
    return view


def session_summary(recent: Iterable[ItemRow | None], fields: Sequence[str], top: int = 5) -> dict[str, Any]:
    """Anonymous summary of recent items: how many, and the most frequent allow-listed metadata values."""
    rows = list(recent)
    interests: dict[str, list[list[Any]]] = {}
    for f in fields:
        c: Counter[Any] = Counter()
        for row in rows:
            v = _field_value((row.metadata or {}).get(f)) if row is not None else None
            for x in (v if isinstance(v, list) else [v]):
                if x is not None and isinstance(x, (str, int, float, bool)):
                    c[x] += 1
        if c:
            interests[f] = [[v, n] for v, n in c.most_common(top)]
    return {"recent_items": len(rows), "interests": interests}


def build_messages(candidates: Sequence[Mapping[str, Any]], summary: Mapping[str, Any]) -> list[dict[str, str]]:
    """The chat messages (system instructions + one JSON user message)."""
    payload = orjson.dumps({"session": summary, "candidates": list(candidates)}).decode()
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": payload}]


def _strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node] if node.strip() else []
    if isinstance(node, dict):
        return [t for v in node.values() for t in _strings(v)]
    if isinstance(node, (list, tuple)):
        return [t for v in node for t in _strings(v)]
    return []


def scanned_texts(candidates: Sequence[Mapping[str, Any]], summary: Mapping[str, Any]) -> list[str]:
    """Every string that leaves (ids, titles, metadata values), each scanned by the data policy on its own:
    the detector then judges a title as a title, not as a fragment of JSON."""
    return list(dict.fromkeys(_strings(list(candidates)) + _strings(summary)))


def parse_order(content: Any, ids: Sequence[str]) -> list[str] | None:
    """The reordered ids when ``content`` is exactly ``{"order": [...]}`` over ``ids``; else None."""
    if not isinstance(content, str):
        return None
    text = content.strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1).strip()
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(obj, dict) or set(obj) != {"order"} or not isinstance(obj["order"], list):
        return None
    order = obj["order"]
    if not all(isinstance(x, str) or (isinstance(x, int) and not isinstance(x, bool)) for x in order):
        return None
    out = [str(x) for x in order]
    if len(out) != len(ids) or set(out) != set(ids):
        return None
    return out


@dataclass(slots=True)
class RerankResult:
    order: list[str] | None  # None: keep the in-house order
    status: dict[str, Any]


async def rerank(gateway: Any, options: RerankOptions, candidates: Sequence[Mapping[str, Any]],
                 summary: Mapping[str, Any], ctx: RequestContext, app: Any) -> RerankResult:
    """Ask the rerank route to reorder ``candidates``; any failure keeps the in-house order."""
    ids = [str(c["id"]) for c in candidates]
    messages = build_messages(candidates, summary)

    async def invoke(cand: Any) -> Any:
        body: dict[str, Any] = {"model": cand.model, "messages": messages, "temperature": 0,
                                "max_tokens": options.max_tokens}
        if Capability.JSON_MODE in cand.provider.capabilities:
            body["response_format"] = {"type": "json_object"}
        resp = await cand.provider.chat(body, ctx)
        try:
            content = resp["choices"][0]["message"].get("content")
        except (KeyError, IndexError, TypeError, AttributeError):
            content = None
        return cand.provider.name, content

    try:
        provider, content = await gateway.feature_call(
            "recommendations", scanned_texts(candidates, summary), invoke, need=frozenset({Capability.CHAT}), ctx=ctx,
            app=app, route=options.route)
    except HybridgateError as exc:
        return RerankResult(None, {"applied": False, "error": exc.code})
    order = parse_order(content, ids)
    if order is None:
        return RerankResult(None, {"applied": False, "provider": provider, "error": "bad_output"})
    return RerankResult(order, {"applied": True, "provider": provider})
