"""Local vendor emulators speaking the real OpenAI, Gemini and Anthropic wire formats,
with scripted faults (see ``faults.py``). For tests and demos; they run no model.

    hybridgate emulate --vendor openai --port 9001 --faults "status=503@0.2"

In code (tests): ``with EmulatorThread("gemini", faults="cut") as emu: emu.url ...``
Scripted chat answers (``script.py``): ``emu.script([...])``, ``POST /_emulator/script``, or
``HYBRIDGATE_EMULATOR_SCRIPT=rules.json hybridgate emulate ...``.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import sys
import threading
from pathlib import Path
from types import MappingProxyType
from typing import Any

import orjson
from aiohttp import web

from .base import BANNER, EmulatorBase
from .faults import Fault, FaultPlan
from .script import Script

__all__ = ["EMULATORS", "EmulatorThread", "Fault", "FaultPlan", "make_emulator", "serve"]

EMULATORS = MappingProxyType({
    "openai": "hybridgate.emulators.openai:OpenAIEmulator",
    "gemini": "hybridgate.emulators.gemini:GeminiEmulator",
    "anthropic": "hybridgate.emulators.anthropic:AnthropicEmulator",
})


def make_emulator(vendor: str, faults: str = "", seed: int = 0) -> EmulatorBase:
    target = EMULATORS.get(vendor)
    if target is None:
        raise ValueError(f"unknown vendor {vendor!r}; expected one of {sorted(EMULATORS)}")
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)(faults=faults, seed=seed)


def base_path(vendor: str) -> str:
    """What to append to the emulator's address to get the SDK's base URL."""
    return "/v1" if vendor == "openai" else ""


def serve(vendor: str, host: str = "127.0.0.1", port: int = 9000, faults: str = "", seed: int = 0) -> None:
    """Run an emulator in the foreground until interrupted."""
    emu = make_emulator(vendor, faults, seed)
    script = os.environ.get("HYBRIDGATE_EMULATOR_SCRIPT")
    if script:  # scripted chat answers for demos (script.py)
        emu.script = Script(orjson.loads(Path(script).read_bytes()).get("rules") or [])
    line = "!" * 100
    print(f"{line}\n!! {BANNER.format(vendor=vendor)}\n!! listening on http://{host}:{port}{base_path(vendor)}"
          f"   faults: {faults or 'none'}\n{line}", file=sys.stderr, flush=True)
    web.run_app(emu.app(), host=host, port=port, print=None, access_log=None)


class EmulatorThread:
    """An emulator on a free loopback port, served from a background thread."""

    def __init__(self, vendor: str, faults: str = "", seed: int = 0, port: int = 0) -> None:
        self.vendor = vendor
        self.emulator = make_emulator(vendor, faults, seed)
        self._port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"emulator-{vendor}", daemon=True)
        self.port = 0

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The base URL an SDK or provider config should use."""
        return self.origin + base_path(self.vendor)

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)

        async def start() -> None:
            self._runner = web.AppRunner(self.emulator.app(), access_log=None, handle_signals=False,
                                         shutdown_timeout=0.2)
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", self._port)
            await site.start()
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            self._ready.set()

        self._loop.run_until_complete(start())
        self._loop.run_forever()
        self._loop.run_until_complete(self._runner.cleanup())  # type: ignore[union-attr]
        # handlers still waiting (a scripted stall, a slow answer) are cancelled, not left to die with the loop
        pending = asyncio.all_tasks(self._loop)
        for task in pending:
            task.cancel()
        self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self._loop.run_until_complete(self._loop.shutdown_asyncgens())
        self._loop.close()

    def set_faults(self, spec: str, seed: int = 0) -> None:
        self.emulator.plan = FaultPlan(spec, seed)

    def script(self, rules: list[dict[str, Any]]) -> None:
        """Scripted chat answers (see ``script.py``); an empty list restores the canned ones."""
        self.emulator.script = Script(rules)

    @property
    def requests(self) -> list[dict[str, Any]]:
        return list(self.emulator.records)

    def reset(self) -> None:
        self.emulator.records.clear()
        self.emulator.count = 0
        self.emulator.plan = FaultPlan("")
        self.emulator.script = Script()

    def start(self) -> EmulatorThread:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError(f"{self.vendor} emulator did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def __enter__(self) -> EmulatorThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
