"""Reading eval data files with errors that name the file and the line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from ...errors import InvalidRequest

__all__ = ["read_jsonl"]


def read_jsonl(path: Path, check: Callable[[dict[str, Any]], str | None], limit: int | None = None) -> list[dict]:
    """Objects of a JSONL file; ``check(obj)`` returns a complaint or None. Blank lines are skipped."""
    out: list[dict[str, Any]] = []
    try:
        handle = Path(path).open("rb")
    except OSError as exc:
        raise InvalidRequest(f"{path}: cannot read ({exc.strerror or exc})") from None
    with handle:
        for lineno, raw in enumerate(handle, 1):
            if not raw.strip():
                continue
            try:
                obj = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise InvalidRequest(f"{path}:{lineno}: not JSON ({exc})") from None
            problem = check(obj) if isinstance(obj, dict) else "expected a JSON object"
            if problem:
                raise InvalidRequest(f"{path}:{lineno}: {problem}")
            out.append(obj)
            if limit is not None and len(out) >= limit:
                break
    return out
