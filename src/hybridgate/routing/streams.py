"""Small transformations of chat-stream batches (lists of ``chat.completion.chunk`` dicts)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

__all__ = ["without_usage"]


async def without_usage(batches: AsyncIterator[list[dict[str, Any]]]) -> AsyncIterator[list[dict[str, Any]]]:
    """The stream without what ``stream_options.include_usage`` added: the final usage-only chunk and the
    ``usage`` key of the others (for a client that did not ask for usage). Never yields an empty batch."""
    try:
        async for batch in batches:
            kept = []
            for chunk in batch:
                if "usage" in chunk:
                    if not chunk.get("choices"):
                        continue
                    del chunk["usage"]
                kept.append(chunk)
            if kept:
                yield kept
    finally:
        await batches.aclose()  # type: ignore[attr-defined]
