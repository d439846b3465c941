"""tau-bench historical trajectories (gpt-4o-airline), tools from the airline environment's get_info()."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from builders.normalize.taubench import normalize_taubench

from .helpers import check_error, schema_error

DATA = Path(__file__).parent / "data"
TOOLS = str(DATA / "taubench_airline_tools.json")
ROWS = json.loads((DATA / "taubench_gpt-4o-airline.json").read_text())


@pytest.mark.parametrize("index", range(len(ROWS)))
def test_fidelity(index):
    row = ROWS[index]
    conv = normalize_taubench(row, index, tools=TOOLS)
    traj = row["traj"]
    assert [m.role for m in conv.messages] == [m["role"] for m in traj]
    assert conv.messages[0].content.startswith("# Airline Agent Policy")
    assert [t.to_openai() for t in conv.tools] == json.loads(Path(TOOLS).read_text())
    published = [c for m in traj for c in m.get("tool_calls") or []]
    ours = [c for m in conv.messages for c in m.tool_calls or []]
    assert [(c.name, json.loads(c.arguments)) for c in ours] == [
        (c["function"]["name"], json.loads(c["function"]["arguments"])) for c in published]
    assert len({c.id for c in ours}) == len(ours)  # renumbered: unique
    for ours_msg, pub in zip(conv.messages, traj):
        if pub["role"] == "tool":
            call = next(c for m in conv.messages for c in m.tool_calls or [] if c.id == ours_msg.tool_call_id)
            assert (ours_msg.content, ours_msg.name, call.name) == (pub["content"], pub["name"], pub["name"])
        elif pub["role"] != "assistant" or not pub.get("tool_calls"):
            assert ours_msg.content == pub["content"]


def test_repeated_call_ids_are_renumbered_and_results_repointed():
    """Task 0 uses call_HGn16KZh9oNCruxsMJ4gYXan for search_direct_flight and later for search_onestop_flight."""
    conv = normalize_taubench(ROWS[0], 0, tools=TOOLS)
    by_id = {c.id: c for m in conv.messages for c in m.tool_calls or []}
    answers = [(by_id[m.tool_call_id].name, m.name) for m in conv.messages if m.role == "tool"]
    assert ("search_direct_flight", "search_direct_flight") in answers
    assert ("search_onestop_flight", "search_onestop_flight") in answers
    assert all(a == b for a, b in answers)
    assert list(by_id)[:3] == ["call_0_0", "call_0_1", "call_0_2"]


def test_tools_as_list_and_missing_tools():
    tools = json.loads(Path(TOOLS).read_text())
    assert normalize_taubench(ROWS[1], 1, tools=tools).to_row() == normalize_taubench(ROWS[1], 1, tools=TOOLS).to_row()
    check_error(schema_error(normalize_taubench, ROWS[1], 1), "taubench row 1",
                "has no tool schemas and none were given", "tools file in the preset")
    check_error(schema_error(normalize_taubench, ROWS[1], 1, tools="/nonexistent/tools.json"),
                "taubench row 1, tau-bench tools file /nonexistent/tools.json", "does not exist", "existing JSON")


def test_malformed_rows():
    row = json.loads(json.dumps(ROWS[0]))
    row["traj"][6]["tool_calls"][0]["function"]["name"] = "get_weather"
    check_error(schema_error(normalize_taubench, row, 0, tools=TOOLS), "taubench row 0 traj[6]",
                "tool call 0 calls 'get_weather', which is not in the tools file", "tools file")
    row = json.loads(json.dumps(ROWS[0]))
    row["traj"][7]["tool_call_id"] = "call_nope"
    check_error(schema_error(normalize_taubench, row, 0, tools=TOOLS), "taubench row 0 traj[7]",
                "tool_call_id 'call_nope' answers no open call", "after the call")
    row["traj"] = "not a list"
    check_error(schema_error(normalize_taubench, row, 0, tools=TOOLS), "taubench row 0",
                "field 'traj' must be list", "'traj'")
