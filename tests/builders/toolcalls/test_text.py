"""What the LLM layer and training/ take from the tool-call module: JSON from text, calls from text, clean messages."""

from __future__ import annotations

import json

import pytest

from builders.errors import DataError
from builders.schema import SchemaError
from builders.toolcalls import ParseError, calls_from_text, clean_message, extract_json

TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]


@pytest.mark.parametrize("text,value", [
    ('{"a": 1}', {"a": 1}),
    ('Here you go:\n```json\n{"a": [1, 2]}\n```\nDone.', {"a": [1, 2]}),
    ('The answer is {"ok": true} as asked.', {"ok": True}),
    ("[1, 2, 3]", [1, 2, 3]),
    ('noise { not json } then {"b": null}', {"b": None}),
])
def test_extract_json_finds_the_first_value(text, value):
    assert extract_json(text) == value


@pytest.mark.parametrize("text,problem", [
    (None, "is empty"), ("   ", "is empty"), ("no json here", "holds no JSON value"),
    ("[" * 300 + "]" * 300, "nests JSON more than 200 levels deep"),
])
def test_extract_json_errors_are_data_errors(text, problem):
    with pytest.raises(ParseError) as info:
        extract_json(text)
    assert isinstance(info.value, DataError) and info.value.item == "model reply"
    assert info.value.problem.startswith(problem)


def test_calls_from_text_keeps_declared_tools_only():
    text = '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>'
    assert calls_from_text(text, TOOLS) == [{"id": "call_0", "type": "function", "function": {
        "name": "get_weather", "arguments": json.dumps({"city": "Paris"})}}]
    assert calls_from_text('```json\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n```', TOOLS)[0][
        "function"]["arguments"] == '{"city": "Oslo"}'
    # a JSON answer that names no declared tool is an answer, not a call
    assert calls_from_text('{"name": "Ada Lovelace", "arguments": {}}', TOOLS) == []
    assert calls_from_text("It is sunny.", TOOLS) == []
    assert calls_from_text(None, TOOLS) == []
    with pytest.raises(ParseError):
        calls_from_text('<tool_call>{"name": "get_weather", "arguments": </tool_call>', TOOLS)


def test_clean_message_drops_nones_and_checks_calls():
    msg = {"role": "assistant", "content": None, "reasoning_content": None, "tool_calls": [
        {"id": "c1", "type": None, "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]}
    assert clean_message(msg) == {"role": "assistant", "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]}
    for bad, problem in [({"content": "x"}, "is not a message dict with a role"),
                         ({"role": "assistant", "tool_calls": {"a": 1}}, "tool_calls must be a list"),
                         ({"role": "assistant", "tool_calls": ["x"]}, "has no function name"),
                         ({"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": "[1]"}}]},
                          "arguments must be a JSON object, got list")]:
        with pytest.raises(SchemaError) as info:
            clean_message(bad, "row 3 message 1")
        assert info.value.problem.startswith(problem) and info.value.item.startswith("row 3 message 1")
