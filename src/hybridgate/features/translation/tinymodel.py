"""Build tiny random-weight translation models, converted for CTranslate2, entirely offline.

For tests and benchmarks of the in-house MT code path (load, tokenise, translate, detokenise, batch, routing):
the weights are random, so the output is gibberish by design. Needs `torch`, `transformers`, `sentencepiece`
and `ctranslate2`; all imports are local to the functions.

- :func:`build_tiny_marian` mirrors an OPUS-MT model converted with
  ``ct2-transformers-converter --copy_files source.spm target.spm vocab.json``.
- :func:`build_tiny_nllb` mirrors an NLLB model converted with ``--copy_files sentencepiece.bpe.model``.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

__all__ = ["DEFAULT_SENTENCES", "build_tiny_marian", "build_tiny_nllb"]

DEFAULT_SENTENCES: tuple[str, ...] = (
    "Hello world, how are you today?",
    "I like to translate short sentences.",
    "The quick brown fox jumps over the lazy dog.",
    "Thanks for the photo, see you at 5 pm!",
    "Das ist ein kleiner Test.",
    "Wie geht es dir heute?",
    "Der schnelle braune Fuchs springt über den faulen Hund.",
    "Hola, ¿cómo estás? Très bien, merci. Olá, tudo bem?",
    "[[1]] [[2]] [[3]] 0123456789 ()[]{}",
)


def _train_spm(sentences: Sequence[str], prefix: Path, vocab_size: int, *, special: dict[str, int | str]) -> Path:
    import sentencepiece as spm

    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(list(sentences) * 10),
        model_prefix=str(prefix),
        vocab_size=vocab_size,
        character_coverage=1.0,
        hard_vocab_limit=False,
        minloglevel=2,
        **special,
    )
    return prefix.with_suffix(".model")


def _pieces(model_file: Path) -> list[str]:
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(model_file))
    return [sp.id_to_piece(i) for i in range(sp.get_piece_size())]


def _convert(hf_dir: Path, out_dir: Path, copy_files: list[str], quantization: str | None) -> Path:
    from ctranslate2.converters import TransformersConverter

    converter = TransformersConverter(str(hf_dir), copy_files=copy_files)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MarianTokenizer: "Recommended: pip install sacremoses" — not used here
        return Path(converter.convert(str(out_dir), quantization=quantization, force=True))


def build_tiny_marian(
    out_dir: str | Path,
    *,
    sentences: Sequence[str] = DEFAULT_SENTENCES,
    vocab_size: int = 96,
    d_model: int = 16,
    layers: int = 1,
    heads: int = 2,
    ffn_dim: int | None = None,
    pad_vocab_to: int | None = None,
    seed: int = 0,
    quantization: str | None = None,
) -> Path:
    """Write a tiny Marian (OPUS-MT layout) model converted for CTranslate2 to `out_dir`; return that path.

    The directory holds ``model.bin``, the CTranslate2 vocabulary, ``source.spm``, ``target.spm`` and
    ``vocab.json`` — the files the in-house MT loader reads. For benchmarks, ``d_model=512, layers=6, heads=8,
    ffn_dim=2048, pad_vocab_to=58101`` gives the shape (and so the compute cost) of an OPUS-MT model.
    """
    import torch
    from transformers import MarianConfig, MarianMTModel, MarianTokenizer

    out = Path(out_dir)
    with tempfile.TemporaryDirectory(prefix="tiny-marian-") as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        work = Path(tmp)
        hf = work / "hf"
        hf.mkdir()
        special = {"unk_id": 1, "bos_id": -1, "eos_id": -1, "pad_id": -1, "model_type": "unigram"}
        src_model = _train_spm(sentences, work / "source", vocab_size, special=special)
        tgt_model = _train_spm(sentences, work / "target", vocab_size, special=special)
        shutil.copy(src_model, hf / "source.spm")
        shutil.copy(tgt_model, hf / "target.spm")
        # OPUS-MT layout: </s>=0, <unk>=1, the pieces of both models, <pad> last.
        vocab: dict[str, int] = {"</s>": 0, "<unk>": 1}
        for piece in _pieces(src_model) + _pieces(tgt_model):
            if piece not in vocab and piece not in ("<s>", "<pad>"):
                vocab[piece] = len(vocab)
        while pad_vocab_to is not None and len(vocab) < pad_vocab_to - 1:
            vocab[f"<filler{len(vocab)}>"] = len(vocab)
        vocab["<pad>"] = len(vocab)
        (hf / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")

        tokenizer = MarianTokenizer(
            source_spm=str(hf / "source.spm"),
            target_spm=str(hf / "target.spm"),
            vocab=str(hf / "vocab.json"),
            source_lang="en",
            target_lang="de",
        )
        pad = vocab["<pad>"]
        config = MarianConfig(
            vocab_size=len(vocab),
            d_model=d_model,
            encoder_layers=layers,
            decoder_layers=layers,
            encoder_attention_heads=heads,
            decoder_attention_heads=heads,
            encoder_ffn_dim=ffn_dim or 2 * d_model,
            decoder_ffn_dim=ffn_dim or 2 * d_model,
            max_position_embeddings=512,
            pad_token_id=pad,
            eos_token_id=0,
            decoder_start_token_id=pad,
            forced_eos_token_id=0,
        )
        torch.manual_seed(seed)
        model = MarianMTModel(config)
        model.save_pretrained(hf)
        tokenizer.save_pretrained(hf)
        return _convert(hf, out, ["source.spm", "target.spm", "vocab.json"], quantization)


def build_tiny_nllb(
    out_dir: str | Path,
    *,
    languages: Sequence[str] = ("eng_Latn", "deu_Latn", "spa_Latn", "fra_Latn"),
    sentences: Sequence[str] = DEFAULT_SENTENCES,
    vocab_size: int = 96,
    d_model: int = 16,
    layers: int = 1,
    heads: int = 2,
    ffn_dim: int | None = None,
    pad_vocab_to: int | None = None,
    seed: int = 0,
    quantization: str | None = None,
) -> Path:
    """Write a tiny NLLB-layout (M2M100 architecture, language-code tokens) model for CTranslate2; return its path.

    The directory holds ``model.bin``, the vocabulary (with the codes in `languages`) and
    ``sentencepiece.bpe.model``. ``d_model=1024, layers=12, heads=16, ffn_dim=4096, pad_vocab_to=256204`` gives
    the shape of NLLB-200-distilled-600M.
    """
    import torch
    from transformers import M2M100Config, M2M100ForConditionalGeneration, NllbTokenizer

    out = Path(out_dir)
    with tempfile.TemporaryDirectory(prefix="tiny-nllb-") as tmp:
        work = Path(tmp)
        hf = work / "hf"
        hf.mkdir()
        special = {"unk_id": 0, "bos_id": 1, "eos_id": 2, "pad_id": -1, "model_type": "bpe"}
        spm_model = _train_spm(sentences, work / "spm", vocab_size, special=special)
        shutil.copy(spm_model, hf / "sentencepiece.bpe.model")
        # fairseq layout: <s>, <pad>, </s>, <unk>, then the SentencePiece pieces; language codes are added after.
        vocab: dict[str, int] = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
        for piece in _pieces(spm_model):
            vocab.setdefault(piece, len(vocab))
        while pad_vocab_to is not None and len(vocab) < pad_vocab_to - len(languages) - 1:
            vocab[f"<filler{len(vocab)}>"] = len(vocab)
        tokenizer = NllbTokenizer(
            vocab=vocab,
            src_lang=languages[0],
            tgt_lang=languages[1],
            additional_special_tokens=list(languages),
        )
        vocab_len = len(tokenizer.get_vocab())
        config = M2M100Config(
            vocab_size=vocab_len,
            d_model=d_model,
            encoder_layers=layers,
            decoder_layers=layers,
            encoder_attention_heads=heads,
            decoder_attention_heads=heads,
            encoder_ffn_dim=ffn_dim or 2 * d_model,
            decoder_ffn_dim=ffn_dim or 2 * d_model,
            max_position_embeddings=512,
            pad_token_id=tokenizer.pad_token_id,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            decoder_start_token_id=tokenizer.eos_token_id,
            tokenizer_class="NllbTokenizer",
        )
        torch.manual_seed(seed)
        model = M2M100ForConditionalGeneration(config)
        model.save_pretrained(hf)
        tokenizer.save_pretrained(hf)
        return _convert(hf, out, ["sentencepiece.bpe.model"], quantization)
