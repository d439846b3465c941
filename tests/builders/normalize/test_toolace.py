"""Team-ACE/ToolACE rows, in the published shape (functions in the system prompt, Python-syntax calls)."""

from __future__ import annotations

import json

import pytest

from builders.normalize import normalize_toolace
from builders.schema import SchemaError

from .helpers import check_error, schema_error

INSTRUCTIONS = (
    "You are an expert in composing functions. You are given a question and a set of possible functions. \n"
    "Based on the question, you will need to make one or more function/tool calls to achieve the purpose. \n"
    "If none of the function can be used, point it out. If the given question lacks the parameters required by "
    "the function,\nalso point it out. You should only return the function call in tools call sections.\n"
)
OUTRO = (".\nShould you decide to return the function call(s), Put it in the format of "
         "[func1(params_name=params_value, params_name2=params_value2...), func2(params)]\n\n"
         "NO other text MUST be included. \n")
FUNCTIONS = [
    {"name": "newAddress", "description": "Generates a new Ethereum address that can be used to send or receive funds. "
     "Do not lose the password! We can't restore access to an address if you lose it.",
     "parameters": {"type": "dict", "properties": {"password": {"description": "The password for the new Ethereum "
                    "address", "type": "string"}}, "required": ["password"]}, "required": None},
    {"name": "Market Trends API", "description": "Get the latest market trends and relevant news.",
     "parameters": {"type": "dict", "properties": {
         "trend_type": {"description": "Trend type.", "type": "string"},
         "country": {"description": "The country for which the trend data is requested", "type": "string",
                     "default": "us"},
         "limit": {"description": "Maximum number of items.", "type": "integer"},
         "ratio": {"description": "Weight of news against prices.", "type": "float"},
         "symbols": {"description": "Tickers to include.", "type": "array", "items": {"type": "string"}},
         "window": {"description": "Date window.", "type": "dict", "properties": {
             "start": {"type": "string", "description": "Start date."},
             "end": {"type": "string", "description": "End date."}}, "required": ["start"]},
         "extra": {"description": "Anything else.", "type": "any"}},
         "required": ["trend_type"]}, "required": None},
]
ROW = {
    "system": INSTRUCTIONS + "Here is a list of functions in JSON format that you can invoke:\n"
    + json.dumps(FUNCTIONS) + OUTRO,
    "conversations": [
        {"from": "user", "value": "Create an Ethereum address with password 'secure123' and show me market indexes "
                                  "for the US, at most 5 items."},
        {"from": "assistant", "value": "[newAddress(password=\"secure123\"), Market Trends API(trend_type=\"MARKET_"
                                       "INDEXES\", country='us', limit=5, ratio=-0.5, symbols=['SPY', \"QQQ\"], "
                                       "window={'start': '2024-01-01'}, extra=None)]"},
        {"from": "tool", "value": "[{\"name\": \"newAddress\", \"results\": {\"address\": \"0x5aB9\"}}, "
                                  "{\"name\": \"Market Trends API\", \"results\": {\"trends\": [{\"name\": \"S&P 500\","
                                  " \"price\": 4783.45}]}}]"},
        {"from": "assistant", "value": "Your new address is 0x5aB9. The S&P 500 stands at 4783.45."},
        {"from": "user", "value": "Now one more address, password 'x'."},
        {"from": "assistant", "value": "[newAddress(password='x')]"},
    ],
}


def test_row_with_parallel_calls_and_a_joint_tool_turn():
    conv = normalize_toolace(ROW, 0)
    assert conv.id == "toolace:0"
    assert [f.name for f in conv.tools] == ["newAddress", "Market_Trends_API"]
    assert conv.tools[0].parameters == {"type": "object", "properties": {"password": {
        "description": "The password for the new Ethereum address", "type": "string"}}, "required": ["password"]}
    market = conv.tools[1].parameters["properties"]
    assert market["limit"]["type"] == "integer" and market["ratio"]["type"] == "number"
    assert market["symbols"] == {"description": "Tickers to include.", "type": "array", "items": {"type": "string"}}
    assert market["window"] == {"description": "Date window.", "type": "object", "properties": {
        "start": {"type": "string", "description": "Start date."}, "end": {"type": "string", "description": "End date."}},
        "required": ["start"]}
    assert market["extra"] == {"description": "Anything else."}
    assert [m.role for m in conv.messages] == ["system", "user", "assistant", "tool", "tool", "assistant", "user",
                                              "assistant"]
    assert conv.messages[0].content == INSTRUCTIONS.strip()
    calls = conv.messages[2].tool_calls
    assert [(c.id, c.name) for c in calls] == [("call_0_0", "newAddress"), ("call_0_1", "Market_Trends_API")]
    assert json.loads(calls[0].arguments) == {"password": "secure123"}
    assert json.loads(calls[1].arguments) == {"trend_type": "MARKET_INDEXES", "country": "us", "limit": 5,
                                              "ratio": -0.5, "symbols": ["SPY", "QQQ"],
                                              "window": {"start": "2024-01-01"}, "extra": None}
    first, second = conv.messages[3], conv.messages[4]
    assert (first.tool_call_id, first.name, first.content) == ("call_0_0", "newAddress", '{"address":"0x5aB9"}')
    assert (second.tool_call_id, second.name) == ("call_0_1", "Market_Trends_API")
    assert json.loads(second.content) == {"trends": [{"name": "S&P 500", "price": 4783.45}]}
    last = conv.messages[7].tool_calls
    assert [(c.id, c.arguments) for c in last] == [("call_0_2", '{"password":"x"}')]


def test_results_matched_by_name_not_position_and_plain_text_results():
    turns = [ROW["conversations"][0], ROW["conversations"][1],
             {"from": "tool", "value": "[{\"name\": \"Market Trends API\", \"results\": {\"trends\": []}}, "
                                       "{\"name\": \"newAddress\", \"results\": \"0x1\"}]"}]
    conv = normalize_toolace({**ROW, "conversations": turns}, 3)
    assert [(m.tool_call_id, m.content) for m in conv.messages[3:]] == [("call_3_1", '{"trends":[]}'),
                                                                       ("call_3_0", "0x1")]
    turns = [ROW["conversations"][4], {"from": "assistant", "value": "[newAddress(password='x')]"},
             {"from": "tool", "value": "Address created: 0x77"}]
    conv = normalize_toolace({**ROW, "conversations": turns}, 3)
    assert (conv.messages[-1].content, conv.messages[-1].tool_call_id) == ("Address created: 0x77", "call_3_0")


def test_prose_in_brackets_is_not_a_call():
    turns = [ROW["conversations"][0], {"from": "assistant", "value": "[Note: please give a password]"}]
    conv = normalize_toolace({**ROW, "conversations": turns}, 0)
    assert conv.messages[-1].content == "[Note: please give a password]" and conv.messages[-1].tool_calls is None


def test_json_spelling_of_literals_is_accepted():
    turns = [ROW["conversations"][0],
             {"from": "assistant", "value": "[Market Trends API(trend_type='X', extra=[true, false, null])]"}]
    conv = normalize_toolace({**ROW, "conversations": turns}, 0)
    assert json.loads(conv.messages[-1].tool_calls[0].arguments)["extra"] == [True, False, None]


def _error(turns=None, system=None) -> SchemaError:
    row = {"system": system if system is not None else ROW["system"],
           "conversations": turns if turns is not None else ROW["conversations"]}
    return schema_error(normalize_toolace, row, 9)


def _with_reply(value: str, tool: str | None = None) -> list[dict]:
    turns = [ROW["conversations"][0], {"from": "assistant", "value": value}]
    return turns + ([{"from": "tool", "value": tool}] if tool is not None else [])


@pytest.mark.parametrize("turns, item, problem, fix", [
    (_with_reply("[newAddress(password=secret)]"), "toolace row 9 conversations[1]",
     "argument value 'secret' is not a literal", "quote text values"),
    (_with_reply("[newAddress(password='a'), newAddress(password=open('x').read())]"), "toolace row 9 conversations[1]",
     "argument value \"open('x').read()\" is not a literal", "quote text values"),
    (_with_reply("[newAddress(password='a']"), "toolace row 9 conversations[1]",
     "cannot read the function call(s)", "write calls as [func(arg=value, ...)]"),
    (_with_reply("[newAddress('a', 'b')]"), "toolace row 9 conversations[1]",
     "call to 'newAddress' passes 2 positional argument(s)", "pass arguments by keyword"),
    (_with_reply("[newAddress(**opts)]"), "toolace row 9 conversations[1]", "call to 'newAddress' uses **kwargs",
     "pass every argument by keyword"),
    (_with_reply("[getBalance(address='0x1')]"), "toolace row 9, conversation message 2 (assistant) tool call 0",
     "calls 'getBalance', which is not in tools", "call one of ['Market_Trends_API', 'newAddress']"),
    (_with_reply("[newAddress(password='a')]", "[{\"name\": \"getBalance\", \"results\": {}}]"),
     "toolace row 9 conversations[2]", "result 0 (for 'getBalance') answers no open call; open: ['newAddress']",
     "named after the function called"),
    (_with_reply("[newAddress(password='a'), newAddress(password='b')]", "two addresses"),
     "toolace row 9 conversations[2]", "tool turn is not a JSON list of results but 2 calls are open",
     "one {\"name\": ..., \"results\": ...} per call"),
    ([{"from": "moderator", "value": "hi"}], "toolace row 9 conversations[0]", "unknown speaker 'moderator'",
     "use one of"),
    ([{"from": "user", "content": "hi"}], "toolace row 9 conversations[0]",
     "turn must be an object with 'from' and a string 'value'", '{"from": "user", "value": "..."}'),
])
def test_malformed_turns(turns, item, problem, fix):
    check_error(_error(turns), item, problem, fix)


def test_malformed_function_lists():
    intro = "Here is a list of functions in JSON format that you can invoke:\n"
    err = _error(system=intro + "[{\"name\": \"newAddress\", " + OUTRO)
    assert err.item == "toolace row 9" and err.problem.startswith("the function list in the system prompt is not valid")
    err = _error(system=intro + json.dumps({"name": "newAddress"}) + OUTRO)
    assert err.problem == "the function list in the system prompt is a dict, not a list"
    bad = [{**FUNCTIONS[0], "parameters": {"type": "dict", "properties": {"password": {"type": "secret"}}}}]
    err = _error(system=intro + json.dumps(bad) + OUTRO)
    assert err.item == "toolace row 9, system function 0 (newAddress) parameters.password"
    assert err.problem == "unknown type 'secret' in 'secret'"
    bad = [{**FUNCTIONS[0], "parameters": {"type": "dict", "properties": {}, "required": ["password"]}}]
    err = _error(system=intro + json.dumps(bad) + OUTRO)
    assert err.item == "toolace row 9, function 'newAddress'"
    assert err.problem == "required names ['password'] are not among its parameters"
    err = _error(system=intro + json.dumps([FUNCTIONS[0], {**FUNCTIONS[0], "description": "Other."}]) + OUTRO)
    assert err.problem == "system function 1 redefines the function 'newAddress' differently"
