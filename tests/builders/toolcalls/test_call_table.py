"""One table of call strings and objects, fed to every consumer: each gives the same parse or the same error.

Consumers: the shared parser (``builders.toolcalls``), the LLM layer's text-call recovery
(``builders.llm.recovery.recover_tool_calls``), the normalisers' Python-call reader (ToolACE replies, BFCL multi-turn
ground truth), the IRM reward, the TS/PI/CF metrics and BFCL's decoder.
"""

from __future__ import annotations

import json
import re

import pytest

from builders import toolcalls
from builders.llm.recovery import recover_tool_calls
from builders.normalize.common import RowContext, parse_python_calls
from builders.schema import SchemaError
from training.metrics import bfcl, single_turn_metrics
from training.reward import irm_breakdown


def _obj(props: dict, required: list[str] | None = None) -> dict:
    return {"type": "object", "properties": props, "required": required or []}


S, I, B = {"type": "string"}, {"type": "integer"}, {"type": "boolean"}
# tool name -> parameters; names with spaces are ToolACE / ITC names (the contract cleans them later)
TOOLS = {
    "get_weather": _obj({"city": S, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}, "days": I}, ["city"]),
    "getStockLocations": _obj({}),
    "checkInventory": _obj({"product_code": S}, ["product_code"]),
    "checkIpAddress": _obj({"ip_address": S}),
    "Google Translate": _obj({"text": S, "target_lang": S}),
    "Global Email V4": _obj({"opt": S, "email": S}),
    "latest": _obj({"from": S, "to": S}),
    "currencies": _obj({}),
    "Generate password": _obj({"numbers": B, "pwCount": I, "length": I}),
    "MD5 Text Hash": _obj({"dataString": S}),
    "random_advice": _obj({}),
    "cd": _obj({"folder": S}),
    "mkdir": _obj({"dir_name": S}),
    "mv": _obj({"source": S, "destination": S}),
    "grep": _obj({"file_name": S, "pattern": S}),
    "sort": _obj({"file_name": S}),
    "ls": _obj({"a": B}),
    "diff": _obj({"file_name1": S, "file_name2": S}),
    "math.factorial": _obj({"number": I}),
    "math.hypot": _obj({"x": I, "y": I, "z": I}),
    "calculate_triangle_area": _obj({"base": I, "height": I, "unit": S}),
    "get-weather": _obj({"city": S}),
    "search_hotels": _obj({"city": S, "filters": {"type": "object"}, "rooms": {"type": "array"}}),
}
# the same tools as a request declares them to the LLM layer
OPENAI_TOOLS = [{"type": "function", "function": {"name": n, "parameters": p}} for n, p in TOOLS.items()]


class Err(str):
    """The problem an error must start with, the same from every consumer."""


GW = ("get_weather", {"city": "Paris"})
TABLE: list[tuple[str, object, object]] = [
    # ---- seed 002 (ToolMind): <tool_call> tags and bare JSON
    ("tm-tag-empty-args", '<tool_call> {"name": "getStockLocations", "arguments": {}} </tool_call>',
     [("getStockLocations", {})]),
    ("tm-tag-code", '<tool_call> {"name": "checkInventory", "arguments": {"product_code": "XYZ789"}} </tool_call>',
     [("checkInventory", {"product_code": "XYZ789"})]),
    ("tm-tag-ip", '<tool_call> {"name": "checkIpAddress", "arguments": {"ip_address": "192.168.1.100"}} </tool_call>',
     [("checkIpAddress", {"ip_address": "192.168.1.100"})]),
    ("tm-json", '{"name": "get_weather", "arguments": {"city": "New York" }}', [("get_weather", {"city": "New York"})]),
    ("tm-two-tags", '<tool_call>{"name": "getStockLocations", "arguments": {}}</tool_call>\n'
                    '<tool_call>{"name": "checkInventory", "arguments": {"product_code": "A1"}}</tool_call>',
     [("getStockLocations", {}), ("checkInventory", {"product_code": "A1"})]),
    ("tm-think-then-tag", '<think>Need stock first.</think>\n<tool_call>{"name": "getStockLocations", "arguments": {}}'
                          '</tool_call>', [("getStockLocations", {})]),
    ("tm-lone-close-think", 'plan...</think><tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>',
     [GW]),
    ("tm-args-as-string", '<tool_call>{"name": "get_weather", "arguments": "{\\"city\\": \\"Paris\\"}"}</tool_call>', [GW]),
    ("tm-parameters-key", '<tool_call>{"name": "get_weather", "parameters": {"city": "Paris"}}</tool_call>', [GW]),
    ("tm-qwen3-coder-xml", "<tool_call><function=get_weather><parameter=city>\nParis\n</parameter>"
                           "<parameter=days>\n3\n</parameter></function></tool_call>",
     [("get_weather", {"city": "Paris", "days": 3})]),
    ("tm-unclosed-tag", '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}', [GW]),
    ("tm-special-tokens", '<|im_start|><tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>'
                          '<|im_end|>', [GW]),
    # ---- JSON forms
    ("json-list", '[{"name": "get_weather", "arguments": {"city": "Paris"}}, {"name": "currencies", "arguments": {}}]',
     [GW, ("currencies", {})]),
    ("json-fenced", '```json\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n```', [GW]),
    ("json-fence-no-lang", '```\n[{"name": "get_weather", "arguments": {"city": "Paris"}}]\n```', [GW]),
    ("json-prefix", 'json{"name": "get_weather", "arguments": {"city": "Paris"}}', [GW]),
    ("json-objects-in-a-row", '{"name": "get_weather", "arguments": {"city": "Paris"}}\n{"name": "currencies", '
                              '"arguments": {}}', [GW, ("currencies", {})]),
    ("json-tool-calls-key", '{"tool_calls": [{"function": {"name": "get_weather", "arguments": "{\\"city\\": '
                            '\\"Paris\\"}"}}]}', [GW]),
    ("json-nested-value", '{"name": "search_hotels", "arguments": {"city": "Lyon", "filters": {"stars": [4, 5], '
                          '"pool": true}}}', [("search_hotels", {"city": "Lyon", "filters": {"stars": [4, 5], "pool": True}})]),
    ("json-null-args", '{"name": "currencies", "arguments": null}', [("currencies", {})]),
    ("json-unicode", '{"name": "Google Translate", "arguments": {"text": "Grüß Gott 你好", "target_lang": "ja"}}',
     [("Google Translate", {"text": "Grüß Gott 你好", "target_lang": "ja"})]),
    # ---- seed 003 (ITC): answers with Thought / Action, names with spaces, curly quotes, quoted keys
    ("itc-single", 'json{"Thought": "Translate it.", "Action": "[Google Translate(text=’Hello, how are you?’,'
                   '\\"target_lang\\"=\\"fr\\")] "}',
     [("Google Translate", {"text": "Hello, how are you?", "target_lang": "fr"})]),
    ("itc-repeated", '{"Thought": "Verify both.", "Action": "[Global Email V4(opt=\\"VerifyMailbox:Express\\", email= '
                     '\\"john.doe@example.com\\"),Global Email V4(opt=\\"VerifyMailbox:ExpressPremium\\", '
                     'email=\\"jane.smith@sample.com\\")]"}',
     [("Global Email V4", {"opt": "VerifyMailbox:Express", "email": "john.doe@example.com"}),
      ("Global Email V4", {"opt": "VerifyMailbox:ExpressPremium", "email": "jane.smith@sample.com"})]),
    ("itc-parallel-keyword-arg", '{"Thought": "Rates.", "Action": "[latest(from=’EUR’, to=’USD,AUD’), currencies()]"}',
     [("latest", {"from": "EUR", "to": "USD,AUD"}), ("currencies", {})]),
    ("itc-nested-json-words", '{"Thought": "Password then hash.", "Action": "[Generate password(numbers=true,pwCount=1,'
                              'length=12),MD5 Text Hash(dataString=’generated_password’)]"}',
     [("Generate password", {"numbers": True, "pwCount": 1, "length": 12}),
      ("MD5 Text Hash", {"dataString": "generated_password"})]),
    ("itc-nested-second-turn", '{"Thought": "Hash it.", "Action": "[MD5 Text Hash(dataString=’A1b2C3d4E5f6’)]"}',
     [("MD5 Text Hash", {"dataString": "A1b2C3d4E5f6"})]),
    ("itc-empty-action", '{"Thought": "No tool fits.", "Action": "[]"}', []),
    ("itc-action-list", {"Thought": "x", "Action": [{"name": "get_weather", "arguments": {"city": "Paris"}}]}, [GW]),
    # ---- seed 001 (TL-Training, Table 14) and Python-call syntax
    ("tl-all-right", "random_advice()", [("random_advice", {})]),
    ("py-list", "[get_weather(city='Paris', days=3)]", [("get_weather", {"city": "Paris", "days": 3})]),
    ("py-parallel", "[get_weather(city='Paris'), get_weather(city='Lyon', unit='celsius')]",
     [GW, ("get_weather", {"city": "Lyon", "unit": "celsius"})]),
    ("py-positional-mapped", "get_weather('Paris', 'celsius')", [("get_weather", {"city": "Paris", "unit": "celsius"})]),
    ("py-dotted", "[math.factorial(number=5)]", [("math.factorial", {"number": 5})]),
    ("py-negative-and-none", "[math.hypot(x=-4, y=5, z=None)]", [("math.hypot", {"x": -4, "y": 5, "z": None})]),
    ("py-dash-name", "[get-weather(city='Oslo')]", [("get-weather", {"city": "Oslo"})]),
    ("py-nested-literals", "[search_hotels(city='Lyon', filters={'stars': (4, 5)}, rooms=[{'beds': 2}])]",
     [("search_hotels", {"city": "Lyon", "filters": {"stars": [4, 5]}, "rooms": [{"beds": 2}]})]),
    ("py-escaped-quote", r"[get_weather(city='L\'Aquila')]", [("get_weather", {"city": "L'Aquila"})]),
    ("py-multiline", "[\n  getStockLocations(),\n  currencies()\n]", [("getStockLocations", {}), ("currencies", {})]),
    ("py-spaces-in-name", "[MD5 Text Hash(dataString='x')]", [("MD5 Text Hash", {"dataString": "x"})]),
    # a name with spaces needs the brackets: unbracketed, "It is sunny in Paris (22 °C)" would be a call
    ("text-spaces-before-paren", "MD5 Text Hash(dataString='x')", []),
    # ---- BFCL ground-truth forms (multi_turn_base_0 and friends)
    ("bfcl-cd", "cd(folder='document')", [("cd", {"folder": "document"})]),
    ("bfcl-mkdir", "mkdir(dir_name='temp')", [("mkdir", {"dir_name": "temp"})]),
    ("bfcl-mv-no-space", "mv(source='previous_report.pdf',destination='temp')",
     [("mv", {"source": "previous_report.pdf", "destination": "temp"})]),
    ("bfcl-grep", "grep(file_name='final_report.pdf',pattern='budget analysis')",
     [("grep", {"file_name": "final_report.pdf", "pattern": "budget analysis"})]),
    ("bfcl-positional", "sort('final_report.pdf')", [("sort", {"file_name": "final_report.pdf"})]),
    ("bfcl-ls-bool", "ls(a=True)", [("ls", {"a": True})]),
    ("bfcl-diff", "diff(file_name1='final_report.pdf',file_name2='previous_report.pdf')",
     [("diff", {"file_name1": "final_report.pdf", "file_name2": "previous_report.pdf"})]),
    ("bfcl-prompt-style", "[calculate_triangle_area(base=10, height=5, unit='units')]",
     [("calculate_triangle_area", {"base": 10, "height": 5, "unit": "units"})]),
    # ---- OpenAI objects
    ("openai-message", {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]}, [GW]),
    ("openai-parallel", {"role": "assistant", "tool_calls": [
        {"function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
        {"function": {"name": "currencies", "arguments": "{}"}}]}, [GW, ("currencies", {})]),
    ("openai-dict-args", {"role": "assistant", "tool_calls": [{"function": {"name": "get_weather",
                                                                            "arguments": {"city": "Paris"}}}]}, [GW]),
    ("openai-completion-list", [{"role": "assistant", "content": '<tool_call>{"name": "get_weather", "arguments": '
                                                                 '{"city": "Paris"}}</tool_call>'}], [GW]),
    ("openai-bare-calls", [{"name": "get_weather", "arguments": {"city": "Paris"}}], [GW]),
    ("openai-reasoning", {"role": "assistant", "reasoning_content": "hmm", "tool_calls": [
        {"function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]}, [GW]),
    # ---- plain answers: no call
    ("text-answer", "It is sunny in Paris (22 °C).", []),
    ("text-empty", "", []),
    ("text-message", {"role": "assistant", "content": "Sure, here you go."}, []),
    # ---- broken ones: the same error everywhere
    ("bad-positional-unknown-tool", "f(5)", Err("call to 'f' passes 1 positional argument(s)")),
    ("bad-too-many-positional", "sort('a', 'b')", Err("call to 'sort' passes 2 positional argument(s)")),
    ("bad-unclosed", "[get_weather(city='Paris'", Err("cannot read the function call(s)")),
    ("bad-variable", "[get_weather(city=paris)]", Err("argument value 'paris' is not a literal")),
    ("bad-expression", "[get_weather(city=open('x').read())]", Err("argument value \"open('x').read()\" is not a literal")),
    ("bad-kwargs", "[get_weather(**opts)]", Err("call to 'get_weather' uses **kwargs")),
    ("bad-unterminated", "[get_weather(city='Paris)]", Err("cannot read the function call(s)")),
    ("bad-lone-surrogate", "[get_weather(city='\ud800')]", Err("cannot read the function call(s)")),
    ("bad-deep", "[get_weather(city=" + "[" * 150 + "]" * 150 + ")]", Err("argument values nest more than 100 levels")),
    ("bad-json", '{"name": "get_weather", "arguments": {"city": }', Err("looks like JSON but does not parse")),
    ("bad-tag-json", "<tool_call>{'name': 'get_weather'}</tool_call>", Err("<tool_call> block 0: not valid JSON")),
    ("bad-tag-broken-args", '<tool_call>{"name": "get_weather", "arguments": </tool_call>',
     Err("<tool_call> block 0: not valid JSON")),
    ("bad-args-list", '{"name": "get_weather", "arguments": ["Paris"]}',
     Err("JSON call to 'get_weather', arguments: must be a JSON object, got list")),
    ("bad-no-name", '{"arguments": {"city": "Paris"}}', Err("JSON call has no function name")),
    ("bad-json-scalar-list", "[1, 2]", Err("a JSON list of calls must hold only objects")),
    ("bad-itc-action-type", '{"Thought": "x", "Action": 5}', Err('"Action" must be a call list or a string of calls')),
    ("bad-tl-instability", "{“arguments”: {“}, “name”: “get_currency”}", Err("looks like JSON but does not parse")),
    ("bad-openai-args", {"role": "assistant", "tool_calls": [{"function": {"name": "get_weather", "arguments": "{oops"}}]},
     Err("tool_calls[0] to 'get_weather', arguments: not valid JSON")),
]


def test_table_is_big_enough():
    assert len(TABLE) >= 60 and len({case_id for case_id, _, _ in TABLE}) == len(TABLE)


def _calls(parsed) -> list[tuple[str, dict]]:
    return [(c.name, c.arguments) for c in parsed]


_PYTHON_START = re.compile(r"^(\[\s*[\w.\- ]+|[A-Za-z_][\w.\-]*)\(")


def _is_python(value) -> bool:
    """Python-call text: what a normaliser hands its reader (a ToolACE reply, a BFCL ground-truth call)."""
    return isinstance(value, str) and bool(_PYTHON_START.match(value))


def _row_context() -> RowContext:
    ctx = RowContext("table", {"id": "t"})
    for name, params in TOOLS.items():
        ctx.add_function({"name": name, "description": "", "parameters": params}, name)
    return ctx


@pytest.mark.parametrize("case_id,value,expected", TABLE, ids=[c for c, _, _ in TABLE])
def test_every_consumer_agrees(case_id, value, expected):
    # the shared parser
    if isinstance(expected, Err):
        with pytest.raises(toolcalls.ParseError) as info:
            toolcalls.parse_calls(value, TOOLS)
        assert info.value.problem.startswith(expected), info.value.problem
        assert "\n" not in str(info.value) and info.value.fix
    else:
        assert _calls(toolcalls.parse_calls(value, TOOLS)) == expected

    # the normalisers' reader (ToolACE replies, BFCL ground truth): Python syntax only
    if _is_python(value):
        if isinstance(expected, Err):
            with pytest.raises(SchemaError) as info:
                parse_python_calls(value, _row_context(), "reply")
            assert info.value.item == "table row t reply" and info.value.problem.startswith(expected)
        else:
            assert parse_python_calls(value, _row_context(), "reply") == expected

    # the LLM layer's text-call recovery (what the client runs on a reply without tool_calls): text
    # only, calls to declared tools only; a broken call stays text (the parser's error says why)
    if isinstance(value, str):
        recovered = recover_tool_calls(value, OPENAI_TOOLS)
        if isinstance(expected, Err):
            assert recovered == []
            with pytest.raises(toolcalls.ParseError) as info:
                toolcalls.calls_from_text(value, TOOLS)
            assert info.value.problem.startswith(expected)
        else:
            parsed = toolcalls.parse_output(value, TOOLS)
            want = expected if parsed.format in ("json", "tool_call_tags", "python") else []
            assert [(c["function"]["name"], json.loads(c["function"]["arguments"])) for c in recovered] == want

    # the reward and the metrics, scoring the value against the table's answer as gold
    gold = [toolcalls.Call(n, a) for n, a in ([] if isinstance(expected, Err) else expected)]
    result = irm_breakdown(value, gold or [toolcalls.Call("get_weather", {"city": "Paris"})], TOOLS)
    if isinstance(expected, Err) or not expected:
        assert result.rows == ["unparseable"]
    else:
        assert result.rows == ["exact"] * len(expected)
    try:
        calls = toolcalls.parse_calls(value, TOOLS)
    except toolcalls.ParseError:
        calls = None
    metrics = single_turn_metrics(calls, gold, TOOLS)
    assert all(metrics.values()) is (not isinstance(expected, Err))

    # BFCL's decoder ([{name: {arg: value}}]), given the tools as function docs
    docs = [{"name": n, "parameters": p} for n, p in TOOLS.items()]
    if isinstance(expected, Err):
        with pytest.raises(toolcalls.ParseError):
            bfcl.decoded_calls(value, docs)
    else:
        assert bfcl.decoded_calls(value, docs) == [{n: a} for n, a in expected]
