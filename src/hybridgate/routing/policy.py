"""Routing policy: config routes -> ordered candidates (provider + upstream model).

A route is the public name an app calls (a model name for chat/embeddings, or a feature
route). ``single`` has one candidate; ``fallback`` tries them in order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..config import Config
from ..providers import Capability, Provider

__all__ = ["Candidate", "Route", "build_routes", "required_capabilities"]


@dataclass(frozen=True, slots=True)
class Candidate:
    provider: Provider
    model: str

    @property
    def label(self) -> str:
        return f"{self.provider.name}:{self.model}"


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    capability: str
    strategy: str
    candidates: tuple[Candidate, ...]
    default: bool = False


def build_routes(config: Config, providers: dict[str, Provider]) -> dict[str, Route]:
    routes = {}
    for name, rc in config.routes.items():
        cands = tuple(Candidate(providers[t.provider], t.model or name) for t in rc.targets)
        routes[name] = Route(name, rc.capability, rc.strategy, cands, rc.default)
    return routes


def _has_images(body: dict[str, Any]) -> bool:
    for m in body.get("messages") or ():
        content = m.get("content") if isinstance(m, dict) else None
        if isinstance(content, list) and any(isinstance(p, dict) and p.get("type") == "image_url" for p in content):
            return True
    return False


def required_capabilities(method: str, body: dict[str, Any]) -> frozenset[str]:
    """What a provider must support to take this call."""
    if method == "embed":
        return frozenset({Capability.EMBEDDINGS})
    if method == "moderate":
        return frozenset({Capability.MODERATION})
    need = {Capability.CHAT}
    if method == "chat_stream":
        need.add(Capability.STREAM)
    if body.get("tools"):
        need.add(Capability.TOOLS)
    if (body.get("response_format") or {}).get("type") in ("json_object", "json_schema"):
        need.add(Capability.JSON_MODE)
    if _has_images(body):
        need.add(Capability.VISION)
    return frozenset(need)
