"""Shared fixtures: vendor emulators and a real gateway server on loopback ports.

Nothing here touches the network beyond 127.0.0.1.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

# Property tests explore a fixed, seeded set of examples: CI stays deterministic; run with
# HYPOTHESIS_PROFILE=explore to search fresh examples locally.
from hypothesis import settings as _hypothesis_settings  # noqa: E402

_hypothesis_settings.register_profile("ci", derandomize=True)
_hypothesis_settings.register_profile("explore", derandomize=False)
_hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

APP_KEY = "test-app-key-123456"
REDIS_URL = os.environ.get("HYBRIDGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def emulator() -> Iterator[Callable[..., Any]]:
    """Factory: ``emu = emulator("openai", faults="...")`` -> a started EmulatorThread."""
    from hybridgate.emulators import EmulatorThread

    started: list[EmulatorThread] = []

    def make(vendor: str, faults: str = "", seed: int = 0) -> EmulatorThread:
        emu = EmulatorThread(vendor, faults=faults, seed=seed).start()
        started.append(emu)
        return emu

    yield make
    for emu in started:
        emu.stop()


class ServerThread:
    """uvicorn serving a gateway app from a background thread on a free port."""

    def __init__(self, asgi: Any) -> None:
        import uvicorn

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        sock.close()
        self.asgi = asgi
        self.server = uvicorn.Server(uvicorn.Config(asgi, host="127.0.0.1", port=self.port, log_level="warning",
                                                    access_log=False, lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("gateway server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="session")
def pii_detector() -> Any:
    """One loaded PII detector for the whole session (loading it takes seconds; detection is stateless)."""
    from hybridgate.privacy import PIIDetector

    detector = PIIDetector()
    detector.detect("warm-up: Jane Doe, jane@example.com")
    return detector


@pytest.fixture
def gateway_server(pii_detector: Any) -> Iterator[Callable[..., ServerThread]]:
    """Factory: ``srv = gateway_server(config_dict_or_Config)`` -> a started gateway on loopback."""
    from hybridgate.config import Config, parse_config
    from hybridgate.gateway import Gateway
    from hybridgate.server.app import create_app

    started: list[ServerThread] = []

    def make(config: dict | Config, prepare: Callable[[Gateway], None] | None = None, **kw: Any) -> ServerThread:
        """``prepare(gateway)`` runs before the app is built; ``kw`` go to ``create_app``."""
        if isinstance(config, dict):
            # a loaded CI machine can stall a short inline PII scan past the 250 ms default, which fails closed
            # (403): tests that are not about that timeout get a generous one
            pii = config.setdefault("data_control", {}).setdefault("pii", {})
            if isinstance(pii, dict):
                pii.setdefault("timeout_ms", 5000)
        cfg = config if isinstance(config, Config) else parse_config(config, source="<test>")
        gw = Gateway(cfg, detector_factory=lambda: pii_detector) if cfg.data_control.pii.enabled else None
        if prepare is not None:
            gw = gw or Gateway(cfg)
            prepare(gw)
        srv = ServerThread(create_app(cfg, gw, access_log=False, **kw)).start()
        started.append(srv)
        return srv

    yield make
    for srv in started:
        srv.stop()


def partner_config(emulators: dict[str, Any], routes: dict[str, Any] | None = None, **extra: Any) -> dict:
    """A config with one provider per emulator (named after its vendor) and one app."""
    providers = {v: {"type": v, "base_url": e.url, "api_key": f"{v}-secret-key", "timeout": {"read": 5, "total": 10}}
                 for v, e in emulators.items()}
    default_models = {"openai": "gpt-4o-mini", "gemini": "gemini-2.5-flash", "anthropic": "claude-sonnet-4-6"}
    if routes is None:
        routes = {f"{v}-chat": {"capability": "chat", "targets": [f"{v}:{default_models[v]}"]} for v in emulators}
    return {"providers": providers, "routes": routes, "apps": {"test": {"key": APP_KEY}}, **extra}


@pytest.fixture
async def redis_stores(redis_prefix: str) -> AsyncIterator[Callable[..., Any]]:
    """Factory: ``redis_stores(StoreClass, url=REDIS_URL)`` -> ``StoreClass.from_url(url, prefix=...)``, one
    client per call (one per replica), all on one fresh key prefix; closed afterwards."""
    made: list[Any] = []

    def make(cls: Any, url: str = REDIS_URL) -> Any:
        store = cls.from_url(url, prefix=redis_prefix)
        made.append(store)
        return store

    yield make
    for store in made:
        await store.aclose()


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A fresh key prefix on the test Redis (``REDIS_URL``); its keys are deleted afterwards."""
    import uuid

    import redis

    admin = redis.Redis.from_url(REDIS_URL)
    try:
        admin.ping()
    except Exception as exc:  # the suite needs Redis: scripts/ensure-services.sh starts it
        pytest.fail(f"Redis at {REDIS_URL} does not answer ({exc}); run scripts/ensure-services.sh")
    prefix = f"hgtest:{uuid.uuid4().hex}:"
    yield prefix
    keys = list(admin.scan_iter(match=prefix + "*", count=1000))
    if keys:
        admin.delete(*keys)
    admin.close()
