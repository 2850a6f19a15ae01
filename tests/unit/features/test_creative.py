"""Creative feature units: request and hashtag rules, templates and versions, answer parsing, sentence
splitting, the emulator's schema instances, moderation verdicts and the eval metrics."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from hybridgate.emulators.script import Script, schema_instance
from hybridgate.errors import ConfigError
from hybridgate.evaluation.tasks.creative import CreativeTask, distinct_n
from hybridgate.features.creative.generate import (
    _Invalid,
    json_schema,
    make_plan,
    parse_answer,
    verdicts_of,
    verdicts_of_decisions,
)
from hybridgate.features.creative.schemas import CreateRequest, clean_hashtags, hashtag_problem, output_model
from hybridgate.features.creative.streaming import split_sentence
from hybridgate.features.creative.templates import BUILTIN_DIR, Templates

TASKS = ("caption", "rewrite", "hashtags", "replies", "summary", "alt_text")
VERSIONS = {"caption": "2"}  # caption@2: photos in the prompt; the others are at 1


def plan(task="caption", banned=frozenset(), **kw):
    req = CreateRequest(task=task, input=kw.pop("input", "a post about bread"), **kw)
    return make_plan(req, Templates(TASKS).get(task), banned, "json_schema")


def test_request_rules():
    with pytest.raises(ValidationError, match="tone"):
        CreateRequest(task="rewrite", input="hi")
    with pytest.raises(ValidationError, match="n to 1"):
        CreateRequest(task="caption", input="hi", stream=True, n=2)
    with pytest.raises(ValidationError, match="ISO 639-1"):
        CreateRequest(task="caption", input="hi", language="German")
    with pytest.raises(ValidationError, match="empty"):
        CreateRequest(task="summary", input=["   "])
    req = CreateRequest(task="replies", input=["hi", {"author": "a", "text": "yo"}], language="pt-BR")
    assert req.language == "pt-BR"


@pytest.mark.parametrize("tag,problem", [("#ok", None), ("#नमस्ते", None), ("#São_Paulo2", None), ("#2024", "no letter"),
                                         ("#a b", "invalid characters"), ("#wow!", "invalid characters"),
                                         ("#", "invalid characters"), ("#" + "a" * 101, "too long")])
def test_hashtag_validity(tag, problem):
    assert hashtag_problem(tag) == problem


def test_clean_hashtags_keeps_first_spelling_and_counts_removals():
    tags, removed = clean_hashtags(["#Bread", "bread", "#BREAD", " rye ", "#Spam"], frozenset({"#spam"}))
    assert tags == ["#Bread", "#rye"] and removed == {"invalid": 0, "duplicate": 2, "banned": 1}


def test_templates_load_with_versions_and_content_hashes(tmp_path):
    builtin = Templates(TASKS).load_all()
    assert set(builtin) == set(TASKS)
    assert all(t.id.startswith(f"{t.task}@{VERSIONS.get(t.task, '1')}+") for t in builtin.values())
    assert {t.task for t in builtin.values() if t.streamable} == {"caption", "rewrite", "replies", "summary"}
    custom = (BUILTIN_DIR / "caption.txt").read_text().replace("social app", "photo app")
    (tmp_path / "caption.txt").write_text(custom)
    mine = Templates(TASKS, tmp_path).load_all()
    assert mine["caption"].version == builtin["caption"].version
    assert mine["caption"].sha256 != builtin["caption"].sha256  # an edit shows without a version bump
    assert mine["hashtags"].sha256 == builtin["hashtags"].sha256  # missing files fall back to the built-in ones


def test_broken_templates_are_config_errors(tmp_path):
    (tmp_path / "caption.txt").write_text("---\nversion: 2\nlengths: {short: [1, 2], medium: [2, 3], long: [3, 4]}\n"
                                          "---\n[system]\nx\n[user]\ny $nope\n[json]\nz\n")
    t = Templates(TASKS, tmp_path).get("caption")
    with pytest.raises(ConfigError, match="placeholder"):
        t.render("user", {})
    (tmp_path / "rewrite.txt").write_text("---\nversion: 1\n---\n[system]\nx\n")
    with pytest.raises(ConfigError, match="missing section"):
        Templates(TASKS, tmp_path).load_all()


def test_prompt_values_follow_the_request():
    p = plan("rewrite", input="x" * 100, tone="witty", language="de", length="short")
    assert p.target.min == 30 and p.target.max == 80  # relative to the input's length
    assert "German (de)" in p.values["language_line"] and "witty" in p.values["tone_line"]
    assert plan(length=50).target.hard_max == 50
    h = plan("hashtags", banned=frozenset({"#spam"}))
    assert h.target.unit == "hashtags" and "#spam" in h.values["banned_line"]


def test_parse_answer_accepts_fences_and_lists_but_never_half_an_answer():
    p = plan(n=2)
    assert parse_answer('```json\n{"variants": [{"text": "A"}, {"text": " B "}]}\n```', p, 2) == \
        [{"text": "A"}, {"text": "B"}]
    assert parse_answer('Here: ["A", "B", "C"] done', p, 2) == [{"text": "A"}, {"text": "B"}]
    for bad in ("", "no json here", '{"variants": []}', '{"variants": [{"text": ""}]}', '{"items": ["A"]}',
                '{"variants": [{"text": "' + "x" * 500 + '"}]}'):
        with pytest.raises(_Invalid):
            parse_answer(bad, p, 2)
    h = plan("hashtags")
    with pytest.raises(_Invalid, match="no valid hashtag"):
        parse_answer('{"variants": [{"tags": ["#1", "two words"]}]}', h, 1)


def test_output_model_and_schema_agree():
    schema = json_schema("hashtags", 3)
    assert schema["properties"]["variants"]["minItems"] == 3
    value = schema_instance(schema, "<post>fresh bread from the oven</post>", "openai")
    out = output_model("hashtags", 3).model_validate(value)
    assert len(out.variants) == 3 and all(hashtag_problem(t) is None for v in out.variants for t in v.tags)


def test_script_rules_match_count_and_fall_back():
    s = Script([{"match": "caption", "content": "A", "times": 2}, {"content": "B"}])
    assert [s.answer({"q": "caption"}, "", None, "openai") for _ in range(3)] == ["A", "A", "B"]
    assert s.answer({"q": "caption"}, "", None, "openai") is None and not s
    with pytest.raises(ValueError):
        Script([{"times": 1}])


@pytest.mark.parametrize("buffer,cut", [("Hello there. More", 13), ("Really?! Yes", 9), ("No end yet", None),
                                        ("Line one\nLine two", 9), ("„Gut.“ Weiter", None), ("x" * 300, 280)])
def test_split_sentence(buffer, cut):
    assert split_sentence(buffer) == cut


def test_verdicts_flagged_or_threshold():
    result = {"results": [{"flagged": False, "categories": {"hate": False}, "category_scores": {"hate": 0.4}},
                          {"flagged": True, "categories": {"harassment": True}, "category_scores": {"harassment": 0.9}}]}
    assert [v.blocked for v in verdicts_of(result, None)] == [False, True]
    assert verdicts_of(result, None)[1].categories == ("harassment",)
    assert [v.blocked for v in verdicts_of(result, 0.3)] == [True, True]


def test_verdicts_from_moderation_decisions():
    results = [{"decision": "allow", "categories": []},
               {"decision": "review", "categories": ["harassment"]},
               {"decision": "block", "categories": ["hate", "flagged"]},
               {"decision": "block", "categories": ["flagged"]},
               {"decision": "review", "categories": []}]
    strict = verdicts_of_decisions(results, block_on_review=True)
    assert [v.blocked for v in strict] == [False, True, True, True, True]
    assert [v.reason() for v in strict[1:]] == [
        "blocked by moderation (review: harassment)", "blocked by moderation (hate)",
        "blocked by moderation (flagged)", "blocked by moderation (review: uncertain)"]
    lenient = verdicts_of_decisions(results, block_on_review=False)
    assert [v.blocked for v in lenient] == [False, False, True, True, False]
    assert [v.decision for v in lenient] == ["allow", "review", "block", "block", "review"]


def test_distinct_n():
    assert distinct_n(["a b c", "a b d"], 1) == pytest.approx(4 / 6)
    assert distinct_n(["a b c", "a b d"], 2) == pytest.approx(3 / 4)
    assert distinct_n(["a"], 2) is None


def _pred(task, variants, n, lo=1, hi=100, checked=None, blocked=0, repairs=0, hashtags=None):
    gen = {"repairs": repairs, "calls": 1, "rounds": 0, "duplicates": 0}
    if hashtags:
        gen["hashtags"] = hashtags
    return {"task": task, "n": n, "variants": variants, "length": {"min": lo, "max": hi},
            "generation": gen, "moderation": {"checked": checked if checked is not None else len(variants),
                                              "blocked": blocked}}


def test_score_metrics():
    items = [{"task": "caption", "input": "A photo of the sea at dawn", "language": "en"},
             {"task": "hashtags", "input": "bread"},
             {"task": "caption", "input": "x"}]
    preds = [
        _pred("caption", [{"text": "The quiet sea wakes up slowly at dawn"}, {"text": "The sea at dawn is quiet and calm. " * 6}], 3, 10, 100,
              checked=3, blocked=1, repairs=1),
        _pred("hashtags", [{"tags": ["#bread", "#rye"]}, {"tags": ["#bread", "#oven"]}], 2, 2, 4,
              hashtags={"raw": 5, "removed": {"invalid": 1, "duplicate": 0, "banned": 0}}),
        None,
    ]
    m = CreativeTask().score(items, preds)
    assert m["format_compliance"] == pytest.approx(2 / 3, abs=1e-3) and m["first_try_format"] == pytest.approx(1 / 3, abs=1e-3)
    assert m["length_adherence"] == pytest.approx(3 / 4)
    assert m["moderation_pass_rate"] == pytest.approx(4 / 5) and m["dropped_rate"] == pytest.approx(1 / 5)
    assert m["hashtag_validity"] == pytest.approx(0.8) and m["language_accuracy"] == 1.0
    assert m["by_task"]["caption"]["n"] == 2 and m["judge_score"] is None
