"""Tiny random-weight CTranslate2 models, built once per session, offline."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``{"marian": dir, "marian2": dir, "nllb": dir}``: two OPUS-MT-layout directories and one NLLB-layout one."""
    pytest.importorskip("ctranslate2")
    pytest.importorskip("sentencepiece")
    pytest.importorskip("transformers")
    from hybridgate.features.translation.tinymodel import build_tiny_marian, build_tiny_nllb

    root = tmp_path_factory.mktemp("tiny-ct2")
    return {
        "marian": build_tiny_marian(root / "marian-en-de", seed=0),
        "marian2": build_tiny_marian(root / "marian-en-fr", seed=1),
        "nllb": build_tiny_nllb(root / "nllb"),
    }
