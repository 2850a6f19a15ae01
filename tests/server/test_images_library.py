"""Images through the library API (``Gateway.chat`` / ``Gateway.stream_chat``, no HTTP server) against the
vendor emulators: a GPS-tagged JPEG reaches each vendor in its own wire format without its metadata, the
answer comes back plain and streamed, the ledger holds the hash of what was sent; URLs go only where the
vendor can take them (Anthropic url sources, Gemini Files API fileData, allow-listed fetches inlined)."""

from __future__ import annotations

import base64
import hashlib
import io

import pytest
from PIL import Image

from hybridgate import Gateway, RequestContext
from hybridgate.config import parse_config
from hybridgate.errors import HybridgateError

from ..conftest import partner_config
from ..unit.privacy.test_images import data_url, gps_jpeg, image_server  # noqa: F401 - image_server: fixture
from .test_images import assert_clean, ledger_records, photo_message

QUESTION = "What is in this photo?"


def wire_image(vendor: str, body: dict) -> tuple[str, bytes]:
    """``(mime type, bytes)`` of the one inline image in a request as the vendor received it."""
    if vendor == "openai":
        (part,) = [p for p in body["messages"][0]["content"] if p["type"] == "image_url"]
        assert part["image_url"]["detail"] == "low"  # OpenAI takes `detail`: passed through
        header, b64 = part["image_url"]["url"].split(",", 1)
        assert header.startswith("data:") and header.endswith(";base64")
        return header[5:].split(";")[0], base64.b64decode(b64)
    if vendor == "gemini":
        (inline,) = [p["inlineData"] for p in body["contents"][0]["parts"] if "inlineData" in p]
        assert set(inline) == {"mimeType", "data"}
        return inline["mimeType"], base64.b64decode(inline["data"])
    (block,) = [b for b in body["messages"][0]["content"] if b["type"] == "image"]
    src = block["source"]
    assert set(block) == {"type", "source"} and src["type"] == "base64"
    return src["media_type"], base64.b64decode(src["data"])


def gateway(cfg: dict, pii_detector) -> Gateway:
    # a generous PII time budget: a loaded machine must not fail these requests closed (not what is tested here)
    cfg.setdefault("data_control", {}).setdefault("pii", {}).setdefault("timeout_ms", 5000)
    return Gateway(parse_config(cfg, source="<test>"), detector_factory=lambda: pii_detector)


async def streamed(gw: Gateway, body: dict) -> str:
    chunks = [c async for c in gw.stream_chat(body, RequestContext())]
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


@pytest.mark.parametrize("vendor", ["openai", "gemini", "anthropic"])
async def test_gps_jpeg_reaches_each_vendor_stripped_through_the_library(vendor, tmp_path, emulator, pii_detector):
    emu = emulator(vendor)
    cfg = partner_config({vendor: emu}, state_dir=str(tmp_path))
    original = gps_jpeg((320, 240))
    body = {"model": f"{vendor}-chat", "messages": photo_message(data_url(original), QUESTION)}
    gw = gateway(cfg, pii_detector)
    sent: list[bytes] = []
    try:
        ctx = RequestContext()
        reply = await gw.chat(body, ctx)
        assert ctx.served_by.provider == vendor
        assert reply["choices"][0]["message"]["content"].startswith(f"[{vendor} emulator] You said: {QUESTION}")
        answer = await streamed(gw, body)
        assert answer.replace(" ", "").startswith(f"[{vendor}emulator]Yousaid:{QUESTION.replace(' ', '')}")
        assert len(emu.requests) == 2
        for req in emu.requests:
            mime, data = wire_image(vendor, req["body"])
            assert mime == "image/jpeg"
            assert_clean(data)  # no EXIF/GPS, XMP, comment, ICC, IPTC, no secret strings
            assert Image.open(io.BytesIO(data)).size == (320, 240)
            if vendor != "openai":  # `detail` is OpenAI's: dropped for the others
                assert b'"detail"' not in req["raw"].encode()
            sent.append(data)
        assert body["messages"][0]["content"][1]["image_url"]["url"] == data_url(original)  # caller's body untouched
    finally:
        await gw.aclose()
    records = ledger_records(cfg)
    assert [r.provider for r in records] == [vendor] * 3  # the plain call; the stream's start and end
    assert [r.extra.get("stream") for r in records] == [None, "start", "end"]
    for rec, data in zip(records, [sent[0], sent[1], sent[1]], strict=True):
        (img,) = rec.extra["images"]
        assert img["sha256"] == hashlib.sha256(data).hexdigest() and img["source"] == "data"
        assert {"GPSInfo", "GPSLatitude", "BodySerialNumber", "CameraOwnerName"} <= set(img["removed"])


async def test_anthropic_gets_https_urls_as_url_sources(tmp_path, emulator, pii_detector):
    emu = emulator("anthropic")
    url = "https://images.example.com/cat.jpg"  # never fetched by the gateway (not allow-listed)
    cfg = partner_config({"anthropic": emu}, state_dir=str(tmp_path))
    gw = gateway(cfg, pii_detector)
    try:
        reply = await gw.chat({"model": "anthropic-chat", "messages": photo_message(url, QUESTION)})
        assert reply["choices"][0]["message"]["content"].startswith("[anthropic emulator]")
        blocks = emu.requests[-1]["body"]["messages"][0]["content"]
        assert {"type": "image", "source": {"type": "url", "url": url}} in blocks
    finally:
        await gw.aclose()
    (rec,) = ledger_records(cfg)
    (img,) = rec.extra["images"]
    assert img["source"] == "url" and img["host"] == "images.example.com" and not img["stripped"]
    assert img["url_sha256"] == hashlib.sha256(url.encode()).hexdigest()

    # with images.pass_urls off, URLs no longer leave: refused locally, nothing sent
    emu.reset()
    cfg = partner_config({"anthropic": emu}, state_dir=str(tmp_path / "strict"), images={"pass_urls": False})
    gw = gateway(cfg, pii_detector)
    try:
        with pytest.raises(HybridgateError) as e:
            await gw.chat({"model": "anthropic-chat", "messages": photo_message(url, QUESTION)})
        assert e.value.code == "image_not_accepted" and e.value.status == 400
        assert "images.fetch_allow" in e.value.message and not emu.requests
    finally:
        await gw.aclose()


async def test_gemini_files_api_uri_goes_as_file_data_other_urls_are_fetched_only_when_allow_listed(
        tmp_path, emulator, pii_detector, image_server):  # noqa: F811 - the imported fixture
    origin, hits = image_server
    emu = emulator("gemini")
    cfg = partner_config({"gemini": emu}, state_dir=str(tmp_path),
                         images={"fetch_allow": [f"{origin}/img/"], "fetch_allow_private": True})
    gw = gateway(cfg, pii_detector)
    files_uri = "https://generativelanguage.googleapis.com/v1beta/files/abc123"
    try:
        await gw.chat({"model": "gemini-chat", "messages": photo_message(files_uri, QUESTION)})
        parts = emu.requests[-1]["body"]["contents"][0]["parts"]
        assert {"fileData": {"fileUri": files_uri}} in parts and not any("inlineData" in p for p in parts)
        # an allow-listed URL is fetched by the gateway, stripped, and sent inline (Gemini fetches no web URLs)
        answer = await streamed(gw, {"model": "gemini-chat", "messages": photo_message(f"{origin}/img/photo.jpg")})
        assert answer.startswith("[gemini emulator]") and hits == ["/img/photo.jpg"]
        mime, data = wire_image("gemini", emu.requests[-1]["body"])
        assert mime == "image/jpeg"
        assert_clean(data)
        # any other URL: refused locally with a hint, nothing sent, nothing fetched
        with pytest.raises(HybridgateError) as e:
            await gw.chat({"model": "gemini-chat", "messages": photo_message("https://images.example.com/a.jpg")})
        assert e.value.code == "image_not_accepted" and "images.fetch_allow" in e.value.message
        assert len(emu.requests) == 2 and hits == ["/img/photo.jpg"]
    finally:
        await gw.aclose()
    files, fetched, _end = ledger_records(cfg)  # nothing recorded for the refused one
    assert _end.request_id == fetched.request_id and _end.extra["stream"] == "end"
    assert files.extra["images"][0]["source"] == "url"
    assert fetched.extra["images"][0]["source"] == "fetched"
    assert fetched.extra["images"][0]["sha256"] == hashlib.sha256(data).hexdigest()
    assert "GPSInfo" in fetched.extra["images"][0]["removed"]
