import pytest

from builders.llm.structured import (
    JSONReplyError,
    check_schema,
    extract_json,
    json_request,
    parse_json_reply,
)

SCHEMA = {"type": "object", "required": ["score", "reason"],
          "properties": {"score": {"type": "integer", "enum": list(range(10))}, "reason": {"type": "string"},
                         "tags": {"type": "array", "items": {"type": "string"}}}}


@pytest.mark.parametrize("text", [
    '{"score": 7}',
    'Sure! ```json\n{"score": 7}\n``` hope it helps',
    'The result is {"score": 7} as requested.',
    '<func_return> {"score": 7} <func_return>',
    'broken {score: 7} then {"score": 7}',
])
def test_extract_json_from_prose_fences_and_tags(text):
    assert extract_json(text) == {"score": 7}


@pytest.mark.parametrize("text", ["", None, "no json here", '{"score": 7'])
def test_extract_json_failures_say_why(text):
    with pytest.raises(JSONReplyError) as info:
        extract_json(text)
    assert info.value.reason.startswith("reply ") and info.value.text == (text or "")


def test_deeply_nested_replies_are_a_reason_not_a_crash():
    with pytest.raises(JSONReplyError, match="more than 200 levels"):
        extract_json("[" * 100_000)


def test_check_schema_reports_the_first_problem_with_its_path():
    assert check_schema({"score": 3, "reason": "ok", "tags": ["a"]}, SCHEMA) is None
    assert check_schema({"score": 3}, SCHEMA) == "$: 'reason' is a required property"
    assert check_schema({"score": 12, "reason": ""}, SCHEMA).startswith("$.score: 12 is not one of")
    assert check_schema({"score": True, "reason": ""}, SCHEMA).startswith("$.score: True is not")
    assert check_schema({"score": 1, "reason": "", "tags": [1]}, SCHEMA) == "$.tags[0]: 1 is not of type 'string'"
    # the whole of JSON Schema, not a subset: bounds, patterns, nested combinators
    assert check_schema("ab", {"type": "string", "minLength": 3}) == "$: 'ab' is too short"
    assert check_schema({"a": 1}, {"type": "object", "properties": {"a": {"anyOf": [{"type": "string"}]}}})
    assert check_schema([1, "x"], {"type": "array", "items": {"type": "integer"}}) == "$[1]: 'x' is not of type 'integer'"
    assert check_schema(1, {"type": "intger"}).startswith("the schema ")  # a broken schema is said, not raised


def test_parse_json_reply_prefers_forced_tool_arguments_and_runs_the_validator():
    message = {"content": "", "tool_calls": [{"function": {"name": "answer", "arguments": '{"score": 4, "reason": "x"}'}}]}
    assert parse_json_reply(message, SCHEMA) == {"score": 4, "reason": "x"}
    with pytest.raises(JSONReplyError, match="validator: too low"):
        parse_json_reply(message, SCHEMA, validator=lambda v: v["score"] > 5 or "too low")


def test_json_request_per_mode():
    assert json_request("response_format", SCHEMA) == {"response_format": {"type": "json_object"}}
    assert json_request("json_schema", SCHEMA)["response_format"]["json_schema"]["schema"] is SCHEMA
    tool = json_request("tool", SCHEMA, "verdict")
    assert tool["tool_choice"] == {"type": "function", "function": {"name": "verdict"}}
    assert tool["tools"][0]["function"]["parameters"] is SCHEMA
    assert json_request("prompt", SCHEMA) == {}
