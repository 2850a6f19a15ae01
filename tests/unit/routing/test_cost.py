"""Cost in USD for partner (per token) and in-house (per busy second) calls, and token estimates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hybridgate.routing.budget import BudgetConfig, Budgets, MemoryBudgetStore, Usage
from hybridgate.routing.cost import (
    BUILTIN_PRICES_AS_OF,
    CostModel,
    InHouseCost,
    ModelPrice,
    PriceTable,
    estimate_tokens,
)


def test_partner_cost_from_builtin_table() -> None:
    cm = CostModel()
    assert BUILTIN_PRICES_AS_OF
    # gpt-4o-mini: 0.15 / 0.60 USD per 1M tokens
    assert cm.cost("openai", "gpt-4o-mini", 1000, 500) == pytest.approx(1000 * 0.15e-6 + 500 * 0.60e-6)
    # dated snapshots fall back to the undated name; longer names are not confused with shorter ones
    assert cm.price("openai", "gpt-4o-2024-08-06") == cm.price("openai", "gpt-4o")
    assert cm.price("openai", "gpt-4o-mini-2024-07-18") == cm.price("openai", "gpt-4o-mini")
    assert cm.price("openai", "gpt-4o-mini") != cm.price("openai", "gpt-4o")
    assert cm.price("anthropic", "claude-sonnet-4-20250514") == ModelPrice(input_per_mtok=3.0, output_per_mtok=15.0)
    # unknown: no price, cost 0
    assert cm.price("x", "no-such-model") is None
    assert cm.cost("x", "no-such-model", 10**6, 10**6) == 0.0


def test_config_overrides_builtin_and_vendor_specific_keys() -> None:
    table = PriceTable.model_validate({"models": {
        "gpt-4o-mini": {"input_per_mtok": 1.0, "output_per_mtok": 2.0},
        "azure/gpt-4o-mini": {"input_per_mtok": 1.5, "output_per_mtok": 2.5, "per_request": 0.01},
    }})
    cm = CostModel(table)
    assert cm.cost("openai", "gpt-4o-mini", 10**6, 10**6) == pytest.approx(3.0)
    assert cm.cost("my-azure", "gpt-4o-mini", 10**6, 10**6, vendor="azure") == pytest.approx(4.01)
    assert CostModel(PriceTable(builtin=False)).price("openai", "gpt-4o-mini") is None


def test_in_house_cost_prorated_by_busy_time() -> None:
    table = PriceTable.model_validate({"in_house": {
        "llama": {"usd_per_hour": 3.6, "concurrency": 4},
        "llama-half-idle": {"usd_per_hour": 3.6, "concurrency": 4, "utilisation": 0.5},
    }})
    cm = CostModel(table)
    # 2 busy seconds on a 3.60 USD/h fleet with 4 slots: 2 * 3.6 / 3600 / 4
    assert cm.cost("llama", "llama-3.1-8b", 1000, 500, busy_seconds=2.0, in_house=True) == pytest.approx(0.0005)
    assert cm.cost("llama-half-idle", "m", busy_seconds=2.0, in_house=True) == pytest.approx(0.001)
    # a fleet fully busy for an hour bills exactly its hourly price across its slots
    fleet = InHouseCost(usd_per_hour=3.6, concurrency=4)
    assert sum(fleet.cost(3600.0) for _ in range(4)) == pytest.approx(3.6)
    # the same call on a partner, in the same currency
    partner = cm.cost("openai", "gpt-4o", 1000, 500)
    assert partner == pytest.approx(1000 * 2.5e-6 + 500 * 10e-6)
    assert partner > cm.cost("llama", "llama-3.1-8b", 1000, 500, busy_seconds=2.0, in_house=True)
    # an in-house provider without a fleet entry is priced by model, if known, else 0
    assert cm.cost("other", "gpt-4o-mini", 10**6, 0, busy_seconds=9.0, in_house=True) == pytest.approx(0.15)
    assert cm.cost("other", "llama-3.1-8b", 10**6, 0, busy_seconds=9.0, in_house=True) == 0.0


def test_litellm_cost_map_file(tmp_path: Path) -> None:
    path = tmp_path / "model_prices.json"
    path.write_text(json.dumps({
        "sample_spec": {"input_cost_per_token": 1},
        "gpt-4o-mini": {"input_cost_per_token": 2e-7, "output_cost_per_token": 8e-7, "litellm_provider": "openai"},
        "gemini/gemini-9": {"input_cost_per_token": 1e-6, "output_cost_per_token": 3e-6},
        "dall-e": {"output_cost_per_pixel": 1e-8},
    }))
    cm = CostModel(PriceTable(litellm_cost_map=str(path)))
    assert cm.cost("openai", "gpt-4o-mini", 10**6, 10**6) == pytest.approx(1.0)  # the map beats the built-in table
    assert cm.cost("gemini", "gemini-9", 10**6, 0) == pytest.approx(1.0)  # found under vendor/model
    assert cm.price("openai", "dall-e") is None
    # config still beats the map
    cm2 = CostModel(PriceTable(litellm_cost_map=str(path), models={"gpt-4o-mini": ModelPrice(input_per_mtok=9)}))
    assert cm2.cost("openai", "gpt-4o-mini", 10**6, 0) == pytest.approx(9.0)


def test_estimate_tokens() -> None:
    body = {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello there!"}]}
    prompt, completion = estimate_tokens(body, default_max_tokens=256)
    assert prompt == 3 + (4 + 3) + (4 + 3)  # "Be brief." 9 bytes, "Hello there!" 12 bytes, /4 rounded up
    assert completion == 256
    assert estimate_tokens({**body, "max_tokens": 50})[1] == 50
    assert estimate_tokens({**body, "max_tokens": 50, "max_completion_tokens": 70, "n": 2})[1] == 140
    # non-Latin text is counted by UTF-8 bytes: conservative
    assert estimate_tokens({"messages": [{"role": "user", "content": "日本語です"}]})[0] == 3 + 4 + 4
    parts = [{"type": "text", "text": "describe"}, {"type": "image_url", "image_url": {"url": "data:..."}}]
    assert estimate_tokens({"messages": [{"role": "user", "content": parts}]})[0] == 3 + 4 + 2 + 765
    tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    assert estimate_tokens({**body, "tools": tools})[0] > prompt
    # embeddings / moderation: input only, no completion
    assert estimate_tokens({"input": ["abcd", "abcdefgh"]}) == (3, 0)
    assert estimate_tokens({"input": [[1, 2, 3], [4]]}) == (4, 0)
    assert estimate_tokens({"prompt": "abcd", "max_tokens": 5}) == (1, 5)


async def test_estimate_reserve_settle_with_cost() -> None:
    """The wiring the gateway does: estimate -> reserve -> call -> settle with the actual cost."""
    cm = CostModel()
    budgets = Budgets(BudgetConfig.model_validate({"apps": {"a": {"tokens_per_min": 10_000, "usd_per_day": 0.02}}}),
                      MemoryBudgetStore())
    body = {"messages": [{"role": "user", "content": "x" * 400}], "max_tokens": 1000}
    p, c = estimate_tokens(body)
    est = Usage(tokens=p + c, usd=cm.cost("openai", "gpt-4o", p, c))
    assert est.usd == pytest.approx(107 * 2.5e-6 + 1000 * 10e-6)
    async with budgets.hold("a", "chat", est) as h:
        h.record(Usage(tokens=100 + 20, usd=cm.cost("openai", "gpt-4o", 100, 20)))
    used = await budgets.current("a", "chat")
    assert used["a tokens_per_min"] == (120, 10_000)
    assert used["a usd_per_day"][0] == pytest.approx(100 * 2.5e-6 + 20 * 10e-6, abs=1e-9)
