"""The exit drill: same requests with and without a vendor."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from hybridgate.config import parse_config
from hybridgate.errors import InvalidRequest
from hybridgate.evaluation.drill import drill, without_vendor


def make_config(tmp_path, openai_emu, inhouse_emu) -> dict:
    return {"state_dir": str(tmp_path),
            "providers": {"openai": {"type": "openai", "base_url": openai_emu.url, "api_key": "sk-secret-1"},
                          "llama": {"type": "openai_compatible", "base_url": inhouse_emu.url, "api_key": "x"}},
            "routes": {"chat": {"targets": ["openai:gpt-4o-mini", "llama:llama-3"], "default": True},
                       "gpt": {"targets": ["openai:gpt-4o-mini"]}},
            "data_control": {"pii": {"enabled": False}},
            "prices": {"models": {"gpt-4o-mini": {"input_per_mtok": 1000, "output_per_mtok": 1000}}}}


def test_without_vendor_removes_providers_and_empty_routes(tmp_path, emulator):
    cfg = parse_config(make_config(tmp_path, emulator("openai"), emulator("openai")))
    new, gone = without_vendor(cfg, "openai")
    assert gone == ["openai"] and set(new.providers) == {"llama"}
    assert [t.provider for t in new.routes["chat"].targets] == ["llama"] and "gpt" not in new.routes
    assert new.providers["llama"].api_key.get_secret_value() == "x"  # secrets survive the copy
    with pytest.raises(InvalidRequest, match="no provider of vendor 'gemini'"):
        without_vendor(cfg, "gemini")


async def test_drill_reports_before_and_after(tmp_path, emulator):
    cfg = parse_config(make_config(tmp_path, emulator("openai"), emulator("openai")))
    data = tmp_path / "chat.jsonl"
    data.write_text("\n".join(json.dumps({"messages": [{"role": "user", "content": f"q{i}"}]}) for i in range(6)))
    r = await drill(cfg, "openai", data, route="chat")
    assert r["before"]["success_rate"] == 1.0 and r["after"]["success_rate"] == 1.0
    assert r["before"]["egress_requests"] == 6 and r["after"]["egress_requests"] == 0
    assert r["before"]["cost_usd_per_1k"] > 0 and r["after"]["cost_usd_per_1k"] == 0
    gone = await drill(cfg, "openai", data, route="gpt")  # a route that only had that vendor
    assert gone["after"]["success_rate"] == 0.0 and gone["after"]["errors"] == {"model_not_found": 6}


def test_drill_cli_json(tmp_path, emulator):
    import yaml

    cfg_file = tmp_path / "hg.yaml"
    cfg_file.write_text(yaml.safe_dump(make_config(tmp_path, emulator("openai"), emulator("openai"))))
    data = tmp_path / "chat.jsonl"
    data.write_text(json.dumps({"messages": [{"role": "user", "content": "hello"}]}) + "\n")
    out = subprocess.run([sys.executable, "-m", "hybridgate", "drill", "--without", "openai", "--data", str(data),
                          "--route", "chat", "--config", str(cfg_file), "--json"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["removed_providers"] == ["openai"] and result["after"]["success_rate"] == 1.0


MOD_TEXTS = [("I will kill you tomorrow", 1), ("you are a stupid idiot", 1), ("go shoot them all", 1),
             ("what a loser", 1), ("I will stab you", 1), ("have a nice day", 0), ("thanks for the recipe", 0),
             ("see you at the meeting", 0), ("great photo of the lake", 0),
             ("we moved to Essex last spring", 0)]  # the emulator's keyword match flags "sex" inside "Essex"


def test_drill_with_a_moderation_eval_set_reports_quality_before_and_after(tmp_path, emulator):
    """``--feature moderation``: the eval set is scored through the moderation route as configured (the
    partner answers) and without that vendor (the in-house model answers); both runs report the metrics."""
    import yaml
    from typer.testing import CliRunner

    from hybridgate.cli import app

    cfg_file = tmp_path / "hg.yaml"
    cfg_file.write_text(yaml.safe_dump({
        "state_dir": str(tmp_path),
        "providers": {"openai": {"type": "openai", "base_url": emulator("openai").url, "api_key": "sk-secret-1"},
                      "local": {"type": "local"}},
        "routes": {"mod": {"capability": "moderation", "default": True,
                           "targets": ["openai:omni-moderation-latest", "local:hybridgate-moderation"]}},
        "data_control": {"pii": {"enabled": False}}}))
    data = tmp_path / "mod.jsonl"
    data.write_text("\n".join(json.dumps({"text": t, "labels": {"flagged": y}}) for t, y in MOD_TEXTS))
    args = ["drill", "--without", "openai", "--data", str(data), "--feature", "moderation", "--config", str(cfg_file)]
    out = CliRunner().invoke(app, [*args, "--json"])
    assert out.exit_code == 0, out.output
    r = json.loads(out.output.strip().splitlines()[-1])
    assert r["feature"] == "moderation" and r["removed_providers"] == ["openai"]
    before, after = r["before"], r["after"]
    assert before["n"] == after["n"] == 10 and before["success_rate"] == after["success_rate"] == 1.0
    assert before["egress_requests"] == 10 and after["egress_requests"] == 0  # who answered: partner, then in-house
    # before: the emulator's keyword scores, exactly (one false positive, every harmful text caught)
    b = before["metrics"]["flagged"]
    assert (b["n"], b["positives"], b["missing_scores"]) == (10, 5, 0)
    assert b["recall"] == 1.0 and b["fpr"] == pytest.approx(0.2) and b["precision"] == pytest.approx(5 / 6)
    # after: the in-house model's scores on the same items, every item scored
    a = after["metrics"]["flagged"]
    assert (a["n"], a["positives"], a["missing_scores"]) == (10, 5, 0)
    assert all(0.0 <= a[k] <= 1.0 for k in ("auprc", "auroc", "f1", "precision", "recall", "fpr"))
    # the human-readable report shows a quality line under each run
    text = CliRunner().invoke(app, args).output
    lines = text.splitlines()
    for label in ("before", "after"):
        i = next(i for i, line in enumerate(lines) if line.strip().startswith(label))
        assert "flagged.auprc" in lines[i + 1], text
