"""Cost of a call in USD, partner and in-house alike, so both compare in one currency.

Partner (priced per token): ``prompt_tokens * input / 1e6 + completion_tokens * output / 1e6
+ per_request`` with prices in USD per 1M tokens from, in this order: the config's ``prices.models``
(keys ``model`` or ``vendor/model``), LiteLLM's bundled cost map (only if the ``litellm`` package
is installed; its JSON file is read without importing litellm, and nothing is fetched), then the
built-in table below. A dated model name (``gpt-4o-2024-08-06``, ``claude-sonnet-4-20250514``)
falls back to its undated name.

In-house (priced by time): a fleet costs ``usd_per_hour`` and serves up to ``concurrency``
requests at once (e.g. a vLLM server's typical batch). A call that kept the fleet busy for
``busy_seconds`` (wall time from sending the request to its last byte) costs

    busy_seconds * usd_per_hour / 3600 / (concurrency * utilisation)

``utilisation`` (0..1], default 1, is the fleet's average occupancy: at 1 a request pays only its
own slot-time (idle time goes unpaid); set it to the measured average so that the requests served
carry the idle time too and the costs add up to the fleet's bill. An in-house provider with no
fleet entry falls back to a model price, if any.

Unknown prices cost 0.0; ``CostModel.price`` returns ``None`` for them so callers can warn.
``estimate_tokens`` gives the token counts to reserve before a call (see ``budget``).
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from collections.abc import Callable
from typing import Any

from ..config import InHouseCost, ModelPrice, PriceTable

__all__ = ["BUILTIN_PRICES", "BUILTIN_PRICES_AS_OF", "CostModel", "InHouseCost", "ModelPrice", "PriceTable",
           "estimate_tokens"]


# List prices in USD per 1M tokens (input, output), standard tier, no caching/batch discounts.
# A convenience snapshot: check the vendors' pages and override in `prices.models` for billing.
BUILTIN_PRICES_AS_OF = "2025-08"
BUILTIN_PRICES: dict[str, tuple[float, float]] = {
    # OpenAI
    "gpt-5": (1.25, 10.0),
    "gpt-5-mini": (0.25, 2.0),
    "gpt-5-nano": (0.05, 0.40),
    "gpt-4.1": (2.0, 8.0),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4o": (2.50, 10.0),
    "gpt-4o-mini": (0.15, 0.60),
    "o3": (2.0, 8.0),
    "o4-mini": (1.10, 4.40),
    "text-embedding-3-small": (0.02, 0.0),
    "text-embedding-3-large": (0.13, 0.0),
    "omni-moderation-latest": (0.0, 0.0),
    # Google Gemini (prompts up to 200k tokens)
    "gemini-2.5-pro": (1.25, 10.0),
    "gemini-2.5-flash": (0.30, 2.50),
    "gemini-2.5-flash-lite": (0.10, 0.40),
    "gemini-2.0-flash": (0.10, 0.40),
    # Anthropic
    "claude-opus-4-1": (15.0, 75.0),
    "claude-opus-4": (15.0, 75.0),
    "claude-sonnet-4": (3.0, 15.0),
    "claude-3-7-sonnet": (3.0, 15.0),
    "claude-3-5-haiku": (0.80, 4.0),
}

_DATED = re.compile(r"(?:-\d{4}-\d{2}-\d{2}|-\d{8}|@\d{8}|-latest|-preview(?:-\d{2}-\d{4})?|-\d{3})$")


def _undated(model: str) -> str | None:
    stripped = _DATED.sub("", model)
    return stripped if stripped != model else None


def _builtin() -> dict[str, tuple[float, float]]:
    return BUILTIN_PRICES


def _litellm_map_path() -> Path | None:
    """LiteLLM's bundled cost map, located without importing litellm (its import is slow and may
    fetch the map over the network)."""
    try:
        spec = importlib.util.find_spec("litellm")
    except (ImportError, ValueError):
        return None
    for loc in (spec.submodule_search_locations or []) if spec else []:
        p = Path(loc) / "model_prices_and_context_window_backup.json"
        if p.is_file():
            return p
    return None


def _load_litellm(path: Path) -> dict[str, ModelPrice]:
    out = {}
    for name, row in json.loads(path.read_text()).items():
        if not isinstance(row, dict) or name == "sample_spec":
            continue
        i, o = row.get("input_cost_per_token"), row.get("output_cost_per_token")
        if isinstance(i, (int, float)) or isinstance(o, (int, float)):
            out[name] = ModelPrice(input_per_mtok=float(i or 0) * 1e6, output_per_mtok=float(o or 0) * 1e6,
                                   per_request=float(row.get("input_cost_per_request") or 0))
    return out


class CostModel:
    """Looks up prices and computes the USD cost of one call. Files are read lazily, once."""

    def __init__(self, table: PriceTable | None = None) -> None:
        self.table = table or PriceTable()
        self._litellm: dict[str, ModelPrice] | None = None
        self._cache: dict[tuple[str, str, bool], ModelPrice | InHouseCost | None] = {}

    def _litellm_prices(self) -> dict[str, ModelPrice]:
        if self._litellm is None:
            path = Path(self.table.litellm_cost_map) if self.table.litellm_cost_map else (
                _litellm_map_path() if self.table.litellm else None)
            self._litellm = _load_litellm(path) if path is not None else {}
        return self._litellm

    def _model_price(self, vendor: str, model: str) -> ModelPrice | None:
        names = [f"{vendor}/{model}", model] if vendor else [model]
        undated = _undated(model)
        if undated:
            names += [f"{vendor}/{undated}", undated] if vendor else [undated]
        sources: list[Callable[[], dict[str, Any]]] = [lambda: self.table.models]
        if self.table.litellm or self.table.litellm_cost_map:
            sources.append(self._litellm_prices)
        if self.table.builtin:
            sources.append(_builtin)
        for src in sources:
            table = src()
            for n in names:
                if n in table:
                    p = table[n]
                    return p if isinstance(p, ModelPrice) else ModelPrice(input_per_mtok=p[0], output_per_mtok=p[1])
        return None

    def price(self, provider: str, model: str, *, vendor: str = "",
              in_house: bool = False) -> ModelPrice | InHouseCost | None:
        """The price that applies: the provider's fleet if in-house and configured, else the model's."""
        key = (f"{provider}|{vendor}", model, in_house)
        if key not in self._cache:
            fleet = self.table.in_house.get(provider) if in_house else None
            self._cache[key] = fleet if fleet is not None else self._model_price(vendor or provider, model)
        return self._cache[key]

    def cost(self, provider: str, model: str, prompt_tokens: int = 0, completion_tokens: int = 0, *,
             busy_seconds: float = 0.0, in_house: bool = False, vendor: str = "") -> float:
        """USD for one call; 0.0 when no price is known (see ``price``)."""
        p = self.price(provider, model, vendor=vendor, in_house=in_house)
        if p is None:
            return 0.0
        if isinstance(p, InHouseCost):
            return p.cost(busy_seconds)
        return p.cost(prompt_tokens, completion_tokens)


# --------------------------------------------------------------------------- estimates

IMAGE_TOKENS = 765  # an OpenAI high-detail 1024x1024 image; a deliberate over-estimate for small ones


def _text_tokens(text: str) -> int:
    """~4 bytes of UTF-8 per token: right for English, conservative for most other scripts."""
    return -(-len(text.encode("utf-8", "surrogatepass")) // 4)


def _dump(obj: Any) -> str:
    return json.dumps(obj, default=str, ensure_ascii=False)


def _content_tokens(content: Any) -> int:
    if content is None:
        return 0
    if isinstance(content, str):
        return _text_tokens(content)
    if isinstance(content, list):
        n = 0
        for part in content:
            if isinstance(part, dict) and part.get("type") == "text":
                n += _text_tokens(str(part.get("text") or ""))
            elif isinstance(part, dict) and part.get("type") == "image_url":
                n += IMAGE_TOKENS
            elif isinstance(part, int):
                n += 1  # a token id
            else:
                n += _content_tokens(part if isinstance(part, (str, list)) else repr(part))
        return n
    return _text_tokens(repr(content))


def estimate_tokens(body: dict[str, Any], default_max_tokens: int = 1024) -> tuple[int, int]:
    """(prompt tokens, completion tokens) to reserve for an OpenAI-shaped request body.

    Prompt: UTF-8 bytes / 4 of every text (messages, tools) + 4 per message + 3, images 765;
    legacy ``prompt`` and embeddings/moderation ``input`` likewise (token-id arrays count one
    per id). Completion: ``max_completion_tokens`` or ``max_tokens`` (else ``default_max_tokens``)
    times ``n``; 0 for ``input`` (embeddings, moderation)."""
    messages = body.get("messages")
    if isinstance(messages, list):
        prompt = 3
        for m in messages:
            if not isinstance(m, dict):
                continue
            prompt += 4 + _content_tokens(m.get("content"))
            if m.get("tool_calls"):
                prompt += _text_tokens(_dump(m["tool_calls"]))
        for extra in ("tools", "functions", "response_format"):
            if body.get(extra):
                prompt += _text_tokens(_dump(body[extra]))
    elif "prompt" in body:  # legacy completions
        prompt = _content_tokens(body["prompt"])
    else:  # embeddings, moderation: no completion
        return _content_tokens(body.get("input")), 0
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    completion = int(limit) if isinstance(limit, (int, float)) and limit > 0 else default_max_tokens
    n = body.get("n")
    return prompt, completion * (n if isinstance(n, int) and n > 1 else 1)
