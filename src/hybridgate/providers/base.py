"""The provider protocol every model source implements, and a base class with defaults.

Requests and responses inside hybridgate use the OpenAI wire shapes as plain dicts (the
lingua franca of the API we serve); each provider file maps them to and from its vendor's
format and translates its vendor's errors into ``hybridgate.errors``.

A provider advertises what it can do in ``capabilities``; calling something it cannot do
raises ``UnsupportedCapability`` (400) so routing can skip it up front.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, ValidationError

from ..config import ProviderConfig
from ..context import RequestContext
from ..errors import ConfigError, UnsupportedCapability

__all__ = ["BaseProvider", "Capability", "Provider"]


class Capability:
    CHAT = "chat"
    STREAM = "stream"
    TOOLS = "tools"
    JSON_MODE = "json_mode"
    VISION = "vision"
    EMBEDDINGS = "embeddings"
    MODERATION = "moderation"
    TRANSLATION = "translation"


@runtime_checkable
class Provider(Protocol):
    name: str
    vendor: str
    in_house: bool
    capabilities: frozenset[str]

    async def chat(self, body: dict[str, Any], ctx: RequestContext) -> dict[str, Any]: ...

    def chat_stream(self, body: dict[str, Any], ctx: RequestContext) -> AsyncIterator[list[dict[str, Any]]]:
        """Chat completion chunks (OpenAI ``chat.completion.chunk`` dicts) in batches: each batch holds
        the chunks that came in one network read, never none. Wrappers step once per batch."""
        ...

    async def embed(self, body: dict[str, Any], ctx: RequestContext) -> dict[str, Any]: ...

    async def moderate(self, body: dict[str, Any], ctx: RequestContext) -> dict[str, Any]: ...

    async def list_models(self) -> list[str]: ...

    async def aclose(self) -> None: ...


class BaseProvider:
    """Defaults for a provider: every capability unsupported until a subclass defines it.

    Subclasses set ``capabilities`` and, if they take provider-specific options, an
    ``Options`` pydantic model that validates ``config.options``.
    """

    capabilities: ClassVar[frozenset[str]] = frozenset()
    default_in_house: ClassVar[bool] = False
    image_limits: ClassVar[Any] = None  # a VendorImageLimits (providers/_images.py) when the vendor documents some
    fetches_image_urls: ClassVar[bool] = False
    Options: ClassVar[type[BaseModel] | None] = None

    def __init__(self, name: str, config: ProviderConfig) -> None:
        self.name = name
        self.config = config
        self.vendor = config.vendor or config.type
        self.in_house = self.default_in_house if config.in_house is None else config.in_house
        self.options: Any = None
        if self.Options is not None:
            try:
                self.options = self.Options.model_validate(config.options)
            except ValidationError as exc:
                errs = "; ".join(
                    f"providers.{name}.options.{'.'.join(map(str, e['loc']))}: {e['msg']}"
                    for e in exc.errors(include_url=False, include_input=False)
                )
                raise ConfigError(errs) from None

    def __repr__(self) -> str:  # never shows secrets
        return f"<{type(self).__name__} {self.name!r} vendor={self.vendor!r} in_house={self.in_house}>"

    def _check_images(self, method: str, body: dict[str, Any]) -> None:
        """Refuse, before anything is sent, images over this vendor's documented limits."""
        from ._images import check_image_limits

        check_image_limits(self.name, self.vendor, self.image_limits, self.fetches_image_urls, method, body)

    def _unsupported(self, what: str) -> UnsupportedCapability:
        return UnsupportedCapability(f"provider {self.name!r} does not support {what}")

    async def chat(self, body: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        raise self._unsupported("chat completions")

    async def chat_stream(self, body: dict[str, Any], ctx: RequestContext) -> AsyncIterator[list[dict[str, Any]]]:
        raise self._unsupported("streaming chat completions")
        yield []  # pragma: no cover - makes this an async generator

    async def embed(self, body: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        raise self._unsupported("embeddings")

    async def moderate(self, body: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        raise self._unsupported("moderations")

    async def list_models(self) -> list[str]:
        return list(self.config.models)

    async def aclose(self) -> None:
        return None
