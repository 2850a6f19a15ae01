"""In-house text moderation model: normalisation + char/word n-gram TF-IDF + linear heads (see MODEL_CARD.md)."""

from __future__ import annotations

from .model import CATEGORIES, OPENAI_CATEGORIES, ModerationModel, weights_dir

__all__ = ["CATEGORIES", "OPENAI_CATEGORIES", "ModerationModel", "weights_dir"]
