"""Eval tasks, one per feature: name -> class (imported lazily)."""

from __future__ import annotations

import importlib
from types import MappingProxyType
from typing import Any

__all__ = ["TASKS", "get_task"]

TASKS = MappingProxyType({
    "moderation": "hybridgate.evaluation.tasks.moderation:ModerationTask",
    "pii": "hybridgate.evaluation.tasks.pii:PIITask",
    "translation": "hybridgate.evaluation.tasks.translation:TranslationTask",
    "recommendations": "hybridgate.evaluation.tasks.recommendations:RecommendationsTask",
    "creative": "hybridgate.evaluation.tasks.creative:CreativeTask",
})


def get_task(feature: str, **options: Any) -> Any:
    target = TASKS.get(feature)
    if target is None:
        from ...errors import InvalidRequest

        raise InvalidRequest(f"no eval task for {feature!r}; expected one of {sorted(TASKS)}")
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)(**options)
