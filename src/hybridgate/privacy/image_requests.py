"""The image part of egress data control: every image in a request is validated, stripped of metadata
and re-encoded before a partner sees it; image URLs are never fetched unless allow-listed.

``strip_request_images(method, body, ...)`` walks an OpenAI-shaped body (chat ``messages[].content[]``
``image_url`` parts, moderation ``input[]`` ``image_url`` items) and returns a copy plus a report:

* ``data:`` URLs: decoded, validated, stripped (``images.strip_image``) and re-inlined as new data URLs;
* ``http(s)`` URLs matching ``images.fetch_allow``: fetched by the gateway (size and time limits, no
  redirects off the allow-list, every resolved address must be public unless ``fetch_allow_private``:
  no SSRF to loopback, private, link-local or cloud-metadata addresses), then stripped and inlined;
* other ``http(s)`` URLs: left as they are only for providers that fetch URLs themselves (when
  ``images.pass_urls``), otherwise ``ImageNotAccepted`` (400) naming ``images.fetch_allow``;
* any other scheme (file:, ftp:, gopher: ...): ``InvalidRequest`` (400).

The report (``ImageReport.as_extra()``) goes into the egress record: per image the SHA-256 and size of
the bytes sent, their type and the metadata fields removed (names only, never values); for a URL
passed through, its host and the SHA-256 of the URL.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

from ..errors import InvalidRequest, PayloadTooLarge
from ..providers._images import ImageNotAccepted, VendorImageLimits, image_parts, part_url
from .images import ImageLimits, decode_data_url, strip_image

__all__ = ["ImageReport", "address_allowed", "fetch_image", "strip_request_images", "url_allowed"]

_MAX_REDIRECTS = 3


@dataclass(slots=True)
class ImageReport:
    """What happened to each image of one request (for the egress ledger)."""

    images: list[dict[str, Any]] = field(default_factory=list)

    def as_extra(self) -> dict[str, Any]:
        return {"images": self.images} if self.images else {}


def _limits(config: Any) -> ImageLimits:
    return ImageLimits(max_bytes=config.max_bytes, max_pixels=config.max_pixels)


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def url_allowed(url: str, allow: list[str]) -> bool:
    """Whether ``url`` falls under one of the ``allow`` prefixes: same scheme, same host (``*.`` matches
    subdomains, not the bare domain), same port, and a path that starts with the prefix's path."""
    try:
        u = urlsplit(url)
        if u.username or u.password or not u.hostname:
            return False
        u_port = u.port or _default_port(u.scheme)
    except ValueError:
        return False
    for entry in allow:
        a = urlsplit(entry)
        host = (a.hostname or "").lower()
        if a.scheme != u.scheme or (a.port or _default_port(a.scheme)) != u_port:
            continue
        if host.startswith("*."):
            if not u.hostname.endswith(host[1:]):
                continue
        elif u.hostname != host:
            continue
        if (u.path or "/").startswith(a.path or "/"):
            return True
    return False


def address_allowed(address: str, allow_private: bool = False) -> bool:
    """A resolved address the gateway may connect to: public unicast only, unless ``allow_private``."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_unspecified or ip.is_multicast:
        return False
    if allow_private:
        return True
    return ip.is_global and not ip.is_reserved and not ip.is_loopback and not ip.is_link_local


def _refuse_address(host: str, addresses: list[str]) -> InvalidRequest:
    return InvalidRequest(f"image host {host!r} resolves to a non-public address ({', '.join(addresses)}); the "
                          "gateway does not fetch from private, loopback or link-local networks",
                          code="image_url_forbidden", param="image_url")


def _check_literal(host: str, allow_private: bool) -> None:
    """aiohttp connects to IP-literal hosts without asking the resolver: check those here."""
    try:
        ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return  # a name: the resolver checks what it resolves to
    if not address_allowed(host.strip("[]"), allow_private):
        raise _refuse_address(host, [host])


def _resolver(allow_private: bool) -> Any:
    """An aiohttp resolver that refuses hosts resolving to non-public addresses and pins the checked ones,
    so the connection goes to exactly the addresses that were checked (no DNS-rebinding window)."""
    from aiohttp.abc import AbstractResolver

    class _Checked(AbstractResolver):
        async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list[dict[str, Any]]:
            loop = asyncio.get_running_loop()
            try:
                infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, family=socket.AF_UNSPEC)
            except OSError as exc:
                raise InvalidRequest(f"cannot resolve image host {host!r}: {exc}", code="image_fetch_failed",
                                     param="image_url") from None
            addresses = [info[4][0] for info in infos]
            bad = [a for a in addresses if not address_allowed(a, allow_private)]
            if bad or not addresses:
                raise _refuse_address(host, bad)
            return [{"hostname": host, "host": info[4][0], "port": port, "family": info[0], "proto": info[2],
                     "flags": socket.AI_NUMERICHOST} for info in infos]

        async def close(self) -> None:
            return None

    return _Checked()


async def fetch_image(url: str, config: Any) -> bytes:
    """GET an allow-listed image URL within ``config``'s size and time limits (redirects re-checked)."""
    import aiohttp

    limit = config.max_bytes
    timeout = aiohttp.ClientTimeout(total=config.fetch_timeout_s)
    connector = aiohttp.TCPConnector(resolver=_resolver(config.fetch_allow_private), limit=4, use_dns_cache=False)
    try:
        async with aiohttp.ClientSession(timeout=timeout, connector=connector, auto_decompress=False,
                                         trust_env=False) as session:
            for _ in range(_MAX_REDIRECTS + 1):
                if not url_allowed(url, config.fetch_allow):
                    raise InvalidRequest(f"image URL {_host(url)!r} is not under images.fetch_allow",
                                         code="image_url_forbidden", param="image_url")
                _check_literal(_host(url), config.fetch_allow_private)
                async with session.get(url, allow_redirects=False, headers={"accept": "image/*"}) as resp:
                    if resp.status in (301, 302, 303, 307, 308) and resp.headers.get("location"):
                        url = urljoin(url, resp.headers["location"])
                        continue
                    if resp.status != 200:
                        raise InvalidRequest(f"fetching the image from {_host(url)!r} gave HTTP {resp.status}",
                                             code="image_fetch_failed", param="image_url")
                    if (resp.content_length or 0) > limit:
                        raise PayloadTooLarge(f"the image at {_host(url)!r} is {resp.content_length} bytes; "
                                              f"the limit is {limit}", code="image_too_large", param="image_url")
                    data = bytearray()
                    async for chunk in resp.content.iter_chunked(1 << 16):
                        data += chunk
                        if len(data) > limit:
                            raise PayloadTooLarge(f"the image at {_host(url)!r} is larger than {limit} bytes",
                                                  code="image_too_large", param="image_url")
                    return bytes(data)
            raise InvalidRequest(f"too many redirects fetching the image from {_host(url)!r}",
                                 code="image_fetch_failed", param="image_url")
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise InvalidRequest(f"fetching the image from {_host(url)!r} failed: {type(exc).__name__}: {exc}",
                             code="image_fetch_failed", param="image_url") from None


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or "?"
    except ValueError:
        return "?"


def _replaced(body: dict[str, Any], path: tuple, value: Any) -> dict[str, Any]:
    """A copy of ``body`` with ``value`` at ``path`` (containers along the path copied, nothing mutated)."""
    def put(node: Any, rest: tuple) -> Any:
        if not rest:
            return value
        copy = list(node) if isinstance(node, list) else dict(node)
        copy[rest[0]] = put(node[rest[0]], rest[1:])
        return copy

    return put(body, path)


async def strip_request_images(method: str, body: dict[str, Any], *, config: Any, fetches_urls: bool = False,
                               vendor: VendorImageLimits | None = None, provider: str = "",
                               run: Callable[..., Any] | None = None) -> tuple[dict[str, Any], ImageReport]:
    """The body with every image made safe to send, and the report (see the module docstring).

    ``config``: the ``images:`` config section. ``fetches_urls``: the destination fetches image URLs
    itself. ``vendor``: its documented limits; per-image byte and side limits are met by re-encoding
    smaller. ``run(fn)`` runs CPU work off the event loop (default ``asyncio.to_thread``)."""
    parts = list(image_parts(method, body))
    report = ImageReport()
    if not parts:
        return body, report
    if len(parts) > config.max_images:
        raise InvalidRequest(f"at most {config.max_images} images per request (images.max_images); got {len(parts)}",
                             code="too_many_images", param="image_url")
    run = run or asyncio.to_thread
    limits = _limits(config)
    url_prefixes = vendor.url_prefixes if vendor else ()
    max_image_bytes = vendor.max_image_bytes if vendor else None
    vendor_side = vendor.max_side if vendor else None
    if vendor and vendor.many_images and len(parts) > vendor.many_images[0]:
        vendor_side = min(vendor_side or vendor.many_images[1], vendor.many_images[1])
    sides = [s for s in (vendor_side, config.max_side) if s]
    side = min(sides) if sides else None
    out = body
    for index, (path, part) in enumerate(parts):
        url = part_url(part)
        scheme = url.split(":", 1)[0].lower() if ":" in url else ""
        if scheme == "data":
            _, data = decode_data_url(url, limits.max_bytes)
            source = "data"
        elif scheme in ("http", "https") and url_allowed(url, config.fetch_allow):
            data = await fetch_image(url, config)
            source = "fetched"
        elif scheme in ("http", "https"):
            if not ((fetches_urls and config.pass_urls) or (url_prefixes and url.startswith(url_prefixes))):
                raise ImageNotAccepted(
                    f"{provider or 'this provider'} cannot take image URLs"
                    f"{'' if fetches_urls else ' (it does not fetch them)'}; send a data: URL, or allow the "
                    "gateway to fetch from this host with the config's images.fetch_allow", provider=provider)
            report.images.append({"index": index, "source": "url", "host": _host(url), "stripped": False,
                                  "url_sha256": hashlib.sha256(url.encode()).hexdigest()})
            continue
        else:
            raise InvalidRequest(f"image URLs must be http(s):// or data: URLs, not {scheme or 'scheme-less'} URLs",
                                 code="invalid_image_url", param="image_url")
        img = await run(lambda d=data: strip_image(d, limits, quality=config.quality, max_side=side,
                                                   max_out_bytes=max_image_bytes))
        ref = part.get("image_url")
        new_ref = {**ref, "url": img.data_url()} if isinstance(ref, dict) else {"url": img.data_url()}
        out = _replaced(out, path, {**part, "image_url": new_ref})
        report.images.append({"index": index, "source": source, "sha256": img.sha256, "bytes": len(img.data),
                              "mime": img.mime, "width": img.width, "height": img.height,
                              "removed": list(img.removed)})
    return out, report
