"""BUTTONInstruct rows in the README's published format (hand-written: the data file is not reachable here)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from builders.normalize.button import normalize_button

from .helpers import check_error, schema_error

ROWS = [json.loads(line) for line in (Path(__file__).parent / "data" / "button.jsonl").read_text().splitlines()]


def _published_tools(system: str) -> list[dict]:
    body = re.search(r"<tool>(.*)</tool>", system, re.S).group(1).strip()
    return json.loads(body) if body.startswith("[") else [json.loads(line) for line in body.splitlines()]


@pytest.mark.parametrize("index", range(len(ROWS)))
def test_fidelity(index):
    row = ROWS[index]
    conv = normalize_button(row, index)
    assert [f.to_openai()["function"] for f in conv.tools] == _published_tools(row["messages"][0]["content"])
    assert [m.role for m in conv.messages][0] == "user"  # the template system prompt became the tools
    calls = [c for m in conv.messages for c in m.tool_calls or []]
    published = [c for m in row["messages"] if m["role"] == "assistant" and "<call>" in m["content"]
                 for c in json.loads(re.search(r"<call>(.*)</call>", m["content"], re.S).group(1))]
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [(p["name"], p["arguments"]) for p in published]
    results = [r for m in row["messages"] if m["role"] == "tool" for r in json.loads(m["content"])]
    tool_msgs = [m for m in conv.messages if m.role == "tool"]
    assert [json.loads(m.content) for m in tool_msgs] == [r["results"] for r in results]
    assert [m.tool_call_id for m in tool_msgs] == [c.id for c in calls]
    final = conv.messages[-1]
    assert final.content == re.search(r"<final>(.*)</final>", row["messages"][-1]["content"], re.S).group(1)
    assert final.reasoning_content and "<final>" not in final.reasoning_content


def test_parallel_calls_and_thoughts():
    conv = normalize_button(ROWS[1], 1)
    call_turn = conv.messages[1]
    assert call_turn.content is None and call_turn.reasoning_content.startswith("User asks two independent things")
    assert [c.id for c in call_turn.tool_calls] == ["call_1_0", "call_1_1"]
    assert [(m.tool_call_id, m.name) for m in conv.messages[2:4]] == [("call_1_0", "get_weather"),
                                                                     ("call_1_1", "convert_currency")]


def _with(index: int, i: int, content: str) -> dict:
    row = json.loads(json.dumps(ROWS[0]))
    row["messages"][i]["content"] = content
    return row


@pytest.mark.parametrize("i, content, item, problem, fix", [
    (0, "You are an expert.", "button row 0 messages[0]", "system prompt has no <tool>", "<tool></tool>"),
    (0, "<tool>[{\"name\": \"f\",</tool>", "button row 0 messages[0]", "tool 0 in <tool> is not valid JSON", "JSON list"),
    (2, "Thinking <call>[{\"name\": \"get_tracking_number\"]</call>", "button row 0",
     "messages[2] call list is not valid JSON", '{"name": "f"'),
    (2, "<call>[]</call> <final>x</final>", "button row 0 messages[2]", "has both <call> and <final>", "one per turn"),
    (3, "[{\"name\": \"refund\", \"results\": {}}]", "button row 0 messages[3]", "result 0 (for 'refund') answers no open call",
     "one result per call"),
])
def test_malformed_rows(i, content, item, problem, fix):
    check_error(schema_error(normalize_button, _with(0, i, content), 0), item, problem, fix)
