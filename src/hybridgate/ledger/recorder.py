"""The provider wrapper that puts every call leaving for a partner on the egress ledger.

Sits directly around a partner provider (inside the privacy guard), so what it records is
what actually left: the SHA-256 of the exact bytes sent and received (measured by the HTTP
client on the per-call attempt), the pseudonymisation mapping's digest, PII counts by type,
data classes, tokens and cost, plus ``ctx.egress_extra`` (e.g. the SHA-256 of each image sent and the
metadata fields stripped from it) in ``extra``. ``append`` returns only once the record is durable, so:

* a plain answer is returned to the caller only after its record is committed;
* a stream gets a record *before its first chunk is released* (response hash unknown yet)
  and a completion record with the response hash and tokens when it ends;
* a call that failed after bytes left is recorded too (with its error code).
If the ledger cannot commit, the partner's answer is not delivered (``ledger_unavailable``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from ..context import Attempt, RequestContext
from ..providers import Provider
from ..providers.wrapper import CallWrapper
from .records import EgressRecord

__all__ = ["EgressRecorder", "LedgerHandle"]

log = logging.getLogger("hybridgate.ledger")

CostFn = Callable[[Any, str, int, int], float]


class LedgerHandle:
    """Opens the ledger on first use (no I/O at construction) and closes it with the gateway."""

    def __init__(self, url: str, store_raw: bool = False) -> None:
        self.url, self.store_raw = url, store_raw
        self._ledger: Any = None
        self._lock = asyncio.Lock()
        self._retention: asyncio.Future | None = None

    async def get(self) -> Any:
        if self._ledger is None:
            async with self._lock:
                if self._ledger is None:
                    from .egress import open_ledger

                    self._ledger = await open_ledger(self.url, store_raw=self.store_raw)
        return self._ledger

    def start_retention(self, days: float, every_s: float = 3600.0) -> None:
        """Apply ``days`` of retention now and then every ``every_s`` while serving (until ``aclose``)."""
        async def loop() -> None:
            while True:
                try:
                    result = await (await self.get()).apply_retention(days)
                    if result.deleted:
                        log.info("ledger retention: deleted %d record(s) older than %g days", result.deleted, days)
                except Exception:  # noqa: BLE001 - retention must never stop serving; it retries next time
                    log.exception("ledger retention failed; will retry")
                await asyncio.sleep(every_s)

        if self._retention is None:
            self._retention = asyncio.ensure_future(loop())

    async def aclose(self) -> None:
        if self._retention is not None:
            self._retention.cancel()
            await asyncio.gather(self._retention, return_exceptions=True)
            self._retention = None
        if self._ledger is not None:
            await self._ledger.close()
            self._ledger = None


class EgressRecorder(CallWrapper):
    def __init__(self, inner: Provider, ledger: LedgerHandle, cost: CostFn | None = None) -> None:
        super().__init__(inner)
        self.ledger = ledger
        self.cost = cost

    def _record(self, ctx: RequestContext, attempt: Attempt, error: str | None, **extra: Any) -> EgressRecord:
        d = ctx.privacy
        mapping = d.pseudonymiser.mapping_digest() if d is not None and d.pseudonymiser is not None and \
            d.pseudonymiser.mapping else None
        cost = self.cost(self, attempt.model or "", attempt.prompt_tokens, attempt.completion_tokens) \
            if self.cost else 0.0
        return EgressRecord(
            request_id=ctx.request_id, app=ctx.app, feature=ctx.feature, provider=self.name, vendor=self.vendor,
            model=attempt.model or "", policy_version=ctx.policy_version,
            sent_sha256=attempt.request_sha256 or "", data_classes=tuple(sorted(d.classes if d else ctx.data_classes)),
            pii_counts=dict(d.pii_counts) if d else {}, mapping_sha256=mapping,
            response_sha256=attempt.response_sha256, prompt_tokens=attempt.prompt_tokens,
            completion_tokens=attempt.completion_tokens, cost_usd=cost, shadow=ctx.shadow, error=error,
            extra={**ctx.extra, **(ctx.egress_extra or {}), **extra},
            raw_request=attempt.sent_bytes if self.ledger.store_raw else None,
            raw_response=attempt.received_bytes if self.ledger.store_raw else None)

    async def _append(self, record: EgressRecord) -> None:
        await (await self.ledger.get()).append(record)

    async def _call(self, method: str, body: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        attempt = ctx.attempt or Attempt(self.name, body.get("model"), self.in_house)
        try:
            result = await getattr(self.inner, method)(body, ctx)
        except BaseException as exc:
            if attempt.request_sha256:  # bytes left: the attempt is egress even though it failed
                await asyncio.shield(self._append(self._record(ctx, attempt, getattr(exc, "code", "error"))))
            raise
        usage = result.get("usage") if isinstance(result, dict) else None
        if isinstance(usage, dict):
            attempt.prompt_tokens = int(usage.get("prompt_tokens") or 0)
            attempt.completion_tokens = int(usage.get("completion_tokens") or 0)
        await self._append(self._record(ctx, attempt, None))
        return result

    async def chat_stream(self, body: dict[str, Any], ctx: RequestContext) -> AsyncIterator[list[dict[str, Any]]]:
        attempt = ctx.attempt or Attempt(self.name, body.get("model"), self.in_house)
        stream = self.inner.chat_stream(body, ctx)
        started = False
        error: str | None = None
        try:
            async for batch in stream:
                if not started:
                    await self._append(self._record(ctx, attempt, None, stream="start"))
                    started = True
                for chunk in batch:
                    usage = chunk.get("usage")
                    if isinstance(usage, dict):
                        attempt.prompt_tokens = int(usage.get("prompt_tokens") or 0)
                        attempt.completion_tokens = int(usage.get("completion_tokens") or 0)
                yield batch
        except BaseException as exc:
            error = getattr(exc, "code", None) or type(exc).__name__
            raise
        finally:
            await stream.aclose()
            if attempt.request_sha256:
                await asyncio.shield(self._append(self._record(ctx, attempt, error, stream="end")))
