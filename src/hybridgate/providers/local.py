"""In-process models: the company's own models running inside the gateway.

Each local model is named (the route's upstream ``model``) and loaded lazily on first use;
inference runs in a worker thread so the event loop keeps serving. Which models exist is
the table in ``LocalProvider._factories`` — feature issues add theirs there.

Moderation takes OpenAI's input shapes: a string or list of strings (one result each, text model), or
a list of ``{"type": "text"}`` / ``{"type": "image_url"}`` parts (one combined result, as OpenAI's omni
model does): texts go to the text model, images (``data:`` URLs, validated by ``privacy.images``) to
NudeNet (``nudenet``, the ``sexual`` category), and ``category_applied_input_types`` says which input
types each score covers. The gateway does not fetch image URLs for in-house models.

Translation (in-house MT through CTranslate2): with ``options.translation_models`` (``{"en-de": DIR, "*": DIR}``
or one directory; the embedded default fills it from ``HYBRIDGATE_MT_MODELS``) the provider gains the ``translation`` capability
and ``translate(body, ctx)``; shapes and settings in ``features/translation/mt.py``. Any model name on a
translation route target (e.g. ``local:opus-mt``) is a label: the language pair picks the directory.
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
from ..errors import HybridgateError, InvalidRequest, ModelNotFound, NotConfigured, ProviderUnavailable
from ._images import part_url
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


def _load_nudenet() -> Any:
    try:
        from ..models.image_moderation import NudeNetModerator

        return NudeNetModerator.load_default(threads=1)
    except (ImportError, FileNotFoundError) as exc:
        raise NotConfigured(f"the in-house image moderator needs the nudenet wheel (pip install nudenet): {exc}") \
            from None


IMAGE_MODEL = "nudenet"


class _Options(BaseModel):
    model_config = {"extra": "forbid"}
    threads: int = 2
    max_batch: int = 256
    image_threshold: float = 0.5  # NudeNet box confidence at which an image is flagged sexual
    image_max_bytes: int = 20 * 1024 * 1024
    image_max_pixels: int = 50_000_000
    translation_models: dict[str, str] | str | None = None  # CTranslate2 dirs by language pair
    translation: dict[str, Any] = {}  # CTranslate2 settings (CT2Options fields)


# OpenAI's moderation categories; the in-house model scores the ones it was trained on
# and reports the rest as derived from the closest trained head (see its model card).
OPENAI_MODERATION_KEYS = (
    "hate", "hate/threatening", "harassment", "harassment/threatening", "illicit", "illicit/violent",
    "self-harm", "self-harm/intent", "self-harm/instructions", "sexual", "sexual/minors",
    "violence", "violence/graphic",
)


def _thresholds(model: Any) -> Callable[[str], float]:
    """The model's own decision thresholds per category (its card's calibrated cuts), else 0.5."""
    table = getattr(model, "thresholds", None) or {}
    default = float(getattr(model, "threshold", 0.5))
    return lambda category: float(table.get(category, default))


class LocalProvider(BaseProvider):
    capabilities = frozenset({Capability.EMBEDDINGS, Capability.MODERATION})
    moderation_input_types = frozenset({"text", "image"})  # images in moderation input; no chat vision
    default_in_house = True
    Options = _Options

    def __init__(self, name, config) -> None:
        super().__init__(name, config)
        self._factories: dict[str, Callable[[], Any]] = {
            "all-minilm-l6-v2": _load_minilm,
            "hybridgate-moderation": _load_moderation,
            IMAGE_MODEL: _load_nudenet,
        }
        self._loaded: dict[str, Any] = {}
        self._lock = asyncio.Lock()
        self._sem = asyncio.Semaphore(self.options.threads)
        self._mt: Any = None
        if self.options.translation_models:
            from ..features.translation.mt import TRANSLATION, build_translator

            self._mt = build_translator(self.options.translation_models, self.options.translation, {},
                                        where=f"providers.{name}.options")
            if self._mt is not None:
                self.capabilities = self.capabilities | {TRANSLATION}

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
                try:
                    self._loaded[name] = await asyncio.to_thread(factory)
                except HybridgateError:
                    raise
                except (OSError, ValueError) as exc:  # missing or damaged weights: fall back, don't crash
                    raise ProviderUnavailable(f"{self.name}: in-house model {name!r} cannot be loaded "
                                              f"({type(exc).__name__}: {exc})", provider=self.name) from exc
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
        if isinstance(inputs, list) and any(isinstance(t, dict) for t in inputs):
            return await self._moderate_parts(name, inputs)
        if name == IMAGE_MODEL:
            raise InvalidRequest(f"{IMAGE_MODEL} moderates images: send input as "
                                 '[{"type": "image_url", "image_url": {"url": "data:..."}}]', param="input")
        texts = [inputs] if isinstance(inputs, str) else inputs
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise InvalidRequest("the in-house moderation model takes a string, a list of strings, or a list of "
                                 "text and image_url parts", param="input")
        model = await self._model(name)
        scores = await self._run(model.score, texts)
        cut = _thresholds(model)
        results = []
        for s in scores:
            cat_scores = {k: float(s.get(k, 0.0)) for k in OPENAI_MODERATION_KEYS}
            flagged_score = float(s.get("flagged", max(cat_scores.values(), default=0.0)))
            results.append({
                "flagged": flagged_score >= cut("flagged"),
                "categories": {k: v >= cut(k) for k, v in cat_scores.items()},
                "category_scores": cat_scores,
                "category_applied_input_types": {k: ["text"] for k in OPENAI_MODERATION_KEYS},
                "flagged_score": flagged_score,
            })
        return {"id": "modr-" + uuid.uuid4().hex[:24], "model": name, "results": results,
                "created": int(time.time())}

    def _image_scores(self, model: Any, urls: list[str]) -> list[float]:
        """Validate and decode the images (privacy.images), then score them; runs in a worker thread."""
        from ..privacy.images import ImageLimits, decode_data_url, load_image

        limits = ImageLimits(max_bytes=self.options.image_max_bytes, max_pixels=self.options.image_max_pixels)
        images = []
        for u in urls:  # one full-size decode at a time: each is shrunk before the next is decoded
            im = load_image(decode_data_url(u, limits.max_bytes)[1], limits, target_side=640)
            im.thumbnail((640, 640))
            images.append(im)
        return [s.sexual for s in model.score(images)]

    async def _moderate_parts(self, name: str, parts: list[Any]) -> dict[str, Any]:
        """One combined result for a list of text and image_url parts (OpenAI's omni-moderation shape)."""
        texts, urls = [], []
        for p in parts:
            kind = p.get("type") if isinstance(p, dict) else None
            if kind == "text" and isinstance(p.get("text"), str):
                texts.append(p["text"])
            elif kind == "image_url":
                url = part_url(p)
                if not url.startswith("data:"):
                    raise InvalidRequest("the in-house moderator takes images as data: URLs (base64); it does not "
                                         "fetch URLs", code="invalid_image_url", param="input")
                urls.append(url)
            else:
                raise InvalidRequest("moderation input parts must be {type: text, text} or {type: image_url, "
                                     "image_url: {url}}", param="input")
        if not texts and not urls:
            raise InvalidRequest("moderation input is empty", param="input")
        if name == IMAGE_MODEL and texts:
            raise InvalidRequest(f"{IMAGE_MODEL} moderates images only; use hybridgate-moderation for text "
                                 "and images together", param="input")
        text_name = None if name == IMAGE_MODEL else name
        text_scores: dict[str, float] = {}
        text_flagged, cut = 0.0, _thresholds(None)
        if texts:
            model = await self._model(text_name or "hybridgate-moderation")
            cut = _thresholds(model)
            for s in await self._run(model.score, texts):
                for k in (*OPENAI_MODERATION_KEYS, "flagged"):
                    text_scores[k] = max(text_scores.get(k, 0.0), float(s.get(k, 0.0)))
            text_flagged = text_scores.get("flagged", max(text_scores.values(), default=0.0))
        image_sexual = 0.0
        if urls:
            detector = await self._model(IMAGE_MODEL)
            image_sexual = max(await self._run(self._image_scores, detector, urls))
        img_threshold = self.options.image_threshold
        scores = {k: text_scores.get(k, 0.0) for k in OPENAI_MODERATION_KEYS}
        scores["sexual"] = max(scores["sexual"], image_sexual)
        categories = {k: bool(texts) and text_scores.get(k, 0.0) >= cut(k) for k in OPENAI_MODERATION_KEYS}
        categories["sexual"] = categories["sexual"] or image_sexual >= img_threshold
        applied = {k: (["text"] if texts else []) + (["image"] if urls and k == "sexual" else [])
                   for k in OPENAI_MODERATION_KEYS}
        flagged_score = max(text_flagged, image_sexual)
        result = {"flagged": (bool(texts) and text_flagged >= cut("flagged")) or image_sexual >= img_threshold,
                  "categories": categories, "category_scores": scores, "category_applied_input_types": applied,
                  "flagged_score": flagged_score}
        return {"id": "modr-" + uuid.uuid4().hex[:24], "model": name, "results": [result],
                "created": int(time.time())}

    async def translate(self, body: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        """In-house MT: ``{"model", "input": [...], "source_lang", "target_lang"}`` (``features/translation/mt.py``)."""
        if self._mt is None:
            raise self._unsupported("translation (set options.translation_models, or HYBRIDGATE_MT_MODELS for the "
                                    "embedded default)")
        from ..features.translation.mt import serve_translate

        async with self._sem:
            return await serve_translate(self._mt, body, self.name)

    def translation_supports(self, source: str, target: str) -> bool:
        """Whether a configured MT model serves ``source`` -> ``target`` (may load an NLLB model: call off-loop)."""
        return self._mt is not None and self._mt.supports(source, target)

    def translation_version(self, source: str, target: str) -> str:
        """Version of the MT model serving the pair (for translation cache keys)."""
        return self._mt.model_version(source, target) if self._mt is not None else ""

    async def list_models(self) -> list[str]:
        return list(self.config.models) or sorted(self._factories)
