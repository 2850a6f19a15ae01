"""Self-hosted servers that speak the OpenAI format: vLLM, llama.cpp server, Ollama, TGI.

This is how an in-house Llama is reached. The wire format is OpenAI's; the differences
are defaults: in-house by default, the key is optional, there is no moderation endpoint,
and vision is off unless the ``vision`` option says the served model has it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from ..errors import ConfigError
from ._images import ImageNotAccepted, image_parts, part_url
from .base import Capability
from .openai import OpenAIProvider

__all__ = ["OpenAICompatibleProvider"]


class _Options(BaseModel):
    model_config = {"extra": "forbid"}
    vision: bool = False
    embeddings: bool = True
    # images per request the served model takes (e.g. what vLLM's --limit-mm-per-prompt allows);
    # None: no check here, the server decides
    max_images: int | None = None
    # whether image URLs (http/https) may be handed to the server, which then fetches them itself from inside
    # the network; off: such requests are refused here (send data: URLs), so the gateway is no fetch proxy
    pass_image_urls: bool = False
    # whether the server takes stream_options.include_usage (vLLM, llama.cpp server and Ollama do); false:
    # the option is not sent, and this provider's streams count no tokens for budgets and cost
    stream_usage: bool = True


class OpenAICompatibleProvider(OpenAIProvider):
    default_in_house = True
    Options = _Options
    image_limits = None  # the served model decides (vision on/off and max_images are options)
    fetches_image_urls = False  # not every server fetches URLs (llama.cpp does not); assume none does

    def __init__(self, name, config) -> None:
        if not config.base_url:
            raise ConfigError(f"providers.{name}.base_url: required for an openai_compatible provider "
                              "(e.g. http://127.0.0.1:8000/v1 for vLLM, http://127.0.0.1:11434/v1 for Ollama)")
        super().__init__(name, config)
        caps = {Capability.CHAT, Capability.STREAM, Capability.TOOLS, Capability.JSON_MODE}
        if self.options.vision:
            caps.add(Capability.VISION)
        if self.options.embeddings:
            caps.add(Capability.EMBEDDINGS)
        self.capabilities = frozenset(caps)
        self.stream_usage = self.options.stream_usage

    def _check_images(self, method: str, body: dict[str, Any]) -> None:
        parts = [part for _, part in image_parts(method, body)]
        n = len(parts)
        if n and not self.options.vision:
            raise self._unsupported("image input (set options.vision: true if the served model has vision)")
        if not self.options.pass_image_urls and any(not part_url(p).startswith("data:") for p in parts):
            raise ImageNotAccepted(f"{self.name} is not given image URLs (the server would fetch them from inside "
                                   "the network): send the image as a data: URL, or set options.pass_image_urls: "
                                   "true", provider=self.name)
        if self.options.max_images is not None and n > self.options.max_images:
            raise ImageNotAccepted(f"{self.name} takes at most {self.options.max_images} image(s) per request "
                                   f"(options.max_images); got {n}", provider=self.name)

    async def moderate(self, body: dict[str, Any], ctx) -> dict[str, Any]:
        raise self._unsupported("moderations (use the moderation feature's LLM moderator instead)")
