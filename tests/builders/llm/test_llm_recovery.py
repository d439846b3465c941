"""Tool calls written as text: every form read back, undeclared tools and broken arguments left as text."""

import json

import pytest

from builders.llm import ChatRequest
from builders.llm.recovery import recover_tool_calls
from builders.llm.testing import Reply

TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}},
         {"type": "function", "function": {"name": "search", "parameters": {"type": "object"}}}]
CALL = '{"name": "get_weather", "arguments": {"city": "Paris"}}'


@pytest.mark.parametrize("text", [
    CALL,
    f"  {CALL}\n",
    f"Sure, let me check.\n```json\n{CALL}\n```",
    f"```\n{CALL}\n```",
    f"<tool_call>\n{CALL}\n</tool_call>",
    f"I will call it.<tool_call>{CALL}</tool_call>",
    f"<tool_call>{CALL}",  # a tag the model never closed (cut off by a stop word)
    '{"name": "get_weather", "parameters": {"city": "Paris"}}',
    '{"name": "get_weather", "arguments": "{\\"city\\": \\"Paris\\"}"}',
    '{"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}',
], ids=["bare", "padded", "fenced-json", "fenced", "tags", "tags-after-prose", "open-tag", "parameters-key",
        "string-arguments", "openai-shape"])
def test_every_form_is_read_as_the_same_call(text):
    [call] = recover_tool_calls(text, TOOLS)
    assert call["type"] == "function" and call["id"].startswith("call_")
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}
    assert recover_tool_calls(text, TOOLS) == [call]  # ids depend only on the text


def test_several_calls_in_a_list_or_in_several_tags():
    listed = f'[{CALL}, {{"name": "search", "arguments": {{"q": "rome"}}}}]'
    tagged = f'<tool_call>{CALL}</tool_call>\n<tool_call>{{"name": "search", "arguments": {{"q": "rome"}}}}</tool_call>'
    for text in (listed, tagged):
        calls = recover_tool_calls(text, TOOLS)
        assert [c["function"]["name"] for c in calls] == ["get_weather", "search"]
        assert len({c["id"] for c in calls}) == 2


@pytest.mark.parametrize("text", [
    '{"name": "delete_everything", "arguments": {}}',  # undeclared tool
    f'[{CALL}, {{"name": "delete_everything", "arguments": {{}}}}]',  # one undeclared call spoils the list
    '<tool_call>{"name": "delete_everything", "arguments": {}}</tool_call>',
    '{"name": "get_weather", "arguments": "{city: Paris}"}',  # arguments that do not parse
    '{"name": "get_weather", "arguments": [1, 2]}',
    '{"name": "get_weather", "arguments": {"city": "Paris"}',  # broken JSON
    "The weather in Paris is sunny.",
    '{"answer": 42}',
    "",
], ids=["undeclared", "undeclared-in-list", "undeclared-in-tags", "unparseable-arguments", "list-arguments",
        "broken-json", "prose", "other-json", "empty"])
def test_what_is_not_a_declared_call_stays_text(text):
    assert recover_tool_calls(text, TOOLS) == []


def test_python_style_calls_and_thoughts_are_read_with_the_shared_parser():
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string"}}}}}]
    for text in ('[get_weather("Paris", unit="C")]', '<think>the user wants Paris</think>get_weather("Paris", "C")'):
        [call] = recover_tool_calls(text, tools)
        assert json.loads(call["function"]["arguments"]) == {"city": "Paris", "unit": "C"}
    assert recover_tool_calls('[delete_everything("x")]', tools) == []
    assert recover_tool_calls('[get_weather("Paris"]', tools) == []  # a broken call stays text


def test_one_odd_declared_tool_does_not_switch_recovery_off():
    tools = [{"type": "function", "function": {"description": "no name"}}, "not a tool", *TOOLS]
    assert [c["function"]["name"] for c in recover_tool_calls(CALL, tools)] == ["get_weather"]
    assert recover_tool_calls(CALL, {"get_weather": {"type": "object"}})  # the {name: parameters} form


def test_no_declared_tools_means_nothing_is_recovered():
    assert recover_tool_calls(CALL, []) == []


def test_the_client_recovers_counts_and_can_be_switched_off(server, make_client):
    server.script(Reply(content=f"```json\n{CALL}\n```"), Reply(content=f"```json\n{CALL}\n```"))
    client = make_client(cache=False)
    request = ChatRequest(messages=[{"role": "user", "content": "weather in Paris?"}], tools=TOOLS)
    [result] = client.chat_many_sync("assistant", [request])
    assert [c.name for c in result.tool_calls] == ["get_weather"] and result.content is None
    assert client.report()["assistant"]["recovered_from_text"] == 1

    client.config.roles["assistant"] = type(client.config.roles["default"])(
        name="assistant", endpoint="fake", model="fake-model", recover_tool_calls=False)
    [kept] = client.chat_many_sync("assistant", [request])
    assert kept.tool_calls == [] and "get_weather" in kept.content
    assert client.report()["assistant"]["recovered_from_text"] == 1


def test_recovery_never_runs_without_declared_tools(server, make_client):
    server.script(Reply(content=CALL))
    client = make_client(cache=False)
    [result] = client.chat_many_sync("assistant", [[{"role": "user", "content": "hi"}]])
    assert result.content == CALL and not result.tool_calls
