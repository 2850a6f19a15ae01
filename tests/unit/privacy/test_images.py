"""Image validation, metadata stripping, URL policy (SSRF) and vendor limits. Images are made here with Pillow."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import struct
import time
import tracemalloc
import zlib

import numpy as np
import pytest
from PIL import ExifTags, Image, ImageCms, PngImagePlugin

from hybridgate.config import ImageConfig
from hybridgate.errors import InvalidRequest, PayloadTooLarge
from hybridgate.privacy.image_requests import address_allowed, fetch_image, strip_request_images, url_allowed
from hybridgate.privacy.images import ImageLimits, decode_data_url, load_image, sniff_format, strip_image
from hybridgate.providers._images import ImageNotAccepted, VendorImageLimits, check_image_limits
from hybridgate.providers.anthropic import AnthropicProvider
from hybridgate.providers.gemini import GeminiProvider
from hybridgate.providers.openai import OpenAIProvider

LIMITS = ImageLimits()
SECRETS = (b"Jane Doe", b"SN-4711-0815", b"Canon", b"EOS R5", b"GPS secret", b"Photographer Jane")


# ------------------------------------------------------------------------------------------- makers


def private_exif(orientation: int = 1) -> Image.Exif:
    ex = Image.Exif()
    ex[ExifTags.Base.Make] = "Canon"
    ex[ExifTags.Base.Model] = "EOS R5"
    ex[ExifTags.Base.Orientation] = orientation
    ex[ExifTags.IFD.GPSInfo] = {1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 36.0)}
    ex[ExifTags.IFD.Exif] = {ExifTags.Base.BodySerialNumber: "SN-4711-0815", ExifTags.Base.CameraOwnerName: "Jane Doe"}
    return ex


def _iptc_app13(byline: bytes) -> bytes:
    iptc = b"\x1c\x02\x50" + struct.pack(">H", len(byline)) + byline  # record 2, dataset 80 (By-line)
    resource = b"8BIM" + struct.pack(">H", 0x0404) + b"\x00\x00" + struct.pack(">I", len(iptc)) + iptc
    resource += b"\x00" * (len(iptc) % 2)
    payload = b"Photoshop 3.0\x00" + resource
    return b"\xff\xed" + struct.pack(">H", len(payload) + 2) + payload


def gps_jpeg(size: tuple[int, int] = (96, 64), orientation: int = 1, image: Image.Image | None = None) -> bytes:
    """A JPEG carrying EXIF (GPS, make, model, serial, owner), XMP, a comment, an ICC profile and IPTC."""
    im = image or Image.new("RGB", size, (200, 120, 60))
    buf = io.BytesIO()
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    im.save(buf, "JPEG", quality=95, exif=private_exif(orientation), comment=b"Photographer Jane",
            xmp=b'<x:xmpmeta xmlns:x="adobe:ns:meta/">GPS secret</x:xmpmeta>', icc_profile=srgb)
    data = buf.getvalue()
    return data[:2] + _iptc_app13(b"Jane Doe") + data[2:]


def data_url(data: bytes, mime: str = "image/jpeg") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def png_bomb(width: int, height: int) -> bytes:
    """A valid PNG header declaring width x height, with a tiny (useless) data chunk."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def jpeg_with_size(width: int, height: int) -> bytes:
    """A small JPEG whose SOF header is patched to declare width x height."""
    buf = io.BytesIO()
    Image.new("RGB", (16, 16)).save(buf, "JPEG")
    data = bytearray(buf.getvalue())
    i = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, i + 5, height, width)
    return bytes(data)


# ------------------------------------------------------------------------------------------ stripping


def test_gps_tagged_jpeg_is_stripped_and_the_removed_fields_are_named():
    original = gps_jpeg()
    before = Image.open(io.BytesIO(original))
    assert before.getexif().get_ifd(ExifTags.IFD.GPSInfo)  # the fixture really carries GPS
    out = strip_image(original, LIMITS)
    assert out.mime == "image/jpeg" and out.sha256 == hashlib.sha256(out.data).hexdigest()
    after = Image.open(io.BytesIO(out.data))
    assert not after.getexif() and not after.getexif().get_ifd(ExifTags.IFD.GPSInfo)
    assert not ({"exif", "xmp", "icc_profile", "comment", "photoshop"} & set(after.info))
    assert [m for m, _ in after.applist] == ["APP0"]  # JFIF only
    for secret in SECRETS:
        assert secret not in out.data
    for name in ("GPSInfo", "GPSLatitude", "Make", "Model", "BodySerialNumber", "CameraOwnerName", "XMP", "IPTC",
                 "Comment", "ICCProfile"):
        assert name in out.removed, name
    assert not any(b"Jane" in n.encode() or "Canon" in n for n in out.removed)  # names only, never values


def test_orientation_is_applied_before_stripping():
    stored = Image.new("RGB", (40, 20), (255, 0, 0))
    stored.paste((0, 0, 255), (20, 0, 40, 20))  # left red, right blue as stored
    out = strip_image(gps_jpeg(orientation=6, image=stored), LIMITS)  # 6: display rotated 90 degrees clockwise
    im = Image.open(io.BytesIO(out.data)).convert("RGB")
    assert im.size == (20, 40) and "Orientation" in out.removed
    top, bottom = np.asarray(im)[:15].mean(axis=(0, 1)), np.asarray(im)[25:].mean(axis=(0, 1))
    assert top[0] > 200 and top[2] < 60 and bottom[2] > 200 and bottom[0] < 60  # stored left edge is now on top


def test_png_is_stripped_losslessly():
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 255, (30, 50, 4), dtype=np.uint8)
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Jane Doe")
    info.add_itxt("parameters", "a prompt with GPS secret")
    buf = io.BytesIO()
    Image.fromarray(pixels, "RGBA").save(buf, "PNG", pnginfo=info, exif=private_exif())
    out = strip_image(buf.getvalue(), LIMITS)
    im = Image.open(io.BytesIO(out.data))
    im.load()
    assert out.mime == "image/png" and np.array_equal(np.asarray(im), pixels)
    assert not im.text and not im.getexif()
    assert {"PNG:Author", "PNG:parameters", "GPSInfo", "BodySerialNumber"} <= set(out.removed)
    for secret in SECRETS:
        assert secret not in out.data


def test_webp_stays_webp_and_animated_gif_becomes_its_first_frame_as_png():
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (10, 200, 10)).save(buf, "WEBP", exif=private_exif(), xmp=b"GPS secret")
    out = strip_image(buf.getvalue(), LIMITS)
    assert out.mime == "image/webp" and "GPSInfo" in out.removed and "XMP" in out.removed
    assert b"GPS secret" not in out.data and b"Canon" not in out.data
    frames = [Image.new("P", (20, 20), i) for i in (1, 2)]
    for f, color in zip(frames, ((255, 0, 0), (0, 0, 255))):
        f.putpalette([0, 0, 0, *color, *color] + [0] * 759)
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], comment=b"Jane Doe", loop=0)
    out = strip_image(buf.getvalue(), LIMITS)
    assert out.mime == "image/png" and out.source_format == "GIF" and "Comment" in out.removed
    assert Image.open(io.BytesIO(out.data)).convert("RGB").getpixel((5, 5)) == (255, 0, 0)


def test_icc_profile_is_dropped_and_a_broken_one_does_not_fail():
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    for icc in (srgb, b"not a profile at all" * 10):
        buf = io.BytesIO()
        Image.new("RGB", (16, 16), (1, 2, 3)).save(buf, "PNG", icc_profile=icc)
        out = strip_image(buf.getvalue(), LIMITS)
        assert "ICCProfile" in out.removed and "icc_profile" not in Image.open(io.BytesIO(out.data)).info


def test_fit_to_a_vendor_byte_limit_and_max_side():
    noisy = Image.fromarray(np.random.default_rng(2).integers(0, 255, (600, 800, 3), dtype=np.uint8))
    buf = io.BytesIO()
    noisy.save(buf, "JPEG", quality=95)
    out = strip_image(buf.getvalue(), LIMITS, max_out_bytes=60_000)
    assert len(out.data) <= 60_000
    out = strip_image(buf.getvalue(), LIMITS, max_side=200)
    assert max(out.width, out.height) == 200


# ------------------------------------------------------------------------------------------ bad input


def _code(exc_info) -> str:
    return exc_info.value.code


def test_decompression_bombs_are_refused_from_the_header_without_decoding():
    tracemalloc.start()
    try:
        for bomb in (png_bomb(100_000, 100_000), jpeg_with_size(60_000, 60_000), png_bomb(10_000, 6_000)):
            assert len(bomb) < 2_000
            t0 = time.perf_counter()
            with pytest.raises(PayloadTooLarge) as e:
                strip_image(bomb, LIMITS)
            assert _code(e) == "image_too_large" and e.value.status == 413
            assert time.perf_counter() - t0 < 0.5
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000  # nothing near 30 GB (or 180 MB) of pixels was ever allocated
    with pytest.raises(PayloadTooLarge):
        load_image(png_bomb(9_000, 9_000), ImageLimits(max_pixels=50_000_000))


def test_truncated_not_an_image_unsupported_and_oversize():
    full = gps_jpeg((300, 200))
    with pytest.raises(InvalidRequest) as e:
        strip_image(full[: len(full) // 2], LIMITS)
    assert _code(e) == "invalid_image" and e.value.status == 400
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (9, 9, 9)).save(buf, "PNG")
    with pytest.raises(InvalidRequest) as e:
        strip_image(buf.getvalue()[:60], LIMITS)
    assert _code(e) == "invalid_image"
    with pytest.raises(InvalidRequest) as e:
        strip_image(b"hello, this is text and not a picture", LIMITS)
    assert _code(e) == "invalid_image" and "not an image" in e.value.message
    for fmt in ("BMP", "TIFF"):
        buf = io.BytesIO()
        Image.new("RGB", (8, 8)).save(buf, fmt)
        with pytest.raises(InvalidRequest) as e:
            strip_image(buf.getvalue(), LIMITS)
        assert _code(e) == "unsupported_image_format", fmt
    assert sniff_format(b"\x00\x00\x00\x18ftypheic" + b"\x00" * 20) == "HEIC"
    assert sniff_format(b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>') == "SVG"
    with pytest.raises(PayloadTooLarge) as e:
        strip_image(full, ImageLimits(max_bytes=1000))
    assert _code(e) == "image_too_large"


def test_data_urls_are_measured_before_decoding_and_must_be_base64():
    with pytest.raises(PayloadTooLarge):
        decode_data_url("data:image/png;base64," + "A" * 4_000_000, 1_000_000)
    with pytest.raises(InvalidRequest) as e:
        decode_data_url("data:image/png,rawbytes", 1000)
    assert _code(e) == "invalid_image_url"
    with pytest.raises(InvalidRequest) as e:
        decode_data_url("data:image/png;base64,@@@@", 1000)
    assert _code(e) == "invalid_image"
    mime, data = decode_data_url(data_url(b"\x89PNG\r\n\x1a\n", "image/png"), 1000)
    assert mime == "image/png" and data.startswith(b"\x89PNG")


# --------------------------------------------------------------------------------- request transform


def chat_body(*urls: str) -> dict:
    parts = [{"type": "text", "text": "what is this?"}]
    parts += [{"type": "image_url", "image_url": {"url": u, "detail": "low"}} for u in urls]
    return {"model": "m", "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": parts}]}


async def test_request_images_are_stripped_and_reported():
    # one image, kept: gps_jpeg() embeds an ICC profile whose creation time is "now", so two calls a second
    # apart differ
    original = data_url(gps_jpeg())
    body = chat_body(original)
    new, report = await strip_request_images("chat", body, config=ImageConfig())
    part = new["messages"][1]["content"][1]
    assert part["image_url"]["detail"] == "low" and part["image_url"]["url"].startswith("data:image/jpeg;base64,")
    sent = base64.b64decode(part["image_url"]["url"].split(",", 1)[1])
    assert not Image.open(io.BytesIO(sent)).getexif()
    (img,) = report.images
    assert img["sha256"] == hashlib.sha256(sent).hexdigest() and "GPSInfo" in img["removed"]
    assert body["messages"][1]["content"][1]["image_url"]["url"] == original  # caller's body untouched
    mod, report = await strip_request_images("moderate", {"input": [{"type": "image_url", "image_url": {
        "url": data_url(gps_jpeg())}}, {"type": "text", "text": "hi"}]}, config=ImageConfig())
    assert report.images[0]["source"] == "data" and mod["input"][1] == {"type": "text", "text": "hi"}


async def test_url_policy_schemes_passthrough_and_allow_list_hint():
    cfg = ImageConfig()
    for bad in ("file:///etc/passwd", "ftp://example.com/a.jpg", "gopher://x/", "javascript:alert(1)"):
        with pytest.raises(InvalidRequest) as e:
            await strip_request_images("chat", chat_body(bad), config=cfg)
        assert _code(e) == "invalid_image_url", bad
    url = "https://images.example.com/cat.jpg"
    with pytest.raises(ImageNotAccepted) as e:  # Gemini-like: does not fetch URLs
        await strip_request_images("chat", chat_body(url), config=cfg, fetches_urls=False, provider="gemini")
    assert "images.fetch_allow" in e.value.message and e.value.status == 400
    new, report = await strip_request_images("chat", chat_body(url), config=cfg, fetches_urls=True)
    assert new["messages"][1]["content"][1]["image_url"]["url"] == url
    assert report.images[0]["source"] == "url" and report.images[0]["host"] == "images.example.com"
    with pytest.raises(ImageNotAccepted):  # pass_urls off: only data: URLs or allow-listed fetches
        await strip_request_images("chat", chat_body(url), config=ImageConfig(pass_urls=False), fetches_urls=True)
    with pytest.raises(InvalidRequest) as e:
        await strip_request_images("chat", chat_body(*[url] * 3), config=ImageConfig(max_images=2), fetches_urls=True)
    assert _code(e) == "too_many_images"


def test_ssrf_address_and_allow_list_rules():
    for private in ("127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
                    "::1", "fe80::1", "fc00::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "224.0.0.1", "240.0.0.1"):
        assert not address_allowed(private), private
    for public in ("8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"):
        assert address_allowed(public), public
    assert address_allowed("127.0.0.1", allow_private=True) and not address_allowed("0.0.0.0", allow_private=True)
    allow = ["https://cdn.example.com/photos/", "https://*.img.example.org/"]
    assert url_allowed("https://cdn.example.com/photos/a.jpg", allow)
    assert not url_allowed("https://cdn.example.com/other/a.jpg", allow)
    assert not url_allowed("http://cdn.example.com/photos/a.jpg", allow)  # scheme must match
    assert not url_allowed("https://cdn.example.com:8443/photos/a.jpg", allow)  # port must match
    assert not url_allowed("https://cdn.example.com.evil.net/photos/a.jpg", allow)
    assert not url_allowed("https://user:pw@cdn.example.com/photos/a.jpg", allow)
    assert url_allowed("https://a.img.example.org/x.png", allow) and not url_allowed("https://img.example.org/x", allow)
    with pytest.raises(ValueError):
        ImageConfig(fetch_allow=["file:///tmp/"])


@pytest.fixture
async def image_server():
    """A loopback HTTP server with a GPS-tagged JPEG, a huge file, a redirect off the allow-list and a slow path."""
    from aiohttp import web

    hits: list[str] = []
    big = b"\xff\xd8\xff" + b"0" * 3_000_000

    async def handle(request: web.Request) -> web.StreamResponse:
        hits.append(request.path)
        if request.path == "/img/photo.jpg":
            return web.Response(body=gps_jpeg(), content_type="image/jpeg")
        if request.path == "/img/big.jpg":
            return web.Response(body=big, content_type="image/jpeg")
        if request.path == "/img/away":
            return web.Response(status=302, headers={"location": "http://169.254.169.254/latest/meta-data/"})
        if request.path == "/img/slow.jpg":
            await asyncio.sleep(2)
        return web.Response(status=404)

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}", hits
    await runner.cleanup()


async def test_allow_listed_fetch_refuses_loopback_unless_private_is_allowed(image_server):
    origin, hits = image_server
    cfg = ImageConfig(fetch_allow=[f"{origin}/img/"])
    with pytest.raises(InvalidRequest) as e:
        await strip_request_images("chat", chat_body(f"{origin}/img/photo.jpg"), config=cfg)
    assert _code(e) == "image_url_forbidden" and not hits  # refused before connecting
    port = origin.rsplit(":", 1)[1]
    with pytest.raises(InvalidRequest) as e:  # a name that resolves to loopback is refused too
        await fetch_image(f"http://localhost:{port}/img/photo.jpg", ImageConfig(fetch_allow=[f"http://localhost:{port}/"]))
    assert _code(e) == "image_url_forbidden" and not hits
    cfg = ImageConfig(fetch_allow=[f"{origin}/img/"], fetch_allow_private=True, fetch_timeout_s=0.5,
                      max_bytes=2_000_000)
    new, report = await strip_request_images("chat", chat_body(f"{origin}/img/photo.jpg"), config=cfg)
    sent = base64.b64decode(new["messages"][1]["content"][1]["image_url"]["url"].split(",", 1)[1])
    assert report.images[0]["source"] == "fetched" and not Image.open(io.BytesIO(sent)).getexif()
    with pytest.raises(PayloadTooLarge):
        await fetch_image(f"{origin}/img/big.jpg", cfg)
    with pytest.raises(InvalidRequest) as e:  # the redirect target is not allow-listed
        await fetch_image(f"{origin}/img/away", cfg)
    assert _code(e) == "image_url_forbidden"
    t0 = time.monotonic()
    with pytest.raises(InvalidRequest) as e:
        await fetch_image(f"{origin}/img/slow.jpg", cfg)
    assert _code(e) == "image_fetch_failed" and time.monotonic() - t0 < 1.5
    with pytest.raises(InvalidRequest) as e:
        await fetch_image(f"{origin}/private/photo.jpg", cfg)  # outside the prefix
    assert _code(e) == "image_url_forbidden"


# -------------------------------------------------------------------------------------- vendor limits


def _b64_image(size: tuple[int, int], fmt: str = "PNG") -> str:
    buf = io.BytesIO()
    Image.new("RGB", size, (5, 5, 5)).save(buf, fmt)
    return data_url(buf.getvalue(), f"image/{fmt.lower()}")


def test_vendor_limits_are_enforced_per_provider():
    anth, gem = AnthropicProvider.image_limits, GeminiProvider.image_limits
    small = _b64_image((10, 10))
    check_image_limits("claude", "anthropic", anth, True, "chat", chat_body(small))
    with pytest.raises(ImageNotAccepted, match="at most 100 images"):
        check_image_limits("claude", "anthropic", anth, True, "chat", chat_body(*[small] * 101))
    big = "data:image/png;base64," + "A" * (5 * 1024 * 1024 + 4)
    with pytest.raises(ImageNotAccepted, match="5242880"):
        check_image_limits("claude", "anthropic", anth, True, "chat", chat_body(big))
    wide = _b64_image((2100, 10))
    check_image_limits("claude", "anthropic", anth, True, "chat", chat_body(wide))
    with pytest.raises(ImageNotAccepted, match="2000x2000"):  # more than 20 images: 2000 px per side
        check_image_limits("claude", "anthropic", anth, True, "chat", chat_body(wide, *[small] * 20))
    with pytest.raises(ImageNotAccepted, match="image/gif"):
        check_image_limits("gemini", "gemini", gem, False, "chat", chat_body(_b64_image((4, 4), "GIF")))
    with pytest.raises(ImageNotAccepted, match="images.fetch_allow"):
        check_image_limits("gemini", "gemini", gem, False, "chat", chat_body("https://example.com/a.png"))
    check_image_limits("gemini", "gemini", gem, False, "chat",
                       chat_body("https://generativelanguage.googleapis.com/v1beta/files/abc123"))
    limits = VendorImageLimits(max_images=5, max_image_b64=100, max_total_b64=150, mime_types=frozenset({"image/png"}))
    tiny = "data:image/png;base64," + "A" * 80
    with pytest.raises(ImageNotAccepted, match="per request"):
        check_image_limits("p", "v", limits, False, "chat", chat_body(tiny, tiny))
    assert ImageNotAccepted("x").local and ImageNotAccepted("x").status == 400


def test_openai_limits_formats_counts_and_sizes():
    oai = OpenAIProvider.image_limits
    assert OpenAIProvider.fetches_image_urls  # OpenAI fetches https URLs itself: passed through
    small = _b64_image((10, 10))
    check_image_limits("gpt", "openai", oai, True, "chat", chat_body("https://example.com/a.png", small))
    for fmt in ("PNG", "JPEG", "WEBP", "GIF"):
        check_image_limits("gpt", "openai", oai, True, "chat", chat_body(_b64_image((8, 8), fmt)))
    heic = "data:image/heic;base64," + "A" * 40
    with pytest.raises(ImageNotAccepted, match="image/heic"):  # Gemini takes HEIC, OpenAI does not
        check_image_limits("gpt", "openai", oai, True, "chat", chat_body(heic))
    check_image_limits("gpt", "openai", oai, True, "chat", chat_body(*[small] * 500))
    with pytest.raises(ImageNotAccepted, match="at most 500 images"):
        check_image_limits("gpt", "openai", oai, True, "chat", chat_body(*[small] * 501))
    at_limit = "data:image/png;base64," + "A" * (20 * 1024 * 1024)
    check_image_limits("gpt", "openai", oai, True, "chat", chat_body(at_limit, at_limit))  # 40 MB: fits
    with pytest.raises(ImageNotAccepted, match="20971520"):
        check_image_limits("gpt", "openai", oai, True, "chat", chat_body(at_limit + "AAAA"))
    with pytest.raises(ImageNotAccepted, match="per request"):  # 3 x 20 MB > 50 MB of images per request
        check_image_limits("gpt", "openai", oai, True, "chat", chat_body(at_limit, at_limit, at_limit))
    huge = _b64_image((9000, 10))
    check_image_limits("gpt", "openai", oai, True, "chat", chat_body(huge))  # no side limit: OpenAI downsizes
    moderation = {"input": [{"type": "image_url", "image_url": {"url": heic}}]}
    with pytest.raises(ImageNotAccepted, match="image/heic"):  # the moderation endpoint is checked too
        check_image_limits("gpt", "openai", oai, True, "moderate", moderation)
