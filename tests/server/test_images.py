"""Images end to end through the HTTP API: stripped before they reach a partner (all three wire formats),
recorded on the ledger, bad images refused with clear 4xx while the server keeps serving, vision-less
providers skipped, and image moderation in-house through the OpenAI SDK."""

from __future__ import annotations

import base64
import hashlib
import io

import openai
import pytest
from PIL import ExifTags, Image

from ..conftest import APP_KEY, ServerThread, partner_config
from ..unit.privacy.test_images import SECRETS, data_url, gps_jpeg, png_bomb


def client(srv) -> openai.OpenAI:
    return openai.OpenAI(base_url=srv.url + "/v1", api_key=APP_KEY, max_retries=0)


def photo_message(url: str, text: str = "What is in this photo?") -> list[dict]:
    return [{"role": "user", "content": [{"type": "text", "text": text},
                                         {"type": "image_url", "image_url": {"url": url, "detail": "low"}}]}]


def assert_clean(jpeg: bytes) -> None:
    im = Image.open(io.BytesIO(jpeg))
    exif = im.getexif()
    assert not exif and not exif.get_ifd(ExifTags.IFD.GPSInfo), "EXIF/GPS reached the vendor"
    assert not ({"xmp", "comment", "icc_profile", "photoshop"} & set(im.info))
    for secret in SECRETS:
        assert secret not in jpeg


def ledger_records(cfg: dict) -> list:
    from hybridgate.config import parse_config
    from hybridgate.ledger import ledger_url, open_ledger_core

    core = open_ledger_core(ledger_url(parse_config(cfg)))
    assert core.verify().ok
    return list(core.iter_records())


def test_gps_tagged_jpeg_reaches_openai_without_gps_and_the_ledger_has_its_hash(tmp_path, emulator, gateway_server):
    partner = emulator("openai")
    cfg = partner_config({"openai": partner}, state_dir=str(tmp_path))
    srv = gateway_server(cfg)
    original = gps_jpeg((320, 240))
    r = client(srv).chat.completions.create(model="openai-chat", messages=photo_message(data_url(original)))
    assert r.choices[0].message.content
    sent_part = partner.requests[-1]["body"]["messages"][0]["content"][1]
    assert sent_part["image_url"]["detail"] == "low"
    header, b64 = sent_part["image_url"]["url"].split(",", 1)
    assert header == "data:image/jpeg;base64"
    sent = base64.b64decode(b64)
    assert_clean(sent)
    assert Image.open(io.BytesIO(sent)).size == (320, 240)
    srv.stop()  # closes the ledger
    (rec,) = ledger_records(cfg)
    (img,) = rec.extra["images"]
    assert img["sha256"] == hashlib.sha256(sent).hexdigest() and img["source"] == "data"
    assert {"GPSInfo", "GPSLatitude", "Make", "Model", "BodySerialNumber", "CameraOwnerName", "XMP", "IPTC"} \
        <= set(img["removed"])
    assert rec.sent_sha256 == hashlib.sha256(partner.requests[-1]["raw"].encode()).hexdigest()


def test_gemini_and_anthropic_wire_formats_carry_the_stripped_image(tmp_path, emulator, gateway_server):
    gem, anth = emulator("gemini"), emulator("anthropic")
    cfg = partner_config({"gemini": gem, "anthropic": anth}, state_dir=str(tmp_path))
    c = client(gateway_server(cfg))
    msgs = photo_message(data_url(gps_jpeg()))
    c.chat.completions.create(model="gemini-chat", messages=msgs)
    parts = gem.requests[-1]["body"]["contents"][0]["parts"]
    inline = next(p["inlineData"] for p in parts if "inlineData" in p)
    assert inline["mimeType"] == "image/jpeg"
    assert_clean(base64.b64decode(inline["data"]))
    chunks = list(c.chat.completions.create(model="anthropic-chat", messages=msgs, stream=True))
    assert chunks
    blocks = anth.requests[-1]["body"]["messages"][0]["content"]
    src = next(b["source"] for b in blocks if b["type"] == "image")
    assert src["type"] == "base64" and src["media_type"] == "image/jpeg"
    assert_clean(base64.b64decode(src["data"]))
    # an animated GIF goes to Gemini (which takes no GIF) as its first frame in PNG
    gif = io.BytesIO()
    frames = [Image.new("RGB", (16, 16), c) for c in ((255, 0, 0), (0, 255, 0))]
    frames[0].save(gif, "GIF", save_all=True, append_images=frames[1:], loop=0)
    c.chat.completions.create(model="gemini-chat", messages=photo_message(data_url(gif.getvalue(), "image/gif")))
    parts = gem.requests[-1]["body"]["contents"][0]["parts"]
    assert next(p["inlineData"] for p in parts if "inlineData" in p)["mimeType"] == "image/png"


def test_url_handling_per_vendor(tmp_path, emulator, gateway_server):
    gem, oai = emulator("gemini"), emulator("openai")
    cfg = partner_config({"gemini": gem, "openai": oai}, state_dir=str(tmp_path))
    c = client(gateway_server(cfg))
    url = "https://images.example.com/cat.jpg"  # never fetched by the gateway (not allow-listed)
    c.chat.completions.create(model="openai-chat", messages=photo_message(url))
    assert oai.requests[-1]["body"]["messages"][0]["content"][1]["image_url"]["url"] == url  # OpenAI fetches it
    with pytest.raises(openai.BadRequestError) as e:
        c.chat.completions.create(model="gemini-chat", messages=photo_message(url))
    err = e.value.body
    assert err["code"] == "image_not_accepted" and "images.fetch_allow" in err["message"]
    assert gem.emulator.count == 0  # refused locally, nothing left
    with pytest.raises(openai.BadRequestError) as e:
        c.chat.completions.create(model="openai-chat", messages=photo_message("file:///etc/passwd"))
    assert e.value.body["code"] == "invalid_image_url"


def test_bad_images_get_clear_4xx_and_the_server_keeps_serving(tmp_path, emulator, gateway_server):
    partner = emulator("openai")
    srv = gateway_server(partner_config({"openai": partner}, state_dir=str(tmp_path)))
    c = client(srv)
    full = gps_jpeg((200, 200))
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "BMP")
    cases = [
        (data_url(png_bomb(80_000, 80_000), "image/png"), 413, "image_too_large"),
        (data_url(full[: len(full) // 2]), 400, "invalid_image"),
        (data_url(b"just some text, no image"), 400, "invalid_image"),
        (data_url(buf.getvalue(), "image/bmp"), 400, "unsupported_image_format"),
        ("data:image/png;base64,%%%not-base64%%%", 400, "invalid_image"),
        ("ftp://example.com/x.png", 400, "invalid_image_url"),
    ]
    for url, status, code in cases:
        with pytest.raises(openai.APIStatusError) as e:
            c.chat.completions.create(model="openai-chat", messages=photo_message(url))
        assert (e.value.status_code, e.value.body["code"]) == (status, code), code
        assert e.value.body.get("request_id")
    assert partner.emulator.count == 0  # none of them left the gateway
    r = c.chat.completions.create(model="openai-chat", messages=photo_message(data_url(full)))
    assert r.choices[0].message.content
    import httpx

    assert httpx.get(srv.url + "/healthz").status_code == 200


def test_vision_less_provider_is_skipped_or_refused(tmp_path, emulator, gateway_server):
    llama, partner = emulator("openai"), emulator("openai")
    cfg = {
        "state_dir": str(tmp_path),
        "providers": {
            "llama": {"type": "openai_compatible", "base_url": llama.url, "in_house": True, "api_key": "local"},
            "partner": {"type": "openai", "base_url": partner.url, "api_key": "sk-partner"},
        },
        "routes": {"chat": {"capability": "chat", "targets": ["llama:llama-3.1-8b", "partner:gpt-4o-mini"]},
                   "llama-only": {"capability": "chat", "targets": ["llama:llama-3.1-8b"]}},
        "apps": {"test": {"key": APP_KEY}},
    }
    c = client(gateway_server(cfg))
    raw = c.chat.completions.with_raw_response.create(model="chat", messages=photo_message(data_url(gps_jpeg())))
    assert raw.headers["x-hybridgate-provider"] == "partner" and llama.emulator.count == 0
    raw = c.chat.completions.with_raw_response.create(model="chat", messages=[{"role": "user", "content": "hi"}])
    assert raw.headers["x-hybridgate-provider"] == "llama"  # text still goes in-house first
    with pytest.raises(openai.BadRequestError) as e:
        c.chat.completions.create(model="llama-only", messages=photo_message(data_url(gps_jpeg())))
    assert e.value.body["code"] == "unsupported_capability" and "vision" in e.value.body["message"]


def test_in_house_server_is_not_handed_image_urls_unless_allowed(tmp_path, emulator, gateway_server):
    """A self-hosted vision server would fetch an https image URL from inside the network: by default it
    gets only data: URLs (a URL request is refused before anything is sent); `pass_image_urls: true` allows it."""
    llama = emulator("openai")
    cfg = {"state_dir": str(tmp_path), "apps": {"test": {"key": APP_KEY}},
           "providers": {"llama": {"type": "openai_compatible", "base_url": llama.url, "in_house": True,
                                   "api_key": "local", "options": {"vision": True}},
                         "trusting": {"type": "openai_compatible", "base_url": llama.url, "in_house": True,
                                      "api_key": "local", "options": {"vision": True, "pass_image_urls": True}}},
           "routes": {"chat": {"capability": "chat", "targets": ["llama:llama-vision"]},
                      "trusting": {"capability": "chat", "targets": ["trusting:llama-vision"]}}}
    c = client(gateway_server(cfg))
    url = "https://intranet.example/secret.png"
    with pytest.raises(openai.BadRequestError) as e:
        c.chat.completions.create(model="chat", messages=photo_message(url))
    assert e.value.body["code"] == "image_not_accepted" and "data: URL" in e.value.body["message"]
    assert llama.emulator.count == 0
    c.chat.completions.create(model="chat", messages=photo_message(data_url(gps_jpeg())))  # data: URLs go in
    c.chat.completions.create(model="trusting", messages=photo_message(url))
    assert llama.emulator.count == 2 and url in llama.requests[-1]["raw"]


class _FakeTextModerator:
    threshold = 0.5

    def score(self, texts):
        return [{"violence": 0.9 if "kill" in t else 0.01, "sexual": 0.02, "flagged": 0.9 if "kill" in t else 0.01}
                for t in texts]


def test_moderations_with_image_url_in_house_through_the_openai_sdk(tmp_path, pii_detector):
    from hybridgate.config import parse_config
    from hybridgate.gateway import Gateway
    from hybridgate.server.app import create_app

    cfg = parse_config({
        "state_dir": str(tmp_path),
        "providers": {"local": {"type": "local"}},
        "routes": {"hybridgate-moderation": {"capability": "moderation", "targets": ["local:hybridgate-moderation"],
                                             "default": True}},
        "apps": {"test": {"key": APP_KEY}},
    })
    gw = Gateway(cfg, detector_factory=lambda: pii_detector)
    gw.providers["local"].inner._factories["hybridgate-moderation"] = _FakeTextModerator  # no text weights needed
    srv = ServerThread(create_app(cfg, gw, access_log=False)).start()
    try:
        c = client(srv)
        img = {"type": "image_url", "image_url": {"url": data_url(gps_jpeg((400, 300)))}}
        res = c.moderations.create(model="hybridgate-moderation", input=[img])
        (r,) = res.results
        assert r.category_applied_input_types.sexual == ["image"] and r.category_applied_input_types.violence == []
        assert r.category_scores.sexual < 0.5 and not r.flagged
        res = c.moderations.create(model="hybridgate-moderation",
                                   input=[img, {"type": "text", "text": "I will kill you"}])
        (r,) = res.results
        assert r.category_applied_input_types.sexual == ["text", "image"]
        assert r.category_applied_input_types.violence == ["text"]
        assert r.flagged and r.categories.violence and not r.categories.sexual
        with pytest.raises(openai.APIStatusError) as e:
            c.moderations.create(model="hybridgate-moderation",
                                 input=[{"type": "image_url", "image_url": {"url": data_url(png_bomb(90_000, 90_000))}}])
        assert e.value.status_code == 413
        assert c.moderations.create(model="hybridgate-moderation", input=[img]).results  # still serving
    finally:
        srv.stop()


def test_partner_moderation_gets_stripped_images(tmp_path, emulator, gateway_server):
    partner = emulator("openai")
    cfg = partner_config({"openai": partner}, state_dir=str(tmp_path),
                         routes={"omni": {"capability": "moderation", "targets": ["openai:omni-moderation-latest"]}})
    srv = gateway_server(cfg)
    res = client(srv).moderations.create(model="omni", input=[
        {"type": "text", "text": "nice photo"}, {"type": "image_url", "image_url": {"url": data_url(gps_jpeg())}}])
    assert res.results
    item = partner.requests[-1]["body"]["input"][1]
    sent = base64.b64decode(item["image_url"]["url"].split(",", 1)[1])
    assert_clean(sent)
    srv.stop()
    (rec,) = ledger_records(cfg)
    assert rec.extra["images"][0]["sha256"] == hashlib.sha256(sent).hexdigest()
