"""What every vendor emulator shares: fault injection, request recording, admin endpoints,
SSE writing, and deterministic fake model behaviour.

Admin endpoints (not part of any vendor API):
  GET  /_emulator            who am I, faults in force, request count
  GET  /_emulator/requests   the recorded requests (path, selected headers, JSON body)
  POST /_emulator/faults     {"spec": "status=503@0.5"} replaces the fault plan
  POST /_emulator/reset      clears recorded requests, faults and scripted answers
  POST /_emulator/script     {"rules": [...]} scripted chat answers (see script.py)
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from .faults import Fault, FaultPlan
from .script import Script

__all__ = ["EmulatorBase", "fake_embedding", "fake_moderation", "reply_text", "words"]

log = logging.getLogger("hybridgate.emulator")
BANNER = "THIS IS AN EMULATOR of the {vendor} API for tests and demos: it runs no model and its answers are canned."
_RECORD_HEADERS = ("authorization", "x-api-key", "x-goog-api-key", "anthropic-version", "content-type")


def words(text: str) -> list[str]:
    """Split into stream pieces that re-join to exactly ``text``."""
    return re.findall(r"\S+\s*|\s+", text) or [text]


def reply_text(vendor: str, prompt: str) -> str:
    return f"[{vendor} emulator] You said: {prompt}"


def fake_embedding(text: str, dims: int = 16) -> list[float]:
    """Deterministic unit vector from the text's hash (similar only when equal)."""
    raw = hashlib.sha256(text.encode()).digest() * (dims // 32 + 1)
    v = [(b - 127.5) / 127.5 for b in raw[:dims]]
    n = math.sqrt(sum(x * x for x in v)) or 1.0
    return [x / n for x in v]


_MOD_WORDS = {
    "violence": ("kill", "murder", "shoot", "stab", "attack"),
    "hate": ("hate", "vermin", "subhuman"),
    "harassment": ("idiot", "stupid", "loser", "ugly"),
    "self-harm": ("suicide", "cut myself", "self-harm"),
    "sexual": ("sex", "nude", "porn"),
}


def fake_moderation(text: str) -> dict[str, float]:
    low = text.lower()
    scores = {k: (0.92 if any(w in low for w in ws) else 0.02) for k, ws in _MOD_WORDS.items()}
    for extra in ("hate/threatening", "harassment/threatening", "illicit", "illicit/violent", "self-harm/intent",
                  "self-harm/instructions", "sexual/minors", "violence/graphic"):
        scores[extra] = 0.01
    return scores


class EmulatorBase:
    vendor = "vendor"

    def __init__(self, faults: str = "", seed: int = 0, max_records: int = 1000) -> None:
        self.plan = FaultPlan(faults, seed)
        self.records: deque[dict[str, Any]] = deque(maxlen=max_records)
        self.count = 0
        self.script = Script()  # scripted chat answers (script.py); empty: the usual canned answers

    # ------------------------------------------------------------- vendor hooks
    def error_body(self, status: int, message: str) -> dict[str, Any]:
        raise NotImplementedError

    def rate_limit_response(self, seconds: float) -> web.Response:
        raise NotImplementedError

    def add_routes(self, app: web.Application) -> None:
        raise NotImplementedError

    # ----------------------------------------------------------------- helpers
    def error(self, status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
        return web.Response(body=orjson.dumps(self.error_body(status, message)), status=status,
                            content_type="application/json", headers=headers)

    def json(self, data: Any, headers: dict[str, str] | None = None) -> web.Response:
        return web.Response(body=orjson.dumps(data), content_type="application/json", headers=headers)

    async def read_json(self, request: web.Request) -> Any:
        raw = await request.read()
        try:
            body = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            body = None
        self.records.append({"t": time.monotonic(), "path": request.path_qs, "method": request.method, "body": body,
                             "raw": raw.decode("utf-8", "replace"),
                             "headers": {h: request.headers[h] for h in _RECORD_HEADERS if h in request.headers}})
        return body

    async def pre_fault(self, request: web.Request, streaming: bool) -> tuple[web.StreamResponse | None, Fault | None]:
        """Apply a fault that replaces the answer; return (response or None, fault for the body)."""
        self.count += 1
        fault = self.plan.pick()
        if fault is None:
            return None, None
        if fault.kind in ("latency", "timeout"):
            await asyncio.sleep(fault.seconds)
            return None, None
        if fault.kind == "status":
            return self.error(fault.status, f"emulated {fault.status} error"), None
        if fault.kind == "rate_limit":
            return self.rate_limit_response(fault.seconds or 1.0), None
        if fault.kind == "refuse":
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError  # aiohttp drops the connection without a response
        if fault.kind == "malformed" and not streaming:
            return web.Response(body=b'{"id": "broken", "choices": [', content_type="application/json"), None
        if fault.kind == "cut" and not streaming:
            resp = web.StreamResponse(headers={"content-type": "application/json", "content-length": "4096"})
            await resp.prepare(request)
            await resp.write(b'{"id": "cut", ')
            if request.transport is not None:
                request.transport.close()
            raise asyncio.CancelledError
        return None, fault  # stream faults (cut, stall, malformed) act on the body

    async def sse(self, request: web.Request, events: list[bytes], fault: Fault | None,
                  end: bytes | None) -> web.StreamResponse:
        """Write ``events`` (already framed) as text/event-stream, applying a stream fault."""
        resp = web.StreamResponse(headers={"content-type": "text/event-stream", "cache-control": "no-cache",
                                           "x-hybridgate-emulator": self.vendor})
        await resp.prepare(request)
        half = max(1, len(events) // 2)
        for i, ev in enumerate(events):
            if fault is not None and i == half:
                if fault.kind == "cut":
                    await asyncio.sleep(0.1)  # the first half is on the wire well before the cut
                    if request.transport is not None:
                        request.transport.close()
                    return resp
                if fault.kind == "stall":
                    await asyncio.sleep(fault.seconds or 30.0)
                if fault.kind == "malformed":
                    await resp.write(b"data: {this is not json\n\n")
            await resp.write(ev)
        if end:
            await resp.write(end)
        await resp.write_eof()
        return resp

    # ------------------------------------------------------------------- admin
    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 << 20)
        app.router.add_get("/_emulator", self._info)
        app.router.add_get("/_emulator/requests", self._requests)
        app.router.add_post("/_emulator/faults", self._set_faults)
        app.router.add_post("/_emulator/reset", self._reset)
        app.router.add_post("/_emulator/script", self._set_script)
        self.add_routes(app)
        return app

    async def _info(self, request: web.Request) -> web.Response:
        return self.json({"emulator": self.vendor, "warning": BANNER.format(vendor=self.vendor),
                          "faults": self.plan.spec, "requests": self.count})

    async def _requests(self, request: web.Request) -> web.Response:
        return self.json({"count": self.count, "requests": list(self.records)})

    async def _set_faults(self, request: web.Request) -> web.Response:
        body = await request.json()
        try:
            self.plan = FaultPlan(body.get("spec", ""), int(body.get("seed", 0)))
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return self.json({"faults": self.plan.spec})

    async def _reset(self, request: web.Request) -> web.Response:
        self.records.clear()
        self.count = 0
        self.plan = FaultPlan("")
        self.script = Script()
        return self.json({"ok": True})

    async def _set_script(self, request: web.Request) -> web.Response:
        body = await request.json()
        try:
            self.script = Script((body or {}).get("rules") or [])
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return self.json({"rules": len(self.script.rules)})


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
