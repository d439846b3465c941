"""glaiveai/glaive-function-calling-v2 rows, in the published shape (system + chat as one text each)."""

from __future__ import annotations

import json

import pytest

from builders.normalize import normalize_glaive

from .helpers import check_error, schema_error

BMI = {
    "name": "calculate_bmi",
    "description": "Calculate the Body Mass Index (BMI)",
    "parameters": {"type": "object", "properties": {
        "weight": {"type": "number", "description": "The weight in kilograms"},
        "height": {"type": "number", "description": "The height in meters"}},
        "required": ["weight", "height"]},
}
PREAMBLE = "SYSTEM: You are a helpful assistant with access to the following functions. Use them if required -\n"

# the first row of the published data: one function, pretty-printed with 4 spaces
ROW_BMI = {
    "system": PREAMBLE + json.dumps(BMI, indent=4) + "\n",
    "chat": "USER: Hi, I need to calculate my BMI. I weigh 70 kilograms and my height is 1.75 meters.\n\n\n"
            "ASSISTANT: <functioncall> {\"name\": \"calculate_bmi\", \"arguments\": '{\"weight\": 70, \"height\": 1.75}'}"
            " <|endoftext|>\n\n\n"
            "FUNCTION RESPONSE: {\"bmi\": 22.86}\n\n\n"
            "ASSISTANT: Your Body Mass Index (BMI) is 22.86. This is considered a healthy weight for your height. "
            "<|endoftext|>\n\n\n",
}

NO_FUNCTIONS = {
    "system": "SYSTEM: You are a helpful assistant, with no access to external functions.",
    "chat": "USER: Can you explain the concept of recursion?\n\n\n"
            "ASSISTANT: Recursion is when a function calls itself.\n\nFor example, a factorial. <|endoftext|>\n\n\n"
            "USER: Thanks!\n\n\nASSISTANT: You're welcome! <|endoftext|>\n\n\n",
}

CONVERT = {
    "name": "convert_currency",
    "description": "Convert currency from one type to another",
    "parameters": {"type": "object", "properties": {
        "amount": {"type": "number", "description": "The amount to convert"},
        "from_currency": {"type": "string", "description": "The currency to convert from"},
        "to_currency": {"type": "string", "description": "The currency to convert to"}},
        "required": ["amount", "from_currency", "to_currency"]},
}
NEWS = {
    "name": "get_news_headlines",
    "description": "Get the latest news headlines",
    "parameters": {"type": "object", "properties": {
        "country": {"type": "string", "description": "The country for which headlines are needed"}},
        "required": ["country"]},
}
TWO_FUNCTIONS = {
    "system": PREAMBLE + json.dumps(CONVERT, indent=4) + "\n\n" + json.dumps(NEWS, indent=4) + "\n",
    "chat": "USER: I need to convert 1000 US dollars to Euros.\n\n\n"
            "ASSISTANT: <functioncall> {\"name\": \"convert_currency\", \"arguments\": '{\"amount\": 1000, "
            "\"from_currency\": \"USD\", \"to_currency\": \"EUR\"}'} <|endoftext|>\n\n\n"
            "FUNCTION RESPONSE: {\"converted_amount\": 850.0, \"from_currency\": \"USD\", \"to_currency\": \"EUR\"}"
            "\n\n\n"
            "ASSISTANT: Sure, 1000 US dollars is approximately 850 Euros. <|endoftext|>\n\n\n"
            "USER: And what's in the news in France? I'm curious.\n\n\n"
            "ASSISTANT: Let me look. <functioncall> {\"name\": \"get_news_headlines\", \"arguments\": "
            "'{\"country\": \"France\"}'} <|endoftext|>\n\n\n"
            "FUNCTION RESPONSE: {\"headlines\": [\"Strike in Paris\"]}\n\n\n"
            "ASSISTANT: Today's headline in France: Strike in Paris. <|endoftext|>",
}


def test_single_function_row():
    conv = normalize_glaive(ROW_BMI, 0)
    assert conv.id == "glaive:0"
    assert [f.to_openai()["function"] for f in conv.tools] == [BMI]
    assert [(m.role, m.content) for m in conv.messages] == [
        ("system", "You are a helpful assistant with access to the following functions. Use them if required -"),
        ("user", "Hi, I need to calculate my BMI. I weigh 70 kilograms and my height is 1.75 meters."),
        ("assistant", None),
        ("tool", '{"bmi": 22.86}'),
        ("assistant", "Your Body Mass Index (BMI) is 22.86. This is considered a healthy weight for your height."),
    ]
    [call] = conv.messages[2].tool_calls
    assert (call.id, call.name, call.arguments) == ("call_0_0", "calculate_bmi", '{"weight":70,"height":1.75}')
    tool = conv.messages[3]
    assert (tool.tool_call_id, tool.name) == ("call_0_0", "calculate_bmi")


def test_row_without_functions():
    conv = normalize_glaive(NO_FUNCTIONS, 1)
    assert conv.tools == []
    assert [(m.role, m.content) for m in conv.messages] == [
        ("system", "You are a helpful assistant, with no access to external functions."),
        ("user", "Can you explain the concept of recursion?"),
        ("assistant", "Recursion is when a function calls itself.\n\nFor example, a factorial."),
        ("user", "Thanks!"),
        ("assistant", "You're welcome!"),
    ]


def test_several_functions_and_text_before_a_call():
    conv = normalize_glaive(TWO_FUNCTIONS, 7)
    assert [f.name for f in conv.tools] == ["convert_currency", "get_news_headlines"]
    assert conv.tools[1].parameters == NEWS["parameters"]
    roles = [m.role for m in conv.messages]
    assert roles == ["system", "user", "assistant", "tool", "assistant", "user", "assistant", "tool", "assistant"]
    second = conv.messages[6]
    assert second.content == "Let me look."
    assert [(c.id, c.name, c.arguments) for c in second.tool_calls] == [
        ("call_7_1", "get_news_headlines", '{"country":"France"}')]
    assert conv.messages[7].tool_call_id == "call_7_1"
    assert conv.messages[3].content == '{"converted_amount": 850.0, "from_currency": "USD", "to_currency": "EUR"}'


def test_plain_json_arguments_are_accepted():
    row = dict(ROW_BMI, chat=ROW_BMI["chat"].replace(
        "'{\"weight\": 70, \"height\": 1.75}'", "{\"weight\": 70, \"height\": 1.75}"))
    assert normalize_glaive(row, 0).messages[2].tool_calls[0].arguments == '{"weight":70,"height":1.75}'


@pytest.mark.parametrize("change, item, problem, fix", [
    ({"chat": None}, "glaive row 5", "field 'chat' must be str, got NoneType", "pass the 'chat' field"),
    ({"system": PREAMBLE + "{\n    \"name\": \"calculate_bmi\",\n"}, "glaive row 5",
     "function 0 in the system prompt is not valid JSON", "write each function as a JSON object"),
    ({"system": PREAMBLE + json.dumps({**BMI, "parameters": {"type": "object", "properties": {
        "w": {"type": "function"}}}})}, "glaive row 5, system function 0 (calculate_bmi) parameters.w",
     "unknown type 'function' in 'function'", "List[str]"),
    ({"system": PREAMBLE + json.dumps({**BMI, "parameters": {"type": "array"}})},
     "glaive row 5, system function 0 (calculate_bmi) parameters", "parameters must describe an object",
     "{'type': 'object', 'properties': {...}}"),
    ({"chat": "Hello\n\n\nUSER: hi"}, "glaive row 5", "chat starts with 'Hello' instead of a speaker",
     "'USER: '"),
    ({"chat": ROW_BMI["chat"].replace("'{\"weight\": 70, \"height\": 1.75}'", "'{weight: 70}'")},
     "glaive row 5", "chat turn 1 (ASSISTANT) call arguments is not valid JSON", "as a JSON object"),
    ({"chat": ROW_BMI["chat"].replace("<functioncall> {\"name\"", "<functioncall> {\"function\"")},
     "glaive row 5", "chat turn 1 (ASSISTANT) function call is not valid JSON", "write the call as"),
    ({"chat": ROW_BMI["chat"].replace("calculate_bmi", "get_bmi")},
     "glaive row 5, conversation message 2 (assistant) tool call 0", "calls 'get_bmi', which is not in tools",
     "call one of ['calculate_bmi']"),
    ({"chat": "USER: hi\n\n\nFUNCTION RESPONSE: {}\n\n\nASSISTANT: ok"}, "glaive row 5 chat turn 1 (FUNCTION RESPONSE)",
     "FUNCTION RESPONSE follows no <functioncall>", "add the call"),
    ({"chat": "USER: hi\n\n\nUSER: again"}, "glaive row 5, conversation message 2 (user)",
     "role 'user' cannot follow 'user'", "after 'user' use assistant"),
])
def test_malformed_rows(change, item, problem, fix):
    check_error(schema_error(normalize_glaive, {**ROW_BMI, **change}, 5), item, problem, fix)
