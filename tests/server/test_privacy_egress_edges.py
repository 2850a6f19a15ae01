"""Data control on the less travelled paths: personal data in request slots other than plain message text,
and in long inputs a feature cuts into pieces before they leave, must still reach a partner only
pseudonymised."""

from __future__ import annotations

import json

import httpx

from ..conftest import APP_KEY
from .test_data_control import client, make_config

EMAIL = "jane.doe@example.com"


def test_legacy_function_call_arguments_are_pseudonymised(tmp_path, emulator, gateway_server):
    """An assistant turn of the (deprecated, still accepted) function-calling API carries its arguments in
    ``function_call.arguments``; the e-mail in them must not reach the partner raw."""
    partner = emulator("openai")
    srv = gateway_server(make_config(tmp_path, partner))
    client(srv).chat.completions.create(model="chat", messages=[
        {"role": "user", "content": "Look up my account, please."},
        {"role": "assistant", "content": None,
         "function_call": {"name": "lookup", "arguments": json.dumps({"email": EMAIL})}},
        {"role": "function", "name": "lookup", "content": "one account found"},
    ])
    wire = partner.requests[-1]["raw"]
    assert EMAIL not in wire
    assert "<EMAIL_ADDRESS_1>" in wire


def _text_cut_inside_a_name(size: int) -> str:
    """A long text whose last space before ``size`` is the one inside "Maria Gonzalez": cutting there would
    leave "Maria" in one piece and "Gonzalez" in the next."""
    filler = "We met at the library and talked about books for a long while. " * 4
    room = size - 10 - len("Please call ")
    cut = filler[:room].rfind(" ")
    head = filler[:cut] + "." * (room - cut - 1) + " Please call "
    text = head + "Maria Gonzalez tomorrow about the reading list. " + "See you soon at the library. " * 10
    assert text.rfind(" ", size // 2, size) == len(head) + len("Maria")
    return text


def test_moderation_pieces_never_cut_a_detected_value_in_two(tmp_path, emulator, gateway_server):
    """Texts longer than ``vendor_max_chars`` go to a partner's moderation endpoint in pieces. A piece boundary
    inside a detected name must not let its halves leave unpseudonymised."""
    partner = emulator("openai")
    size = 200
    text = _text_cut_inside_a_name(size)
    cfg = {"state_dir": str(tmp_path),
           "providers": {"partner": {"type": "openai", "base_url": partner.url, "api_key": "sk-partner"}},
           "routes": {"omni": {"capability": "moderation", "targets": ["partner:omni-moderation-latest"],
                               "default": True}},
           "features": {"moderation": {"vendor_max_chars": size, "language": {"detect": False}}},
           "apps": {"test": {"key": APP_KEY}}}
    srv = gateway_server(cfg)
    r = httpx.post(srv.url + "/v1/moderate", json={"input": [text]},
                   headers={"authorization": f"Bearer {APP_KEY}"}, timeout=30)
    assert r.status_code == 200, r.text
    sent = [q["body"] for q in partner.requests if q["path"].endswith("/moderations")]
    assert sent, "the partner was not asked"
    pieces = [p for body in sent for p in (body["input"] if isinstance(body["input"], list) else [body["input"]])]
    assert len(pieces) > 1  # the text did go in pieces
    for piece in pieces:
        assert "Maria" not in piece and "Gonzalez" not in piece, piece


def test_content_the_pii_scan_cannot_read_stays_in_house(tmp_path, emulator, gateway_server):
    """A file part (here a text file with an e-mail in it) is opaque to the PII detector: the request fails
    closed, as on a detector error, instead of going to the partner unscanned."""
    import base64

    partner, llama = emulator("openai"), emulator("openai")
    srv = gateway_server(make_config(tmp_path, partner, inhouse=llama))
    note = base64.b64encode(f"Customer: Jane Doe, {EMAIL}".encode()).decode()
    raw = client(srv).chat.completions.with_raw_response.create(model="chat", messages=[{"role": "user", "content": [
        {"type": "text", "text": "Summarise the attached note."},
        {"type": "file", "file": {"filename": "note.txt", "file_data": f"data:text/plain;base64,{note}"}},
    ]}])
    assert raw.headers["x-hybridgate-provider"] == "llama"
    assert partner.emulator.count == 0


def test_a_misshapen_hybridgate_extension_is_refused_not_ignored(tmp_path, emulator, gateway_server):
    """``hybridgate`` must be an object. Sent as a list (a plausible slip for ``data_classes``), it was dropped
    without a word, and with it the request's declared data classes: the private message went to the partner."""
    import openai
    import pytest

    partner, llama = emulator("openai"), emulator("openai")
    srv = gateway_server(make_config(tmp_path, partner, inhouse=llama))
    with pytest.raises(openai.UnprocessableEntityError) as info:
        client(srv).chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}],
                                            extra_body={"hybridgate": ["private_message"]})
    assert info.value.body["code"] == "validation_error" and info.value.body["param"] == "hybridgate"
    assert partner.emulator.count == 0 and llama.emulator.count == 0


def test_stream_options_of_the_wrong_type_is_a_typed_422(tmp_path, emulator, gateway_server):
    """Bad input gets a typed 4xx in the error shape, not a 500."""
    import openai
    import pytest

    partner = emulator("openai")
    srv = gateway_server(make_config(tmp_path, partner))
    with pytest.raises(openai.UnprocessableEntityError) as info:
        list(client(srv).chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}],
                                                 stream=True, stream_options="include_usage"))
    assert info.value.body["code"] == "validation_error" and info.value.body["request_id"]
    assert partner.emulator.count == 0


PEM = ("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n"
       "MzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu\n-----END PRIVATE KEY-----")


def test_json_mode_answer_is_still_json_after_restore(tmp_path, emulator, gateway_server):
    """A restored value with a line break (a PEM key) inside a JSON-mode answer must be escaped as JSON wants,
    plain and streamed: the client's ``json.loads`` of the content must give back the original text."""
    partner = emulator("openai")
    srv = gateway_server(make_config(tmp_path, partner))
    text = f"Is this key safe to share?\n{PEM}"
    ask = {"model": "chat", "messages": [{"role": "user", "content": text}], "response_format": {"type": "json_object"}}
    r = client(srv).chat.completions.create(**ask)
    assert "MIIEvQIBADANBgkqhkiG9w0BAQEF" not in partner.requests[-1]["raw"]  # the key itself was pseudonymised
    assert json.loads(r.choices[0].message.content) == {"echo": text}
    streamed = "".join(c.choices[0].delta.content or "" for c in client(srv).chat.completions.create(**ask, stream=True)
                       if c.choices)
    assert json.loads(streamed) == {"echo": text}


def test_values_json_encoded_into_a_prompt_are_still_pseudonymised(tmp_path, emulator, gateway_server):
    """Several texts go to a chat model as one JSON object ``{"texts": [...]}``, where a detected name written
    over two lines appears JSON-escaped (``Maria\\nGonzalez``): it must be found and replaced there too."""
    from .test_translate_api import config as translate_config

    partner = emulator("openai")
    cfg = translate_config(tmp_path, emus={"openai": partner}, route=["openai:gpt-4o-mini"])
    cfg["data_control"]["pii"] = {"enabled": True}
    srv = gateway_server(cfg)
    httpx.post(srv.url + "/v1/translate", headers={"authorization": f"Bearer {APP_KEY}"}, timeout=30,
               json={"texts": ["Thanks for everything.\nBest regards,\nMaria\nGonzalez", "See you tomorrow."],
                     "source_lang": "en", "target_lang": "de"})
    wire = [q["raw"] for q in partner.requests if q["path"].endswith("/chat/completions")]
    assert wire, "the partner was not asked"
    assert not any("Gonzalez" in raw for raw in wire), wire[0]


def test_a_value_detected_inside_a_word_is_replaced_there_too(tmp_path, emulator, gateway_server):
    """The detector finds the card number in "4111111111111111X" and the IP address in "192.168.1.20a"; the
    whole-word rule that keeps a detected "8" from being replaced inside "1987" must not let them leave raw."""
    partner = emulator("openai")
    srv = gateway_server(make_config(tmp_path, partner))
    text = "Charge card 4111111111111111X, log SSN 123-45-6789A and the login from 192.168.1.20a."
    r = client(srv).chat.completions.create(model="chat", messages=[{"role": "user", "content": text}])
    wire = partner.requests[-1]["raw"]
    for value in ("4111111111111111", "123-45-6789", "192.168.1.20"):
        assert value not in wire, wire
    assert r.choices[0].message.content == f"[openai emulator] You said: {text}"


def test_comment_authors_are_scanned_before_a_creative_prompt_leaves(tmp_path, emulator, gateway_server):
    """A comment thread goes into the creative prompt as "1. <author>: <text>"; the author's full name is
    personal data and must reach the partner pseudonymised like the comment's text."""
    from .test_creative_api import SCHEMA_RULE, chat_requests
    from .test_creative_api import make_config as creative_config

    partner = emulator("openai")
    partner.script([SCHEMA_RULE])
    cfg = creative_config(tmp_path, partner)
    cfg["data_control"]["pii"] = {"enabled": True}
    srv = gateway_server(cfg)
    thread = [{"author": "Maria Gonzalez", "text": "Is the library open on Sundays now?"},
              {"author": "Jonathan Whitfield", "text": "I think they changed the hours last month."}]
    r = httpx.post(srv.url + "/v1/create", headers={"authorization": f"Bearer {APP_KEY}"}, timeout=30,
                   json={"task": "summary", "input": thread, "language": "en"})
    wire = [q["raw"] for q in chat_requests(partner)]
    assert wire, r.text
    assert not any("Gonzalez" in raw or "Whitfield" in raw for raw in wire), wire[0]


async def test_a_client_gone_as_the_stream_starts_ends_the_upstream_call(tmp_path, emulator, pii_detector):
    """The client hangs up while the response headers go out, before the first piece: the upstream stream the
    endpoint already opened (its first batch read) is closed with the response, not left to the garbage
    collector — its attempt is over and its egress record closed when the request ends."""
    import asyncio

    from hybridgate.config import parse_config
    from hybridgate.gateway import Gateway
    from hybridgate.server.app import create_app

    partner = emulator("openai")
    cfg = parse_config(make_config(tmp_path, partner))
    gw = Gateway(cfg, detector_factory=lambda: pii_detector)
    app = create_app(cfg, gw, access_log=False)
    await gw.start()
    body = json.dumps({"model": "chat", "stream": True,
                       "messages": [{"role": "user", "content": "tell me a story about seven small brave foxes"}]})
    pending = [{"type": "http.request", "body": body.encode(), "more_body": False}]
    gone = asyncio.Event()

    async def receive() -> dict:
        if pending:
            return pending.pop(0)
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            assert message["status"] == 200
            gone.set()  # the client hangs up as the headers go out
            await asyncio.sleep(0.2)

    scope = {"type": "http", "method": "POST", "path": "/v1/chat/completions", "root_path": "", "query_string": b"",
             "headers": [(b"authorization", f"Bearer {APP_KEY}".encode()), (b"content-type", b"application/json")]}
    await app(scope, receive, send)
    attempt = scope["hybridgate.ctx"].attempts[-1]
    assert attempt.error == "cancelled" and attempt.elapsed_ms is not None
    records = list((await gw.ledger.get()).core.iter_records())
    assert [r.extra.get("stream") for r in records] == ["start", "end"]
    await gw.aclose()


def test_predicted_output_content_is_pseudonymised(tmp_path, emulator, gateway_server):
    """``prediction.content`` (OpenAI's Predicted Outputs: usually the user's own document) leaves with the
    request; the e-mail in it must reach the partner pseudonymised like message text."""
    partner = emulator("openai")
    srv = gateway_server(make_config(tmp_path, partner))
    doc = f"Dear customer,\nplease confirm your address {EMAIL} by Friday.\n"
    client(srv).chat.completions.create(model="chat", messages=[{"role": "user", "content": "Fix the typos."}],
                                        prediction={"type": "content", "content": doc})
    wire = partner.requests[-1]["raw"]
    assert EMAIL not in wire
    assert "<EMAIL_ADDRESS_1>" in wire


def test_misshapen_tool_fields_are_a_typed_422_for_every_vendor(emulator, gateway_server):
    """Tools, tool_choice and tool calls of the wrong type are bad input: a 422 in the error shape before anything
    is sent, not a 500 from the vendor mapping (Anthropic and Gemini map these fields themselves)."""
    from ..conftest import partner_config

    emus = {"anthropic": emulator("anthropic"), "gemini": emulator("gemini")}
    srv = gateway_server(partner_config(emus))
    user = {"role": "user", "content": "What is the weather in Lisbon?"}
    bad = [
        {"messages": [user], "tools": [{"type": "function", "function": {"description": "no name"}}]},
        {"messages": [user], "tools": [{"type": "function"}]},
        {"messages": [user], "tool_choice": ["get_weather"]},
        {"messages": [user, {"role": "assistant", "content": None, "tool_calls": "get_weather"}]},
        {"messages": [user, {"role": "assistant", "content": None, "tool_calls": ["get_weather"]}]},
    ]
    for vendor in emus:
        for body in bad:
            r = httpx.post(srv.url + "/v1/chat/completions", headers={"authorization": f"Bearer {APP_KEY}"},
                           json={"model": f"{vendor}-chat", **body}, timeout=20)
            assert r.status_code == 422, (vendor, body, r.text)
            assert r.json()["error"]["code"] == "validation_error"
    assert all(e.emulator.count == 0 for e in emus.values())


def test_a_text_part_whose_text_is_not_a_string_is_refused_before_it_leaves(tmp_path, emulator, gateway_server):
    """A text part carrying a number (here a phone number) is not scanned (only strings are) and used to go out
    as it was; it is bad input: a 422, and nothing reaches the partner."""
    partner = emulator("openai")
    srv = gateway_server(make_config(tmp_path, partner))
    r = httpx.post(srv.url + "/v1/chat/completions", headers={"authorization": f"Bearer {APP_KEY}"}, timeout=20,
                   json={"model": "chat", "messages": [{"role": "user", "content": [
                       {"type": "text", "text": "Call me back on"}, {"type": "text", "text": 4155550132}]}]})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "validation_error"
    r = httpx.post(srv.url + "/v1/moderations", headers={"authorization": f"Bearer {APP_KEY}"}, timeout=20,
                   json={"input": [{"type": "text", "text": 4155550132}]})
    assert r.status_code == 422, r.text
    assert partner.emulator.count == 0
