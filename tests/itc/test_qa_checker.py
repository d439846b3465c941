import pytest

from builders.pipeline import Rejects
from itc.catalog import tools_from_itc_json
from itc.checker import checker_request, checkers_for, choose_answer, cross_rank, judge_candidate, parse_checker_reply
from itc.languages import identify_language
from itc.qa import candidate_from_reply, parse_actions
from tests.itc.test_catalog import GOOGLE_TRANSLATE

# seed 003, Appendix I, Figures 17-20: the Action strings exactly as printed (curly quotes, quoted keys, spaces in names)
APPENDIX_I = [
    ("[Google Translate(text=’Hello, how are you?’,\"target_lang\"=\"fr\")] ",
     [("Google Translate", {"text": "Hello, how are you?", "target_lang": "fr"})]),
    ('[Global Email V4(opt="VerifyMailbox:Express", email= "john.doe@example.com"),Global Email V4(opt="VerifyMailbox:ExpressPremium", email="jane.smith@sample.com")] ',
     [("Global Email V4", {"opt": "VerifyMailbox:Express", "email": "john.doe@example.com"}),
      ("Global Email V4", {"opt": "VerifyMailbox:ExpressPremium", "email": "jane.smith@sample.com"})]),
    ("[latest(from=’EUR’, to=’USD,AUD’), currencies()] ",
     [("latest", {"from": "EUR", "to": "USD,AUD"}), ("currencies", {})]),
    ("[Generate password(numbers=true,pwCount=1,length=12),MD5 Text Hash(dataString=’generated_password’)] ",
     [("Generate password", {"numbers": True, "pwCount": 1, "length": 12}),
      ("MD5 Text Hash", {"dataString": "generated_password"})]),
    ("[MD5 Text Hash(dataString=’A1b2C3d4E5f6’)] ", [("MD5 Text Hash", {"dataString": "A1b2C3d4E5f6"})]),
]


@pytest.mark.parametrize("action,expected", APPENDIX_I)
def test_the_papers_example_actions_parse(action, expected):
    thought, calls = parse_actions({"Thought": "t", "Action": action})
    assert [(c["name"], c["arguments"]) for c in calls] == expected
    # and as the raw text the paper prints, whose inner quotes are not escaped
    _, raw_calls = parse_actions('json{"Thought":"t", "Action":"' + action + '"}')
    assert raw_calls == calls


QUERY = {"id": "q1", "task_type": "single", "query": "Übersetze 'Guten Morgen' ins Französische.", "country": "Germany",
         "language": "de"}


def _endpoints():
    [tool] = tools_from_itc_json(GOOGLE_TRANSLATE)
    return {a["name"]: a for a in tool["api_list"]}


def test_actions_are_checked_against_the_schemas_before_the_checker():
    good = candidate_from_reply(QUERY, {"Thought": "Ich übersetze den Text.", "Action": "[translate1(text='Guten Morgen', target_lang='fr')]"},
                                _endpoints(), generator="a")
    assert good["valid"] and good["problems"] == []
    bad = candidate_from_reply(QUERY, {"Thought": "x", "Action": "[translate1(text='Guten Morgen', tone='warm'), nope(a=1)]"},
                               _endpoints(), generator="b")
    text = " | ".join(bad["problems"])
    assert not bad["valid"] and "'nope', which is not in the API set" in text and "target_lang" in text
    assert "'tone' was unexpected" in text and "one call" in text
    broken = candidate_from_reply(QUERY, "json{\"Thought\": \"x\", \"Action\": \"[translate1('Guten')]\"}", _endpoints(), generator="c")
    assert not broken["valid"] and "cannot be parsed" in broken["problems"][0]


def _candidate(gen: str, thought: str = "Ich übersetze den Text ins Französische.", n_calls: int = 1) -> dict:
    reply = {"Thought": thought, "Action": "[" + ",".join(["translate1(text='Guten Morgen', target_lang='fr')"] * n_calls) + "]"}
    return candidate_from_reply(QUERY, reply, _endpoints(), generator=gen)


PASS = '{"decision": "Pass", "reasoning": "all criteria met"}'
FAIL = {"decision": "Fail", "reasoning": "Factual Grounding: wrong target language"}


def test_checker_decisions_and_who_checks():
    assert checkers_for("gpt", ["gpt", "gemini", "claude"]) == ["gemini", "claude"]
    assert checkers_for("solo", ["solo"]) == ["solo"]  # one model checks itself, at temperature 0
    assert parse_checker_reply({"decision": " pass ", "reasoning": "ok"})["decision"] == "Pass"
    with pytest.raises(ValueError, match="schema"):
        parse_checker_reply({"decision": "Maybe", "reasoning": "?"})
    passed = judge_candidate(_candidate("gpt"), {"gemini": PASS, "claude": PASS})
    failed = judge_candidate(_candidate("gemini"), {"gpt": PASS, "claude": FAIL})
    assert passed["checked"] and passed["passes"] == 2
    assert not failed["checked"] and "claude said Fail" in failed["check_problems"][0]
    invalid = judge_candidate({**_candidate("claude"), "problems": ["call 0: bad"], "valid": False}, {"gpt": PASS})
    assert not invalid["checked"]  # a schema problem fails even when the checker passes it
    req = checker_request(QUERY, _candidate("gpt"), [], [], "German")
    assert req["temperature"] == 0 and "translate1" in req["messages"][0]["content"]


def test_cross_ranking_when_several_pass():
    a = judge_candidate(_candidate("a"), {"b": PASS, "c": PASS})
    b = judge_candidate(_candidate("b", thought="I will translate the text into French now."), {"a": PASS, "c": PASS})
    c = judge_candidate(_candidate("c"), {"a": PASS, "b": '{"decision": "Pass", "reasoning": "ok"}'})
    d = judge_candidate(_candidate("d"), {"a": PASS, "b": FAIL})
    lang = lambda text: identify_language(text)[0]
    ranked = cross_rank([d, b, c, a], seed=0, language="de", language_of=lang)
    assert [x["generator"] for x in ranked][-1] == "b" and "d" not in [x["generator"] for x in ranked]
    assert cross_rank([d, b, c, a], seed=0, language="de", language_of=lang) == ranked  # deterministic
    one_more = judge_candidate(_candidate("e"), {"a": PASS, "b": PASS, "c": PASS})
    assert choose_answer([a, one_more], seed=0)["generator"] == "e"  # more Pass verdicts first
    rejects = Rejects()
    assert choose_answer([d], seed=0, rejects=rejects) is None and rejects.items[0]["item"] == "q1"


def _fits(value, schema) -> bool:
    import jsonschema

    return jsonschema.Draft202012Validator(schema).is_valid(value)


def test_answer_schemas_constrain_calls_to_the_querys_apis_and_their_parameters():
    from itc.qa import qa_request

    endpoints = {"translate1": {"name": "translate1", "parameters": {
                     "type": "object", "properties": {"text": {"type": "string"}, "target_lang": {"type": "string"}},
                     "required": ["text", "target_lang"]}},
                 "detect": {"name": "detect", "parameters": {"type": "object", "properties": {"text": {"type": "string"}},
                                                             "required": ["text"]}}}
    call = {"name": "translate1", "arguments": {"text": "Guten Morgen", "target_lang": "fr"}}
    detect = {"name": "detect", "arguments": {"text": "Guten Morgen"}}
    thought = "Ich übersetze den Text ins Französische."

    def schema(task_type, apis=None):
        return qa_request({**QUERY, "task_type": task_type, "query_apis": apis}, [], "German", endpoints)["reply_schema"]

    single = schema("single", ["translate1"])
    assert _fits({"Thought": thought, "Action": [call]}, single)
    assert not _fits({"Thought": thought, "Action": [detect]}, single)  # not the query's API
    assert not _fits({"Thought": thought, "Action": [call, call]}, single)  # one call
    assert not _fits({"Thought": thought, "Action": [{**call, "arguments": {"text": "x"}}]}, single)  # misses target_lang
    assert not _fits({"Thought": thought, "Action": [{**call, "arguments": {**call["arguments"], "tone": "warm"}}]}, single)
    assert not _fits({"Thought": thought, "Action": "[translate1(text='x', target_lang='fr')]"}, single)
    assert not _fits({"Thought": thought, "Action": [{**call, "arguments": {**call["arguments"], "text": "x" * 500}}]}, single)
    repeated = schema("repeated")  # no query_apis: the set's APIs
    assert _fits({"Thought": thought, "Action": [call, call]}, repeated)
    assert not _fits({"Thought": thought, "Action": [call, detect]}, repeated)  # one API, called again
    parallel = schema("parallel", ["translate1", "detect"])
    assert _fits({"Thought": thought, "Action": [call, detect]}, parallel)
    assert not _fits({"Thought": thought, "Action": [call]}, parallel)


def test_checker_is_asked_for_pass_or_fail_only():
    schema = checker_request(QUERY, _candidate("gpt"), [], [], "German")["reply_schema"]
    assert _fits({"decision": "Pass", "reasoning": "all criteria met"}, schema)
    assert not _fits({"decision": "Maybe", "reasoning": "?"}, schema)
    assert not _fits({"decision": "Pass", "reasoning": "x" * 1000}, schema)
