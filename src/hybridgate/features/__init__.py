"""Features: one module each, registered here (name -> class, imported lazily)."""

from __future__ import annotations

import importlib
from types import MappingProxyType
from typing import TYPE_CHECKING

from .base import Feature

if TYPE_CHECKING:  # pragma: no cover
    from ..gateway import Gateway

__all__ = ["FEATURES", "Feature", "build_features"]

FEATURES = MappingProxyType({
    "recommendations": "hybridgate.features.recommendations:RecommendationsFeature",
    "creative": "hybridgate.features.creative:CreativeFeature",
    "moderation": "hybridgate.features.moderation:ModerationFeature",
    "translation": "hybridgate.features.translation.feature:TranslationFeature",
})


def build_features(gateway: Gateway) -> dict[str, Feature]:
    """Every registered feature, with its ``features.<name>`` options from the config."""
    out: dict[str, Feature] = {}
    for name, target in FEATURES.items():
        module, _, cls = target.partition(":")
        out[name] = getattr(importlib.import_module(module), cls)(gateway, gateway.config.features.get(name))
    unknown = set(gateway.config.features) - set(FEATURES)
    if unknown:
        from ..errors import ConfigError

        raise ConfigError(f"{gateway.config.source}: features: unknown feature(s) {sorted(unknown)}; "
                          f"expected any of {sorted(FEATURES)}")
    return out
