"""In-process models: the company's own models running inside the gateway.

Each local model is named (the route's upstream ``model``) and loaded lazily on first use;
inference runs in a worker thread so the event loop keeps serving. Which models exist is
the table in ``LocalProvider._factories`` — feature issues add theirs there.
"""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np
from pydantic import BaseModel

from ..context import RequestContext
from ..errors import InvalidRequest, ModelNotFound, NotConfigured
from .base import BaseProvider, Capability

__all__ = ["LocalProvider"]


def _load_minilm() -> Any:
    from ..models.minilm import MiniLM

    return MiniLM()


def _load_moderation() -> Any:
    try:
        from ..models.moderation.model import ModerationModel
    except ImportError as exc:  # pragma: no cover - shipped with the package
        raise NotConfigured(f"the in-house moderation model is not available: {exc}") from None
    return ModerationModel.load()


class _Options(BaseModel):
    model_config = {"extra": "forbid"}
    threads: int = 2
    max_batch: int = 256


# OpenAI's moderation categories; the in-house model scores the ones it was trained on
# and reports the rest as derived from the closest trained head (see its model card).
OPENAI_MODERATION_KEYS = (
    "hate", "hate/threatening", "harassment", "harassment/threatening", "illicit", "illicit/violent",
    "self-harm", "self-harm/intent", "self-harm/instructions", "sexual", "sexual/minors",
    "violence", "violence/graphic",
)


class LocalProvider(BaseProvider):
    capabilities = frozenset({Capability.EMBEDDINGS, Capability.MODERATION})
    default_in_house = True
    Options = _Options

    def __init__(self, name, config) -> None:
        super().__init__(name, config)
        self._factories: dict[str, Callable[[], Any]] = {
            "all-minilm-l6-v2": _load_minilm,
            "hybridgate-moderation": _load_moderation,
        }
        self._loaded: dict[str, Any] = {}
        self._lock = asyncio.Lock()
        self._sem = asyncio.Semaphore(self.options.threads)

    async def _model(self, name: str) -> Any:
        model = self._loaded.get(name)
        if model is not None:
            return model
        factory = self._factories.get(name)
        if factory is None:
            raise ModelNotFound(f"local provider {self.name!r} has no model {name!r}; "
                                f"available: {sorted(self._factories)}")
        async with self._lock:
            if name not in self._loaded:
                self._loaded[name] = await asyncio.to_thread(factory)
        return self._loaded[name]

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        async with self._sem:
            return await asyncio.to_thread(fn, *args)

    async def embed(self, body: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        name = body.get("model") or "all-minilm-l6-v2"
        inputs = body.get("input")
        texts = [inputs] if isinstance(inputs, str) else inputs
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            raise InvalidRequest("the in-house embedding model takes a string or a list of strings", param="input")
        if len(texts) > self.options.max_batch:
            raise InvalidRequest(f"at most {self.options.max_batch} inputs per request", param="input")
        model = await self._model(name)
        vectors, tokens = await self._run(model.encode_with_counts, texts)
        dims = body.get("dimensions")
        if dims:
            if not 1 <= int(dims) <= vectors.shape[1]:
                raise InvalidRequest(f"dimensions must be between 1 and {vectors.shape[1]}", param="dimensions")
            vectors = vectors[:, : int(dims)]
            vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        if body.get("encoding_format") == "base64":
            data = [base64.b64encode(v.astype("<f4").tobytes()).decode() for v in vectors]
        else:
            data = vectors.tolist()
        return {"object": "list", "model": name,
                "data": [{"object": "embedding", "index": i, "embedding": e} for i, e in enumerate(data)],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}

    async def moderate(self, body: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        name = body.get("model") or "hybridgate-moderation"
        inputs = body.get("input")
        texts = [inputs] if isinstance(inputs, str) else inputs
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise InvalidRequest("the in-house moderation model takes a string or a list of strings", param="input")
        model = await self._model(name)
        scores = await self._run(model.score, texts)
        threshold = getattr(model, "threshold", 0.5)
        results = []
        for s in scores:
            cat_scores = {k: float(s.get(k, 0.0)) for k in OPENAI_MODERATION_KEYS}
            flagged_score = float(s.get("flagged", max(cat_scores.values(), default=0.0)))
            results.append({
                "flagged": flagged_score >= threshold,
                "categories": {k: v >= threshold for k, v in cat_scores.items()},
                "category_scores": cat_scores,
                "category_applied_input_types": {k: ["text"] for k in OPENAI_MODERATION_KEYS},
                "flagged_score": flagged_score,
            })
        return {"id": "modr-" + uuid.uuid4().hex[:24], "model": name, "results": results,
                "created": int(time.time())}

    async def list_models(self) -> list[str]:
        return list(self.config.models) or sorted(self._factories)
