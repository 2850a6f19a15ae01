"""`hybridgate serve` with no config: the embedded default, in-house only, state under ./.hybridgate/."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
import numpy as np
import openai
import pytest


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("default")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and k != "HYBRIDGATE_LLAMA_URL"}
    proc = subprocess.Popen([sys.executable, "-m", "hybridgate", "serve", "--port", str(port)], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(url + "/healthz").status_code == 200:
                break
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"serve did not start: {proc.stderr.read()}")
        time.sleep(0.1)
    yield url, cwd, proc
    proc.terminate()
    proc.wait(10)


def test_default_is_in_house_only_with_state_dir(served):
    url, cwd, _ = served
    health = httpx.get(url + "/healthz").json()
    assert health["providers"] == {"local": {"vendor": "local", "in_house": True}}
    assert (cwd / ".hybridgate").is_dir()


def test_local_embeddings_through_the_sdk(served):
    url, _, _ = served
    client = openai.OpenAI(base_url=url + "/v1", api_key="hg-local-dev-key", max_retries=0)
    r = client.embeddings.create(model="all-minilm-l6-v2", input=["A cat sits on the mat.", "A kitten is on the rug.",
                                                                 "Quarterly revenue rose by 4%."])
    v = np.array([d.embedding for d in r.data])
    assert v.shape == (3, 384)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2  # similar sentences are closer
    assert r.usage.prompt_tokens > 0


def test_chat_without_any_chat_provider_says_what_to_set(served):
    url, _, _ = served
    client = openai.OpenAI(base_url=url + "/v1", api_key="hg-local-dev-key", max_retries=0)
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert info.value.status_code == 503 and info.value.body["code"] == "not_configured"
    assert "OPENAI_API_KEY" in info.value.body["message"] and "HYBRIDGATE_LLAMA_URL" in info.value.body["message"]
    r = httpx.post(url + "/v1/chat/completions", headers={"authorization": "Bearer hg-local-dev-key"},
                   json={"model": "", "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 422


def test_in_house_moderation_through_the_sdk(served):
    url, _, _ = served
    client = openai.OpenAI(base_url=url + "/v1", api_key="hg-local-dev-key", max_retries=0)
    r = client.moderations.create(input=["You are a worthless idiot and I hate you", "Thanks, see you tomorrow!"])
    toxic, kind = r.results
    assert toxic.flagged and not kind.flagged
    assert toxic.category_scores.harassment > kind.category_scores.harassment


def test_logs_are_json_with_request_id(served):  # last: it stops the server to read its log
    url, _, proc = served
    r = httpx.get(url + "/v1/models", headers={"authorization": "Bearer hg-local-dev-key", "x-request-id": "trace-abc-123"})
    assert r.status_code == 200
    proc.terminate()
    _, err = proc.communicate(timeout=10)
    import json

    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    access = [entry for entry in lines if entry.get("request_id") == "trace-abc-123"]
    assert access and access[0]["status"] == 200 and access[0]["logger"] == "hybridgate.access"
