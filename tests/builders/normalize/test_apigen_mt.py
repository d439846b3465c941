"""Salesforce/APIGen-MT-5k rows in the published ShareGPT shape (see data/README.md for provenance)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from builders.normalize.apigen_mt import normalize_apigen_mt

from .helpers import check_error, schema_error

ROWS = json.loads((Path(__file__).parent / "data" / "apigen_mt.json").read_text())
ROLE = {"human": "user", "gpt": "assistant", "function_call": "assistant", "observation": "tool"}


@pytest.mark.parametrize("index", range(len(ROWS)))
def test_fidelity(index):
    row = ROWS[index]
    conv = normalize_apigen_mt(row, index)
    assert conv.messages[0].role == "system" and conv.messages[0].content == row["system"]
    assert [f.to_openai()["function"] for f in conv.tools] == json.loads(row["tools"])
    turns = row["conversations"]
    expected_roles = [ROLE[t["from"]] for t in turns]
    collapsed = [r for i, r in enumerate(expected_roles)  # a call right after gpt/call joins that message
                 if not (turns[i]["from"] == "function_call" and i and turns[i - 1]["from"] in ("gpt", "function_call"))]
    assert [m.role for m in conv.messages[1:]] == collapsed
    calls = [c for m in conv.messages for c in m.tool_calls or []]
    published = [json.loads(t["value"]) for t in turns if t["from"] == "function_call"]
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [(p["name"], p["arguments"]) for p in published]
    results = [m for m in conv.messages if m.role == "tool"]
    assert [m.content for m in results] == [t["value"] for t in turns if t["from"] == "observation"]
    assert [m.tool_call_id for m in results] == [c.id for c in calls]
    assert [m.name for m in results] == [c.name for c in calls]


def test_consecutive_calls_form_one_turn_and_a_list_observation_splits():
    row = {"tools": ROWS[0]["tools"], "system": "policy", "conversations": [
        {"from": "human", "value": "my id is mia_li_3668; also list the airports"},
        {"from": "gpt", "value": "Looking both up."},
        {"from": "function_call", "value": '{"name": "get_user_details", "arguments": {"user_id": "mia_li_3668"}}'},
        {"from": "function_call", "value": '{"name": "list_all_airports", "arguments": {}}'},
        {"from": "observation", "value": '[{"name": "Mia"}, {"JFK": "New York"}]'},
        {"from": "gpt", "value": "Done."}]}
    conv = normalize_apigen_mt(row, 7)
    assistant = conv.messages[2]
    assert assistant.content == "Looking both up." and [c.id for c in assistant.tool_calls] == ["call_7_0", "call_7_1"]
    assert [(m.tool_call_id, m.content) for m in conv.messages[3:5]] == [
        ("call_7_0", '{"name": "Mia"}'), ("call_7_1", '{"JFK": "New York"}')]


@pytest.mark.parametrize("change, where, problem, fix", [
    ({"tools": "[{"}, "", "field 'tools' is not valid JSON", "store 'tools' as JSON"),
    ({"conversations": [{"from": "tool", "value": "x"}]}, " conversations[0]", "turn must be {from, value}", '"from"'),
    ({"conversations": [{"from": "observation", "value": "x"}]}, " conversations[0]",
     "observation follows no function_call", "add the call"),
    ({"conversations": [{"from": "human", "value": "hi"}, {"from": "function_call", "value": "{\"name\": \"get_user_details\""}]},
     "", "conversations[1] call list is not valid JSON", '{"name": "f"'),
    ({"conversations": [{"from": "human", "value": "hi"}, {"from": "function_call", "value": "{\"name\": \"fly\", \"arguments\": {}}"}]},
     ", conversation message 2 (assistant) tool call 0", "calls 'fly', which is not in tools", "call one of"),
])
def test_malformed_rows(change, where, problem, fix):
    check_error(schema_error(normalize_apigen_mt, {**ROWS[0], **change}, 3), f"apigen_mt row 3{where}", problem, fix)
