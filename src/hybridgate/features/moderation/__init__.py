"""Moderation: decisions (allow | review | block) from in-house, vendor and LLM moderators, with per-app
thresholds, language detection and cascades that escalate only the uncertain band.

Modules: ``options`` (config, thresholds), ``schemas`` (request, inputs, provider results, decisions),
``llm`` (the LLM moderator: policy prompt, strict JSON, one repair), ``scoring`` (one candidate judges
inputs its way), ``pipeline`` (language routing and cascades), ``feature`` (``ModerationFeature``),
``http`` (``POST /v1/moderate``), ``batch`` (``hybridgate moderate FILE``: resumable batch runs).
"""

from __future__ import annotations

from .feature import ModerationFeature
from .options import CATEGORIES, OPENAI_CATEGORIES, ModerationOptions
from .schemas import Item, ModerateRequest

__all__ = ["CATEGORIES", "OPENAI_CATEGORIES", "Item", "ModerateRequest", "ModerationFeature", "ModerationOptions"]
