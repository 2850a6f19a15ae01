"""In-house MT as a provider capability: what the ``local`` provider needs to serve ``translate``.

A ``local`` provider translates when it has CTranslate2 model directories: ``options.translation_models``
(``{"en-de": DIR, "*": NLLB_DIR}`` or one path), else the ``HYBRIDGATE_MT_MODELS`` environment variable (how the
embedded default gets them). ``options.translation`` holds inference settings (``CT2Options`` fields:
``compute_type``, ``beam_size``, ``intra_threads`` ...).

Wire shape of ``translate(body, ctx)`` (OpenAI-like, so provider wrappers treat it like any other call):
``{"model", "input": [str, ...], "source_lang", "target_lang"}`` → ``{"object": "translation.list", "model",
"model_version", "source_lang", "target_lang", "data": [{"index", "translation"}], "usage": {"characters", ...}}``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from hybridgate.errors import ConfigError, HybridgateError, ProviderInvalidRequest, ProviderUnavailable

__all__ = ["ENV_VAR", "TRANSLATION", "UnsupportedPair", "build_translator", "models_from_env", "serve_translate"]

ENV_VAR = "HYBRIDGATE_MT_MODELS"
TRANSLATION = "translation"
"""The provider capability of direct (non-chat) machine translation."""


class UnsupportedPair(ProviderInvalidRequest):
    """This provider has no model for the language pair (refused locally: the route's next candidate may serve)."""

    code = "unsupported_language_pair"
    local = True


def models_from_env(value: str | None) -> dict[str, str] | None:
    """Parse ``HYBRIDGATE_MT_MODELS``: one directory (all pairs), ``en-de=DIR,en-fr=DIR``, or a JSON object."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if value.startswith("{"):
        try:
            data = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{ENV_VAR}: not a JSON object ({exc.msg})") from None
        if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
            raise ConfigError(f'{ENV_VAR}: expected {{"src-tgt": "directory", ...}}')
        return dict(data)
    if "=" not in value:
        return {"*": value}
    out: dict[str, str] = {}
    for part in value.split(","):
        pair, sep, path = part.partition("=")
        if not sep or not pair.strip() or not path.strip():
            raise ConfigError(f"{ENV_VAR}: {part!r} is not 'src-tgt=DIRECTORY'")
        out[pair.strip()] = path.strip()
    return out


def build_translator(models: Mapping[str, str] | str | None, settings: Mapping[str, Any],
                     environ: Mapping[str, str], *, where: str) -> Any:
    """A ``CT2Translator`` for the configured directories (else ``HYBRIDGATE_MT_MODELS``), or None when neither
    names any. Bad directories or settings raise ``ConfigError`` naming `where` (the provider's options)."""
    source = where + ".translation_models"
    if models is None:
        models = models_from_env(environ.get(ENV_VAR))
        source = ENV_VAR
    if not models:
        return None
    from hybridgate.features.translation.ct2 import CT2Translator

    try:
        return CT2Translator.from_config({"model_dirs": models, **settings})
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc.message}") from None
    except TypeError as exc:
        raise ConfigError(f"{where}.translation: {exc}") from None


def _check_body(body: Mapping[str, Any], provider: str) -> tuple[list[str], str, str]:
    texts, source, target = body.get("input"), body.get("source_lang"), body.get("target_lang")
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise ProviderInvalidRequest(f"{provider}: translate takes 'input' as a list of strings", provider=provider)
    if not isinstance(source, str) or not isinstance(target, str) or not source or not target:
        raise ProviderInvalidRequest(f"{provider}: translate needs 'source_lang' and 'target_lang'",
                                     provider=provider)
    return texts, source.lower(), target.lower()


async def serve_translate(translator: Any, body: Mapping[str, Any], provider: str) -> dict[str, Any]:
    """Run one ``translate`` call on `translator` (a ``CT2Translator``); wire shapes in the module docstring."""
    import asyncio

    texts, source, target = _check_body(body, provider)
    if not await asyncio.to_thread(translator.supports, source, target):
        raise UnsupportedPair(f"{provider}: no in-house translation model for {source}->{target} (configured: "
                              f"{', '.join(translator.pairs)})", provider=provider)
    try:
        outputs = await translator.translate(texts, source, target)
        version = translator.model_version(source, target)
    except HybridgateError:
        raise
    except (RuntimeError, OSError, ValueError) as exc:  # a damaged model or tokenizer: fall back, don't crash
        raise ProviderUnavailable(f"{provider}: in-house translation failed ({type(exc).__name__}: {exc})",
                                  provider=provider) from exc
    chars = sum(map(len, texts))
    return {"object": "translation.list", "model": body.get("model"), "model_version": version,
            "source_lang": source, "target_lang": target,
            "data": [{"index": i, "translation": t} for i, t in enumerate(outputs)],
            "usage": {"characters": chars, "prompt_tokens": 0, "completion_tokens": 0}}
