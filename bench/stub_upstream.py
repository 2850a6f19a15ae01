"""A fast OpenAI-compatible upstream stub for overhead benchmarks (not an emulator: no faults,
no parsing beyond what HTTP/1.1 keep-alive needs). Canned chat answer; ``"stream": true`` in
the body gets an SSE stream of N chunks ending with [DONE].

    python bench/stub_upstream.py --port 9100 [--chunks 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json

CHAT = json.dumps({
    "id": "chatcmpl-stub", "object": "chat.completion", "created": 1700000000, "model": "stub",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello from the stub upstream."},
                 "finish_reason": "stop", "logprobs": None}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}}).encode()
EMB = json.dumps({"object": "list", "model": "stub", "data": [{"object": "embedding", "index": 0,
                                                               "embedding": [0.1] * 16}],
                  "usage": {"prompt_tokens": 2, "total_tokens": 2}}).encode()


def sse_body(chunks: int) -> bytes:
    parts = []
    for i in range(chunks):
        delta = {"role": "assistant", "content": ""} if i == 0 else {"content": f"tok{i} "}
        c = {"id": "chatcmpl-stub", "object": "chat.completion.chunk", "created": 1700000000, "model": "stub",
             "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
        parts.append(b"data: " + json.dumps(c).encode() + b"\n\n")
    last = {"id": "chatcmpl-stub", "object": "chat.completion.chunk", "created": 1700000000, "model": "stub",
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    parts.append(b"data: " + json.dumps(last).encode() + b"\n\n")
    parts.append(b"data: [DONE]\n\n")
    return b"".join(parts)


def response(body: bytes, ctype: bytes) -> bytes:
    return (b"HTTP/1.1 200 OK\r\ncontent-type: " + ctype + b"\r\ncontent-length: " + str(len(body)).encode()
            + b"\r\n\r\n" + body)


class Stub(asyncio.Protocol):
    def __init__(self, chat: bytes, stream: bytes, emb: bytes) -> None:
        self.buf = b""
        self.chat, self.stream, self.emb = chat, stream, emb

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            head_end = self.buf.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buf[:head_end].lower()
            length = 0
            i = head.find(b"content-length:")
            if i >= 0:
                length = int(head[i + 15:head.find(b"\r\n", i) if head.find(b"\r\n", i) > 0 else None].strip())
            if len(self.buf) < head_end + 4 + length:
                return
            body = self.buf[head_end + 4:head_end + 4 + length]
            self.buf = self.buf[head_end + 4 + length:]
            if b"/embeddings" in head[:100]:
                self.transport.write(self.emb)
            elif b'"stream":true' in body or b'"stream": true' in body:
                self.transport.write(self.stream)
            else:
                self.transport.write(self.chat)


async def main(port: int, chunks: int) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    chat = response(CHAT, b"application/json")
    stream = response(sse_body(chunks), b"text/event-stream")
    emb = response(EMB, b"application/json")
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Stub(chat, stream, emb), "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=9100)
    ap.add_argument("--chunks", type=int, default=20)
    a = ap.parse_args()
    asyncio.run(main(a.port, a.chunks))
