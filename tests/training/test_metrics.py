"""TS / PI / CF, ITC and BFCL AST scores on hand-made predictions, against hand-computed values."""

from __future__ import annotations

import importlib.util
import json

import pytest

from training.metrics import ParseError, aggregate_single_turn, parse_calls, parse_output, single_turn_metrics
from training.metrics import bfcl
from training.metrics.itc import aggregate_itc, score_itc_item
from training.metrics.tool_calls import Call, gold_calls, values_equal


def _tool(name, props):
    return {"type": "function", "function": {"name": name, "description": name,
            "parameters": {"type": "object", "properties": props}}}


TOOLS = json.dumps([
    _tool("get_weather", {"city": {"type": "string"}, "days": {"type": "integer"}, "unit": {"type": "string"}}),
    _tool("get_weather_forecast", {"city": {"type": "string"}}),
    _tool("search_hotels", {"city": {"type": "string"}, "checkin": {"type": "string"}}),
])


def test_parser_reads_and_rejects():
    assert parse_calls("[f(a='x', b=[1, 2.5], c={'k': None}, d=True), m.g()]") == [
        Call("f", {"a": "x", "b": [1, 2.5], "c": {"k": None}, "d": True}), Call("m.g", {})]
    itc = parse_output('json{"Thought": "Je cherche", "Action": "[Google Translate(text=’Hi, you’, \\"to\\"=\\"fr\\")]"}')
    assert itc.format == "itc" and itc.thought == "Je cherche"
    assert itc.calls == [Call("Google Translate", {"text": "Hi, you", "to": "fr"})]
    plain = parse_output("Sure (happy to help), it is sunny.")
    assert plain.calls == [] and plain.format == "text"
    for bad in ("f(5)", "[f(a=1", '{"city": "Paris"}', "<tool_call>{'name': 'f'}</tool_call>"):
        with pytest.raises(ParseError):
            parse_output(bad)
    # a decoder that dropped the <tool_call> tags leaves JSON objects in a row
    assert [c.name for c in parse_calls('{"name": "a", "arguments": {}}\n{"name": "b", "arguments": {}}')] == ["a", "b"]


def test_value_normalisation_follows_the_schema():
    assert values_equal("3", 3, {"type": "integer"}) and not values_equal("3", 3)
    assert values_equal("True", True, {"type": "boolean"})
    assert values_equal("[1, 2]", [1.0, 2], {"type": "array"})
    assert values_equal({"b": 1, "a": " x"}, {"a": "x", "b": 1.0})
    assert not values_equal([1, 2], [2, 1])


def test_ts_pi_cf_on_hand_made_predictions():
    gold = gold_calls('[{"name": "get_weather", "arguments": {"city": "Paris", "days": 3}}]')
    cases = [
        ('<tool_call>{"name": "get_weather", "arguments": {"city": "Paris", "days": 3}}</tool_call>', (1, 1, 1)),
        ('<tool_call>{"name": "get_weather", "arguments": {"city": "Paris", "days": 4}}</tool_call>', (1, 1, 0)),
        ('<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>', (1, 0, 0)),
        ('<tool_call>{"name": "get_weather_forecast", "arguments": {"city": "Paris"}}</tool_call>', (0, 0, 0)),
        ('<tool_call>{"name": "get_weather", "arguments": </tool_call>', (0, 0, 0)),
    ]
    results = []
    for output, expected in cases:
        try:
            calls = parse_calls(output)
        except ParseError:
            calls = None
        result = single_turn_metrics(calls, gold, TOOLS)
        assert (result["ts"], result["pi"], result["cf"]) == tuple(map(bool, expected)), output
        results.append(result)
    assert aggregate_single_turn(results) == {"n": 5, "TS": 3 / 5, "PI": 2 / 5, "CF": 1 / 5}
    # parallel calls: order-free, and the count must match
    two = [Call("search_hotels", {"city": "Lyon"}), Call("get_weather", {"city": "Lyon"})]
    assert single_turn_metrics(list(reversed(two)), two, TOOLS) == {"ts": True, "pi": True, "cf": True}
    assert single_turn_metrics(two[:1], two, TOOLS)["ts"] is False


ITC_ITEMS = [
    dict(item_id="a", query="What is the weather in Paris for 3 days?", language="en",
         gold=[Call("get_weather", {"city": "Paris", "days": 3})],
         prediction='{"Thought": "I will check the weather in Paris for the next three days.", '
                    '"Action": "[get_weather(city=\'Paris\', days=3)]"}'),
    dict(item_id="b", query="Trouve des hôtels à Lyon pour le 1er mai et la météo de Lyon.", language=None,
         gold=[Call("search_hotels", {"city": "Lyon", "checkin": "2025-05-01"}), Call("get_weather", {"city": "Lyon"})],
         prediction='```json\n{"Thought": "I will search hotels in Lyon.", "Action": "[search_hotels(city=\'Lyon\', '
                    'checkin=\'2025-05-02\', rooms=2), book_flight(to=\'Lyon\')]"}\n```'),
    dict(item_id="c", query="How is the weather in Berlin?", language="en",
         gold=[Call("get_weather", {"city": "Berlin"})],
         prediction='{"Thought": "Berlin weather", "Action": "[get_weather(city=]"}'),
    dict(item_id="d", query="Wie wird das Wetter morgen in Berlin?", language="German",
         gold=[Call("get_weather", {"city": "Berlin", "days": 1})],
         prediction='<think>Der Nutzer möchte das Wetter in Berlin für morgen wissen.</think>\n'
                    '<tool_call>{"name": "get_weather", "arguments": {"city": "Berlin", "unit": "C"}}</tool_call>\n'
                    '<tool_call>{"name": "get_weather_forecast", "arguments": {"city": "Berlin"}}</tool_call>'),
]


def test_itc_metrics_on_hand_made_predictions():
    scores = [score_itc_item(tools=TOOLS, **item) for item in ITC_ITEMS]
    assert [s.format_ok for s in scores] == [True, True, False, True]
    assert [s.language_ok for s in scores] == [True, False, False, True]
    report = aggregate_itc(scores)
    assert report["n"] == 4 and report["FM"] == 3 / 4 and report["LM"] == 2 / 4
    # tools: correct 1+1+0+1, predicted 1+2+0+2, gold 1+2+1+1
    assert report["tool_selection"] == pytest.approx({"precision": 3 / 5, "recall": 3 / 5, "f1": 3 / 5})
    # triples: correct 2+1+0+1, predicted 2+4+0+3, gold 2+3+1+2
    assert report["tool_invocation"] == pytest.approx({"precision": 4 / 9, "recall": 4 / 8, "f1": 8 / 17})
    sel, inv = report["errors"]["selection"], report["errors"]["invocation"]
    assert {k: v["count"] for k, v in sel.items()} == {"hallucinated_tools": 1, "missing_tools": 2, "extra_tools": 1}
    assert sel["missing_tools"]["share"] == 0.5
    assert {k: v["count"] for k, v in inv.items()} == {"incorrect_params": 1, "missing_params": 1, "extra_params": 2}
    strict = aggregate_itc(score_itc_item(tools=TOOLS, strict_format=True, **item) for item in ITC_ITEMS)
    assert strict["FM"] == 2 / 4


needs_bfcl = pytest.mark.skipif(importlib.util.find_spec("bfcl_eval") is None,
                                reason="bfcl-eval is not installed (pip install --no-deps bfcl-eval)")

# (category, row index, prediction, valid) on real bfcl-eval rows
BFCL_CASES = [
    ("simple_python", 0, "[calculate_triangle_area(base=10, height=5)]", True),
    ("simple_python", 0, '<tool_call>{"name": "calculate_triangle_area", "arguments": {"base": 10, "height": 5, '
                         '"unit": "units"}}</tool_call>', True),
    ("simple_python", 0, "[calculate_triangle_area(base=10, height=6)]", False),
    ("parallel", 0, "[spotify.play(artist='Maroon 5', duration=15), spotify.play(artist='Taylor Swift', duration=20)]",
     True),
    ("parallel", 0, "[spotify.play(artist='Taylor Swift', duration=20)]", False),
    ("multiple", 0, "[triangle_properties.get(side1=5, side2=4, side3=3)]", True),
    ("multiple", 0, "[circle_properties.get(radius=5)]", False),
    ("simple_java", 0, '[GeometryPresentation.createPresentation(controller="mapController", parent="mapArea")]', True),
    ("irrelevance", 0, "I cannot compute a triangle area with the tools I have.", True),
    ("irrelevance", 0, "[determine_body_mass_index(weight=10, height=5)]", False),
]


@needs_bfcl
def test_bfcl_ast_on_real_rows():
    rows = {c: bfcl.load_bfcl(c) for c in {c for c, *_ in BFCL_CASES}}
    results = [bfcl.score_bfcl_item(pred, rows[c][i]) for c, i, pred, _ in BFCL_CASES]
    assert [r["valid"] for r in results] == [v for *_, v in BFCL_CASES]
    assert results[2]["error_type"] == "value_error:others"
    report = bfcl.aggregate_bfcl(results)
    assert report["accuracy"] == 6 / 10
    assert report["by_category"]["parallel"] == {"n": 2, "accuracy": 0.5}


@needs_bfcl
def test_bfcl_tools_for_chat_templates():
    row = bfcl.load_bfcl("simple_java")[0]
    tools = bfcl.openai_tools(row["function"], "simple_java")
    params = tools[0]["function"]["parameters"]
    assert params["type"] == "object"
    assert {p["type"] for p in params["properties"].values()} == {"string"}
    assert "Java 8 SDK" in tools[0]["function"]["description"]
    py = bfcl.openai_tools(bfcl.load_bfcl("simple_python")[0]["function"], "simple_python")
    assert py[0]["function"]["parameters"]["properties"]["base"]["type"] == "integer"
    with pytest.raises(Exception, match="not a single-turn category"):
        bfcl.load_bfcl("multi_turn_base")
