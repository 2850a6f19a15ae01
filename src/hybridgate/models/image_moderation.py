"""In-house image moderation: the NudeNet detector (``320n.onnx`` shipped in the ``nudenet`` wheel)
mapped to OpenAI's ``sexual`` category. Runs in-process on onnxruntime, offline.

The detector finds body-part boxes in 18 classes. Mapping to ``sexual`` (score = the highest
confidence of any box of these classes, 0 when none):

=============================  ==========  ================================================
class                          sexual?     why
=============================  ==========  ================================================
FEMALE_GENITALIA_EXPOSED       yes         explicit nudity
MALE_GENITALIA_EXPOSED         yes         explicit nudity
FEMALE_BREAST_EXPOSED          yes         nudity (most platform policies)
BUTTOCKS_EXPOSED               yes         nudity
ANUS_EXPOSED                   yes         explicit nudity
*_COVERED (genitalia, breast,  no          clothed / swimwear: not sexual by itself
buttocks, anus, belly, feet,
armpits)
MALE_BREAST_EXPOSED            no          a bare male chest (beach, sport) is not nudity
BELLY/ARMPITS/FEET_EXPOSED     no          ordinary summer clothing
FACE_FEMALE / FACE_MALE        no          faces say nothing about sexual content
=============================  ==========  ================================================

Scores are NudeNet's per-box class confidences (not calibrated probabilities); the provider flags at
its ``image_threshold`` (default 0.5). NudeNet knows nothing of ``sexual/minors``, violence or any
other category: those stay 0 for images (OpenAI's omni model likewise scores only some categories on
images; ``category_applied_input_types`` says which input types each score covers).

Integrity: the ONNX file's SHA-256 is pinned; a file that does not match is refused before it is
parsed. The model is loaded on first use (no import-time I/O), from the very bytes that were hashed.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["NUDENET_CLASSES", "NUDENET_SHA256", "SEXUAL_CLASSES", "ImageScores", "NudeNetModerator",
           "sexual_score"]

NUDENET_SHA256 = "c15d8273adad2d0a92f014cc69ab2d6c311a06777a55545f2c4eb46f51911f0f"
# the detector's output classes, in its output order (nudenet 3.4's label table)
NUDENET_CLASSES: tuple[str, ...] = (
    "FEMALE_GENITALIA_COVERED", "FACE_FEMALE", "BUTTOCKS_EXPOSED", "FEMALE_BREAST_EXPOSED",
    "FEMALE_GENITALIA_EXPOSED", "MALE_BREAST_EXPOSED", "ANUS_EXPOSED", "FEET_EXPOSED", "BELLY_COVERED",
    "FEET_COVERED", "ARMPITS_COVERED", "ARMPITS_EXPOSED", "FACE_MALE", "BELLY_EXPOSED",
    "MALE_GENITALIA_EXPOSED", "ANUS_COVERED", "FEMALE_BREAST_COVERED", "BUTTOCKS_COVERED",
)
SEXUAL_CLASSES = frozenset({"FEMALE_GENITALIA_EXPOSED", "MALE_GENITALIA_EXPOSED", "FEMALE_BREAST_EXPOSED",
                            "BUTTOCKS_EXPOSED", "ANUS_EXPOSED"})
INPUT_SIDE = 320
DETECTION_MIN = 0.2  # NudeNet's own box threshold; lower class scores are reported as 0


def sexual_score(class_scores: Mapping[str, float]) -> float:
    """The ``sexual`` score from per-class confidences (the table in the module docstring)."""
    return max((float(v) for k, v in class_scores.items() if k in SEXUAL_CLASSES), default=0.0)


@dataclass(frozen=True, slots=True)
class ImageScores:
    """One image's result: ``sexual`` and the highest confidence per detector class (>= 0.2 only)."""

    sexual: float
    classes: dict[str, float] = field(default_factory=dict)


def _default_path() -> Path:
    spec = importlib.util.find_spec("nudenet")  # locate the wheel's data without importing it (it pulls cv2)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the nudenet package is not installed (pip install nudenet)")
    return Path(next(iter(spec.submodule_search_locations))) / "320n.onnx"


def preprocess(images: Sequence[Any]) -> np.ndarray:
    """RGB ``PIL.Image``s -> the detector's NCHW float batch: each padded to a square at the bottom and
    right with black (as NudeNet does), resized to 320x320, scaled to [0, 1]."""
    from PIL import Image

    batch = np.zeros((len(images), 3, INPUT_SIDE, INPUT_SIDE), dtype=np.float32)
    for i, im in enumerate(images):
        side = max(im.size)
        scale = INPUT_SIDE / side
        w, h = max(1, round(im.width * scale)), max(1, round(im.height * scale))
        small = im.convert("RGB").resize((w, h), Image.Resampling.BILINEAR, reducing_gap=2.0)
        arr = np.asarray(small, dtype=np.float32) / 255.0
        batch[i, :, :h, :w] = arr.transpose(2, 0, 1)
    return batch


def class_maxima(output: np.ndarray) -> list[dict[str, float]]:
    """Per image, the highest confidence of each class over all candidate boxes (YOLOv8 head:
    ``(batch, 4 + classes, anchors)``); confidences under NudeNet's 0.2 box threshold are dropped."""
    scores = output[:, 4:, :].max(axis=2)  # (batch, classes)
    return [{NUDENET_CLASSES[c]: float(s) for c, s in enumerate(row) if s >= DETECTION_MIN} for row in scores]


class NudeNetModerator:
    """The NudeNet detector as an image moderator. Thread-safe for ``score`` after ``load``."""

    def __init__(self, model_path: str | Path | None = None, *, sha256: str = NUDENET_SHA256,
                 threads: int = 1) -> None:
        self.model_path = Path(model_path) if model_path else None
        self.sha256 = sha256
        self.threads = threads
        self._session: Any = None
        self._input: str = ""

    @classmethod
    def load_default(cls, threads: int = 1) -> NudeNetModerator:
        return cls(threads=threads).load()

    def load(self) -> NudeNetModerator:
        """Read, verify and load the ONNX file (raises ``ValueError`` when its SHA-256 is not the pinned one)."""
        import onnxruntime as ort

        path = self.model_path or _default_path()
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if digest != self.sha256:
            raise ValueError(f"{path}: SHA-256 {digest} is not the pinned {self.sha256}; refusing to load it")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        self._session = ort.InferenceSession(data, sess_options=opts, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name
        return self

    def score(self, images: Sequence[Any], batch_size: int = 8) -> list[ImageScores]:
        """Scores for decoded RGB images (validate and decode them with ``privacy.images.load_image``)."""
        if self._session is None:
            self.load()
        out: list[ImageScores] = []
        for start in range(0, len(images), batch_size):
            batch = preprocess(images[start:start + batch_size])
            (raw,) = self._session.run(None, {self._input: batch})
            for classes in class_maxima(np.asarray(raw)):
                out.append(ImageScores(sexual=sexual_score(classes), classes=classes))
        return out
