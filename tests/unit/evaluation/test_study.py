"""Study files (validation errors name the file and the field), provider mixes, the recommendation."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from hybridgate.errors import ConfigError
from hybridgate.evaluation.report.recommend import recommend
from hybridgate.evaluation.report.svg import Point, nice_ticks, pareto_front
from hybridgate.evaluation.study import BootstrapOptions, load_study
from hybridgate.evaluation.study_mix import build_mixes, weighted_quantiles

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "study"


def write(tmp: Path, text: str) -> Path:
    (tmp / "d.jsonl").write_text('{"text": "hi", "labels": {"flagged": 0}}\n')
    p = tmp / "study.yaml"
    p.write_text(text)
    return p


def test_example_study_loads():
    s = load_study(EXAMPLE / "study.yaml")
    assert set(s.features) == {"moderation", "pii", "translation"}
    assert s.features["translation"].providers[0].provider == "openai"
    assert s.features["translation"].providers[0].model == "gpt-4o-mini"
    assert s.features["translation"].providers[2].name == "copy-source"
    lim = s.limits("translation")
    assert lim["exposure_limit"] == 1.0 and lim["budget_usd_per_1k"] == 0.5 and lim["headline"] == ["chrf"]
    assert s.limits("pii")["headline"] == ["char_f2", "direct.span_recall"]


@pytest.mark.parametrize("body, field", [
    ("features: {moderation: {data: d.jsonl, providers: [local], floor: {metric: x}}}",
     "features.moderation.floor.min"),
    ("features: {moderation: {data: d.jsonl, providers: []}}", "features.moderation.providers"),
    ("features: {imaging: {data: d.jsonl, providers: [local]}}", "features.imaging"),
    ("exposure_limit: 2\nfeatures: {pii: {data: d.jsonl, providers: [local]}}", "exposure_limit"),
    ("features: {pii: {data: d.jsonl, providers: [{name: a}]}}", "features.pii.providers.0"),
    ("features: {pii: {data: d.jsonl, providers: [local, local]}}", "features.pii"),
    ("features: {pii: {data: missing.jsonl, providers: [local]}}", "features.pii.data"),
    ("config: nope.yaml\nfeatures: {pii: {data: d.jsonl, providers: [local]}}", "config"),
    ("colour: red\nfeatures: {pii: {data: d.jsonl, providers: [local]}}", "colour"),
    ("features: {pii: {data: d.jsonl, providers: [local]}\n", "not valid YAML"),
])
def test_bad_study_names_file_and_field(tmp_path: Path, body: str, field: str):
    path = write(tmp_path, body)
    with pytest.raises(ConfigError) as exc:
        load_study(path)
    assert str(path) in str(exc.value) and field in str(exc.value), str(exc.value)


def _score(items, preds):
    ok = [p == it for it, p in zip(items, preds) if p is not None]
    return {"acc": sum(ok) / len(ok) if ok else None}


def test_mixes_compose_predictions_cost_and_egress():
    n = 10
    items = list(range(n))
    cells = {
        "partner": {"kind": "provider", "in_house": False, "cost_usd_per_1k": 2.0, "egress_share": 0.8,
                    "error_rate": 0.0, "latency_samples_ms": [100.0] * n, "latency_ms": {"p50": 100, "p95": 100},
                    "headline": {"acc": 1.0}, "ci": None, "emulated": True},
        "house": {"kind": "provider", "in_house": True, "cost_usd_per_1k": 1.0, "egress_share": 0.0,
                  "error_rate": 0.0, "latency_samples_ms": [10.0] * n, "latency_ms": {"p50": 10, "p95": 10},
                  "headline": {"acc": 0.0}, "ci": None},
    }
    preds = {"partner": list(items), "house": [-1] * n}
    leaves = {"partner": [i < 8 for i in range(n)], "house": [False] * n}
    limits = {"headline": ["acc"], "exposure_limit": 0.5}
    mixes = {m["kind"]: m for m in build_mixes("x", SimpleNamespace(score=_score), items, cells, preds, leaves,
                                               limits, BootstrapOptions(resamples=50))}
    policy, capped = mixes["policy_fallback"], mixes["capped"]
    assert policy["parts"] == {"partner": 0.8, "house": pytest.approx(0.2)}
    assert policy["headline"]["acc"] == pytest.approx(0.8) and policy["egress_share"] == 0.8
    assert policy["cost_usd_per_1k"] == pytest.approx(1.8)
    assert capped["egress_share"] == 0.5 and capped["headline"]["acc"] == pytest.approx(0.5)
    assert capped["cost_usd_per_1k"] == pytest.approx(1.5) and capped["latency_ms"]["p95"] == 100.0
    assert capped["ci"]["acc"]["low"] <= 0.5 <= capped["ci"]["acc"]["high"]
    assert capped["emulated"] == ["partner"]


def test_weighted_quantiles():
    q = weighted_quantiles([([1.0] * 10, 0.9), ([100.0] * 10, 0.1)])
    assert q == {"p50": 1.0, "p95": 100.0}
    assert weighted_quantiles([]) == {"p50": None, "p95": None}


def _opt(name, q, cost, egress, kind="single", in_house=False, lo=None, hi=None, **kw):
    return {"name": name, "kind": kind, "description": f"{name} serves", "headline": {"m": q},
            "ci": {"m": {"low": lo, "high": hi}}, "cost_usd_per_1k": cost, "egress_share": egress,
            "error_rate": kw.get("err", 0.0), "latency_ms": {"p95": 5.0}, "in_house_only": in_house,
            "cell_kind": kw.get("cell_kind", "provider"), "failed": kw.get("failed"), "emulated": []}


def test_recommend_cheapest_eligible_and_reasons():
    f = {"n": 100, "headline": ["m"], "floor": {"metric": "m", "min": 0.7}, "exposure_limit": 0.5,
         "budget_usd_per_1k": 1.0, "max_error_rate": 0.05,
         "mixes": [_opt("house", 0.72, 0.5, 0.0, in_house=True, lo=0.65, hi=0.8),
                   _opt("vendor", 0.9, 0.2, 1.0, lo=0.85, hi=0.95),
                   _opt("vendor ≤50% + house", 0.81, 0.35, 0.5, kind="capped", lo=0.75, hi=0.86),
                   _opt("pricey", 0.95, 3.0, 0.0, in_house=True),
                   _opt("broken", None, None, 0.0, failed="RuntimeError: x"),
                   _opt("flaky", 0.8, 0.1, 0.0, in_house=True, err=0.2),
                   _opt("file", 0.99, None, None, cell_kind="file")]}
    rec = recommend("moderation", f)
    assert rec["chosen"]["name"] == "vendor ≤50% + house"
    why = {o["name"]: " ".join(o["reasons"]) for o in rec["options"]}
    assert "exposure limit" in why["vendor"] and "budget" in why["pricey"] and "failed" in why["broken"]
    assert "error rate" in why["flaky"] and "offline output" in why["file"] and why["house"] == ""
    text = " ".join(rec["sentences"])
    assert "Recommended: vendor ≤50% + house" in text and "whole 95% CI" in text and "cheapest" in text


def test_recommend_none_and_floor_inside_ci():
    f = {"n": 20, "headline": ["m"], "floor": {"metric": "m", "min": 0.7}, "exposure_limit": 0.0,
         "budget_usd_per_1k": None, "max_error_rate": 0.05,
         "mixes": [_opt("vendor", 0.9, 0.2, 1.0), _opt("house", 0.71, 0.5, 0.0, in_house=True, lo=0.6, hi=0.8)]}
    rec = recommend("pii", f)
    assert rec["chosen"]["name"] == "house"
    assert any("lies inside" in s for s in rec["sentences"])
    f["mixes"] = [_opt("vendor", 0.9, 0.2, 1.0)]
    rec = recommend("pii", f)
    assert rec["chosen"] is None and any("No option meets" in s for s in rec["sentences"])


def test_pareto_front_and_ticks():
    pts = [Point("a", 0, 0.5, "in-house"), Point("b", 1, 0.4, "partner"), Point("c", 2, 0.9, "mix"),
           Point("d", 2, 0.8, "mix")]
    assert [p.name for p in pareto_front(pts)] == ["a", "c"]
    assert nice_ticks(0.2, 0.47)[-1] >= 0.47 and nice_ticks(0.2, 0.47)[0] <= 0.2


def test_whole_dataset_task_gets_cells_and_options_without_cis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A task with ``evaluate`` (recommendations: split, train, rank) has no per-item predictions: cells, no CIs."""
    import asyncio

    from hybridgate.evaluation import study_cells
    from hybridgate.evaluation.runner import ProviderResult
    from hybridgate.evaluation.study import parse_study

    class WholeTask:
        feature = "recommendations"

        async def evaluate(self, gateway, target, data, quiet=False):
            return ProviderResult(metrics={"ndcg@10": 0.3}, latencies_ms=[5.0, 7.0], n=2)

    monkeypatch.setattr(study_cells, "make_task", lambda feature, options: (WholeTask(), "test"))
    (tmp_path / "u.data").write_text("1\t2\t5\t0\n")
    study = parse_study({"features": {"recommendations": {"data": "u.data", "providers": ["local"],
                                                          "floor": {"metric": "ndcg@10", "min": 0.2}}}},
                        base_dir=tmp_path)
    gw = SimpleNamespace(providers={})
    doc = asyncio.run(study_cells.run_feature(gw, study, "recommendations", tmp_path / "out", emulated=[]))
    cell = doc["cells"]["local"]
    assert cell["headline"] == {"ndcg@10": 0.3} and cell["ci"] is None and cell["in_house"] is True
    rec = recommend("recommendations", doc)
    assert rec["chosen"]["name"] == "local" and any("point estimate" in s for s in rec["sentences"])


def test_egress_share_follows_the_data_policy_and_item_classes():
    import asyncio

    from hybridgate.config import DataControlConfig
    from hybridgate.evaluation.study_cells import egress_of, item_policy
    from hybridgate.privacy.policy import DataPolicy

    policy = DataPolicy(DataControlConfig.model_validate(
        {"classes": {"health": "in_house_only", "eu": {"treatment": "allow", "providers": ["gemini"]}},
         "pii": {"enabled": False}}))
    gw = SimpleNamespace(data_policy=policy)
    items = [{"text": "a"}, {"text": "b", "data_classes": ["health"]}, {"text": "c", "data_classes": ["eu"]},
             {"text": "d", "data_classes": ["secret"]}]  # unknown class: fails closed (in-house only)
    decisions = asyncio.run(item_policy(gw, "moderation", items, []))
    openai, gemini = SimpleNamespace(name="openai", in_house=False), SimpleNamespace(name="gemini", in_house=False)
    local = SimpleNamespace(name="local", in_house=True)
    assert egress_of(openai, decisions)[:2] == ([True, False, False, False], 0.25)
    assert egress_of(gemini, decisions)[:2] == ([True, False, True, False], 0.5)
    assert egress_of(local, decisions)[1] == 0.0
    # classes every item of the data set carries
    decisions = asyncio.run(item_policy(gw, "moderation", items, ["health"]))
    assert egress_of(gemini, decisions)[1] == 0.0
