"""Creative units for photos and shadows: image parts in requests, the multimodal prompt, alt-text
cleaning and caps, and the shadow's format/length scoring."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from hybridgate.features.creative.generate import Engine, _Invalid, make_plan, parse_answer
from hybridgate.features.creative.schemas import (
    ALT_TEXT_MAX_CHARS,
    TASKS,
    CreateRequest,
    clean_alt_text,
    input_images,
    input_texts,
)
from hybridgate.features.creative.shadow import ShadowSample, compare_creative
from hybridgate.features.creative.templates import Templates

PHOTO = {"type": "image_url", "image_url": "data:image/png;base64,iVBORw0KGgo="}


def plan(task="caption", **kw):
    req = CreateRequest(task=task, **kw)
    return make_plan(req, Templates(TASKS).get(task), frozenset(), "json_schema")


def test_image_parts_in_requests():
    req = CreateRequest(task="caption", input=["Trail day", {"type": "text", "text": "with Rex"}, PHOTO])
    assert input_texts(req.input) == ["Trail day", "with Rex"]
    assert [p.wire() for p in input_images(req.input)] == [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]
    assert CreateRequest(task="caption", input=[PHOTO]).input  # a photo alone is enough for a caption
    for task, extra in (("summary", {}), ("replies", {}), ("hashtags", {}), ("rewrite", {"tone": "formal"})):
        with pytest.raises(ValidationError, match="does not take images"):
            CreateRequest(task=task, input=["x", PHOTO], **extra)
    with pytest.raises(ValidationError, match="exactly one image"):
        CreateRequest(task="alt_text", input="a dog")
    with pytest.raises(ValidationError, match="no tone"):
        CreateRequest(task="alt_text", input=[PHOTO], tone="witty")
    with pytest.raises(ValidationError, match=f"at most {ALT_TEXT_MAX_CHARS}"):
        CreateRequest(task="alt_text", input=[PHOTO], length=ALT_TEXT_MAX_CHARS + 1)
    with pytest.raises(ValidationError, match="data: URL"):
        CreateRequest(task="caption", input=[{"type": "image_url", "image_url": {"url": "file:///etc/passwd"}}])


def test_prompt_is_multimodal_only_with_images():
    p = plan(input=[{"type": "text", "text": "Kite festival"}, PHOTO], n=2)
    system, user = Engine(p, None, None, 0).messages("json", p.values)
    assert isinstance(system["content"], str)
    text, image = user["content"]
    assert text["type"] == "text" and "<post>\nKite festival\n</post>" in text["text"]
    assert "photo is attached" in text["text"] and image == p.images[0]
    plain = plan(input="Kite festival")
    assert isinstance(Engine(plain, None, None, 0).messages("json", plain.values)[1]["content"], str)
    alone = plan("alt_text", input=[PHOTO])
    assert alone.values["input"] == "(no text)" and "English" in alone.values["language_line"]


@pytest.mark.parametrize("raw,clean,cut", [
    ("Image of a red kite over a hill", "A red kite over a hill", True),
    ("A photo of two dogs on a beach", "Two dogs on a beach", True),
    ("This picture shows a birthday cake", "A birthday cake", True),
    ("Alt text: Picture of: a cat asleep", "A cat asleep", True),
    ("Photograph showing the sea at dawn", "The sea at dawn", True),
    ("A photo booth at a wedding", "A photo booth at a wedding", False),
    ("Screenshot of a chat about lunch", "Screenshot of a chat about lunch", False),
    ("Photographers on a pier", "Photographers on a pier", False),
])
def test_clean_alt_text(raw, clean, cut):
    assert clean_alt_text(raw) == (clean, cut)


def test_alt_text_caps_and_rejects_empty_descriptions():
    p = plan("alt_text", input=[PHOTO])
    assert (p.target.min, p.target.max, p.target.hard_max) == (40, 125, 250)
    assert plan("alt_text", input=[PHOTO], length="long").target.hard_max == ALT_TEXT_MAX_CHARS
    assert parse_answer('{"variants": [{"text": "Image of a dog"}]}', p, 1) == [{"text": "A dog"}]
    for bad in ('{"variants": [{"text": "Image of "}]}', '{"variants": [{"text": "A photo."}]}', '{"variants": [{"text": "' + "x" * 251 + '"}]}'):
        with pytest.raises(_Invalid):
            parse_answer(bad, p, 1)


def test_compare_creative_scores_format_length_and_chrf():
    p = plan(input="Sunset over the harbour")  # medium: 60-200 characters
    served = ([{"text": "A calm harbour at dusk after the storm, boats resting in the glow"}], [], None)
    good = ShadowSample("caption", 1, p.target, [{"text": "A calm harbour at dusk after the storm, the boats at rest in the glow"}])
    m = compare_creative(served, good)
    assert m["format_compliance"] == 1.0 and m["length_adherence"] == 1.0 and 0 < m["chrf"] <= 100
    short = ShadowSample("caption", 1, p.target, [{"text": "Harbour"}])
    assert compare_creative(served, short)["length_adherence"] == 0.0
    assert compare_creative(served, ShadowSample("caption", 1, p.target, None, "not JSON")) == {"format_compliance": 0.0}
    assert "chrf" not in compare_creative(object(), good)  # a sentence-mode stream holds no variants
