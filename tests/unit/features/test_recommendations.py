"""Recommendations feature pieces: storage, file importers, model life cycle, rerank prompt and parsing."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from hybridgate.errors import InvalidRequest, ProviderUnavailable, ValidationFailed
from hybridgate.features.recommendations.importers import read_event_file, read_item_file
from hybridgate.features.recommendations.options import Options, RerankOptions, resolve
from hybridgate.features.recommendations.rerank import (
    build_messages,
    candidate_view,
    parse_order,
    rerank,
    session_summary,
)
from hybridgate.features.recommendations.schemas import event_rows, item_rows
from hybridgate.features.recommendations.service import RecommendationService
from hybridgate.features.recommendations.store import EventRow, ItemRow, RecStore


@pytest.fixture
def store(tmp_path):
    s = RecStore(f"sqlite:///{tmp_path / 'rec.db'}").open()
    yield s
    s.close()


def ev(user, item, kind="view", ts=1000.0):
    return EventRow(str(user), str(item), kind, None, ts)


# ------------------------------------------------------------------ storage
def test_store_events_marks_hides_and_item_upserts(store):
    assert store.marks() == (0, 0)
    store.add_events([ev("u1", "a"), ev("u1", "b", "hide"), ev("u2", "a", "like")])
    rows, top = store.events_after(0)
    assert [(r.user, r.item, r.type) for r in rows] == [("u1", "a", "view"), ("u1", "b", "hide"), ("u2", "a", "like")]
    assert store.events_after(top) == ([], top)
    assert store.hidden_items("u1") == ["b"] and store.hidden_items("u2") == []
    assert store.recent_items("u1", 5) == ["a"]
    store.upsert_items([ItemRow("a", "Jazz night", None, {"genre": "jazz"}), ItemRow("b", "Pasta")])
    _, seq = store.items_after(0)
    store.upsert_items([ItemRow("a", "Jazz night live", "caption", {"genre": "jazz"})])
    changed, seq2 = store.items_after(seq)
    assert [i.id for i in changed] == ["a"] and seq2 > seq and changed[0].title == "Jazz night live"
    assert store.get_items(["a", "zz"])["a"].metadata == {"genre": "jazz"}
    assert store.counts() == (3, 2)


# ------------------------------------------------------------------ bodies
def test_bodies_one_or_batch_and_field_errors():
    rows = event_rows({"user": 7, "item": "x", "type": "like", "timestamp": "2024-01-01T00:00:00Z"}, 10)
    assert rows[0].user == "7" and rows[0].type == "like" and rows[0].ts == 1704067200.0
    assert len(event_rows({"events": [{"user": "a", "item": "b"}] * 3}, 10)) == 3
    for bad, where in [({"user": "a", "item": "b", "type": "dislike"}, "type"),
                       ({"events": [{"user": "a", "item": "b"}, {"user": True, "item": "b"}]}, "events.1.user"),
                       ({"user": "a", "item": "b", "weight": -1}, "weight"),
                       ({"user": "", "item": "b"}, "user"),
                       ({"events": []}, "events")]:
        with pytest.raises(ValidationFailed) as info:
            event_rows(bad, 10)
        assert info.value.param == where and info.value.status == 422
    with pytest.raises(ValidationFailed, match="at most 2"):
        event_rows({"events": [{"user": "a", "item": "b"}] * 3}, 2)
    assert item_rows({"id": 5, "title": "T", "metadata": {"k": [1, 2]}}, 10)[0].id == "5"
    with pytest.raises(ValidationFailed):
        item_rows({"id": "x", "colour": "red"}, 10)


# ---------------------------------------------------------------- importers
def test_movielens_u_data_and_u_item_load_as_is(tmp_path):
    p = tmp_path / "u.data"
    p.write_text("196\t242\t3\t881250949\n186\t302\t3\t891717742\n")
    rows = read_event_file(p)
    assert rows[0] == EventRow("196", "242", "view", 3.0, 881250949.0)
    item = tmp_path / "u.item"
    item.write_bytes("1|Toy Story (1995)|01-Jan-1995||http://x|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
                     "2|Caf\xe9 (1995)|01-Jan-1995||http://y|0|1|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0\n".encode("latin-1"))
    items = read_item_file(item)
    assert items[0].title == "Toy Story (1995)" and items[0].metadata["genres"] == ["Animation", "Children's", "Comedy"]
    assert items[1].title == "Café (1995)"


def test_csv_with_types_jsonl_and_line_numbers_in_errors(tmp_path):
    p = tmp_path / "events.csv"
    p.write_text("user,item,type,timestamp\nalice,song-1,like,10\nalice,song-2,hide,20\n")
    assert [(r.item, r.type) for r in read_event_file(p)] == [("song-1", "like"), ("song-2", "hide")]
    j = tmp_path / "events.jsonl"
    j.write_text('{"user": "a", "item": "b", "type": "share"}\n\n{"user": "a", "item": "c", "type": "nope"}\n')
    with pytest.raises(InvalidRequest, match=r"events.jsonl:3: type"):
        read_event_file(j)
    items = tmp_path / "items.csv"
    items.write_text("item_id,title,description,genre\nx1,Jazz,Late night jazz,music\n")
    assert read_item_file(items)[0] == ItemRow("x1", "Jazz", "Late night jazz", {"genre": "music"})
    ij = tmp_path / "items.jsonl"
    ij.write_text('{"id": "p1", "title": "Pasta", "text": "A recipe", "cuisine": "it", "metadata": {"v": 1}}\n')
    assert read_item_file(ij)[0] == ItemRow("p1", "Pasta", "A recipe", {"v": 1, "cuisine": "it"})



@pytest.mark.parametrize(("rating", "stamp"), [("inf", "10"), ("1e39", "10"), ("4", "inf"), ("4", "-inf"),
                                               ("4", "nan"), ("4", "1e30")])
def test_csv_events_with_a_non_finite_weight_or_timestamp_are_a_clear_error(tmp_path, rating, stamp):
    p = tmp_path / "events.csv"  # POST /v1/events refuses these; the import must too, naming the line
    p.write_text(f"user,item,rating,timestamp\nalice,song-1,4,10\nalice,song-2,{rating},{stamp}\n")
    with pytest.raises(InvalidRequest, match=r"events.csv:3: .*finite"):
        read_event_file(p)

# ---------------------------------------------------------------- life cycle
def _service(tmp_path, **opts):
    o = Options.model_validate({"encoder": "hashing", **opts})
    return RecommendationService(resolve(o, tmp_path))


def test_versions_restart_replay_and_adoption(tmp_path):
    svc = _service(tmp_path)
    svc.store.open().add_events([ev(u, i) for u in range(30) for i in ((u % 3) * 10 + j for j in range(6))])
    svc.load_or_fit()
    first = svc.version
    assert svc.model.recommend("0", 3)[0].reason == "similar_to"
    svc.add_events([ev("new-user", "1"), ev("0", "2", "hide")])  # fed at once, not yet in a saved version
    assert svc.pending == 2 and "2" not in [r.item for r in svc.model.recommend("0", 50, exclude_seen=False)]
    svc.store.close()
    again = _service(tmp_path)  # a restart: loads CURRENT and replays what came after its marks
    again.load_or_fit()
    assert again.version == first and again.pending == 2
    assert "2" not in [r.item for r in again.model.recommend("0", 50, exclude_seen=False)]
    assert again.model.recommend("new-user", 3)  # known from the replayed event
    other = _service(tmp_path)  # what 'hybridgate train recommendations' does in another process
    other.fit_full()
    assert again.adopt_newer_version() and again.version == other.version and again.pending == 0
    thread = again.start_refit()
    thread.join(30)
    assert again.save_current() != other.version
    assert len([p for p in (tmp_path / "recommender").glob("v*")]) == 2  # keep_versions
    for s in (again, other):
        s.store.close()


def test_model_options_are_checked():
    with pytest.raises(ValueError, match="unknown recommender setting"):
        Options.model_validate({"model": {"lambda": 3}})
    assert Options.model_validate({"model": {"lam": 300}}).recommender_config().lam == 300


# -------------------------------------------------------------------- rerank
def test_prompt_carries_only_allow_listed_fields():
    row = ItemRow("42", "A very long title " * 20, "secret caption", {"genre": "jazz", "owner_email": "x@y.z"})
    view = candidate_view("42", row, ["genre"], 30)
    assert view == {"id": "42", "title": ("A very long title " * 20)[:30], "genre": "jazz"}
    summary = session_summary([row, ItemRow("7", "h", None, {"genre": ["jazz", "blues"]}), None], ["genre"])
    assert summary == {"recent_items": 3, "interests": {"genre": [["jazz", 2], ["blues", 1]]}}
    text = orjson.dumps(build_messages([view], summary)).decode()
    assert "secret caption" not in text and "owner_email" not in text and "h\"" not in text


@pytest.mark.parametrize("content, ok", [
    ('{"order": ["b", "a", "c"]}', True),
    ('```json\n{"order": ["b", "a", "c"]}\n```', True),
    ('{"order": ["b", "a"]}', False),  # not a permutation
    ('{"order": ["b", "a", "c", "c"]}', False),
    ('{"order": ["b", "a", "x"]}', False),
    ('{"order": ["b", "a", "c"], "why": "x"}', False),
    ('Sure! {"order": ["b", "a", "c"]}', False),  # never half-parsed
    ('{"order": ["b", "a", "c"]', False),
    ('{"echo": "..."}', False),
    (None, False),
])
def test_parse_order_is_strict(content, ok):
    assert parse_order(content, ["a", "b", "c"]) == (["b", "a", "c"] if ok else None)


class _FakeGateway:
    def __init__(self, answer=None, error=None):
        self.answer, self.error, self.calls = answer, error, []

    async def feature_call(self, feature, texts, invoke, *, need, ctx, app, route):
        self.calls.append((feature, texts, need, route))
        if self.error:
            raise self.error

        class P:
            name, capabilities = "fake", frozenset({"chat", "json_mode"})

            async def chat(self, body, ctx):
                assert body["response_format"] == {"type": "json_object"}
                return {"choices": [{"message": {"content": outer.answer}}]}

        outer = self

        class C:
            provider, model = P(), "m"

        return await invoke(C())


def test_rerank_applies_a_valid_order_and_falls_back_otherwise():
    cands = [{"id": "a"}, {"id": "b"}]
    opts = RerankOptions(enabled=True, route="r")
    good = asyncio.run(rerank(_FakeGateway('{"order": ["b", "a"]}'), opts, cands, {}, None, None))
    assert good.order == ["b", "a"] and good.status == {"applied": True, "provider": "fake"}
    gw = _FakeGateway('{"order": ["b"]}')
    bad = asyncio.run(rerank(gw, opts, cands, {}, None, None))
    assert bad.order is None and bad.status["error"] == "bad_output"
    assert gw.calls[0][0] == "recommendations" and gw.calls[0][2] == frozenset({"chat"}) and gw.calls[0][3] == "r"
    down = asyncio.run(rerank(_FakeGateway(error=ProviderUnavailable("x")), opts, cands, {}, None, None))
    assert down.order is None and down.status == {"applied": False, "error": "provider_unavailable"}
