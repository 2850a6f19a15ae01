"""Decode, validate and strip images (Pillow): what every image goes through before it is used or sent.

Input is bytes or a ``data:`` URL. Checks, in order, each a typed 4xx with a stable code:

* size in bytes (``PayloadTooLarge`` 413 ``image_too_large``; a data URL is measured before decoding);
* the format, from the file's magic bytes: JPEG, PNG, WebP and GIF are accepted; other known image
  formats (HEIC, AVIF, TIFF, BMP, SVG, PDF ...) are ``unsupported_image_format`` (400); anything else is
  ``invalid_image`` (400, "not an image"). Pillow is then asked to open it with that one plugin only;
* width x height from the header, BEFORE any pixel is decoded (``image_too_large``, 413): a
  decompression bomb (a few KB declaring a gigapixel) is refused without allocating. Pillow's own
  ``Image.MAX_IMAGE_PIXELS`` global is neither relied on nor changed;
* decoding the first frame (animated GIF/WebP: the first frame only, which every vendor accepts);
  a truncated or corrupt file is ``invalid_image`` (400).

Stripping re-encodes the pixels into a fresh file, so nothing from the original container survives:
EXIF (GPS position, camera make/model, body and lens serial numbers, owner name, dates, maker notes,
the embedded thumbnail), XMP, IPTC / Photoshop resources, JPEG comments and other APP segments
(e.g. MPF secondary images), PNG text chunks (author, software, generator prompts), GIF comments.
The EXIF orientation is applied to the pixels first, so the picture still looks the right way up.

ICC profiles are NOT kept: a profile is free-form (description, manufacturer, model, creation date,
private tags; calibration profiles can name a specific device), so it is a fingerprinting risk.
Colour is preserved instead: pixels with a non-sRGB profile (Display P3, Adobe RGB, CMYK) are
converted to sRGB with littlecms before the profile is dropped, and untagged images are taken as
sRGB by all three vendors. ``removed`` lists ``ICCProfile`` whenever one was dropped.

Output format: JPEG stays JPEG (quality ``quality``, default 90), PNG stays PNG (lossless), WebP stays
WebP (lossy, ``quality``), GIF becomes PNG (first frame, lossless; Gemini does not take GIF and OpenAI
takes only non-animated GIF). Memory: at most one decoded frame of at most ``max_pixels`` pixels
(e.g. 50 Mpx RGB = 150 MB) plus the encoded output per call.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import math
import struct
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidRequest, PayloadTooLarge

__all__ = [
    "ACCEPTED_FORMATS",
    "ImageLimits",
    "StrippedImage",
    "decode_data_url",
    "load_image",
    "open_image",
    "sniff_format",
    "strip_image",
]

ACCEPTED_FORMATS: dict[str, str] = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}
_OUTPUT = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WEBP", "GIF": "PNG"}
# EXIF orientation -> the transpose that undoes it (the same table as PIL.ImageOps.exif_transpose)
_ORIENT = {2: "FLIP_LEFT_RIGHT", 3: "ROTATE_180", 4: "FLIP_TOP_BOTTOM", 5: "TRANSPOSE", 6: "ROTATE_270",
           7: "TRANSVERSE", 8: "ROTATE_90"}
# JPEG APPn segments whose content is reported under its own name (or is harmless) rather than by signature
_KNOWN_APP = {("APP0", b"JFIF"), ("APP1", b"Exif"), ("APP1", b"http://ns.adobe.com/xap/1.0/"),
              ("APP2", b"ICC_PROFILE"), ("APP13", b"Photoshop 3.0"), ("APP14", b"Adobe")}
_NOT_PRIVATE = {"dpi", "jfif", "jfif_version", "jfif_unit", "jfif_density", "adobe", "adobe_transform",
                "progressive", "progression", "interlace", "gamma", "transparency", "background", "loop",
                "duration", "version", "aspect", "srgb", "chromaticity", "timestamp", "disposal", "blend",
                "mode", "compression", "exif", "xmp", "icc_profile", "photoshop", "comment", "extension", "bbox",
                "default_image"}


@dataclass(frozen=True, slots=True)
class ImageLimits:
    """What one image may be: encoded size in bytes and width x height in pixels."""

    max_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 50_000_000


@dataclass(frozen=True, slots=True)
class StrippedImage:
    """A re-encoded image without metadata, what it was, and what was removed from it."""

    data: bytes
    mime: str
    sha256: str
    width: int
    height: int
    source_format: str
    removed: tuple[str, ...]

    def data_url(self) -> str:
        return f"data:{self.mime};base64,{base64.b64encode(self.data).decode('ascii')}"


def _invalid(message: str, code: str = "invalid_image") -> InvalidRequest:
    return InvalidRequest(message, code=code, param="image_url")


def _too_large(message: str) -> PayloadTooLarge:
    return PayloadTooLarge(message, code="image_too_large", param="image_url")


def decode_data_url(url: str, max_bytes: int) -> tuple[str, bytes]:
    """``data:[mime][;base64],payload`` -> (declared mime, bytes); the size is checked before decoding."""
    if not url.startswith("data:"):
        raise _invalid("not a data: URL", code="invalid_image_url")
    header, sep, payload = url[5:].partition(",")
    if not sep:
        raise _invalid("a data: URL needs a ',' before its payload", code="invalid_image_url")
    params = header.split(";")
    if "base64" not in (p.strip().lower() for p in params[1:]):
        raise _invalid("image data: URLs must be base64-encoded (data:image/png;base64,...)", code="invalid_image_url")
    if len(payload) // 4 * 3 > max_bytes + 2:
        raise _too_large(f"the image is about {len(payload) // 4 * 3} bytes; the limit is {max_bytes} bytes")
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise _invalid("the data: URL's payload is not valid base64") from None
    if len(data) > max_bytes:
        raise _too_large(f"the image is {len(data)} bytes; the limit is {max_bytes} bytes")
    return params[0].strip().lower(), data


def sniff_format(data: bytes) -> str | None:
    """The container format from the magic bytes: an accepted one (``JPEG``...), another known image
    format (``HEIC``, ``TIFF``...), or None when this does not look like an image at all."""
    head = data[:32]
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        return "AVIF" if brand in (b"avif", b"avis") else "HEIC" if brand in (
            b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1") else None
    for magic, name in ((b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"), (b"BM", "BMP"), (b"%PDF", "PDF"),
                        (b"8BPS", "PSD"), (b"\x00\x00\x01\x00", "ICO"), (b"\xff\x0a", "JXL"),
                        (b"\x00\x00\x00\x0cJXL ", "JXL"), (b"\x00\x00\x00\x0cjP  ", "JPEG2000")):
        if head.startswith(magic):
            return name
    text = data[:1024].lstrip().lower()
    if text.startswith(b"<") and b"<svg" in text:
        return "SVG"
    return None


def open_image(data: bytes, limits: ImageLimits) -> Any:
    """A lazily-opened ``PIL.Image`` whose size, format and pixel count passed the limits (no pixel decoded)."""
    from PIL import Image, UnidentifiedImageError

    if len(data) > limits.max_bytes:
        raise _too_large(f"the image is {len(data)} bytes; the limit is {limits.max_bytes} bytes")
    fmt = sniff_format(data)
    if fmt is None:
        raise _invalid("the data is not an image (no JPEG, PNG, WebP or GIF signature)")
    if fmt not in ACCEPTED_FORMATS:
        raise _invalid(f"{fmt} images are not supported; send JPEG, PNG, WebP or GIF",
                       code="unsupported_image_format")
    try:
        im = Image.open(io.BytesIO(data), formats=[fmt])
    except Image.DecompressionBombError as exc:  # Pillow's own guard fired first (> 2x its default)
        raise _too_large(f"the image declares too many pixels ({exc})") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError):
        raise _invalid(f"the {fmt} header is corrupt or truncated") from None
    width, height = im.size
    if width <= 0 or height <= 0:
        raise _invalid(f"the {fmt} header declares an empty image ({width}x{height})")
    if width * height > limits.max_pixels:
        raise _too_large(f"the image is {width}x{height} = {width * height / 1e6:.1f} Mpx; "
                         f"the limit is {limits.max_pixels / 1e6:.1f} Mpx")
    return im


def _names_of_exif(im: Any) -> list[str]:
    from PIL import ExifTags

    if not any(k in im.info for k in ("exif", "Raw profile type exif", "Raw profile type APP1")):
        return []
    try:
        exif = im.getexif()
        names = [ExifTags.TAGS.get(t, f"Tag0x{t:04X}") for t in exif
                 if t not in (ExifTags.IFD.Exif, ExifTags.IFD.GPSInfo, ExifTags.IFD.Interop)]
        gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
        if gps or ExifTags.IFD.GPSInfo in exif:
            names.append("GPSInfo")
            names += [ExifTags.GPSTAGS.get(t, f"GPSTag0x{t:04X}") for t in gps]
        names += [ExifTags.TAGS.get(t, f"Tag0x{t:04X}") for t in exif.get_ifd(ExifTags.IFD.Exif)
                  if t != ExifTags.IFD.Interop]
        if exif.get_ifd(ExifTags.IFD.IFD1):
            names.append("Thumbnail")
    except Exception:  # noqa: BLE001 - malformed EXIF: it is dropped all the same
        names = []
    return names or ["EXIF"]


def _metadata_names(im: Any) -> list[str]:
    """Names of the metadata fields a loaded ``im`` carries (read before re-encoding, to report them)."""
    info = im.info
    names = _names_of_exif(im)
    if info.get("xmp") or info.get("XML:com.adobe.xmp"):
        names.append("XMP")
    ps = info.get("photoshop")
    if isinstance(ps, dict) and ps:
        names.append("IPTC" if 0x0404 in ps else "Photoshop")
    if info.get("icc_profile"):
        names.append("ICCProfile")
    if info.get("comment"):
        names.append("Comment")
    if info.get("extension"):
        names.append("GIF:ApplicationExtension")
    for marker, payload in getattr(im, "applist", ()):
        if not marker.startswith("APP"):
            continue  # COM is reported as Comment; its text never goes into the report
        sig, nul, _ = payload[:33].partition(b"\x00")
        if (marker, sig) not in _KNOWN_APP:  # only a NUL-terminated identifier ("MPF", "FPXR"), never content
            names.append(f"{marker}:{_label(sig)}" if nul and sig else marker)
    try:
        text = im.text if im.format == "PNG" else None  # PNG text chunks; call only after load()
    except Exception:  # noqa: BLE001
        text = None
    keys = [k for k in (*(text or {}), *info) if isinstance(k, str) and k.lower() not in _NOT_PRIVATE
            and k != "XML:com.adobe.xmp" and not k.startswith("Raw profile type")]
    if im.format in ("PNG", "WEBP", "GIF"):
        names += [f"{im.format}:{_label(k.encode('latin-1', 'replace'))}" for k in keys]
    return names


def _label(raw: bytes) -> str:
    """A metadata key as a short printable name (keys are names, but never let one carry a sentence)."""
    return "".join(chr(c) for c in raw[:32] if chr(c).isalnum() or chr(c) in "_-.:") or "data"


def _orientation(im: Any) -> int:
    try:
        return int(im.getexif().get(0x0112, 1))
    except Exception:  # noqa: BLE001 - unreadable EXIF: no rotation
        return 1


def _jpeg_scale(longest: int, target: int, under_ok: bool) -> int:
    """The libjpeg DCT scale denominator (1, 2, 4, 8) to decode at: the smallest image still at least
    ``target`` on its longer side; or, when ``under_ok``, one just under ``target`` (within 10%, so no
    resize is needed at all)."""
    if under_ok:
        for d in (2, 4, 8):
            size = -(-longest // d)
            if size <= target:
                if size >= 0.9 * target:
                    return d
                break
    return max((d for d in (8, 4, 2) if -(-longest // d) >= target), default=1)


def _decoded(im: Any, fmt: str, *, target_side: int | None = None, under_ok: bool = False) -> tuple[Any, int]:
    """Load the first frame (JPEG: at a reduced DCT scale when ``target_side`` allows); -> (image, orientation).

    Everything that may read the file (PNG text and EXIF chunks can follow the pixel data) happens here,
    after the header checks and inside the one ``try`` that turns decoder failures into 400s."""
    if fmt == "JPEG" and target_side and max(im.size) > target_side:
        d = _jpeg_scale(max(im.size), target_side, under_ok)
        if d > 1:
            im.draft(im.mode if im.mode in ("RGB", "L") else "RGB", (im.size[0] // d, im.size[1] // d))
    try:
        im.load()
    except Exception as exc:  # noqa: BLE001 - any decoder failure is a bad image, never a 500
        raise _invalid(f"the {fmt} image is truncated or corrupt ({type(exc).__name__}: {exc})") from None
    return im, _orientation(im)


def _upright(im: Any, orientation: int) -> Any:
    from PIL import Image

    method = _ORIENT.get(orientation)
    return im.transpose(getattr(Image.Transpose, method)) if method else im


def _to_srgb(im: Any) -> Any:
    """Pixels converted to sRGB when the image carries a profile that is not sRGB (colour kept, profile not)."""
    icc = im.info.get("icc_profile")
    if not icc or im.mode not in ("RGB", "RGBA", "CMYK"):
        return im.convert("RGB") if im.mode == "CMYK" else im
    try:
        from PIL import ImageCms

        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if im.mode != "CMYK" and "srgb" in (ImageCms.getProfileDescription(src) or "").lower():
            return im
        out_mode = "RGBA" if im.mode == "RGBA" else "RGB"
        return ImageCms.profileToProfile(im, src, ImageCms.createProfile("sRGB"), outputMode=out_mode)
    except Exception:  # noqa: BLE001 - a profile littlecms cannot use: keep the pixels as they are
        return im.convert("RGB") if im.mode == "CMYK" else im


def load_image(data: bytes, limits: ImageLimits, *, target_side: int | None = None) -> Any:
    """Validate and decode ``data`` into an upright RGB ``PIL.Image`` (for in-house models).

    ``target_side``: the caller will shrink the image to about this size anyway, so a large JPEG may
    be decoded at 1/2, 1/4 or 1/8 scale (libjpeg DCT scaling), which is much faster."""
    im = open_image(data, limits)
    im, orientation = _decoded(im, im.format, target_side=target_side)
    if im.mode != "RGB":
        im = im.convert("RGB")
    return _upright(im, orientation)


def _encode(im: Any, out_format: str, quality: int) -> bytes:
    buf = io.BytesIO()
    if out_format == "JPEG":
        im.save(buf, "JPEG", quality=quality)
    elif out_format == "WEBP":
        im.save(buf, "WEBP", quality=quality, method=4)
    else:
        im.save(buf, "PNG", compress_level=6)
    return buf.getvalue()


def strip_image(data: bytes, limits: ImageLimits, *, quality: int = 90, max_side: int | None = None,
                max_out_bytes: int | None = None) -> StrippedImage:
    """Validate ``data`` and re-encode it without metadata (see the module docstring).

    ``max_side`` downsizes the longer side to at most that many pixels; ``max_out_bytes`` lowers the
    quality, then the size, until the encoded image fits (a vendor's per-image limit), or refuses."""
    from PIL import Image

    im = open_image(data, limits)
    fmt = im.format
    im, orientation = _decoded(im, fmt, target_side=max_side, under_ok=True)
    removed = set(_metadata_names(im))
    if orientation != 1:
        removed.add("Orientation")
    out_format = _OUTPUT[fmt]
    keep = {k: v for k, v in im.info.items() if k == "transparency"}
    im = _to_srgb(im)
    if out_format == "JPEG" and im.mode not in ("RGB", "L"):
        im = im.convert("RGB")
    elif out_format == "WEBP" and im.mode not in ("RGB", "RGBA"):
        im = im.convert("RGBA" if "A" in im.mode or "transparency" in keep else "RGB")
    im = _upright(im, orientation)
    if max_side and max(im.size) > max_side:
        scale = max_side / max(im.size)
        im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))),
                       Image.Resampling.BICUBIC, reducing_gap=2.0)
    im.info = {k: v for k, v in keep.items() if im.mode in ("P", "L", "RGB", "I", "I;16")}  # nothing else is written
    out = _encode(im, out_format, quality)
    tries = 0
    while max_out_bytes is not None and len(out) > max_out_bytes:
        tries += 1
        if tries > 8:
            raise _too_large(f"the image cannot be re-encoded under {max_out_bytes} bytes")
        if out_format != "PNG" and quality > 75:
            quality = 75
        else:
            scale = max(0.25, min(0.85, math.sqrt(max_out_bytes / len(out)) * 0.95))
            info = im.info
            im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))),
                           Image.Resampling.BICUBIC, reducing_gap=2.0)
            im.info = info
        out = _encode(im, out_format, quality)
    return StrippedImage(data=out, mime=ACCEPTED_FORMATS[out_format], sha256=hashlib.sha256(out).hexdigest(),
                         width=im.width, height=im.height, source_format=fmt, removed=tuple(sorted(removed)))
