from collections import Counter

import pytest

from builders.pipeline import Rejects
from itc.catalog import tools_from_itc_json
from itc.languages import check_languages, language_matches
from itc.queries import api_set_specs, load_seed_pool, parse_query_reply, pick_examples, query_request
from itc.scoring import filter_scored, keep_decision, parse_score_reply, total_score
from itc.selection import TASK_TYPES
from tests.itc.test_catalog import GOOGLE_TRANSLATE

API_SET = {"id": "set1", "task_type": "single", "apis": ["Google Translate::translate1"], "tool_ids": ["Google Translate"],
           "country": "Germany", "language": "de", "category": "Utilities"}


def test_seed_pool_covers_every_type_in_many_languages_and_each_query_is_in_its_language():
    pool = load_seed_pool()
    assert len(pool) == 36 and Counter(s["task_type"] for s in pool) == {t: 9 for t in TASK_TYPES}
    assert len({s["language"] for s in pool}) >= 15
    for seed in pool:
        assert language_matches(seed["query"], seed["language"])[0], seed["id"]


def test_examples_prefer_the_language_and_requests_render():
    pool = load_seed_pool()
    picked = pick_examples(pool, "nested", "ja", k=3, seed=0, item="a")
    assert len(picked) == 3 and picked[0]["language"] == "ja" and {p["task_type"] for p in picked} == {"nested"}
    assert picked == pick_examples(pool, "nested", "ja", k=3, seed=0, item="a")
    tools = {t["tool_id"]: t for t in tools_from_itc_json(GOOGLE_TRANSLATE)}
    req = query_request(API_SET, api_set_specs(API_SET, tools), picked[:1], n=3)
    text = req["messages"][0]["content"]
    assert req["prompt"] == "query_single@2" and "German" in text and "translate1" in text and picked[0]["query"] in text


def test_query_replies_are_validated_and_language_mismatches_are_counted_rejects():
    reply = {"queries": [{"query": "Übersetze bitte den Satz 'Guten Morgen, wie geht es dir?' ins Japanische.",
                          "apis": ["translate1"]},
                         {"query": "Please translate the sentence 'good morning' into Japanese for me.",
                          "apis": ["translate1"]}]}
    rows = parse_query_reply(reply, API_SET, generator="m1")
    assert [r["language"] for r in rows] == ["de", "de"]
    rejects = Rejects()
    kept = check_languages(rows, rejects=rejects)
    assert [r["query"][:5] for r in kept] == ["Übers"] and rejects.counts() == {"language_check": 1}
    assert "'en'" in rejects.items[0]["reason"]
    assert len(check_languages(rows, enforce=False)) == 2  # record mode keeps, marks
    with pytest.raises(ValueError, match="outside its set"):
        parse_query_reply({"queries": [{"query": "Translate hello", "apis": ["weather"]}]}, API_SET, generator="m1")
    with pytest.raises(ValueError, match="schema"):
        parse_query_reply('{"queries": [{"query": "Translate hello"}]}', API_SET, generator="m1")


def _judge(*scores: int) -> dict:
    dims = ("relevance", "clarity", "specificity", "practicality", "language_appropriateness")
    return {d: {"score": s, "explanation": "ok"} for d, s in zip(dims, scores)} | {"total_score": 5}


def test_both_judges_must_pass_the_threshold():
    good, weak = parse_score_reply(_judge(5, 4, 4, 5, 4)), parse_score_reply(_judge(3, 3, 4, 3, 3))
    assert good["total"] == 4 and weak["total"] == 3 and good["mean"] == pytest.approx(4.4)
    assert total_score({"relevance": 4, "clarity": 4, "specificity": 3, "practicality": 3, "language_appropriateness": 4}) == 4
    assert keep_decision({"claude": good, "gemini": good}) == (True, "every judge passed")
    ok, reason = keep_decision({"claude": good, "gemini": weak})
    assert not ok and "gemini" in reason
    ok, reason = keep_decision({"claude": good, "gemini": good}, per_dimension={"clarity": 5})
    assert not ok and "clarity 4 < 5" in reason


def test_filter_scored_enforce_and_record_modes():
    rows = [{"id": "q1", "query": "a"}, {"id": "q2", "query": "b"}, {"id": "q3", "query": "c"}]
    replies = {"q1": {"a": _judge(5, 5, 5, 5, 5), "b": _judge(4, 4, 4, 4, 5)},
               "q2": {"a": _judge(5, 5, 5, 5, 5), "b": _judge(2, 2, 2, 3, 3)},
               "q3": {"a": '{"relevance": {"score": 9}}', "b": _judge(5, 5, 5, 5, 5)}}
    rejects = Rejects()
    kept = filter_scored(rows, replies, rejects=rejects)
    assert [r["id"] for r in kept] == ["q1"] and kept[0]["judge_scores"]["b"]["total"] == 4
    assert sorted(r["item"] for r in rejects.items) == ["q2", "q3"]
    assert "schema" in next(r["reason"] for r in rejects.items if r["item"] == "q3")
    recorded = filter_scored(rows, replies, mode="record")
    assert [r["score_pass"] for r in recorded] == [True, False, False]


def _fits(value, schema) -> bool:
    import jsonschema

    return jsonschema.Draft202012Validator(schema).is_valid(value)


def test_query_reply_schemas_allow_only_the_sets_api_names_in_the_task_types_number():
    parallel = {**API_SET, "task_type": "parallel", "apis": ["t::a", "t::b", "u::c"]}
    schema = query_request(parallel, [], [], n=2)["reply_schema"]
    query = "Please compare the weather in Oslo with the train times to Bergen tomorrow."
    assert _fits({"queries": [{"query": query, "apis": ["a", "c"]}]}, schema)
    assert not _fits({"queries": [{"query": query, "apis": ["a"]}]}, schema)  # a parallel task needs two APIs
    assert not _fits({"queries": [{"query": query, "apis": ["names of the APIs it needs"]}]}, schema)
    assert not _fits({"queries": [{"query": query, "apis": ["a", "b"]}] * 3}, schema)  # more than n queries
    single = query_request(API_SET, [], [], n=2)["reply_schema"]
    assert _fits({"queries": [{"query": query, "apis": ["translate1"]}]}, single)
    assert not _fits({"queries": [{"query": query, "apis": ["translate1", "translate1"]}]}, single)
    assert not _fits({"queries": [{"query": "x" * 500, "apis": ["translate1"]}]}, single)  # bounded, never runs on


def test_judges_are_asked_for_integer_scores_one_to_five():
    from itc.scoring import scoring_request

    schema = scoring_request({"query": "q"}, [], "German")["reply_schema"]
    good = {d: {"score": 4} for d in ("relevance", "clarity", "specificity", "practicality",
                                                            "language_appropriateness")}
    assert _fits(good, schema) and schema["properties"]["clarity"]["properties"]["score"]["enum"] == [1, 2, 3, 4, 5]
    for bad in (6, 0, "4", 4.5):
        assert not _fits({**good, "clarity": {"score": bad}}, schema)
    assert not _fits({k: v for k, v in good.items() if k != "practicality"}, schema)
    assert not _fits({**good, "clarity": {"score": 4, "explanation": "x" * 300}}, schema)  # nothing to ramble in
