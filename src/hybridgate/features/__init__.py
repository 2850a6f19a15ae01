"""Features: one module each, registered here (name -> class, imported lazily)."""

from __future__ import annotations

import importlib
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from .base import Feature

if TYPE_CHECKING:  # pragma: no cover
    from ..gateway import Gateway

__all__ = ["FEATURES", "PATHS", "Feature", "build_features", "enabled", "require"]

FEATURES = MappingProxyType({
    "recommendations": "hybridgate.features.recommendations:RecommendationsFeature",
    "creative": "hybridgate.features.creative:CreativeFeature",
    "moderation": "hybridgate.features.moderation:ModerationFeature",
    "translation": "hybridgate.features.translation.feature:TranslationFeature",
})


# The HTTP paths of each feature, so a feature that is off still answers them with a clear 503.
PATHS = MappingProxyType({
    "recommendations": ("/v1/events", "/v1/items", "/v1/recommend"),
    "creative": ("/v1/create",),
    "moderation": ("/v1/moderate",),
    "translation": ("/v1/translate",),
})


def enabled(name: str, config: Any) -> bool:
    """A feature is on when the config lists it under ``features:`` or routes something to it; the rest of
    the config pays nothing for it (no routes, no start-up work, no memory)."""
    return name in config.features or any(r.capability == name for r in config.routes.values())


def require(gateway: Any, name: str) -> Feature:
    """The gateway's ``name`` feature, or NotConfigured saying how to switch it on (CLIs, eval tasks)."""
    feature = gateway.features.get(name)
    if feature is None:
        from ..errors import NotConfigured

        raise NotConfigured(f"the {name} feature is off in {gateway.config.source}: add `features: {{{name}: {{}}}}` "
                            f"or a route with `capability: {name}` to the config")
    return feature


def build_features(gateway: Gateway) -> dict[str, Feature]:
    """The enabled features, with their ``features.<name>`` options from the config."""
    unknown = set(gateway.config.features) - set(FEATURES)
    if unknown:
        from ..errors import ConfigError

        raise ConfigError(f"{gateway.config.source}: features: unknown feature(s) {sorted(unknown)}; "
                          f"expected any of {sorted(FEATURES)}")
    out: dict[str, Feature] = {}
    for name, target in FEATURES.items():
        if not enabled(name, gateway.config):
            continue
        module, _, cls = target.partition(":")
        out[name] = getattr(importlib.import_module(module), cls)(gateway, gateway.config.features.get(name))
    return out
