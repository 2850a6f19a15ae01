"""The batch commands' shared pieces: route choice, input/output checks, exit status."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import typer

from hybridgate.cli_batch import batch_route, check_io, run_and_report
from hybridgate.errors import InvalidRequest


class FakeFeature:
    def __init__(self) -> None:
        self.routes = {}

    def resolve_route(self, name: str):
        return f"route:{name}"

    def route_for_provider(self, spec: str):
        provider = SimpleNamespace(name=spec.split(":")[0], in_house=False)
        cand = SimpleNamespace(provider=provider, model=spec.split(":")[-1])
        return SimpleNamespace(name=f"only-{spec}", capability="chat", candidates=(cand,))


def test_route_choice() -> None:
    f = FakeFeature()
    assert batch_route(f, [], None, lambda _: "x") is None
    assert batch_route(f, [], "strict", lambda _: "x") == "route:strict"
    assert batch_route(f, ["openai"], None, lambda _: "x").name == "only-openai"
    chain = batch_route(f, ["openai:gpt", "gemini:flash"], None, lambda singles: "moderation" if len(singles) == 2 else "chat")
    assert chain.name == "only-openai:gpt+only-gemini:flash"
    assert chain.config.capability == "moderation" and chain.config.strategy == "fallback"
    assert [c.provider.name for c in chain.candidates] == ["openai", "gemini"]
    with pytest.raises(InvalidRequest, match="not both"):
        batch_route(f, ["openai"], "strict", lambda _: "x")


def test_io_checks_exit_with_a_typed_error(tmp_path: Path, capsys) -> None:
    src = tmp_path / "in.jsonl"
    with pytest.raises(typer.Exit) as missing:
        check_io(src, tmp_path / "out.jsonl")
    assert missing.value.exit_code != 0 and "no such file" in capsys.readouterr().err
    src.write_text("{}\n")
    with pytest.raises(typer.Exit):
        check_io(src, tmp_path / "." / "in.jsonl")
    assert "must not be the input file" in capsys.readouterr().err
    check_io(src, tmp_path / "out.jsonl")  # fine: no exit


def _stats(errors: int, duplicates: int = 0):
    return SimpleNamespace(errors=errors, duplicates=duplicates, summary=lambda: "moderated 3 rows")


def test_report_exits_non_zero_only_when_rows_failed(tmp_path: Path, capsys) -> None:
    async def ok():
        return _stats(0, duplicates=2)

    run_and_report(ok, tmp_path / "out.jsonl")
    out = capsys.readouterr()
    assert "moderated 3 rows" in out.out and "2 rows repeat an id" in out.err

    async def failed():
        return _stats(1)

    with pytest.raises(typer.Exit) as exc:
        run_and_report(failed, tmp_path / "out.jsonl")
    assert exc.value.exit_code == 1 and "out.jsonl.errors.jsonl" in capsys.readouterr().err

    async def bad():
        raise InvalidRequest("give --route or --provider, not both")

    with pytest.raises(typer.Exit) as exc:
        run_and_report(bad, tmp_path / "out.jsonl")
    assert exc.value.exit_code != 0 and "not both" in capsys.readouterr().err


def test_a_byte_order_mark_does_not_hide_the_first_column_or_row(tmp_path: Path) -> None:
    from hybridgate.features.moderation.batch import read_rows

    csv_file = tmp_path / "in.csv"  # as spreadsheet programs save "CSV UTF-8"
    csv_file.write_bytes("id,text\nA,hello\nB,bye\n".encode("utf-8-sig"))
    assert list(read_rows(csv_file)) == [("A", {"id": "A", "text": "hello"}), ("B", {"id": "B", "text": "bye"})]
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_bytes('{"id": "A", "text": "hello"}\n'.encode("utf-8-sig"))
    assert list(read_rows(jsonl)) == [("A", {"id": "A", "text": "hello"})]


def test_a_csv_row_that_is_not_utf8_fails_alone(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from hybridgate.features.moderation.batch import pending_rows

    src = tmp_path / "in.csv"
    src.write_bytes(b"id,text\nA,hello\nB,caf\xe9\nC,bye\n")
    stats = SimpleNamespace(rows=0, duplicates=0, skipped=0)
    rows = pending_rows(src, tmp_path / "out.jsonl", stats)
    assert [k for k, _ in rows] == ["A", "B", "C"] and stats.rows == 3
    assert rows[0][1]["text"] == "hello" and rows[2][1]["text"] == "bye"
    assert "not valid UTF-8" in rows[1][1]["_error"]


@pytest.mark.parametrize(("command", "feature"), [(["moderate"], "moderation"),
                                                  (["translate", "--target", "de"], "translation")])
def test_a_batch_on_a_config_without_the_feature_is_a_clear_error(tmp_path: Path, command: list[str],
                                                                  feature: str) -> None:
    import json

    from typer.testing import CliRunner

    from hybridgate.cli import app as cli_app

    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"state_dir": str(tmp_path / "state")}))  # no features, no feature routes
    src = tmp_path / "in.jsonl"
    src.write_text('{"id": "a", "text": "hello"}\n')
    res = CliRunner().invoke(cli_app, [command[0], str(src), *command[1:], "--out", str(tmp_path / "out.jsonl"),
                                       "--config", str(cfg), "-q"])
    assert res.exit_code == 1 and isinstance(res.exception, SystemExit), repr(res.exception)
    assert f"the {feature} feature is off" in res.output


def test_an_out_path_that_cannot_be_written_is_a_typed_error_before_any_work(tmp_path: Path, capsys) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text("{}\n")
    for out in (tmp_path, src / "out.jsonl"):  # a directory; a path under a file
        with pytest.raises(typer.Exit) as exc:
            check_io(src, out)
        assert exc.value.exit_code == 1 and "cannot write" in capsys.readouterr().err
