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
