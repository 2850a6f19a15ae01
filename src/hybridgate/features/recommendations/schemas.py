"""Request bodies of the recommendations endpoints, and their conversion to stored rows.

Ids may be sent as strings or integers and are stored and returned as strings. Timestamps are Unix
seconds or ISO-8601 strings (default: now). A bad body is a 422 ``validation_error`` naming the field.
"""

from __future__ import annotations

import math
import time
from datetime import datetime, timezone
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from ...errors import ValidationFailed
from .store import EventRow, ItemRow

__all__ = ["EVENT_TYPES", "EventIn", "ItemIn", "RecommendIn", "event_rows", "item_rows", "validate"]

EVENT_TYPES = ("view", "like", "share", "comment", "hide")
M = TypeVar("M", bound=BaseModel)


def _as_id(v: Any) -> str:
    if isinstance(v, bool) or not isinstance(v, (str, int)):
        raise ValueError("an id must be a string or an integer")
    s = str(v).strip()
    if not s or len(s) > 256:
        raise ValueError("an id must have 1 to 256 characters")
    return s


Id = Annotated[str, BeforeValidator(_as_id)]
Scalar = str | int | float | bool


_MAX_TS = 253402300799.0  # 9999-12-31T23:59:59Z; later stamps overflow the int64 seconds the model keeps


def _timestamp(v: Any) -> float | None:
    if v is None:
        return None
    if isinstance(v, bool):
        raise ValueError("timestamp must be Unix seconds or an ISO-8601 string")
    if isinstance(v, (int, float)):
        ts = float(v)
    elif isinstance(v, str):
        try:
            dt = datetime.fromisoformat(v.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError("timestamp must be Unix seconds or an ISO-8601 string") from None
        ts = (dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)).timestamp()
    else:
        raise ValueError("timestamp must be Unix seconds or an ISO-8601 string")
    if not (math.isfinite(ts) and 0 <= ts <= _MAX_TS):
        raise ValueError("timestamp must be between 1970-01-01 and 9999-12-31 (0 to 253402300799 seconds)")
    return ts


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EventIn(_Body):
    user: Id
    item: Id
    type: Literal["view", "like", "share", "comment", "hide"] = "view"
    weight: float | None = Field(None, gt=0, allow_inf_nan=False)
    timestamp: Annotated[float | None, BeforeValidator(_timestamp)] = None


class EventsIn(_Body):
    events: list[EventIn] = Field(min_length=1)


class ItemIn(_Body):
    id: Id
    title: str | None = Field(None, max_length=2000)
    caption: str | None = Field(None, max_length=20000)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("metadata")
    @classmethod
    def _small_keys(cls, v: dict[str, Any]) -> dict[str, Any]:
        if any(not k or len(k) > 100 for k in v):
            raise ValueError("metadata keys must have 1 to 100 characters")
        return v


class ItemsIn(_Body):
    items: list[ItemIn] = Field(min_length=1)


class RecommendIn(_Body):
    user: Id | None = None
    k: int = Field(10, ge=1)
    candidates: list[Id] | None = Field(None, max_length=100_000)
    exclude_seen: bool = True
    exclude: list[Id] = Field(default_factory=list, max_length=100_000)
    filters: dict[str, Scalar | list[Scalar]] | None = None
    session: list[Id] | None = Field(None, max_length=1000, description="item ids of the current session")
    rerank: bool | None = None


def validate(schema: type[M], data: Any, prefix: str = "") -> M:
    """``schema.model_validate(data)``, or ValidationFailed naming the first bad field."""
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        loc = ".".join(str(p) for p in (*([prefix] if prefix else []), *first["loc"])) or "body"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ValidationFailed(f"{loc}: {first['msg']}{more}", param=loc) from None


def _one_or_batch(data: dict[str, Any], key: str, marker: str, max_batch: int) -> list[Any]:
    if key in data:
        rows = data[key]
        if set(data) - {key}:
            raise ValidationFailed(f"a batch body has only '{key}'; got also {sorted(set(data) - {key})}")
        if not isinstance(rows, list) or not rows:
            raise ValidationFailed(f"{key}: must be a non-empty list", param=key)
        if len(rows) > max_batch:
            raise ValidationFailed(f"{key}: at most {max_batch} per request, got {len(rows)}", param=key)
        return rows
    if marker not in data:
        raise ValidationFailed(f"expected one object with '{marker}' or a batch {{\"{key}\": [...]}}")
    return [data]


def event_rows(data: dict[str, Any], max_batch: int, now: float | None = None) -> list[EventRow]:
    """The events of a POST /v1/events body (one event or ``{"events": [...]}``)."""
    raw = _one_or_batch(data, "events", "user", max_batch)
    now = time.time() if now is None else now
    out = []
    for n, obj in enumerate(raw):
        e = validate(EventIn, obj, f"events.{n}" if "events" in data else "")
        out.append(EventRow(e.user, e.item, e.type, e.weight, e.timestamp if e.timestamp is not None else now))
    return out


def item_rows(data: dict[str, Any], max_batch: int) -> list[ItemRow]:
    """The items of a POST /v1/items body (one item or ``{"items": [...]}``)."""
    raw = _one_or_batch(data, "items", "id", max_batch)
    out = []
    for n, obj in enumerate(raw):
        it = validate(ItemIn, obj, f"items.{n}" if "items" in data else "")
        out.append(ItemRow(it.id, it.title, it.caption, it.metadata))
    return out
