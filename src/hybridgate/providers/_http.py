"""One pooled aiohttp session per provider, plus an SSE reader.

aiohttp was chosen by measurement (BENCHMARKS.md): on this machine an httpx.AsyncClient
pass-through lost most of its throughput at 32 connections, aiohttp did not.

Transport failures are translated here (they look the same for every vendor):
connection refused/reset -> ProviderUnavailable, timeouts -> ProviderTimeout.
HTTP status translation stays in each vendor's file (``raise_for_status`` callbacks).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any, NoReturn

import aiohttp
import orjson

from ..config import ProviderConfig
from ..context import Attempt, RequestContext
from ..errors import ProviderBadOutput, ProviderTimeout, ProviderUnavailable

__all__ = ["HttpClient", "SSEEvent", "drain", "event_objects", "iter_sse", "loads_event", "parse_retry_after",
           "vendor_shape"]

StatusHandler = Callable[[int, "aiohttp.typedefs.LooseHeaders", bytes], NoReturn]


@dataclass(slots=True)
class SSEEvent:
    event: str | None
    data: bytes


def parse_retry_after(headers: Any) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or HTTP date)."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(float(ms) / 1000.0, 0.0)
        except ValueError:
            pass
    ra = headers.get("retry-after")
    if not ra:
        return None
    try:
        return max(float(ra), 0.0)
    except ValueError:
        from email.utils import parsedate_to_datetime
        from datetime import datetime, timezone

        try:
            when = parsedate_to_datetime(ra)
        except (TypeError, ValueError):
            return None
        return max((when - datetime.now(timezone.utc)).total_seconds(), 0.0)


def _evidence(ctx: RequestContext | None) -> Attempt | None:
    """The attempt to record hashes of the bytes sent and received on: only calls to partners, whose
    egress ledger records carry them (in-house calls skip the hashing)."""
    attempt = ctx.attempt if ctx is not None else None
    return attempt if attempt is not None and not attempt.in_house else None


class HttpClient:
    """A lazily created ``aiohttp.ClientSession`` bound to one provider's base URL."""

    def __init__(self, provider: str, config: ProviderConfig, base_url: str, headers: dict[str, str]) -> None:
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self.headers = {"content-type": "application/json", **headers, **config.headers}
        self.timeouts = config.timeout
        self.max_connections = config.max_connections
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self.max_connections, ttl_dns_cache=300, keepalive_timeout=30)
            self._session = aiohttp.ClientSession(
                connector=connector,
                headers=self.headers,
                json_serialize=lambda o: orjson.dumps(o).decode(),
                skip_auto_headers=("User-Agent",),
                auto_decompress=True,
            )
        return self._session

    def _timeout(self, budget: float | None) -> aiohttp.ClientTimeout:
        total = self.timeouts.total if budget is None else max(min(self.timeouts.total, budget), 0.001)
        # a read timeout that cannot fire before the total one would only cost a timer per read
        read = self.timeouts.read if self.timeouts.read < total else None
        return aiohttp.ClientTimeout(total=total, sock_connect=self.timeouts.connect, sock_read=read)

    async def request_json(
        self,
        method: str,
        path: str,
        on_error: StatusHandler,
        body: Any = None,
        *,
        params: dict[str, str] | None = None,
        ctx: RequestContext | None = None,
    ) -> tuple[Any, Any]:
        """Send ``body`` (orjson-encoded) and return (parsed JSON, response headers).

        With a per-call context, the SHA-256 of the exact bytes sent and received is recorded
        on ``ctx.attempt`` (the egress ledger's evidence)."""
        data = orjson.dumps(body) if body is not None else None
        attempt = _evidence(ctx)
        if attempt is not None and data is not None:
            attempt.request_sha256 = hashlib.sha256(data).hexdigest()
            attempt.bytes_sent, attempt.sent_bytes = len(data), data
        try:
            async with self._get_session().request(
                method, self.base_url + path, data=data, params=params,
                timeout=self._timeout(ctx.call_budget() if ctx is not None else None)
            ) as resp:
                raw = await resp.read()
                if attempt is not None:
                    attempt.response_sha256 = hashlib.sha256(raw).hexdigest()
                    attempt.received_bytes = raw
                if resp.status >= 400:
                    on_error(resp.status, resp.headers, raw)
                try:
                    return orjson.loads(raw), resp.headers
                except orjson.JSONDecodeError:
                    raise ProviderBadOutput(
                        f"{self.provider}: upstream sent a response that is not JSON ({len(raw)} bytes)",
                        provider=self.provider, upstream_status=resp.status,
                    ) from None
        except (asyncio.TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise ProviderTimeout(f"{self.provider}: upstream timed out", provider=self.provider) from exc
        except aiohttp.ClientError as exc:
            raise ProviderUnavailable(
                f"{self.provider}: cannot reach upstream ({type(exc).__name__})", provider=self.provider
            ) from exc

    @asynccontextmanager
    async def stream(
        self,
        path: str,
        on_error: StatusHandler,
        body: Any,
        *,
        params: dict[str, str] | None = None,
        ctx: RequestContext | None = None,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """POST ``body`` and yield the open response (status already checked)."""
        data = orjson.dumps(body)
        attempt = _evidence(ctx)
        if attempt is not None:
            attempt.request_sha256 = hashlib.sha256(data).hexdigest()
            attempt.bytes_sent, attempt.sent_bytes = len(data), data
        try:
            # a stream may legitimately last longer than one request; stalls are caught by sock_read,
            # which is the provider's read timeout or the route's stream idle timeout if shorter
            idle = ctx.stream_idle_timeout if ctx is not None else None
            read = self.timeouts.read if idle is None else min(self.timeouts.read, idle)
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.timeouts.connect, sock_read=read)
            async with self._get_session().post(
                self.base_url + path, data=data, params=params, timeout=timeout
            ) as resp:
                if resp.status >= 400:
                    on_error(resp.status, resp.headers, await resp.read())
                yield resp
        except (asyncio.TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise ProviderTimeout(f"{self.provider}: upstream stream timed out or stalled", provider=self.provider) from exc
        except aiohttp.ClientPayloadError as exc:
            raise ProviderUnavailable(f"{self.provider}: stream cut by upstream", provider=self.provider) from exc
        except aiohttp.ClientError as exc:
            raise ProviderUnavailable(
                f"{self.provider}: cannot reach upstream ({type(exc).__name__})", provider=self.provider
            ) from exc

    async def aclose(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None


async def iter_sse(resp: aiohttp.ClientResponse,
                   ctx: RequestContext | None = None) -> AsyncIterator[list[SSEEvent]]:
    """Parse a text/event-stream body into events (``event:`` name and the joined ``data:`` lines, as
    bytes: orjson reads them without a decode).

    Yields one list per network read: every event that read completed (never an empty list), so
    the layers above step once per read, not once per event. With a per-call context, the SHA-256
    of the bytes received is stored on ``ctx.attempt`` when the iterator is closed (callers close
    it explicitly)."""
    event: str | None = None
    data: list[bytes] = []
    attempt = _evidence(ctx)
    digest = hashlib.sha256() if attempt is not None else None
    tail = b""
    try:
        async for block in resp.content.iter_any():
            if digest is not None:
                digest.update(block)
            lines = (tail + block).split(b"\n") if tail else block.split(b"\n")
            tail = lines.pop()
            batch: list[SSEEvent] = []
            for raw in lines:
                if raw[:6] == b"data: " and raw[-1:] != b"\r":  # the common line, first
                    data.append(raw[6:])
                    continue
                if raw[-1:] == b"\r":
                    raw = raw[:-1]
                if not raw:
                    if data:
                        batch.append(SSEEvent(event, data[0] if len(data) == 1 else b"\n".join(data)))
                    event, data = None, []
                    continue
                if raw[:1] == b":":
                    continue
                field, _, value = raw.partition(b":")
                if value[:1] == b" ":
                    value = value[1:]
                if field == b"data":
                    data.append(value)
                elif field == b"event":
                    event = value.decode("utf-8", "replace")
            if batch:
                yield batch
        if tail.startswith(b"data:"):  # a last line without its newline
            data.append(tail[5:].lstrip(b" ").rstrip(b"\r"))
        if data:
            yield [SSEEvent(event, b"\n".join(data))]
    finally:
        if digest is not None:
            attempt.response_sha256 = digest.hexdigest()


async def drain(resp: aiohttp.ClientResponse, limit: int = 1 << 16) -> None:
    """Read what follows a stream's end marker (a final blank line, the chunked terminator) so the
    connection goes back to the pool instead of being closed. Stops after ``limit`` bytes."""
    seen = 0
    while seen < limit and not resp.content.at_eof():
        chunk = await resp.content.read(limit - seen)
        if not chunk:
            break
        seen += len(chunk)


def loads_event(provider: str, data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        raise ProviderBadOutput(f"{provider}: upstream stream event is not JSON", provider=provider) from None


def event_objects(provider: str, events: list[SSEEvent]) -> list[tuple[str | None, dict[str, Any]]]:
    """``(event name, JSON object)`` of each event of one read; anything but a JSON object is bad output."""
    out = []
    for ev in events:
        data = loads_event(provider, ev.data)
        if not isinstance(data, dict):
            raise ProviderBadOutput(f"{provider}: stream event is not a JSON object", provider=provider)
        out.append((ev.event, data))
    return out


@contextmanager
def vendor_shape(provider: str) -> Iterator[None]:
    """Around the mapping of a vendor's answer: a field of the wrong type met on the way (an object where a
    list belongs, a string for an object ...) is the vendor's bad output, not an internal error."""
    try:
        yield
    except (AttributeError, TypeError, KeyError, IndexError, ValueError) as exc:
        raise ProviderBadOutput(f"{provider}: upstream answer of an unexpected shape ({type(exc).__name__}: {exc})",
                                provider=provider) from exc
