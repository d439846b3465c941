"""OpenAI chat-completions rows (tools + messages), including the loose spellings real exports use."""

from __future__ import annotations

import json

import pytest

from builders.normalize import normalize_openai

from .helpers import check_error, schema_error

WEATHER = {"type": "function", "function": {
    "name": "get_current_weather", "description": "Get the current weather in a given location",
    "parameters": {"type": "object", "properties": {
        "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, "required": ["location"]}}}
ROW = {
    "id": "chat-17",
    "tools": [WEATHER],
    "messages": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "What's the weather like in San Francisco and Tokyo?"},
        {"role": "assistant", "content": None, "reasoning_content": "Two cities: two calls.", "tool_calls": [
            {"id": "call_abc", "type": "function",
             "function": {"name": "get_current_weather", "arguments": "{\"location\": \"San Francisco, CA\"}"}},
            {"id": "call_def", "type": "function",
             "function": {"name": "get_current_weather", "arguments": {"location": "Tokyo", "unit": "celsius"}}}]},
        {"role": "tool", "tool_call_id": "call_def", "content": "{\"temperature\": \"10\", \"unit\": \"celsius\"}"},
        {"role": "tool", "tool_call_id": "call_abc", "name": "get_current_weather",
         "content": "{\"temperature\": \"72\", \"unit\": \"fahrenheit\"}"},
        {"role": "assistant", "content": "San Francisco is 72°F and Tokyo 10°C."},
    ],
}


def test_standard_row():
    conv = normalize_openai(ROW)
    assert conv.id == "openai:chat-17"
    assert [t.to_openai() for t in conv.tools] == [WEATHER]
    assert [m.role for m in conv.messages] == ["system", "user", "assistant", "tool", "tool", "assistant"]
    calls = conv.messages[2].tool_calls
    assert [(c.id, c.name, c.arguments) for c in calls] == [
        ("call_abc", "get_current_weather", '{"location": "San Francisco, CA"}'),  # strings are kept as given
        ("call_def", "get_current_weather", '{"location":"Tokyo","unit":"celsius"}'),  # dicts are dumped
    ]
    assert conv.messages[2].reasoning_content == "Two cities: two calls."
    assert [(m.tool_call_id, m.name) for m in conv.messages[3:5]] == [("call_def", "get_current_weather"),
                                                                     ("call_abc", "get_current_weather")]


def test_tools_as_json_string_and_row_position():
    row = {k: v for k, v in ROW.items() if k != "id"}
    row["tools"] = json.dumps([WEATHER])
    conv = normalize_openai(row, 4)
    assert conv.id == "openai:4" and conv.tools[0].name == "get_current_weather"


def test_missing_call_ids_text_parts_and_developer_role():
    row = {"tools": [WEATHER], "messages": [
        {"role": "developer", "content": "Answer briefly."},
        {"role": "user", "content": [{"type": "text", "text": "Weather in "}, {"type": "text", "text": "Oslo?"}]},
        {"role": "assistant", "tool_calls": [{"type": "function", "function": {
            "name": "get_current_weather", "arguments": "{\"location\": \"Oslo\"}"}}]},
        {"role": "tool", "content": "{\"temperature\": -3}"},
        {"role": "assistant", "content": "-3 degrees."},
    ]}
    conv = normalize_openai(row, 8)
    assert [(m.role, m.content) for m in conv.messages[:2]] == [("system", "Answer briefly."), ("user", "Weather in Oslo?")]
    assert conv.messages[2].tool_calls[0].id == "call_8_0"
    assert (conv.messages[3].tool_call_id, conv.messages[3].name) == ("call_8_0", "get_current_weather")


def test_legacy_function_call_spelling():
    row = {"functions": [WEATHER["function"]], "messages": [
        {"role": "user", "content": "Weather in Lima?"},
        {"role": "assistant", "content": None, "function_call": {"name": "get_current_weather",
                                                                 "arguments": "{\"location\": \"Lima\"}"}},
        {"role": "function", "name": "get_current_weather", "content": "{\"temperature\": 19}"},
        {"role": "assistant", "content": "19 degrees."},
    ]}
    conv = normalize_openai(row, 2)
    assert [m.role for m in conv.messages] == ["user", "assistant", "tool", "assistant"]
    assert conv.messages[2].tool_call_id == conv.messages[1].tool_calls[0].id == "call_2_0"


def _with(i: int, message: dict) -> dict:
    messages = list(ROW["messages"])
    messages[i] = message
    return {**ROW, "messages": messages}


@pytest.mark.parametrize("row, item, problem, fix", [
    ({"id": "x", "tools": []}, "openai row x", "has no 'messages' field", "'messages'"),
    ({**ROW, "tools": "[{"}, "openai row chat-17", "field 'tools' is not valid JSON", "JSON list of OpenAI tools"),
    ({**ROW, "tools": {"a": WEATHER}}, "openai row chat-17", "field 'tools' must be a list, got dict", "a list"),
    ({**ROW, "tools": [{"type": "retrieval"}]}, "openai row chat-17, tools[0]", "tool type 'retrieval' is not "
     "'function'", "only function tools"),
    ({**ROW, "tools": [{"type": "function", "function": {**WEATHER["function"], "parameters": {
        "type": "object", "properties": {"location": {"type": "str"}}}}}]},
     "openai row chat-17, tools[0] function 'get_current_weather' parameter 'location'", "unknown JSON type 'str'",
     "use one of object"),
    (_with(1, "hello"), "openai row chat-17 messages[1]", "must be an object, got str", '"role"'),
    (_with(1, {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}),
     "openai row chat-17 messages[1]", "content must be text or a list of text parts", "images and audio"),
    (_with(1, {"role": "human", "content": "hi"}), "openai row chat-17, conversation message 1 (human)",
     "unknown role 'human'", "use one of system, user, assistant, tool"),
    (_with(2, {"role": "assistant", "tool_calls": [{"type": "function", "function": {"arguments": "{}"}}]}),
     "openai row chat-17 messages[2]", "tool call 0 has no function name", '"function": {"name"'),
    (_with(2, {"role": "assistant", "tool_calls": {"id": "call_abc"}}), "openai row chat-17 messages[2]",
     "tool_calls must be a list, got dict", "a list of tool calls"),
    (_with(3, {"role": "tool", "tool_call_id": "call_zzz", "content": "{}"}),
     "openai row chat-17, conversation message 3 (tool)", "tool_call_id 'call_zzz' matches no open tool call",
     "answer one of the open calls ['call_abc', 'call_def']"),
    (_with(5, {"role": "assistant", "content": None}), "openai row chat-17, conversation message 5 (assistant)",
     "has neither content nor tool calls", "give a reply or a tool call"),
])
def test_malformed_rows(row, item, problem, fix):
    check_error(schema_error(normalize_openai, row), item, problem, fix)


def test_unanswered_and_bad_arguments():
    messages = ROW["messages"][:4] + [ROW["messages"][5]]
    check_error(schema_error(normalize_openai, {**ROW, "messages": messages}),
                "openai row chat-17, conversation message 4 (assistant)",
                "tool calls ['call_abc'] have no tool response", "add a tool message for every call")
    bad = dict(ROW["messages"][2], tool_calls=[{"id": "c1", "type": "function", "function": {
        "name": "get_current_weather", "arguments": "location=Paris"}}])
    check_error(schema_error(normalize_openai, {**ROW, "messages": ROW["messages"][:2] + [bad]}),
                "openai row chat-17, conversation message 2 (assistant) tool call 0 to 'get_current_weather'",
                "arguments are not valid JSON", "JSON object string")
