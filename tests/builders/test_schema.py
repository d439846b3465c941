"""Every validation error of the data model names the item, the problem and the fix."""

from __future__ import annotations

import json

import pytest

from builders.schema import (
    Conversation,
    Function,
    Message,
    SchemaError,
    ToolCall,
    canonical_json,
    content_hash,
    parse_tools_column,
)

WEATHER = Function(
    name="get_weather",
    description="Current weather for a city.",
    parameters={"type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
                "required": ["city"]},
)


def _call(name="get_weather", arguments='{"city": "Paris"}', id="call_1"):
    return ToolCall(name=name, arguments=arguments, id=id)


def _error(fn, *args, **kwargs) -> SchemaError:
    with pytest.raises(SchemaError) as info:
        fn(*args, **kwargs)
    err = info.value
    assert str(err) == f"{err.item}: {err.problem}; {err.fix}"
    return err


def _conv_error(messages, tools=(WEATHER,), id="c1") -> SchemaError:
    return _error(Conversation(messages=list(messages), tools=list(tools), id=id).validate)


# ---- functions


def test_function_bad_name():
    err = _error(Function, name="get weather!", description="", parameters={"type": "object", "properties": {}})
    assert err.item == "function 'get weather!'"
    assert "name must be a non-empty string of letters" in err.problem
    assert err.fix == "rename the function"


def test_function_empty_name():
    err = _error(Function, name="", description="", parameters={"type": "object"})
    assert err.item == "function ''" and "non-empty" in err.problem


def test_function_description_not_string():
    err = _error(Function, name="f", description=None, parameters={"type": "object"})
    assert (err.item, err.problem, err.fix) == ("function 'f'", "description must be a string", "give a text description")


def test_function_parameters_not_object_type():
    err = _error(Function, name="f", description="", parameters={"type": "dict", "properties": {}})
    assert err.item == "function 'f'"
    assert err.problem == "parameters must be a JSON schema with type 'object', got 'dict'"
    assert "'type': 'object'" in err.fix


def test_function_parameters_not_a_dict():
    err = _error(Function, name="f", description="", parameters=["city"])
    assert err.problem == "parameters must be a JSON schema with type 'object', got 'list'"


def test_function_properties_not_object():
    err = _error(Function, name="f", description="", parameters={"type": "object", "properties": ["city"]})
    assert (err.item, err.problem) == ("function 'f'", "properties must be an object")
    assert "map each argument name" in err.fix


def test_function_property_schema_not_object():
    err = _error(Function, name="f", description="", parameters={"type": "object", "properties": {"city": "str"}})
    assert (err.item, err.problem) == ("function 'f' parameter 'city'", "schema must be an object")
    assert "'type'" in err.fix


def test_function_unknown_json_type():
    params = {"type": "object", "properties": {"n": {"type": "float"}}}
    err = _error(Function, name="f", description="", parameters=params)
    assert (err.item, err.problem) == ("function 'f' parameter 'n'", "unknown JSON type 'float'")
    assert err.fix.startswith("use one of object, array, string, number, integer, boolean, null")


def test_function_unknown_json_type_in_a_type_list():
    params = {"type": "object", "properties": {"n": {"type": ["integer", "tuple"]}}}
    err = _error(Function, name="f", description="", parameters=params)
    assert err.problem == "unknown JSON type ['integer', 'tuple']"


def test_function_unknown_json_type_nested_in_items_and_properties():
    params = {"type": "object", "properties": {"rows": {"type": "array", "items": {"type": "dict"}}}}
    err = _error(Function, name="f", description="", parameters=params)
    assert (err.item, err.problem) == ("function 'f' parameter 'rows[]'", "unknown JSON type 'dict'")
    params = {"type": "object", "properties": {"opts": {"type": "object", "properties": {"size": {"type": "int"}}}}}
    err = _error(Function, name="f", description="", parameters=params)
    assert (err.item, err.problem) == ("function 'f' parameter 'opts.size'", "unknown JSON type 'int'")


def test_function_required_not_in_properties():
    params = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city", "country"]}
    err = _error(Function, name="f", description="", parameters=params)
    assert (err.item, err.problem) == ("function 'f'", "required names ['country'] are not among its parameters")
    assert err.fix == "list only declared parameters in 'required'"


def test_function_nested_required_not_in_properties():
    params = {"type": "object", "properties": {"opts": {"type": "object", "properties": {}, "required": ["x"]}}}
    err = _error(Function, name="f", description="", parameters=params)
    assert err.item == "function 'f' parameter 'opts'" and "['x']" in err.problem


def test_function_required_not_a_list():
    params = {"type": "object", "properties": {"city": {"type": "string"}}, "required": "city"}
    err = _error(Function, name="f", description="", parameters=params)
    assert err.problem == "required must be a list of names, got str"
    assert "list the names" in err.fix


def test_function_outputs_not_a_schema():
    err = _error(Function, name="f", description="", parameters={"type": "object"}, outputs="a number")
    assert err.problem == "outputs must be a JSON schema object, got str"


def test_function_from_openai_errors():
    err = _error(Function.from_openai, "get_weather", "tools[2]")
    assert err.item == "tools[2]" and "expected an OpenAI tool object" in err.problem
    err = _error(Function.from_openai, {"type": "code_interpreter"}, "tools[0]")
    assert (err.item, err.problem) == ("tools[0]", "tool type 'code_interpreter' is not 'function'")


def test_function_from_openai_without_parameters():
    fn = Function.from_openai({"type": "function", "function": {"name": "now", "description": "Time.",
                                                                "parameters": {}}})
    assert fn.parameters == {"type": "object", "properties": {}}
    assert Function.from_openai({"type": "function", "function": {"name": "now"}}).parameters["type"] == "object"


# ---- conversations


def test_conversation_without_messages():
    err = _conv_error([])
    assert (err.item, err.problem, err.fix) == ("conversation 'c1'", "has no messages", "add at least one user message")


def test_unknown_role():
    err = _conv_error([Message(role="human", content="hi")])
    assert err.item == "conversation 'c1' message 0 (human)"
    assert err.problem == "unknown role 'human'"
    assert err.fix == "use one of system, user, assistant, tool"


def test_bad_role_order():
    err = _conv_error([Message(role="user", content="hi"), Message(role="user", content="again")])
    assert err.item == "conversation 'c1' message 1 (user)"
    assert err.problem == "role 'user' cannot follow 'user'"
    assert err.fix == "after 'user' use assistant"


def test_conversation_must_not_start_with_assistant():
    err = _conv_error([Message(role="assistant", content="hello")])
    assert err.problem == "role 'assistant' cannot follow 'start'" and err.fix == "after 'start' use system or user"


def test_tool_after_assistant_without_calls():
    err = _conv_error([Message(role="user", content="hi"), Message(role="assistant", content="hello"),
                       Message(role="tool", content="{}", tool_call_id="call_1")])
    assert err.problem == "role 'tool' cannot follow 'assistant'" and err.fix == "after 'assistant' use user"


def test_content_not_a_string():
    err = _conv_error([Message(role="user", content=["hi"])])
    assert err.item == "conversation 'c1' message 0 (user)"
    assert err.problem == "content must be a string or None, got list"


def test_call_to_function_not_in_tools():
    err = _conv_error([Message(role="user", content="hi"),
                       Message(role="assistant", tool_calls=[_call(name="get_time")])])
    assert err.item == "conversation 'c1' message 1 (assistant) tool call 0"
    assert err.problem == "calls 'get_time', which is not in tools"
    assert err.fix == "call one of ['get_weather']"


def test_call_with_no_tools_declared():
    err = _conv_error([Message(role="user", content="hi"), Message(role="assistant", tool_calls=[_call()])], tools=())
    assert err.fix == "call one of the declared tools (none declared)"


def test_arguments_not_json():
    err = _conv_error([Message(role="user", content="hi"),
                       Message(role="assistant", tool_calls=[_call(arguments="{city: Paris}")])])
    assert err.item == "conversation 'c1' message 1 (assistant) tool call 0 to 'get_weather'"
    assert err.problem.startswith("arguments are not valid JSON")
    assert err.fix == "send arguments as a JSON object string"


def test_arguments_not_a_json_object():
    err = _conv_error([Message(role="user", content="hi"),
                       Message(role="assistant", tool_calls=[_call(arguments='["Paris"]')])])
    assert err.item.endswith("tool call 0 to 'get_weather'")
    assert err.problem == "arguments must be a JSON object, got list"
    assert "wrap the values in an object" in err.fix


def test_arguments_none():
    err = _error(_call(arguments=None).parsed_arguments)
    assert err.problem == "arguments must be a JSON string, got NoneType"


def test_tool_message_without_matching_call_id():
    err = _conv_error([Message(role="user", content="hi"), Message(role="assistant", tool_calls=[_call()]),
                       Message(role="tool", content="{}", tool_call_id="call_9")])
    assert err.item == "conversation 'c1' message 2 (tool)"
    assert err.problem == "tool_call_id 'call_9' matches no open tool call"
    assert err.fix == "answer one of the open calls ['call_1']"


def test_second_tool_message_for_one_call():
    err = _conv_error([Message(role="user", content="hi"), Message(role="assistant", tool_calls=[_call()]),
                       Message(role="tool", content="{}", tool_call_id="call_1"),
                       Message(role="tool", content="{}", tool_call_id="call_1")])
    assert err.item == "conversation 'c1' message 3 (tool)" and err.fix == "answer one of the open calls (none open)"


def test_tool_message_named_after_another_function():
    err = _conv_error([Message(role="user", content="hi"), Message(role="assistant", tool_calls=[_call()]),
                       Message(role="tool", content="{}", tool_call_id="call_1", name="get_time")])
    assert err.problem == "name 'get_time' differs from the called function 'get_weather'"
    assert err.fix == "name the tool message after the function it answers"


def test_unanswered_calls_before_next_assistant_turn():
    calls = [_call(id="call_1"), _call(id="call_2", arguments='{"city": "Rome"}')]
    err = _conv_error([Message(role="user", content="hi"), Message(role="assistant", tool_calls=calls),
                       Message(role="tool", content="{}", tool_call_id="call_1"),
                       Message(role="assistant", content="done")])
    assert err.item == "conversation 'c1' message 3 (assistant)"
    assert err.problem == "tool calls ['call_2'] have no tool response"
    assert err.fix == "add a tool message for every call before the next assistant turn"


def test_unanswered_calls_before_next_user_turn():
    err = _conv_error([Message(role="user", content="hi"), Message(role="assistant", tool_calls=[_call()]),
                       Message(role="user", content="well?")])
    assert err.item == "conversation 'c1' message 2 (user)"
    assert err.problem == "tool calls ['call_1'] have no tool response"
    assert err.fix == "add a tool message for every call before the next user turn"


def test_duplicate_call_ids():
    calls = [_call(id="call_1"), _call(id="call_1", arguments='{"city": "Rome"}')]
    err = _conv_error([Message(role="user", content="hi"), Message(role="assistant", tool_calls=calls)])
    assert err.item == "conversation 'c1' message 1 (assistant) tool call 1"
    assert err.problem == "call id 'call_1' is already used in this conversation"
    assert err.fix == "give every tool call its own id"


def test_assistant_without_content_or_calls():
    err = _conv_error([Message(role="user", content="hi"), Message(role="assistant")])
    assert (err.problem, err.fix) == ("has neither content nor tool calls", "give a reply or a tool call")


def test_conversation_without_id_is_named_plainly():
    err = _error(Conversation(messages=[Message(role="robot", content="x")]).validate)
    assert err.item == "conversation message 0 (robot)"


def test_valid_conversation_with_parallel_calls_and_calls_left_open():
    calls = [_call(id="a"), _call(id="b", arguments='{"city": "Rome", "unit": "C"}')]
    conv = Conversation(messages=[
        Message(role="system", content="Be brief."), Message(role="user", content="Paris and Rome?"),
        Message(role="assistant", tool_calls=calls),
        Message(role="tool", content='{"t": 20}', tool_call_id="b", name="get_weather"),
        Message(role="tool", content='{"t": 18}', tool_call_id="a"),
        Message(role="assistant", content="18 and 20."), Message(role="user", content="Berlin?"),
        Message(role="assistant", tool_calls=[_call(id="c", arguments='{"city": "Berlin"}')]),
    ], tools=[WEATHER], id="ok")
    assert conv.validate() is conv  # a trailing open call is a training target, not an error


def test_id_less_calls_are_matched_by_name():
    conv = Conversation(messages=[
        Message(role="user", content="hi"), Message(role="assistant", tool_calls=[_call(id="")]),
        Message(role="tool", content="{}", name="get_weather"), Message(role="assistant", tool_calls=[_call(id="")]),
    ], tools=[WEATHER])
    conv.validate()


# ---- rows and columns


def test_round_trip_to_row_from_row():
    conv = Conversation(messages=[
        Message(role="system", content="Be brief."), Message(role="user", content="Paris?"),
        Message(role="assistant", reasoning_content="Need the weather.", tool_calls=[_call()]),
        Message(role="tool", content='{"t": 20}', tool_call_id="call_1", name="get_weather"),
        Message(role="assistant", content="20 degrees."),
    ], tools=[WEATHER]).validate()
    row = conv.to_row()
    assert isinstance(row["tools"], str) and json.loads(row["tools"])[0]["function"]["name"] == "get_weather"
    assert row["messages"][2]["tool_calls"][0]["function"]["arguments"] == '{"city": "Paris"}'
    assert set(row["messages"][0]) == {"role", "content", "reasoning_content", "tool_calls", "tool_call_id", "name"}
    assert row["id"] == conv.content_id()
    back = Conversation.from_row(json.loads(json.dumps(row)))
    assert back.messages == conv.messages and back.tools == conv.tools and back.id == row["id"]
    assert back.to_row() == row
    assert back.validate().content_id() == conv.content_id()


def test_content_hash_ignores_key_order():
    assert canonical_json({"b": 1, "a": [1, "é"]}) == '{"a":[1,"é"],"b":1}'
    assert content_hash({"a": 1, "b": 2}) == content_hash({"b": 2, "a": 1})
    assert content_hash({"a": 1}) != content_hash({"a": 2}) and len(content_hash({"a": 1})) == 16


def test_from_row_errors_name_the_row():
    err = _error(Conversation.from_row, {"id": "r7", "tools": "[]"})
    assert (err.item, err.problem) == ("row 'r7'", "has no 'messages' list")
    err = _error(Conversation.from_row, {"id": "r7", "messages": [], "tools": "[{"})
    assert err.item == "row 'r7' tools" and err.problem.startswith("is not valid JSON")
    err = _error(Conversation.from_row, {"id": "r7", "messages": ["hi"]})
    assert err.item == "row 'r7' message 0" and err.problem == "must be an object, got str"


def test_parse_tools_column():
    assert parse_tools_column(None) == [] and parse_tools_column("") == []
    assert parse_tools_column(json.dumps([WEATHER.to_openai()])) == [WEATHER]
    err = _error(parse_tools_column, '{"type": "function"}', "row 3 tools")
    assert (err.item, err.problem) == ("row 3 tools", "must be a list, got dict")
    err = _error(parse_tools_column, [{"type": "function", "function": {"name": "bad name"}}], "row 3 tools")
    assert err.item == "row 3 tools[0] function 'bad name'"
