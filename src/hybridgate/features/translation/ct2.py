"""In-house neural MT through CTranslate2, over models converted with ``ct2-transformers-converter``.

Two layouts are understood (detected from the files in the model directory, or named explicitly):

- ``marian`` — an OPUS-MT model converted with ``--copy_files source.spm target.spm vocab.json``; one direction
  per directory; multilingual-target models get their ``>>xx<<`` token when the vocabulary has one.
- ``nllb`` — an NLLB model converted with ``--copy_files sentencepiece.bpe.model``; one directory for all pairs,
  language-code tokens such as ``deu_Latn``.

:class:`CT2Translator` routes a language pair to a directory (``{"en-de": dir, "*": nllb_dir}``), loads each
directory once on first use (lazily, under a lock), splits texts into lines and sentences, translates them in
batches through ``Translator.translate_batch`` and runs that in a worker thread so an event loop is not blocked.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import regex

from hybridgate.errors import ConfigError, NotConfigured, UnsupportedCapability

__all__ = ["NLLB_CODES", "CT2Model", "CT2Options", "CT2Translator", "join_segments", "split_segments"]

Kind = Literal["auto", "marian", "nllb"]

NLLB_CODES: Mapping[str, str] = MappingProxyType({
    "af": "afr_Latn", "ar": "arb_Arab", "bg": "bul_Cyrl", "bn": "ben_Beng", "ca": "cat_Latn", "cs": "ces_Latn",
    "da": "dan_Latn", "de": "deu_Latn", "el": "ell_Grek", "en": "eng_Latn", "es": "spa_Latn", "et": "est_Latn",
    "fa": "pes_Arab", "fi": "fin_Latn", "fr": "fra_Latn", "gu": "guj_Gujr", "he": "heb_Hebr", "hi": "hin_Deva",
    "hr": "hrv_Latn", "hu": "hun_Latn", "id": "ind_Latn", "it": "ita_Latn", "ja": "jpn_Jpan", "ko": "kor_Hang",
    "lt": "lit_Latn", "lv": "lvs_Latn", "mr": "mar_Deva", "ms": "zsm_Latn", "nl": "nld_Latn", "no": "nob_Latn",
    "pa": "pan_Guru", "pl": "pol_Latn", "pt": "por_Latn", "ro": "ron_Latn", "ru": "rus_Cyrl", "sk": "slk_Latn",
    "sl": "slv_Latn", "sr": "srp_Cyrl", "sv": "swe_Latn", "sw": "swh_Latn", "ta": "tam_Taml", "te": "tel_Telu",
    "th": "tha_Thai", "tl": "tgl_Latn", "tr": "tur_Latn", "uk": "ukr_Cyrl", "ur": "urd_Arab", "vi": "vie_Latn",
    "zh": "zho_Hans",
})
"""ISO 639-1 → NLLB-200 (FLORES-200) language code."""

_ISO3: Mapping[str, str] = MappingProxyType({code: nllb.split("_")[0] for code, nllb in NLLB_CODES.items()})

# Sentence ends: . ! ? … followed by space and something that starts a sentence; CJK stops without a space.
_SENTENCE_END = regex.compile(r"(?<=[.!?…])[ \t]+(?=[\p{Lu}\p{Lo}¿¡\"'«“(\[])|(?<=[。！？])")
_LINE_BREAK = regex.compile(r"\r\n|\r|\n")
_SPECIAL_OUT = frozenset({"</s>", "<s>", "<pad>", "<unk>"})


@dataclass(frozen=True)
class CT2Options:
    """Inference settings shared by every model directory of a translator."""

    compute_type: str = "int8"
    inter_threads: int = 1
    intra_threads: int = 1
    beam_size: int = 2
    max_batch_size: int = 32
    max_input_length: int = 512
    max_decoding_length: int = 256
    min_decoding_length: int = 1
    replace_unknowns: bool = True
    split_sentences: bool = True
    device: str = "cpu"


def split_segments(text: str, *, sentences: bool = True) -> list[tuple[str, bool]]:
    """Split `text` into ``(piece, translatable)`` parts; joining the pieces gives `text` back exactly.

    Line breaks and the whitespace around and between sentences are kept as untranslatable parts, so the
    layout of a multi-line post survives a model that cannot emit newlines.
    """
    parts: list[tuple[str, bool]] = []

    def add_chunk(chunk: str) -> None:
        stripped = chunk.strip()
        if not stripped:
            if chunk:
                parts.append((chunk, False))
            return
        lead = chunk[: len(chunk) - len(chunk.lstrip())]
        trail = chunk[len(chunk.rstrip()):]
        if lead:
            parts.append((lead, False))
        parts.append((stripped, True))
        if trail:
            parts.append((trail, False))

    pos = 0
    for line_break in _LINE_BREAK.finditer(text):
        _split_line(text[pos: line_break.start()], sentences, add_chunk, parts)
        parts.append((line_break.group(), False))
        pos = line_break.end()
    _split_line(text[pos:], sentences, add_chunk, parts)
    return parts


def _split_line(line: str, sentences: bool, add_chunk: Any, parts: list[tuple[str, bool]]) -> None:
    if not sentences:
        add_chunk(line)
        return
    pos = 0
    for gap in _SENTENCE_END.finditer(line):
        add_chunk(line[pos: gap.start()])
        if gap.group():
            parts.append((gap.group(), False))
        pos = gap.end()
    add_chunk(line[pos:])


def join_segments(parts: Sequence[tuple[str, bool]], translated: Sequence[str]) -> str:
    """Rebuild a text from :func:`split_segments` parts, taking translatable parts from `translated` in order."""
    out: list[str] = []
    it = iter(translated)
    for piece, translatable in parts:
        out.append(next(it) if translatable else piece)
    return "".join(out)


def _detect_kind(path: Path) -> Literal["marian", "nllb"]:
    if (path / "source.spm").is_file():
        return "marian"
    if (path / "sentencepiece.bpe.model").is_file():
        return "nllb"
    raise ConfigError(
        f"translation model directory {path} has neither source.spm/target.spm (OPUS-MT/Marian) nor "
        "sentencepiece.bpe.model (NLLB); convert with ct2-transformers-converter --copy_files …"
    )


class CT2Model:
    """One converted model directory: lazy loading, tokenisation and batched translation (blocking calls)."""

    def __init__(self, path: str | Path, *, kind: Kind = "auto", options: CT2Options | None = None) -> None:
        self.path = Path(path).expanduser()
        if not (self.path / "model.bin").is_file():
            raise ConfigError(f"translation model directory {self.path} has no model.bin (not a CTranslate2 model)")
        self.kind: Literal["marian", "nllb"] = _detect_kind(self.path) if kind == "auto" else kind
        self.options = options or CT2Options()
        self._lock = threading.Lock()
        self._translator: Any = None
        self._source_sp: Any = None
        self._target_sp: Any = None
        self._vocabulary: frozenset[str] | None = None
        self._version: str | None = None

    # ------------------------------------------------------------------ loading
    def load(self) -> None:
        """Load the model and its tokenizers now (otherwise done on the first translation)."""
        if self._translator is not None:
            return
        with self._lock:
            if self._translator is not None:
                return
            import ctranslate2
            import sentencepiece as spm

            if self.kind == "marian":
                src_file, tgt_file = self.path / "source.spm", self.path / "target.spm"
            else:
                src_file = tgt_file = self.path / "sentencepiece.bpe.model"
            for f in (src_file, tgt_file):
                if not f.is_file():
                    raise ConfigError(f"translation model directory {self.path} lacks {f.name}")
            self._source_sp = spm.SentencePieceProcessor(model_file=str(src_file))
            self._target_sp = (
                self._source_sp if tgt_file == src_file else spm.SentencePieceProcessor(model_file=str(tgt_file))
            )
            self._vocabulary = self._read_vocabulary()
            o = self.options
            self._translator = ctranslate2.Translator(
                str(self.path),
                device=o.device,
                compute_type=o.compute_type,
                inter_threads=o.inter_threads,
                intra_threads=o.intra_threads,
            )

    def _read_vocabulary(self) -> frozenset[str]:
        tokens: list[str] = []
        for name in ("shared_vocabulary", "target_vocabulary"):
            json_file, txt_file = self.path / f"{name}.json", self.path / f"{name}.txt"
            if json_file.is_file():
                tokens = json.loads(json_file.read_text(encoding="utf-8"))
            elif txt_file.is_file():
                tokens = txt_file.read_text(encoding="utf-8").splitlines()
            if tokens:
                break
        return frozenset(tokens)

    def unload(self) -> None:
        """Free the model; the next translation loads it again."""
        with self._lock:
            self._translator = None

    @property
    def version(self) -> str:
        """Short digest of the model directory (path, model.bin size and mtime, config) for cache keys."""
        if self._version is None:
            stat = (self.path / "model.bin").stat()
            config = self.path / "config.json"
            blob = json.dumps([
                self.kind, str(self.path.resolve()), stat.st_size, stat.st_mtime_ns,
                config.read_text(encoding="utf-8") if config.is_file() else "",
            ])
            self._version = f"ct2-{self.kind}-" + hashlib.sha256(blob.encode()).hexdigest()[:16]
        return self._version

    # ------------------------------------------------------------------ languages
    def supports(self, source: str, target: str) -> bool:
        """Whether this directory can translate `source` → `target` (NLLB: both codes known to the model)."""
        if self.kind == "marian":
            return True
        self.load()
        assert self._vocabulary is not None
        codes = (NLLB_CODES.get(source), NLLB_CODES.get(target))
        return all(c is not None and (not self._vocabulary or c in self._vocabulary) for c in codes)

    def _marian_target_token(self, target: str) -> str | None:
        assert self._vocabulary is not None
        for code in (target, _ISO3.get(target)):
            if code and f">>{code}<<" in self._vocabulary:
                return f">>{code}<<"
        return None

    # ------------------------------------------------------------------ translation
    def translate_segments(self, segments: Sequence[str], source: str, target: str) -> list[str]:
        """Translate single segments (sentences) in batches; blocking."""
        if not segments:
            return []
        self.load()
        o = self.options
        prefix: list[list[str]] | None = None
        if self.kind == "nllb":
            src_code, tgt_code = NLLB_CODES.get(source), NLLB_CODES.get(target)
            if src_code is None or tgt_code is None:
                raise UnsupportedCapability(
                    f"NLLB model {self.path.name} has no code for {source if src_code is None else target!r}",
                    code="unsupported_language_pair",
                )
            batch = [[src_code, *self._source_sp.encode(s, out_type=str), "</s>"] for s in segments]
            prefix = [[tgt_code] for _ in segments]
        else:
            lead = self._marian_target_token(target)
            batch = [[*([lead] if lead else []), *self._source_sp.encode(s, out_type=str), "</s>"] for s in segments]
        results = self._translator.translate_batch(
            batch,
            target_prefix=prefix,
            max_batch_size=o.max_batch_size,
            beam_size=o.beam_size,
            max_input_length=o.max_input_length,
            max_decoding_length=o.max_decoding_length,
            min_decoding_length=o.min_decoding_length,
            replace_unknowns=o.replace_unknowns,
        )
        out: list[str] = []
        for result in results:
            tokens = result.hypotheses[0]
            if prefix is not None and tokens and tokens[0] == prefix[0][0]:
                tokens = tokens[1:]
            out.append(self._detokenize(tokens))
        return out

    def _detokenize(self, tokens: Sequence[str]) -> str:
        # SentencePiece decoding of plain pieces is concatenation with "▁" as space; doing it by hand also keeps
        # source pieces copied in by replace_unknowns that the target model does not know.
        pieces = [t for t in tokens if t not in _SPECIAL_OUT and not (t.startswith(">>") and t.endswith("<<"))]
        return "".join(pieces).replace("▁", " ").strip()

    def translate(self, texts: Sequence[str], source: str, target: str) -> list[str]:
        """Translate whole texts (multi-line, multi-sentence) keeping their line breaks; blocking."""
        layouts = [split_segments(t, sentences=self.options.split_sentences) for t in texts]
        flat = [piece for parts in layouts for piece, translatable in parts if translatable]
        translated = iter(self.translate_segments(flat, source, target))
        out: list[str] = []
        for parts in layouts:
            n = sum(1 for _, translatable in parts if translatable)
            out.append(join_segments(parts, [next(translated) for _ in range(n)]))
        return out


class CT2Translator:
    """Routes language pairs to CTranslate2 model directories; ``await translate(texts, source, target)``.

    `models` maps ``"src-tgt"`` (ISO 639-1) to a directory; ``"src-*"``, ``"*-tgt"`` and ``"*"`` are
    fall-backs (``"*"`` is typically one NLLB directory). A bare path means ``{"*": path}``. Directories shared by
    several pairs are loaded once.
    """

    def __init__(
        self,
        models: Mapping[str, str | Path] | str | Path,
        *,
        options: CT2Options | None = None,
        kinds: Mapping[str, Kind] | None = None,
    ) -> None:
        routes = {"*": models} if isinstance(models, (str, Path)) else dict(models)
        if not routes:
            raise NotConfigured(
                "in-house translation needs a CTranslate2 model directory: set translation model_dirs, e.g. "
                '{"en-de": "/models/ct2-opus-mt-en-de"} or {"*": "/models/ct2-nllb-200-distilled-600M"}'
            )
        self.options = options or CT2Options()
        self._models: dict[str, CT2Model] = {}
        self._routes: dict[str, CT2Model] = {}
        for pair, path in routes.items():
            key = self._normalise_pair(pair)
            resolved = str(Path(path).expanduser().resolve())
            if resolved not in self._models:
                kind = (kinds or {}).get(pair, "auto")
                self._models[resolved] = CT2Model(resolved, kind=kind, options=self.options)
            self._routes[key] = self._models[resolved]

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> CT2Translator:
        """Build from ``{"model_dirs": {...} | path, "compute_type": ..., "beam_size": ..., ...}``."""
        fields = set(CT2Options.__dataclass_fields__)
        unknown = set(config) - fields - {"model_dirs", "kinds"}
        if unknown:
            raise ConfigError(f"unknown CTranslate2 translation settings: {sorted(unknown)}")
        options = CT2Options(**{k: v for k, v in config.items() if k in fields})
        return cls(config.get("model_dirs") or {}, options=options, kinds=config.get("kinds"))

    @staticmethod
    def _normalise_pair(pair: str) -> str:
        if pair == "*":
            return pair
        src, sep, tgt = pair.replace("_", "-").lower().partition("-")
        if not sep or not src or not tgt:
            raise ConfigError(f"translation model route {pair!r} is not 'src-tgt', 'src-*', '*-tgt' or '*'")
        return f"{src}-{tgt}"

    @property
    def pairs(self) -> list[str]:
        """The configured routes, e.g. ``["en-de", "*"]``."""
        return list(self._routes)

    def route(self, source: str, target: str) -> CT2Model:
        """The model directory serving `source` → `target`; raises UnsupportedCapability when none does."""
        source, target = source.lower(), target.lower()
        for key in (f"{source}-{target}", f"{source}-*", f"*-{target}", "*"):
            model = self._routes.get(key)
            if model is not None and (key != "*" or model.supports(source, target)):
                return model
        raise UnsupportedCapability(
            f"no in-house translation model for {source}->{target}; configured: {', '.join(self._routes)}",
            code="unsupported_language_pair",
        )

    def supports(self, source: str, target: str) -> bool:
        """Whether some configured directory serves `source` → `target`."""
        try:
            self.route(source, target)
        except UnsupportedCapability:
            return False
        return True

    def model_version(self, source: str, target: str) -> str:
        """Version string of the model serving the pair (for cache keys)."""
        return self.route(source, target).version

    def translate_sync(self, texts: Sequence[str], source: str, target: str) -> list[str]:
        """Blocking translation of `texts` from `source` to `target`."""
        if source.lower() == target.lower():
            return list(texts)
        return self.route(source, target).translate(texts, source.lower(), target.lower())

    async def translate(self, texts: Sequence[str], source: str, target: str) -> list[str]:
        """Translate `texts` in a worker thread; same result as :meth:`translate_sync`."""
        return await asyncio.to_thread(self.translate_sync, list(texts), source, target)

    def close(self) -> None:
        """Unload every model."""
        for model in self._models.values():
            model.unload()
