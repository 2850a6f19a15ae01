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
