"""In-house image moderation: NudeNet loads offline from the pinned file, the class -> ``sexual`` mapping,
synthetic images (no real nudity can be tested here), and the local provider's multimodal moderation."""

from __future__ import annotations

import base64
import io
import socket

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from hybridgate.config import ProviderConfig
from hybridgate.context import RequestContext
from hybridgate.errors import InvalidRequest, PayloadTooLarge
from hybridgate.models.image_moderation import (
    NUDENET_CLASSES,
    SEXUAL_CLASSES,
    ImageScores,
    NudeNetModerator,
    _default_path,
    class_maxima,
    sexual_score,
)
from hybridgate.providers.local import LocalProvider


@pytest.fixture(scope="module")
def detector() -> NudeNetModerator:
    real_connect = socket.socket.connect

    def no_network(self, addr):  # loading must not touch the network
        raise AssertionError(f"network access while loading NudeNet: {addr}")

    socket.socket.connect = no_network
    try:
        return NudeNetModerator.load_default()
    finally:
        socket.socket.connect = real_connect


def synthetic() -> dict[str, Image.Image]:
    plain = Image.new("RGB", (640, 480), (40, 120, 200))
    rect = Image.new("RGB", (640, 480), (70, 90, 60))
    ImageDraw.Draw(rect).rectangle((200, 150, 440, 330), fill=(224, 172, 140))
    blob = Image.new("RGB", (640, 480), (30, 30, 30))
    ImageDraw.Draw(blob).ellipse((250, 150, 390, 330), fill=(224, 172, 140))
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8))
    return {"plain": plain, "skin-rectangle": rect, "skin-blob": blob.filter(ImageFilter.GaussianBlur(8)),
            "noise": noise}


def big_skin_ellipse() -> Image.Image:
    im = Image.new("RGB", (640, 480), (230, 230, 230))
    ImageDraw.Draw(im).ellipse((150, 80, 490, 400), fill=(224, 172, 140))
    return im


def test_loads_offline_and_synthetic_images_score_low(detector):
    images = synthetic()
    for (name, _), result in zip(images.items(), detector.score(list(images.values()))):
        assert result.sexual < 0.2, (name, result)
    # the hardest synthetic case: a large skin-coloured ellipse looks a little like skin, but stays below 0.5
    (r,) = detector.score([big_skin_ellipse()])
    assert r.sexual < 0.5


def test_same_detections_as_nudenets_own_pipeline(detector):
    from nudenet import NudeDetector

    im = big_skin_ellipse()
    buf = io.BytesIO()
    im.save(buf, "PNG")
    theirs: dict[str, float] = {}
    for d in NudeDetector().detect(buf.getvalue()):
        theirs[d["class"]] = max(theirs.get(d["class"], 0.0), d["score"])
    (ours,) = detector.score([im])
    assert set(theirs) <= set(ours.classes)
    for cls, score in theirs.items():
        assert abs(ours.classes[cls] - score) < 0.1, cls


def test_a_changed_model_file_is_refused(tmp_path):
    data = bytearray(_default_path().read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad = tmp_path / "320n.onnx"
    bad.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="refusing"):
        NudeNetModerator(bad).load()


def test_mapping_to_sexual_with_fake_detections():
    assert sexual_score({}) == 0.0
    covered = {c: 0.99 for c in NUDENET_CLASSES if c.endswith("_COVERED")}
    assert sexual_score(covered) == 0.0  # clothed: no flag
    harmless = {"MALE_BREAST_EXPOSED": 0.95, "BELLY_EXPOSED": 0.9, "FEET_EXPOSED": 0.9, "ARMPITS_EXPOSED": 0.9,
                "FACE_FEMALE": 0.99, "FACE_MALE": 0.99}
    assert sexual_score(harmless) == 0.0
    for cls in ("FEMALE_GENITALIA_EXPOSED", "MALE_GENITALIA_EXPOSED", "FEMALE_BREAST_EXPOSED", "BUTTOCKS_EXPOSED",
                "ANUS_EXPOSED"):
        assert sexual_score({**covered, cls: 0.7}) == pytest.approx(0.7)
    assert sexual_score({"BUTTOCKS_EXPOSED": 0.3, "FEMALE_BREAST_EXPOSED": 0.8}) == pytest.approx(0.8)
    assert len(SEXUAL_CLASSES) == 5 and SEXUAL_CLASSES <= set(NUDENET_CLASSES)
    # the raw head: (batch, 4 box coordinates + 18 classes, anchors); per class the best anchor counts
    out = np.zeros((2, 22, 6), dtype=np.float32)
    out[0, 4 + NUDENET_CLASSES.index("FEMALE_BREAST_EXPOSED"), 3] = 0.81
    out[0, 4 + NUDENET_CLASSES.index("FEMALE_BREAST_COVERED"), 1] = 0.95
    out[1, 4 + NUDENET_CLASSES.index("ANUS_EXPOSED"), 0] = 0.1  # under NudeNet's 0.2 box threshold
    first, second = class_maxima(out)
    assert first == pytest.approx({"FEMALE_BREAST_EXPOSED": 0.81, "FEMALE_BREAST_COVERED": 0.95})
    assert second == {} and sexual_score(first) == pytest.approx(0.81)


# ------------------------------------------------------------------------------ local provider


class _FakeDetector:
    def __init__(self, sexual: float) -> None:
        self.sexual = sexual
        self.seen: list[tuple[int, int]] = []

    def score(self, images):
        self.seen += [im.size for im in images]
        return [ImageScores(sexual=self.sexual, classes={"BUTTOCKS_EXPOSED": self.sexual}) for _ in images]


class _FakeText:
    threshold = 0.5

    def score(self, texts):
        return [{"harassment": 0.7 if "idiot" in t else 0.0, "sexual": 0.1, "flagged": 0.7 if "idiot" in t else 0.05}
                for t in texts]


def png_url(size=(1200, 900)) -> str:
    buf = io.BytesIO()
    Image.new("RGB", size, (10, 20, 30)).save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def local(**options) -> LocalProvider:
    return LocalProvider("local", ProviderConfig(type="local", options=options))


def img(url: str) -> dict:
    return {"type": "image_url", "image_url": {"url": url}}


async def test_local_provider_combines_image_and_text_scores():
    p = local()
    fake = _FakeDetector(0.8)
    p._loaded.update({"nudenet": fake, "hybridgate-moderation": _FakeText()})
    ctx = RequestContext()
    res = await p.moderate({"model": "hybridgate-moderation",
                            "input": [img(png_url()), {"type": "text", "text": "you idiot"}]}, ctx)
    (r,) = res["results"]
    assert r["category_scores"]["sexual"] == pytest.approx(0.8) and r["categories"]["sexual"]
    assert r["categories"]["harassment"] and r["flagged"]
    assert r["category_applied_input_types"]["sexual"] == ["text", "image"]
    assert r["category_applied_input_types"]["harassment"] == ["text"]
    assert max(fake.seen[0]) <= 640  # decoded and shrunk before scoring
    res = await p.moderate({"model": "nudenet", "input": [img(png_url())]}, ctx)
    (r,) = res["results"]
    assert r["category_applied_input_types"]["hate"] == [] and r["category_applied_input_types"]["sexual"] == ["image"]
    fake.sexual = 0.3
    (r,) = (await p.moderate({"input": [img(png_url())]}, ctx))["results"]
    assert not r["flagged"] and not r["categories"]["sexual"]
    assert (await p.moderate({"input": [img(png_url())]}, ctx))["results"]  # default model takes images too


async def test_local_provider_refuses_bad_image_input():
    p = local(image_max_pixels=1_000_000)
    p._loaded.update({"nudenet": _FakeDetector(0.1), "hybridgate-moderation": _FakeText()})
    ctx = RequestContext()
    with pytest.raises(InvalidRequest, match="data: URLs"):
        await p.moderate({"input": [img("https://example.com/a.jpg")]}, ctx)
    with pytest.raises(PayloadTooLarge):
        await p.moderate({"input": [img(png_url((2000, 1000)))]}, ctx)
    with pytest.raises(InvalidRequest, match="images only"):
        await p.moderate({"model": "nudenet", "input": [img(png_url()), {"type": "text", "text": "hi"}]}, ctx)
    with pytest.raises(InvalidRequest, match="moderates images"):
        await p.moderate({"model": "nudenet", "input": "hi"}, ctx)
    with pytest.raises(InvalidRequest):
        await p.moderate({"input": [{"type": "audio", "data": "x"}]}, ctx)
    assert "nudenet" in await p.list_models()


async def test_local_provider_runs_the_real_detector():
    p = local()
    p._loaded["hybridgate-moderation"] = _FakeText()
    (r,) = (await p.moderate({"model": "nudenet", "input": [img(png_url((800, 600)))]}, RequestContext()))["results"]
    assert r["category_scores"]["sexual"] < 0.2 and not r["flagged"]


async def test_eval_moderation_reads_image_lines(tmp_path):
    from hybridgate.config import parse_config
    from hybridgate.evaluation.tasks.moderation import ModerationTask
    from hybridgate.gateway import Gateway

    (tmp_path / "imgs").mkdir()
    Image.new("RGB", (300, 200), (40, 120, 200)).save(tmp_path / "imgs" / "sky.jpg")
    data = tmp_path / "data.jsonl"
    data.write_text('{"image": "imgs/sky.jpg", "labels": {"sexual": 0}}\n'
                    '{"image": "imgs/sky.jpg", "text": "you idiot", "labels": {"harassment": 1}}\n'
                    '{"image": "https://example.com/x.jpg", "labels": {"sexual": 0}}\n')
    task = ModerationTask()
    items = task.load(data)
    assert items[0]["image"] == str(tmp_path / "imgs" / "sky.jpg")  # relative to the data file
    gw = Gateway(parse_config({"state_dir": str(tmp_path), "providers": {"local": {"type": "local"}},
                               "routes": {"mod": {"capability": "moderation", "targets": ["local:hybridgate-moderation"],
                                                  "default": True}},
                               "data_control": {"pii": {"enabled": False}}}))
    gw.providers["local"].inner._loaded["hybridgate-moderation"] = _FakeText()
    (target,) = task.default_targets(gw)
    try:
        scores = await task.predict(gw, target, items[0], RequestContext())
        assert scores["sexual"] < 0.2 and "flagged" in scores
        scores = await task.predict(gw, target, items[1], RequestContext())
        assert scores["harassment"] == pytest.approx(0.7)
        with pytest.raises(InvalidRequest, match="fetch_allow"):  # URL lines only from the allow-list
            await task.predict(gw, target, items[2], RequestContext())
    finally:
        await gw.aclose()
