"""Record types of the egress ledger and the usage store, and the canonical hashing.

An ``EgressRecord`` describes one call that left for a partner; a ``UsageRecord`` one
served request. The chain hash of an egress record is

    SHA-256( canonical_json( all fields except ``hash`` ) )

where ``canonical_json`` is UTF-8 JSON with sorted keys, no whitespace, non-ASCII kept
as is and floats in their shortest round-trip form (what ``orjson`` writes). The fields
include ``v`` (schema version), ``seq`` and ``prev_hash``, so any edit, deletion,
insertion or reordering changes a hash somewhere along the chain.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson

__all__ = [
    "GENESIS_HASH",
    "RECORD_VERSION",
    "EgressRecord",
    "UsageRecord",
    "canonical_json",
    "chain_hash",
    "egress_record",
    "parse_since",
    "sha256_hex",
    "usage_record",
]

GENESIS_HASH = "0" * 64
_HEX64 = re.compile(r"[0-9a-f]{64}")
RECORD_VERSION = 1

# the fields covered by the chain hash, in the order exports list them
HASHED_FIELDS: tuple[str, ...] = (
    "v", "seq", "rid", "ts", "request_id", "app", "feature", "provider", "vendor", "model", "policy_version",
    "data_classes", "pii_counts", "sent_sha256", "mapping_sha256", "response_sha256", "prompt_tokens",
    "completion_tokens", "cost_usd", "shadow", "error", "extra", "prev_hash",
)


def canonical_json(obj: Any) -> bytes:
    """Sorted-key, compact UTF-8 JSON: the byte form every hash is computed over."""
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)


def sha256_hex(data: bytes | str | None) -> str | None:
    """Hex SHA-256 of bytes (a ``str`` is encoded as UTF-8); ``None`` stays ``None``."""
    if data is None:
        return None
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True)
class EgressRecord:
    """One call that left for a partner. ``seq``, ``prev_hash`` and ``hash`` are set by the ledger."""

    request_id: str
    app: str
    feature: str
    provider: str
    vendor: str
    model: str
    policy_version: str
    sent_sha256: str
    data_classes: tuple[str, ...] = ()
    pii_counts: Mapping[str, int] = field(default_factory=dict)
    mapping_sha256: str | None = None
    response_sha256: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    shadow: bool = False
    error: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    ts: float = field(default_factory=lambda: round(time.time(), 6))
    rid: str = field(default_factory=lambda: secrets.token_hex(16))
    v: int = RECORD_VERSION
    seq: int | None = None
    prev_hash: str | None = None
    hash: str | None = None
    # raw bytes: stored beside the chain (not hashed into it) and only when the ledger's store_raw is on
    raw_request: bytes | None = field(default=None, repr=False, compare=False)
    raw_response: bytes | None = field(default=None, repr=False, compare=False)

    def hashed_fields(self) -> dict[str, Any]:
        """The fields the chain hash covers, normalised to their stored JSON shape."""
        return {
            "v": self.v, "seq": self.seq, "rid": self.rid, "ts": float(self.ts), "request_id": self.request_id,
            "app": self.app, "feature": self.feature, "provider": self.provider, "vendor": self.vendor,
            "model": self.model, "policy_version": self.policy_version,
            "data_classes": sorted(self.data_classes), "pii_counts": {k: int(v) for k, v in self.pii_counts.items()},
            "sent_sha256": self.sent_sha256, "mapping_sha256": self.mapping_sha256,
            "response_sha256": self.response_sha256, "prompt_tokens": int(self.prompt_tokens),
            "completion_tokens": int(self.completion_tokens), "cost_usd": float(self.cost_usd),
            "shadow": bool(self.shadow), "error": self.error, "extra": dict(self.extra), "prev_hash": self.prev_hash,
        }

    def validate(self) -> None:
        """Raise ``ValueError`` naming the field if the record could not be stored and hashed as is
        (checked in ``append``, so one bad record never fails the batch it would have joined)."""
        for name in ("request_id", "app", "feature", "provider", "vendor", "model", "policy_version", "rid"):
            if not isinstance(getattr(self, name), str):
                raise ValueError(f"egress record: {name} must be a string, got {type(getattr(self, name)).__name__}")
        if not 0 < len(self.rid) <= 64:
            raise ValueError("egress record: rid must have 1 to 64 characters")
        for name in ("sent_sha256", "mapping_sha256", "response_sha256"):
            v = getattr(self, name)
            if v is not None and not (isinstance(v, str) and (v == "" or _HEX64.fullmatch(v))):
                raise ValueError(f"egress record: {name} must be a hex SHA-256 (64 characters) or None")
        for name in ("prompt_tokens", "completion_tokens"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise ValueError(f"egress record: {name} must be a non-negative int")
        if not isinstance(self.ts, (int, float)) or not math.isfinite(self.ts):
            raise ValueError("egress record: ts must be a finite number")
        if not isinstance(self.cost_usd, (int, float)) or not math.isfinite(self.cost_usd):
            raise ValueError("egress record: cost_usd must be a finite number")
        if self.error is not None and not isinstance(self.error, str):
            raise ValueError("egress record: error must be a string or None")
        if not all(isinstance(c, str) for c in self.data_classes):
            raise ValueError("egress record: data_classes must be strings")
        if not all(isinstance(k, str) and isinstance(v, int) for k, v in dict(self.pii_counts).items()):
            raise ValueError("egress record: pii_counts must map entity type (str) to a count (int)")
        try:
            canonical_json(dict(self.extra))
        except TypeError as exc:
            raise ValueError(f"egress record: extra must be JSON-serialisable ({exc})") from None

    def chained(self, seq: int, prev_hash: str) -> EgressRecord:
        """A copy placed at ``seq`` after ``prev_hash``, with its own hash computed."""
        placed = dataclasses.replace(self, seq=None, prev_hash=None, hash=None)
        placed.place(seq, prev_hash)
        return placed

    def place(self, seq: int, prev_hash: str) -> dict[str, Any]:
        """Set ``seq``, ``prev_hash`` and ``hash`` on this record (the ledger's writer does this once,
        before the record is visible to anyone else); return the hashed fields plus ``hash``."""
        fields = self.hashed_fields()
        fields["seq"] = seq
        fields["prev_hash"] = prev_hash
        h = chain_hash(fields)
        object.__setattr__(self, "seq", seq)
        object.__setattr__(self, "prev_hash", prev_hash)
        object.__setattr__(self, "hash", h)
        fields["hash"] = h
        return fields

    def to_dict(self) -> dict[str, Any]:
        """The record as exported: every hashed field plus ``hash``."""
        d = self.hashed_fields()
        d["hash"] = self.hash
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EgressRecord:
        """Rebuild a record from ``to_dict`` output (unknown keys are ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        if "data_classes" in kw:
            kw["data_classes"] = tuple(kw["data_classes"])
        return cls(**kw)


def chain_hash(fields: Mapping[str, Any]) -> str:
    """SHA-256 hex of the canonical JSON of ``fields`` (which include ``seq`` and ``prev_hash``)."""
    return hashlib.sha256(canonical_json(fields)).hexdigest()


def egress_record(
    *,
    request_id: str,
    app: str,
    feature: str,
    provider: str,
    model: str,
    sent: bytes | str,
    vendor: str | None = None,
    policy_version: str = "",
    data_classes: frozenset[str] | set[str] | list[str] | tuple[str, ...] = (),
    pii_counts: Mapping[str, int] | None = None,
    mapping: Mapping[str, str] | None = None,
    response: bytes | str | None = None,
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
    cost_usd: float = 0.0,
    shadow: bool = False,
    error: str | None = None,
    extra: Mapping[str, Any] | None = None,
    ts: float | None = None,
) -> EgressRecord:
    """Build an egress record from the exact bytes sent and received.

    ``mapping`` is the pseudonymisation table (placeholder -> original); only its hash is
    kept. The raw bytes ride along for ``store_raw`` ledgers and are otherwise dropped.
    """
    sent_b = sent.encode("utf-8") if isinstance(sent, str) else bytes(sent)
    resp_b = response.encode("utf-8") if isinstance(response, str) else response
    return EgressRecord(
        request_id=request_id, app=app, feature=feature, provider=provider, vendor=vendor or provider,
        model=model, policy_version=policy_version, sent_sha256=sha256_hex(sent_b),  # type: ignore[arg-type]
        data_classes=tuple(sorted(data_classes)), pii_counts=dict(pii_counts or {}),
        mapping_sha256=sha256_hex(canonical_json(dict(mapping))) if mapping else None,
        response_sha256=sha256_hex(resp_b), prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
        cost_usd=cost_usd, shadow=shadow, error=error, extra=dict(extra or {}),
        ts=round(time.time(), 6) if ts is None else ts, raw_request=sent_b, raw_response=resp_b,
    )


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """One served request (in-house or partner, success or error)."""

    request_id: str
    app: str
    feature: str
    route: str
    provider: str | None
    model: str | None
    in_house: bool
    status: int
    latency_ms: float
    vendor: str | None = None
    policy_version: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    error: str | None = None
    busy_seconds: float = 0.0
    ts: float = field(default_factory=time.time)
    # request-level facts as canonical JSON, e.g. {"creative_template": "caption@3+1a2b3c4d"}; "" when none
    extra: str = ""

    @property
    def is_error(self) -> bool:
        return self.error is not None or self.status >= 400

    def to_dict(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in _USAGE_FIELDS}


_USAGE_FIELDS = tuple(f.name for f in dataclasses.fields(UsageRecord))


def usage_record(ctx: Any, *, status: int, latency_ms: float, error: str | None = None, cost_usd: float = 0.0,
                 busy_seconds: float = 0.0, vendor: str | None = None) -> UsageRecord:
    """A usage record from a finished ``RequestContext`` (provider, model and tokens of the serving attempt)."""
    served = ctx.served_by
    last = served or (ctx.attempts[-1] if ctx.attempts else None)
    return UsageRecord(
        request_id=ctx.request_id, app=ctx.app, feature=ctx.feature, route=ctx.route,
        provider=last.provider if last else None, model=last.model if last else None,
        in_house=bool(last.in_house) if last else False, status=status, latency_ms=latency_ms,
        vendor=vendor, policy_version=ctx.policy_version,
        # every call that reached a provider used tokens (repairs, retries, fallbacks), not just the served one
        prompt_tokens=sum(a.prompt_tokens for a in ctx.attempts if a.network),
        completion_tokens=sum(a.completion_tokens for a in ctx.attempts if a.network),
        cost_usd=cost_usd, error=error, busy_seconds=busy_seconds,
        extra=canonical_json(ctx.extra).decode() if getattr(ctx, "extra", None) else "",
    )


_REL_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(value: str | float | int | datetime | None, *, now: float | None = None) -> float | None:
    """A point in time as Unix seconds from ``24h``/``7d``/``30m`` (ago), ISO-8601 or a Unix number.

    Naive ISO times are taken as UTC. Raises ``ValueError`` on anything else.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp()
    if isinstance(value, (int, float)):
        return float(value)
    m = _REL_RE.match(value)
    if m:
        return (time.time() if now is None else now) - float(m.group(1)) * _UNIT[m.group(2)]
    try:
        return float(value)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not a time: {value!r}; expected e.g. 24h, 7d, 2025-01-31, 2025-01-31T12:00:00Z "
                         "or Unix seconds") from None
    return (dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)).timestamp()


def day_of(ts: float) -> str:
    """The UTC calendar day of a Unix time, ``YYYY-MM-DD``."""
    return (datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=ts)).strftime("%Y-%m-%d")
