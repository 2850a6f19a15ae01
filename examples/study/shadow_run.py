"""Shadow traffic for the example study: serve a short burst of the study's own items through a gateway whose
moderation and translation routes mirror every request to a candidate partner, and save ``GET /v1/shadow``.

    python examples/study/shadow_run.py [--out examples/study/out/shadow.json] [--items 40]

What it does (examples/study/run.sh runs it, then renders the report with the file it writes):

1. starts the OpenAI and Gemini vendor EMULATORS on free loopback ports (nothing leaves the machine);
2. serves ``gateway-shadow.yaml`` over HTTP on a free loopback port (the same app as ``hybridgate serve``):
   moderation is served in-house and shadowed to the OpenAI emulator, translation is served by the OpenAI
   emulator and shadowed to the Gemini one, both at fraction 1.0;
3. sends ``--items`` moderation items (``data/moderation.jsonl``, one post per ``POST /v1/moderate``) and
   ``--items`` translation items (``data/translation.jsonl``, half EN->DE and half EN->ES, one sentence per
   ``POST /v1/translate``) as an app would, one request at a time;
4. waits until every mirrored call has finished and been scored, reads ``GET /v1/shadow`` with the admin
   key and writes it unchanged to ``--out``, which ``hybridgate report DIR --shadow FILE`` (or
   ``DIR/shadow.json``) shows as the report's "Shadow traffic" section.

The shadow partners are emulators with canned answers: the agreement measured here is that of the harness
(keyword moderation against the in-house model, one echoing emulator against another), not of the vendors.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Self

import httpx
import uvicorn

from hybridgate.config import load_config
from hybridgate.emulators import EmulatorThread
from hybridgate.server.app import create_app

HERE = Path(__file__).resolve().parent
CONFIG = HERE / "gateway-shadow.yaml"


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def pick_translation(items: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """The first items of every language pair, ``n`` in all (the file lists the pairs one after the other)."""
    pairs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for it in items:
        pairs.setdefault((it["source_lang"], it["target_lang"]), []).append(it)
    per_pair, rest = divmod(n, len(pairs))
    return [it for i, group in enumerate(pairs.values()) for it in group[:per_pair + (i < rest)]]


class ServedGateway:
    """The gateway's HTTP app (``create_app``, as ``hybridgate serve`` builds it) under uvicorn, in a thread
    with its own event loop, so that the caller can also wait on the gateway's shadow tasks."""

    def __init__(self, config: Any) -> None:
        self.app = create_app(config, access_log=False)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="on"))
        factory = self.server.config.get_loop_factory()  # the loop 'hybridgate serve' gets (uvloop if installed)
        self.loop = factory() if factory is not None else asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="gateway", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self.server.serve(sockets=[self.sock]))
        finally:
            self.loop.close()

    def __enter__(self) -> Self:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the gateway did not start")
            time.sleep(0.01)
        return self

    def drain_shadows(self, timeout: float = 30) -> None:
        """Block until every shadow call started so far has finished (and been scored)."""
        gateway = self.app.state.gateway
        asyncio.run_coroutine_threadsafe(gateway.shadow.drain(), self.loop).result(timeout)

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(15)
        self.sock.close()


def send(client: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    r = client.post(path, json=body)
    if r.status_code != 200:
        raise SystemExit(f"shadow_run: {path} answered {r.status_code}: {r.text[:300]}")
    return r.json()


def run(items: int) -> dict[str, Any]:
    moderation = read_jsonl(HERE / "data" / "moderation.jsonl")[:items]
    translation = pick_translation(read_jsonl(HERE / "data" / "translation.jsonl"), items)
    with tempfile.TemporaryDirectory(prefix="hybridgate-shadow-") as tmp, \
            EmulatorThread("openai") as openai, EmulatorThread("gemini") as gemini:
        environ = {**os.environ, "HYBRIDGATE_STUDY_TMP": tmp,
                   "HYBRIDGATE_EMULATOR_OPENAI_URL": openai.url, "HYBRIDGATE_EMULATOR_GEMINI_URL": gemini.url}
        config = load_config(CONFIG, environ=environ)
        app_key = config.apps["shop"].key.get_secret_value()
        admin_key = next(a.key.get_secret_value() for a in config.apps.values() if a.admin)
        with ServedGateway(config) as gw, \
                httpx.Client(base_url=gw.url, timeout=30, headers={"authorization": f"Bearer {app_key}"}) as client:
            for it in moderation:
                send(client, "/v1/moderate", {"input": it["text"]})
            for it in translation:
                send(client, "/v1/translate", {"texts": [it["source"]], "source_lang": it["source_lang"],
                                               "target_lang": it["target_lang"]})
            gw.drain_shadows()
            r = client.get("/v1/shadow", headers={"authorization": f"Bearer {admin_key}"})
            r.raise_for_status()
            return r.json()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=HERE / "out" / "shadow.json", help="where to write GET /v1/shadow")
    ap.add_argument("--items", type=int, default=40, help="items per feature (default 40)")
    args = ap.parse_args(argv)
    if args.items < 1:
        ap.error("--items must be at least 1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    started = time.perf_counter()
    snapshot = run(args.items)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(snapshot, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    for row in snapshot.get("data") or ():
        agreement = ", ".join(f"{k} {v:.3f}" for k, v in sorted(row["agreement"].items()))
        print(f"shadow: {row['route']} -> {row['provider']}: {row['calls']} calls, {row['errors']} errors, "
              f"{row['dropped']} dropped, {row['skipped_by_policy']} skipped by policy; {agreement}", file=sys.stderr)
    print(f"shadow: wrote {args.out} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
