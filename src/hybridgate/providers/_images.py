"""Images in OpenAI-shaped requests, as a provider sees them: where they are, and its vendor's limits.

Each vendor file declares ``image_limits`` (a ``VendorImageLimits``) and ``fetches_image_urls``, and
calls ``check_image_limits`` in its request mapping, so a request over the vendor's documented limits
is refused locally — before any byte leaves — with a 400 naming the provider and the limit.

Sizes are counted on the base64 text, which is what the vendors measure (Anthropic's "image exceeds
5 MB maximum" counts the base64 string) and what travels in the request body.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidRequest, ProviderInvalidRequest

__all__ = ["ImageNotAccepted", "VendorImageLimits", "check_image_limits", "image_parts", "part_url"]


@dataclass(frozen=True, slots=True)
class VendorImageLimits:
    """A vendor's documented limits for images in one request (sizes in base64 characters)."""

    max_images: int
    max_image_b64: int
    max_total_b64: int
    mime_types: frozenset[str]
    max_side: int | None = None
    many_images: tuple[int, int] | None = None  # (count, side): above ``count`` images, sides are at most ``side``
    url_prefixes: tuple[str, ...] = ()  # URLs it takes although it fetches no others (e.g. its own file store)

    @property
    def max_image_bytes(self) -> int:
        """The largest encoded image that fits ``max_image_b64`` (what re-encoding should aim under)."""
        return self.max_image_b64 // 4 * 3


class ImageNotAccepted(ProviderInvalidRequest):
    """This provider cannot take these images (its vendor's limits, or a URL it cannot fetch).

    Refused locally: nothing was sent. ``local`` marks it for fallback: another provider may take the
    request, unlike a vendor's own 400."""

    code = "image_not_accepted"
    local = True


def image_parts(method: str, body: dict[str, Any]) -> Iterator[tuple[tuple, dict[str, Any]]]:
    """``(path, part)`` of every ``image_url`` part: chat ``messages[i].content[j]``, moderation ``input[i]``."""
    if method in ("chat", "chat_stream"):
        for i, m in enumerate(body.get("messages") or ()):
            content = m.get("content") if isinstance(m, dict) else None
            if isinstance(content, list):
                for j, part in enumerate(content):
                    if isinstance(part, dict) and part.get("type") == "image_url":
                        yield ("messages", i, "content", j), part
    elif method == "moderate":
        inp = body.get("input")
        if isinstance(inp, list):
            for i, part in enumerate(inp):
                if isinstance(part, dict) and part.get("type") == "image_url":
                    yield ("input", i), part


def part_url(part: dict[str, Any]) -> str:
    """The URL of an ``image_url`` part (``{"url": ...}``, or a bare string as some clients send)."""
    ref = part.get("image_url")
    url = ref.get("url") if isinstance(ref, dict) else ref
    if not isinstance(url, str) or not url:
        raise InvalidRequest("an image_url part needs image_url.url (an https URL or a data: URL)",
                             code="invalid_image_url", param="image_url")
    return url


def _dimensions(payload: str) -> tuple[int, int] | None:
    """Width and height from the header of a base64 image, or None when it cannot be read cheaply."""
    import base64
    import binascii
    import io

    from PIL import Image

    for cut in (min(len(payload), 1 << 19) // 4 * 4, len(payload)):
        try:
            with Image.open(io.BytesIO(base64.b64decode(payload[:cut]))) as im:
                return im.size
        except (OSError, SyntaxError, ValueError, binascii.Error, Image.DecompressionBombError):
            continue
    return None


def check_image_limits(provider: str, vendor: str, limits: VendorImageLimits | None, fetches_urls: bool,
                       method: str, body: dict[str, Any]) -> None:
    """Raise ``ImageNotAccepted`` (400) if the request's images break ``limits`` or include a URL the
    provider cannot take; ``InvalidRequest`` for an image reference no provider could use."""
    parts = [p for _, p in image_parts(method, body)]
    if not parts or limits is None:
        return
    where = f"{provider} ({vendor})"
    if len(parts) > limits.max_images:
        raise ImageNotAccepted(f"{where} takes at most {limits.max_images} images per request; got {len(parts)}",
                               provider=provider)
    total = 0
    sides: list[tuple[int, int]] = []
    for part in parts:
        url = part_url(part)
        if url.startswith("data:"):
            header, _, payload = url.partition(",")
            mime = header[5:].split(";")[0].strip().lower().replace("image/jpg", "image/jpeg")
            if mime not in limits.mime_types:
                raise ImageNotAccepted(f"{where} does not take {mime or 'untyped'} images; it takes "
                                       f"{', '.join(sorted(limits.mime_types))}", provider=provider)
            if len(payload) > limits.max_image_b64:
                raise ImageNotAccepted(f"{where}: an image is {len(payload)} bytes as base64; the limit is "
                                       f"{limits.max_image_b64}", provider=provider)
            total += len(payload)
            if limits.max_side or limits.many_images:
                dims = _dimensions(payload)
                if dims:
                    sides.append(dims)
        elif url.startswith(("https://", "http://")):
            if not fetches_urls and not url.startswith(limits.url_prefixes or ("\0",)):
                raise ImageNotAccepted(
                    f"{where} cannot fetch image URLs; send the image as a data: URL, or let the gateway fetch "
                    "it by adding its URL prefix to the config's images.fetch_allow", provider=provider)
        else:
            raise InvalidRequest("image URLs must be http(s):// or data: URLs", code="invalid_image_url",
                                 param="image_url")
    if total > limits.max_total_b64:
        raise ImageNotAccepted(f"{where}: the request's images are {total} bytes as base64; the limit is "
                               f"{limits.max_total_b64} per request", provider=provider)
    side = limits.max_side
    if limits.many_images and len(parts) > limits.many_images[0]:
        side = min(side or limits.many_images[1], limits.many_images[1])
    for w, h in sides:
        if side and max(w, h) > side:
            raise ImageNotAccepted(f"{where}: an image is {w}x{h} px; with {len(parts)} image(s) the limit is "
                                   f"{side}x{side}", provider=provider)
