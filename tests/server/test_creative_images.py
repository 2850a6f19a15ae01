"""POST /v1/create with photos, over HTTP against the OpenAI emulator: captions from an image and text,
alt text that keeps the WCAG-style rules, EXIF/GPS stripped before the photo reaches the partner (and
recorded on the ledger), images refused by tasks that do not take them, and a route without vision."""

from __future__ import annotations

import base64
import hashlib

import orjson

from ..unit.privacy.test_images import data_url, gps_jpeg
from .test_creative_api import SCHEMA_RULE, chat_requests, create, make_config, variants_json
from .test_images import assert_clean, ledger_records


def image(url: str, detail: str | None = None) -> dict:
    ref = {"url": url, **({"detail": detail} if detail else {})}
    return {"type": "image_url", "image_url": ref}


def sent_images(emu) -> list[dict]:
    content = chat_requests(emu)[-1]["body"]["messages"][-1]["content"]
    assert isinstance(content, list), "the prompt should be a multimodal user message"
    return [p for p in content if p["type"] == "image_url"]


def test_caption_from_a_photo_and_text(tmp_path, emulator, gateway_server):
    emu = emulator("openai")
    srv = gateway_server(make_config(tmp_path, emu))
    emu.script([SCHEMA_RULE])
    body = {"task": "caption", "n": 2, "input": [{"type": "text", "text": "First hike of the year with the dog"},
                                                  image(data_url(gps_jpeg((160, 120))), "low")]}
    r = create(srv, body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert len(out["variants"]) == 2 and out["template"]["id"].startswith("caption@2+")
    assert out["moderation"]["checked"] == 2  # the output still passes moderation
    user = chat_requests(emu)[-1]["body"]["messages"][-1]["content"]
    text = next(p["text"] for p in user if p["type"] == "text")
    assert "First hike of the year with the dog" in text and "photo is attached" in text
    (img,) = sent_images(emu)
    assert img["image_url"]["detail"] == "low" and img["image_url"]["url"].startswith("data:image/jpeg;base64,")
    # a photo alone is a valid caption input; a plain string and a URL part mix as well
    emu.script([{"content": variants_json("Golden light on the last switchback")}])
    r = create(srv, {"task": "caption", "input": ["Trail day", image("https://images.example.com/hike.jpg")]})
    assert r.status_code == 200, r.text
    assert sent_images(emu)[0]["image_url"]["url"] == "https://images.example.com/hike.jpg"  # OpenAI fetches it
    emu.script([SCHEMA_RULE])
    r = create(srv, {"task": "caption", "input": [image(data_url(gps_jpeg()))], "stream": True})
    assert r.status_code == 200 and '"type":"done"' in r.text.replace(" ", "")


def test_alt_text_obeys_the_rules(tmp_path, emulator, gateway_server):
    emu = emulator("openai")
    srv = gateway_server(make_config(tmp_path, emu))
    photo = image(data_url(gps_jpeg()))
    emu.script([{"content": variants_json("Image of a red kite flying over a green hill on a windy day")}])
    r = create(srv, {"task": "alt_text", "input": [{"type": "text", "text": "Kite festival!"}, photo]})
    assert r.status_code == 200, r.text
    out = r.json()
    (v,) = out["variants"]
    assert v["text"] == "A red kite flying over a green hill on a windy day"
    assert out["generation"]["alt_text"] == {"openings_removed": 1}
    assert out["template"]["id"].startswith("alt_text@1+") and out["length"] == {"min": 40, "max": 125,
                                                                                   "unit": "characters"}
    prompt = chat_requests(emu)[-1]["body"]["messages"]
    assert "image of" in prompt[0]["content"] and "WCAG" in prompt[0]["content"]
    assert "Kite festival!" in prompt[1]["content"][0]["text"]
    mod = [q for q in emu.requests if q["path"].endswith("/moderations")][-1]["body"]["input"]
    assert mod == [v["text"]]  # moderation checks exactly what is returned
    # over the 250-character cap: rejected and repaired once; the answer obeys the cap
    emu.script([{"content": variants_json("A " + "very " * 80 + "long description")},
                {"content": variants_json("Picture of: two children building a sandcastle at low tide")}])
    r = create(srv, {"task": "alt_text", "input": [photo], "length": "long"})
    out = r.json()
    assert r.status_code == 200 and out["generation"]["repairs"] == 1
    assert out["variants"][0]["text"] == "Two children building a sandcastle at low tide"
    repair = chat_requests(emu)[-1]["body"]["messages"][-1]["content"]
    assert "characters; the limit is 250" in repair
    # schema-following answers: never an "image of" opening, always within the cap
    emu.script([SCHEMA_RULE])
    out = create(srv, {"task": "alt_text", "input": [photo], "n": 3, "language": "de"}).json()
    assert len(out["variants"]) == 3
    for v in out["variants"]:
        assert 0 < len(v["text"]) <= 250 and not v["text"].lower().startswith(("image of", "picture of"))


def test_gps_tagged_photo_reaches_the_partner_stripped_and_the_ledger_records_it(tmp_path, emulator, gateway_server):
    emu = emulator("openai")
    cfg = make_config(tmp_path, emu)
    srv = gateway_server(cfg)
    emu.script([{"content": variants_json("A dog asleep on a blue sofa")}])
    r = create(srv, {"task": "alt_text", "input": [image(data_url(gps_jpeg((320, 240))))]})
    assert r.status_code == 200, r.text
    (img,) = sent_images(emu)
    header, b64 = img["image_url"]["url"].split(",", 1)
    sent = base64.b64decode(b64)
    assert header == "data:image/jpeg;base64"
    assert_clean(sent)
    srv.stop()  # closes the ledger
    chat = [rec for rec in ledger_records(cfg) if rec.extra.get("images")]
    assert len(chat) == 1 and chat[0].extra["creative_template"].startswith("alt_text@1+")
    (entry,) = chat[0].extra["images"]
    assert entry["sha256"] == hashlib.sha256(sent).hexdigest()
    assert {"GPSInfo", "GPSLatitude", "Make", "BodySerialNumber"} <= set(entry["removed"])


def test_tasks_that_take_no_images_refuse_them(tmp_path, emulator, gateway_server):
    emu = emulator("openai")
    srv = gateway_server(make_config(tmp_path, emu))
    photo = image(data_url(gps_jpeg()))
    cases = [
        ({"task": "hashtags", "input": [{"type": "text", "text": "bread"}, photo]}, "hashtags does not take images"),
        ({"task": "rewrite", "tone": "formal", "input": ["hi", photo]}, "rewrite does not take images"),
        ({"task": "alt_text", "input": "a dog on a sofa"}, "exactly one image_url part"),
        ({"task": "alt_text", "input": [photo, photo]}, "exactly one image_url part"),
        ({"task": "alt_text", "input": [photo], "length": 400}, "at most 250 characters"),
        ({"task": "alt_text", "input": [photo], "stream": True}, "not available for alt_text"),
        ({"task": "caption", "input": [image("file:///etc/passwd")]}, "https:// URL or a data: URL"),
        ({"task": "caption", "input": [{"type": "input_audio", "data": "x"}]}, "content part"),
    ]
    for body, message in cases:
        r = create(srv, body)
        assert r.status_code == 422, (body, r.text)
        assert message in r.json()["error"]["message"], r.json()
    assert chat_requests(emu) == []


def test_route_without_vision_gives_the_clear_error(tmp_path, emulator, gateway_server):
    llama = emulator("openai")
    cfg = make_config(tmp_path, llama)
    cfg["providers"]["llama"] = {"type": "openai_compatible", "base_url": llama.url, "in_house": True,
                                 "api_key": "local"}
    cfg["routes"]["creative"] = {"capability": "creative", "targets": ["llama:llama-3.1-8b"]}
    srv = gateway_server(cfg)
    r = create(srv, {"task": "caption", "input": ["Beach day", image(data_url(gps_jpeg()))]})
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["code"] == "unsupported_capability" and "vision" in err["message"]
    assert chat_requests(llama) == []
    llama.script([SCHEMA_RULE])
    r = create(srv, {"task": "caption", "input": "Beach day"})  # text alone still works there
    assert r.status_code == 200, r.text
    assert orjson.loads(r.content)["provider"] == "llama"


async def test_library_callers_get_the_same_rules(tmp_path, emulator):
    import pytest

    from hybridgate.config import parse_config
    from hybridgate.errors import ValidationFailed
    from hybridgate.gateway import Gateway

    emu = emulator("openai")
    emu.script([SCHEMA_RULE])
    async with Gateway(parse_config(make_config(tmp_path, emu), source="<test>")) as gw:
        creative = gw.features["creative"]
        out = await creative.create({"task": "alt_text", "input": [image(data_url(gps_jpeg()))]})
        assert out["variants"] and out["task"] == "alt_text"
        with pytest.raises(ValidationFailed, match="summary does not take images"):
            await creative.create({"task": "summary", "input": [image(data_url(gps_jpeg()))]})
