"""Recorded traffic for the exit drill: the chat requests that went out to partners, rebuilt from the ledger.

With ``ledger.store_raw: true`` the egress ledger keeps the exact bytes of every request sent to a partner
(beside the hash chain). ``recorded_requests(config)`` reads them back as OpenAI chat bodies that the drill
replays through the configured routes:

* one request per ``request_id`` (retries, failovers and the start/end records of a stream are one
  request), its first partner call that kept a raw body; shadow calls and the drill's own replays
  (app ``drill``) are left out, and so is feature traffic other than ``chat``;
* OpenAI-shaped bodies (``openai``, ``openai_compatible`` partners) replay as they were sent; Anthropic
  Messages and Gemini ``generateContent`` bodies are mapped back to OpenAI chat when they hold text only;
  what cannot be mapped (images, tools, an unknown shape) is skipped and counted by reason;
* the route is the one the request was served on (from the usage store, same request id), else
  ``route`` / the default chat route;
* the request's data classes ride along, so the replay meets the same data-control rules.

The bodies are as they left: PII already replaced by pseudonym placeholders. That changes nothing for
success, latency or cost, which is what a drill measures.

Only partner traffic is recorded: requests served in-house never reach the ledger.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import select

from ..config import Config
from ..errors import InvalidRequest

__all__ = ["Recorded", "from_anthropic", "from_gemini", "recorded_requests"]

_STRIP = ("stream", "stream_options")  # the drill calls the plain chat path; a stream's tokens cost the same


@dataclass
class Recorded:
    """Chat bodies to replay (OpenAI shape, ``model`` = the route or absent), their data classes, and counts."""

    bodies: list[dict[str, Any]] = field(default_factory=list)
    classes: list[frozenset[str]] = field(default_factory=list)
    requests: int = 0  # distinct recorded chat requests with a raw body
    mapped: Counter = field(default_factory=Counter)  # wire format -> replayed count
    skipped: Counter = field(default_factory=Counter)  # reason -> count
    without_raw: int = 0  # chat requests on the ledger whose raw body was not kept
    other_features: Counter = field(default_factory=Counter)  # partner calls of features other than chat

    def summary(self) -> dict[str, Any]:
        return {"requests": self.requests, "replayed": len(self.bodies), "formats": dict(self.mapped),
                "skipped": dict(self.skipped), "without_raw_body": self.without_raw,
                "other_features": dict(self.other_features), "pseudonymised": True}


class _Skip(Exception):
    """A recorded body that cannot be replayed as a chat request; the message is the reason counted."""


# ------------------------------------------------------------------ wire formats back to OpenAI chat


def _texts(parts: Any, key: str, kind: str) -> str:
    """The text of content parts that are text only; ``_Skip`` otherwise."""
    out = []
    for p in parts or ():
        if not isinstance(p, dict):
            raise _Skip(f"{kind}: malformed content")
        if key == "type":
            if p.get("type") != "text":
                raise _Skip(f"{kind}: {p.get('type')} content")
            out.append(str(p.get("text", "")))
        else:
            if set(p) - {"text", "thought"}:
                raise _Skip(f"{kind}: {next(iter(sorted(set(p) - {'text', 'thought'})))} content")
            out.append(str(p.get("text", "")))
    return "".join(out)


def from_anthropic(req: dict[str, Any]) -> dict[str, Any]:
    """An Anthropic Messages request (text only) as an OpenAI chat body; ``_Skip`` if it holds more."""
    messages: list[dict[str, Any]] = []
    system = req.get("system")
    if system:
        messages.append({"role": "system",
                         "content": system if isinstance(system, str) else _texts(system, "type", "anthropic")})
    for m in req.get("messages") or ():
        content = m.get("content")
        text = content if isinstance(content, str) else _texts(content, "type", "anthropic")
        if m.get("role") not in ("user", "assistant"):
            raise _Skip(f"anthropic: role {m.get('role')!r}")
        messages.append({"role": m["role"], "content": text})
    if req.get("tools"):
        raise _Skip("anthropic: tools")
    body: dict[str, Any] = {"messages": messages}
    for src, dst in (("max_tokens", "max_tokens"), ("temperature", "temperature"), ("top_p", "top_p"),
                     ("stop_sequences", "stop")):
        if req.get(src) is not None:
            body[dst] = req[src]
    return body


def from_gemini(req: dict[str, Any]) -> dict[str, Any]:
    """A Gemini ``generateContent`` request (text only) as an OpenAI chat body; ``_Skip`` if it holds more."""
    messages: list[dict[str, Any]] = []
    system = (req.get("systemInstruction") or {}).get("parts")
    if system:
        messages.append({"role": "system", "content": _texts(system, "parts", "gemini")})
    for c in req.get("contents") or ():
        role = {"user": "user", "model": "assistant"}.get(c.get("role"))
        if role is None:
            raise _Skip(f"gemini: role {c.get('role')!r}")
        messages.append({"role": role, "content": _texts(c.get("parts"), "parts", "gemini")})
    if req.get("tools"):
        raise _Skip("gemini: tools")
    body: dict[str, Any] = {"messages": messages}
    gen = req.get("generationConfig") or {}
    for src, dst in (("temperature", "temperature"), ("topP", "top_p"), ("maxOutputTokens", "max_tokens"),
                     ("stopSequences", "stop"), ("seed", "seed"), ("candidateCount", "n")):
        if gen.get(src) is not None:
            body[dst] = gen[src]
    if gen.get("responseMimeType") == "application/json":
        body["response_format"] = {"type": "json_object"}
    return body


def _shape(raw: bytes, provider_type: str | None, vendor: str) -> tuple[str, dict[str, Any]]:
    """(wire format, OpenAI chat body) of one raw request body; ``_Skip`` when it cannot be replayed."""
    try:
        req = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise _Skip("not a JSON body") from None
    if not isinstance(req, dict):
        raise _Skip("not a JSON object")
    kind = provider_type or vendor
    if "contents" in req or kind == "gemini":
        return "gemini", from_gemini(req)
    if kind == "anthropic" or "system" in req and isinstance(req.get("messages"), list):
        return "anthropic", from_anthropic(req)
    if isinstance(req.get("messages"), list) and req["messages"]:
        return "openai", {k: v for k, v in req.items() if k not in _STRIP and k != "model"}
    raise _Skip("not a chat request")


# ------------------------------------------------------------------ reading the ledger


def _routes_by_request(core: Any, request_ids: list[str]) -> dict[str, str]:
    """request_id -> the route it was served on, from the usage table (empty if usage was not kept)."""
    U = core.t.usage
    out: dict[str, str] = {}
    try:
        with core.engine.connect() as conn:
            for i in range(0, len(request_ids), 500):
                chunk = request_ids[i:i + 500]
                for rid, route in conn.execute(select(U.c.request_id, U.c.route).where(U.c.request_id.in_(chunk))):
                    out.setdefault(rid, route)
    except Exception:  # noqa: BLE001 - no usage table (ledger.usage: false on an old database): default route
        return {}
    return out


def _raw_requests(core: Any, seqs: list[int]) -> dict[int, bytes]:
    R = core.t.raw
    out: dict[int, bytes] = {}
    with core.engine.connect() as conn:
        for i in range(0, len(seqs), 500):
            rows = conn.execute(select(R.c.seq, R.c.request).where(R.c.seq.in_(seqs[i:i + 500])))
            out.update({int(s): bytes(b) for s, b in rows if b is not None})
    return out


def _nothing(config: Config, url: str, since: float | None, chat_records: int) -> InvalidRequest:
    when = "" if since is None else " in that period"
    enable = "set `ledger: {store_raw: true}` in the config (it keeps the raw bytes sent to partners beside " \
             "the chain), serve traffic through the gateway, then drill again"
    if chat_records:
        return InvalidRequest(f"{chat_records} recorded chat request(s) on the ledger{when}, but none kept its "
                              f"raw body: {enable}; or replay a data set with --data FILE")
    raw = "" if config.ledger.store_raw else "; ledger.store_raw is off: " + enable
    return InvalidRequest(f"no chat request to a partner is recorded on the ledger at {url}{when}{raw}"
                          + ("" if raw else "; serve traffic through the gateway first") + ", or replay a data set "
                          "with --data FILE")


def recorded_requests(config: Config, *, since: float | None = None, limit: int | None = None,
                      route: str | None = None) -> Recorded:
    """The recorded chat requests to replay (the most recent ``limit``); ``InvalidRequest`` if there are none."""
    from ..ledger.egress import open_ledger_core
    from ..ledger.store import ledger_url

    url = ledger_url(config)
    core = open_ledger_core(url, create=False)
    if core is None:
        raise _nothing(config, url, since, 0)
    try:
        firsts: dict[str, list[Any]] = {}  # request_id -> its egress records, in seq order
        for rec in core.iter_records(since=since):
            if rec.shadow or rec.app == "drill":
                continue
            firsts.setdefault(rec.request_id, []).append(rec)
        out = Recorded()
        chat_ids = []
        for rid, recs in firsts.items():
            if recs[0].feature != "chat":
                out.other_features[recs[0].feature] += 1
            else:
                chat_ids.append(rid)
        raws = _raw_requests(core, [r.seq for rid in chat_ids for r in firsts[rid]])
        with_raw = [rid for rid in chat_ids if any(r.seq in raws for r in firsts[rid])]
        out.without_raw = len(chat_ids) - len(with_raw)
        if not with_raw:
            raise _nothing(config, url, since, len(chat_ids))
        if limit is not None:
            with_raw = with_raw[-limit:] if limit > 0 else []
        routes = {} if route else _routes_by_request(core, with_raw)
    finally:
        core.engine.dispose()
    out.requests = len(with_raw)
    for rid in with_raw:
        rec = next(r for r in firsts[rid] if r.seq in raws)
        p = config.providers.get(rec.provider)
        try:
            fmt, body = _shape(raws[rec.seq], p.type if p is not None else None, rec.vendor)
        except _Skip as why:
            out.skipped[str(why)] += 1
            continue
        name = route or routes.get(rid)
        if name:
            body["model"] = name
        out.bodies.append(body)
        out.classes.append(frozenset(rec.data_classes))
        out.mapped[fmt] += 1
    return out
