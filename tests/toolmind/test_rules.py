"""Rule checks: argument schemas and the MAE feedback patterns of SPEC.md."""

from __future__ import annotations

import json

import pytest

from builders.schema import Function, Message, ToolCall
from toolmind.rules import argument_problem, check_turns, feedback_error, output_problem

FN = Function("book", "Book a room.", {"type": "object", "properties": {
    "nights": {"type": "integer", "minimum": 1}, "city": {"type": "string"}}, "required": ["city"],
    "additionalProperties": False})


def tc(args, name="book", id_="c1") -> ToolCall:
    return ToolCall(name, args if isinstance(args, str) else json.dumps(args), id_)


@pytest.mark.parametrize("args, problem", [
    ({"city": "Rome", "nights": 2}, None),
    ({"nights": 2}, "missing_required at city: required argument 'city' is missing"),
    ({"city": "Rome", "nights": "two"}, "wrong_type at nights: 'two' is not of type 'integer'"),
    ({"city": "Rome", "nights": 0}, "constraint at nights: 0 is less than the minimum of 1"),
    ({"city": "Rome", "pets": 1}, "unknown_parameter at pets: 'pets' is not a parameter"),
    ({"nights": "x", "pets": 1}, "missing_required at city: required argument 'city' is missing (and 2 more)"),
])
def test_argument_problem_names_the_category_and_path(args, problem):
    found = argument_problem(tc(args), FN)
    assert found == (None if problem is None else f"arguments of 'book' do not fit its schema: {problem}")


@pytest.mark.parametrize("args, problem", [
    ("{not json", "arguments of 'book' are not valid JSON (Expecting property name enclosed in double quotes)"),
    ("[1]", "arguments of 'book' are a list, not an object"),
    ("[" * 100_000, "arguments of 'book' are not valid JSON (nested too deeply)"),
])
def test_arguments_that_are_not_an_object(args, problem):
    assert argument_problem(tc(args), FN) == problem


def test_arguments_are_checked_by_the_shared_tool_call_validator():
    """One argument checker: the rule says what ``builders.toolcalls.argument_issues`` says, which
    treats a schema that lists its properties as closed even without ``additionalProperties``."""
    from builders.toolcalls import argument_issues

    open_fn = Function("book", "Book a room.", {"type": "object", "properties": {"city": {"type": "string"}}})
    args = {"city": "Rome", "town": "Roma", "deep": {"x": [1]}}
    issue = argument_issues(args, open_fn.parameters)[0]
    assert argument_problem(tc(args), open_fn) == f"arguments of 'book' do not fit its schema: {issue} (and 1 more)"
    assert str(issue) == "unknown_parameter at deep: 'deep' is not a parameter"


def test_the_validator_is_reused_across_calls():
    from builders.toolcalls.validate import _validator

    _validator.cache_clear()
    for nights in range(1, 6):
        assert argument_problem(tc({"city": "Rome", "nights": nights}), FN) is None
    assert _validator.cache_info().misses == 1 and _validator.cache_info().hits == 4


def test_unknown_tool_is_an_argument_problem():
    assert "not among the turn's tools" in argument_problem(tc({}, name="fly"), None)


@pytest.mark.parametrize("text, category", [
    ('{"temperature": 20}', None),
    ("All good, booked.", None),
    ('{"error": "room not found"}', "api error body"),
    ('{"error": null, "ok": true}', None),
    ("NameError: name 'book_room' is not defined", "undefined name"),
    ("book() missing 1 required positional argument: 'city'", "missing argument"),
    ("book() got an unexpected keyword argument 'town'", "unexpected argument"),
    ("TypeError: '<' not supported", "type error"),
    ("404 Client Error: Not Found for url: https://x", "http error"),
    ("503 Server Error: Service Unavailable", "http error"),
    ("ConnectionError: HTTPSConnectionPool(...): Max retries exceeded", "connection error"),
    ("Invalid API call: bad token", "invalid api call"),
    ("Response error: upstream timeout", "response error"),
])
def test_feedback_error_patterns(text, category):
    assert feedback_error(text) == category


def test_check_turns_marks_the_turn_before_the_failing_feedback():
    messages = [
        Message("user", "Book Rome"),
        Message("assistant", tool_calls=[tc({"city": "Rome"}, id_="a")]),
        Message("tool", '{"error": "no rooms"}', tool_call_id="a", name="book"),
        Message("assistant", tool_calls=[tc({"nights": 1}, id_="b")]),
        Message("tool", '{"booked": true}', tool_call_id="b", name="book"),
        Message("assistant", tool_calls=[tc({"city": "Oslo"}, id_="c"), tc({"city": "Bergen"}, id_="d")]),
        Message("tool", '{"booked": true}', tool_call_id="c", name="book"),
        Message("tool", "503 Server Error: down", tool_call_id="d", name="book"),
        Message("assistant", "Oslo is booked; Bergen failed."),
    ]
    verdicts = check_turns(messages, [FN])
    assert [(v.error, v.rule) for v in verdicts] == [(True, "feedback"), (True, "arguments"), (True, "feedback"),
                                                     (False, None)]
    assert verdicts[0].reason == "tool 'book' answered with an error (api error body)"
    assert "http error" in verdicts[2].reason


def test_output_problem():
    schema = {"type": "object", "properties": {"t": {"type": "number"}}, "required": ["t"]}
    assert output_problem({"t": 1}, schema) is None and output_problem({"t": 1}, None) is None
    assert output_problem({"t": "x"}, schema) == "result does not fit the output schema at t: 'x' is not of type 'number'"
    assert output_problem({}, schema) == "result does not fit the output schema: 't' is a required property"


def test_feedback_category_is_the_first_in_spec_order_not_the_first_in_the_text():
    text = "Response error: upstream said 404 Client Error: Not Found"
    assert feedback_error(text) == "http error"
