"""OpenAI -> Anthropic body translation: the end-user id that becomes ``metadata.user_id``."""

from __future__ import annotations

import hashlib

import pytest

from hybridgate.providers.anthropic import to_anthropic_request

HASHED = "hg-" + "0123456789abcdef" * 2  # what IdentifierGuard leaves for a partner


def user_id(**ids) -> str | None:
    out = to_anthropic_request({"model": "claude-sonnet-4-6", "messages": [{"role": "user", "content": "hi"}], **ids})
    return out["metadata"]["user_id"] if "metadata" in out else None


def test_safety_identifier_becomes_metadata_user_id():
    assert user_id(safety_identifier=HASHED) == HASHED


def test_safety_identifier_wins_over_user():
    assert user_id(user="hg-legacy", safety_identifier=HASHED) == HASHED
    assert user_id(safety_identifier=HASHED, user="hg-legacy") == HASHED  # not a matter of key order


def test_user_alone_still_maps():
    assert user_id(user=HASHED) == HASHED


@pytest.mark.parametrize("ids", [{}, {"user": ""}, {"safety_identifier": None},
                                 {"user": None, "safety_identifier": ""}])
def test_no_id_no_metadata(ids):
    assert user_id(**ids) is None


def test_an_empty_safety_identifier_falls_back_to_user():
    assert user_id(safety_identifier="", user=HASHED) == HASHED
    assert user_id(safety_identifier=None, user=HASHED) == HASHED


def test_the_value_fits_anthropics_256_characters():
    assert user_id(safety_identifier="a" * 256) == "a" * 256  # at the limit: as it is
    long = "tenant-42/" + "x" * 300  # only reachable unhashed (an in-house provider)
    mapped = user_id(safety_identifier=long)
    assert mapped == hashlib.sha256(long.encode()).hexdigest() and len(mapped) == 64
    assert user_id(safety_identifier=long + "y") != mapped  # still one per user, unlike a cut
