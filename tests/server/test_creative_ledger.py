"""The prompt template version of a creative request is on its egress record."""

from __future__ import annotations

from hybridgate.config import parse_config
from hybridgate.ledger import ledger_url, open_ledger_core

from .test_creative_api import SCHEMA_RULE, create, make_config


def test_template_version_on_the_ledger(tmp_path, emulator, gateway_server):
    emu = emulator("openai")
    emu.script([SCHEMA_RULE])
    conf = make_config(tmp_path, emu)
    srv = gateway_server(conf)
    r = create(srv, {"task": "caption", "input": "Sunset over the harbour", "n": 1})
    assert r.status_code == 200, r.text
    template = r.json()["template"]["id"]
    srv.stop()
    records = list(open_ledger_core(ledger_url(parse_config(conf))).iter_records())
    chat = [rec for rec in records if rec.feature == "creative" and rec.model == "gpt-4o-mini"]
    assert chat and all(rec.extra.get("creative_template") == template for rec in chat)
