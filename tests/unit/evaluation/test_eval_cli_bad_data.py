"""``hybridgate eval`` on malformed data files: a clear message naming the file and a non-zero exit, never a
traceback (DESIGN.md eval data shapes; the CLI promise of typed errors)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hybridgate.cli import app as cli_app

ROW = json.dumps({"source": "a", "reference": "b", "source_lang": "en", "target_lang": "de"})


def _eval(tmp_path: Path, feature: str, data: Path, *extra: str):
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"state_dir": str(tmp_path / "state")}))
    return CliRunner().invoke(cli_app, ["eval", feature, "--data", str(data), "--config", str(cfg),
                                        "--json", "-q", *extra])


def _typed_failure(res, *words: str) -> None:
    assert res.exit_code == 1, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert all(w in res.output for w in words), res.output


def test_translation_line_that_is_not_an_object_is_a_clear_error(tmp_path: Path) -> None:
    data = tmp_path / "dev.jsonl"
    row = {"source": "a", "reference": "b", "source_lang": "en", "target_lang": "de"}
    data.write_text(json.dumps(row) + "\n" + json.dumps([row]) + "\n")
    hyp = tmp_path / "h.txt"
    hyp.write_text("b\nb\n")
    _typed_failure(_eval(tmp_path, "translation", data, "--hypotheses", str(hyp)), "dev.jsonl:2", "object")


@pytest.mark.parametrize(("body", "limit"), [("", []), ("\n\n", []), (ROW + "\n", ["--limit", "0"])])
def test_translation_data_without_records_is_a_clear_error(tmp_path: Path, body: str, limit: list[str]) -> None:
    data = tmp_path / "empty.jsonl"
    data.write_text(body)
    hyp = tmp_path / "h.txt"
    hyp.write_text("b\n" if body.strip() else "")
    res = _eval(tmp_path, "translation", data, "--hypotheses", str(hyp), *limit)
    _typed_failure(res, "empty.jsonl", "no records")


@pytest.mark.parametrize("span", [{"start": "x", "end": 5, "label": "PERSON"},
                                  {"start": 3, "end": None, "label": "PERSON"},
                                  {"start": 6, "end": 3, "label": "PERSON"},  # would count as caught
                                  {"start": 3, "end": 60, "label": "PERSON"}])
def test_pii_span_of_the_wrong_type_or_out_of_the_text_is_a_clear_error(tmp_path: Path, span: dict) -> None:
    data = tmp_path / "pii.jsonl"
    data.write_text(json.dumps({"text": "hi Bob", "spans": [span]}) + "\n")
    _typed_failure(_eval(tmp_path, "pii", data), "pii.jsonl:1", "spans")


def test_translation_eval_on_a_config_without_the_feature_is_a_clear_error(tmp_path: Path) -> None:
    data = tmp_path / "dev.jsonl"
    data.write_text(ROW + "\n")
    _typed_failure(_eval(tmp_path, "translation", data), "the translation feature is off")
