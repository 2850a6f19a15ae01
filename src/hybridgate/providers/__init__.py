"""Provider registry: config ``type`` -> implementing class, imported lazily.

Adding a provider = one file in this package + one line here.
"""

from __future__ import annotations

import importlib
from types import MappingProxyType

from ..config import ProviderConfig
from ..errors import ConfigError
from .base import BaseProvider, Capability, Provider

__all__ = ["PROVIDER_TYPES", "BaseProvider", "Capability", "Provider", "build_provider"]

PROVIDER_TYPES = MappingProxyType({
    "openai": "hybridgate.providers.openai:OpenAIProvider",
    "openai_compatible": "hybridgate.providers.openai_compatible:OpenAICompatibleProvider",
    "gemini": "hybridgate.providers.gemini:GeminiProvider",
    "anthropic": "hybridgate.providers.anthropic:AnthropicProvider",
    "local": "hybridgate.providers.local:LocalProvider",
})


def build_provider(name: str, config: ProviderConfig) -> Provider:
    target = PROVIDER_TYPES.get(config.type)
    if target is None:
        raise ConfigError(f"providers.{name}.type: unknown provider type {config.type!r}; "
                          f"expected one of {sorted(PROVIDER_TYPES)}")
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)(name, config)
