"""The structured tool mode: what is sent instead of `tools`, and how the reply becomes content + tool_calls."""

import json

import pytest

jsonschema = pytest.importorskip("jsonschema")  # a real validator, not our subset

from builders.llm import ChatRequest
from builders.llm.testing import Reply
from builders.llm.toolmode import reply_schema, structured_reply, structured_request

WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Weather for a city.", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
SEARCH = {"type": "function", "function": {"name": "search", "parameters": {
    "type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}}}
TOOLS = [WEATHER, SEARCH]


def fits(value, schema) -> bool:
    return jsonschema.Draft202012Validator(schema).is_valid(value)


TEXT = {"content": "It is sunny."}
CALLS = {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]}
BOTH = {"content": "Checking.", **CALLS}
OTHER = {"tool_calls": [{"name": "search", "arguments": {"q": "x"}}]}


@pytest.mark.parametrize("choice, allowed, refused", [
    (None, [TEXT, CALLS, BOTH, OTHER], [{}, {"tool_calls": []}, {"tool_calls": [{"name": "nope", "arguments": {}}]},
                                        {"tool_calls": [{"name": "get_weather", "arguments": {}}]}]),
    ("required", [CALLS, BOTH, OTHER], [TEXT]),
    ({"type": "function", "function": {"name": "search"}}, [OTHER], [TEXT, CALLS]),
    ("none", [TEXT], [CALLS, BOTH]),
], ids=["auto", "required", "named", "none"])
def test_the_reply_schema_allows_text_calls_or_both_as_tool_choice_says(choice, allowed, refused):
    schema = reply_schema(TOOLS, choice)
    assert all(fits(v, schema) for v in allowed)
    assert not any(fits(v, schema) for v in refused)


def test_the_request_describes_the_tools_and_shows_history_in_the_reply_shape():
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Paris?"},
                {"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "type": "function", "function": {
                    "name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
                {"role": "tool", "content": "18C", "tool_call_id": "c1", "name": "get_weather"}]
    fields = structured_request(messages, TOOLS)
    sent = fields["messages"]
    assert sent[0]["content"].startswith("Be brief.") and "get_weather" in sent[0]["content"]
    assert json.loads(sent[2]["content"]) == CALLS and "tool_calls" not in sent[2]
    assert sent[3] == messages[3]
    assert fields["response_format"]["type"] == "json_schema"
    assert structured_request(messages[1:], TOOLS)["messages"][0]["role"] == "system"


@pytest.mark.parametrize("value, content, names", [(TEXT, "It is sunny.", []), (CALLS, None, ["get_weather"]),
                                                   (BOTH, "Checking.", ["get_weather"])])
def test_a_structured_reply_becomes_an_ordinary_message(value, content, names):
    text = json.dumps(value)
    message = structured_reply({"role": "assistant", "content": text})
    assert message["content"] == content
    assert [c["function"]["name"] for c in message.get("tool_calls", [])] == names
    for call in message.get("tool_calls", []):
        assert json.loads(call["function"]["arguments"]) == {"city": "Paris"} and call["id"].startswith("call_")
    assert structured_reply({"role": "assistant", "content": text}) == message  # deterministic ids


@pytest.mark.parametrize("text", ['{"content": "cut off', "plain words", '{"name": "get_weather"}', "[]", None,
                                  '{"tool_calls": [{"name": "get_weather", "arguments": "x"}]}'])
def test_what_is_not_a_structured_reply_is_left_alone(text):
    assert structured_reply({"role": "assistant", "content": text}) is None


def test_the_client_hides_the_mode_from_callers(server, make_client):
    server.script(Reply(content=json.dumps(BOTH)))
    client = make_client(cache=False, tool_mode="structured")
    [result] = client.chat_many_sync("assistant", [ChatRequest(messages=[{"role": "user", "content": "Paris?"}],
                                                               tools=TOOLS, tool_choice="auto")])
    sent = server.requests[-1]
    assert "tools" not in sent and "tool_choice" not in sent
    assert sent["response_format"]["json_schema"]["schema"] == reply_schema(TOOLS, "auto")
    assert result.content == "Checking." and [c.name for c in result.tool_calls] == ["get_weather"]
    assert result.finish_reason == "stop"


def test_native_mode_sends_tools_and_structured_mode_keys_differ(server, make_client):
    native, structured = make_client(cache=False), make_client(cache=False, tool_mode="structured")
    request = ChatRequest(messages=[{"role": "user", "content": "Paris?"}], tools=TOOLS)
    params, key = native.build("assistant", request)
    assert params["tools"] == TOOLS and "response_format" not in params
    assert structured.build("assistant", request)[1] != key


def test_json_requests_through_a_forced_tool_work_in_structured_mode(server, make_client):
    server.script(Reply(content='{"tool_calls": [{"name": "answer", "arguments": {"score": 7}}]}'))
    client = make_client(cache=False, tool_mode="structured", json_mode="tool")
    verdict = client.run_sync(client.chat_json("turn_judge", [{"role": "user", "content": "Rate it."}],
                                               {"type": "object", "properties": {"score": {"type": "integer"}}}))
    assert verdict.ok and verdict.value == {"score": 7}, verdict.error
