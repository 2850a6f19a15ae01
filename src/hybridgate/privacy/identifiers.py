"""End-user identifiers on their way to a partner: a keyed hash instead of the value the app put there.

Apps name their end users in request fields the PII scan does not read (and should not: it reads short ids
such as "u-1234" as phone numbers). Before a request leaves for a partner, these fields are rewritten:

* ``user``, ``safety_identifier``, ``prompt_cache_key`` (OpenAI's end-user id, its successor, and the cache
  key OpenAI says replaces it; Anthropic's adapter sends ``safety_identifier``, or else ``user``, as
  ``metadata.user_id``);
* the string values of ``metadata`` (its keys pass as they are);
* ``messages[].name`` of system, developer, user and assistant turns (the participant's name; the ``name``
  of a deprecated ``function`` turn is a function's name and is left alone).

Each non-empty string becomes ``"hg-" + 32 hex digits of HMAC-SHA256(key, app + "\\0" + value)``: the same
value of the same app gives the same token in every request and after restarts (vendors use the id for abuse
tracking), another app gets another token, and without the key it cannot be reversed or recomputed.
Without a key (``data_control.user_id_key``) these fields are dropped instead (fail closed) and a warning
is logged at the first drop, then at most once an hour.

``IdentifierGuard`` is the provider wrapper that does this for partner providers (in-house providers get
the fields unchanged) and notes which fields it hashed or dropped in the egress record (``extra.user_ids``,
field names only, never values).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import replace
from typing import Any

from ..context import RequestContext
from ..providers import Provider
from ..providers.wrapper import CallWrapper

__all__ = ["IDENTIFIER_FIELDS", "IdentifierGuard", "IdentifierHasher", "scrub_identifiers"]

log = logging.getLogger("hybridgate.privacy")

IDENTIFIER_FIELDS = ("user", "safety_identifier", "prompt_cache_key")
_PARTICIPANT_ROLES = frozenset({"system", "developer", "user", "assistant"})
_PREFIX = "hg-"


class IdentifierHasher:
    """The keyed hash of end-user ids, or (no key) the decision to drop them, with its rate-limited warning.

    One per gateway, shared by its partner providers."""

    def __init__(self, key: str | bytes | None, *, warn_every_s: float = 3600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._key = key.encode("utf-8") if isinstance(key, str) else key
        self._warn_every_s, self._clock = warn_every_s, clock
        self._next_warning: float | None = None
        self._unwarned = 0  # partner calls whose ids were dropped since the last warning

    @property
    def keyed(self) -> bool:
        return bool(self._key)

    def token(self, app: str, value: str) -> str:
        """``hg-`` and the first 32 hex digits of HMAC-SHA256(key, app NUL value)."""
        if not self._key:
            raise ValueError("no user id key is configured")
        mac = hmac.new(self._key, f"{app}\0{value}".encode(), hashlib.sha256)
        return _PREFIX + mac.hexdigest()[:32]

    def dropped(self, provider: str, fields: list[str]) -> None:
        """Log that end-user ids were dropped for lack of a key: the first time, then at most once a period."""
        self._unwarned += 1
        now = self._clock()
        if self._next_warning is not None and now < self._next_warning:
            return
        self._next_warning = now + self._warn_every_s
        log.warning("end-user ids (%s) were dropped from %d call(s) to partners (last: %s): no "
                    "data_control.user_id_key is configured (HYBRIDGATE_USER_ID_KEY in the embedded default); "
                    "set one to send them as keyed hashes", ", ".join(fields), self._unwarned, provider)
        self._unwarned = 0


def scrub_identifiers(body: dict[str, Any], app: str,
                      hasher: IdentifierHasher) -> tuple[dict[str, Any], dict[str, str]]:
    """A copy of ``body`` with its end-user ids hashed (or dropped, without a key), and what was done to which
    field: ``{"user": "hashed", "messages.name": "hashed"}``; "dropped" when any value of the field was left
    out (no key, or a value that is not a string). ``body`` itself is never changed."""
    report: dict[str, str] = {}

    def rewrite(field: str, value: Any) -> str | None:  # None: leave the value out
        token = hasher.token(app, value) if hasher.keyed and isinstance(value, str) else None
        report[field] = "hashed" if token is not None and report.get(field) != "dropped" else "dropped"
        return token

    out = body
    for field in IDENTIFIER_FIELDS:
        if body.get(field) not in (None, ""):
            token = rewrite(field, body[field])
            out = {**out, field: token} if token is not None else {k: v for k, v in out.items() if k != field}
    meta = body.get("metadata")
    if isinstance(meta, dict):
        hashed = {k: v if v == "" else rewrite("metadata", v) for k, v in meta.items()}
        out = {**out, "metadata": {k: v for k, v in hashed.items() if v is not None}}
    elif meta is not None:  # not the map of strings it must be: nothing of it leaves
        rewrite("metadata", None)
        out = {k: v for k, v in out.items() if k != "metadata"}
    messages = body.get("messages")
    if isinstance(messages, list) and any(map(_named, messages)):
        renamed = []
        for m in messages:
            if _named(m):
                name = rewrite("messages.name", m["name"])
                m = {**m, "name": name} if name is not None else {k: v for k, v in m.items() if k != "name"}
            renamed.append(m)
        out = {**out, "messages": renamed}
    return out, report


def _named(message: Any) -> bool:
    return isinstance(message, dict) and message.get("role") in _PARTICIPANT_ROLES and \
        message.get("name") not in (None, "")


class IdentifierGuard(CallWrapper):
    """Wraps one partner provider: every call leaves with its end-user ids hashed or dropped
    (``scrub_identifiers``); a no-op for in-house providers."""

    def __init__(self, inner: Provider, hasher: IdentifierHasher) -> None:
        super().__init__(inner)
        self.hasher = hasher

    def _scrub(self, body: dict[str, Any], ctx: RequestContext) -> tuple[dict[str, Any], RequestContext]:
        if self.in_house:
            return body, ctx
        body, report = scrub_identifiers(body, ctx.app, self.hasher)
        if not report:
            return body, ctx
        if not self.hasher.keyed:
            self.hasher.dropped(self.name, sorted(report))
        return body, replace(ctx, egress_extra={**(ctx.egress_extra or {}), "user_ids": report})

    async def _call(self, method: str, body: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        body, ctx = self._scrub(body, ctx)
        return await getattr(self.inner, method)(body, ctx)

    async def chat_stream(self, body: dict[str, Any], ctx: RequestContext) -> AsyncIterator[list[dict[str, Any]]]:
        body, ctx = self._scrub(body, ctx)
        # closed early (the client left): the inner stream, and so its egress record, is closed now, not at GC
        async with aclosing(self.inner.chat_stream(body, ctx)) as stream:
            async for batch in stream:
                yield batch
