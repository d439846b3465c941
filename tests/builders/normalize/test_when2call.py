"""nvidia/When2Call SFT rows (see data/README.md: README examples and test rows through NVIDIA's converter)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from builders.normalize.when2call import normalize_when2call

from .helpers import check_error, schema_error

ROWS = [json.loads(line) for line in (Path(__file__).parent / "data" / "when2call_sft.jsonl").read_text().splitlines()]


def test_refusal_is_kept_and_required_moves_into_parameters():
    row = ROWS[0]
    conv = normalize_when2call(row, 0)
    user, assistant = conv.messages
    assert (user.role, user.content) == ("user", row["messages"][0]["content"])
    assert assistant.role == "assistant" and assistant.tool_calls is None
    assert assistant.content == row["messages"][1]["content"]
    [fn] = conv.tools
    assert fn.parameters["type"] == "object" and fn.parameters["required"] == ["region", "latitude", "longitude"]
    # the published row declares an integer latitude defaulting to "40.733": the contradicting default
    # is dropped and counted, as for xLAM
    assert fn.parameters["properties"]["latitude"] == {
        "type": "integer", "description": row["tools"][0]["parameters"]["properties"]["latitude"]["description"]}
    assert conv.dropped_defaults >= 1


def test_request_for_info_is_text():
    conv = normalize_when2call(ROWS[2], 2)
    assert conv.messages[1].tool_calls is None and conv.messages[1].content == ROWS[2]["messages"][1]["content"]


@pytest.mark.parametrize("index", [1, 3, 4])
def test_toolcall_arguments_equal_the_published_ones(index):
    row = ROWS[index]
    conv = normalize_when2call(row, index)
    body = row["messages"][1]["content"].removeprefix("<TOOLCALL>").removesuffix("</TOOLCALL>")
    published = [json.loads(c) if isinstance(c, str) else c for c in json.loads(body)]
    calls = conv.messages[1].tool_calls
    assert conv.messages[1].content is None
    assert [(c.id, c.name, json.loads(c.arguments)) for c in calls] == [
        (f"call_{index}_{j}", p["name"], p["arguments"]) for j, p in enumerate(published)]
    tools = [json.loads(t) if isinstance(t, str) else t for t in row["tools"]]
    assert [f.name for f in conv.tools] == [t["name"] for t in tools]
    assert [f.description for f in conv.tools] == [t["description"] for t in tools]


def test_text_around_the_call_is_kept():
    row = {**ROWS[1], "messages": [ROWS[1]["messages"][0], {"role": "assistant", "content":
           'Let me look. <TOOLCALL>[{"name": "get_company_by_domain", "arguments": {"domain": "x.com"}}]</TOOLCALL>'}]}
    msg = normalize_when2call(row, 1).messages[1]
    assert msg.content == "Let me look." and msg.tool_calls[0].arguments == '{"domain":"x.com"}'


@pytest.mark.parametrize("content, item, problem, fix", [
    ("<TOOLCALL>[{\"name\": \"get_company_by_domain\"", "when2call row 1 messages[1]",
     "has <TOOLCALL> without a closing", "close"),
    ("<TOOLCALL>[{\"arguments\": {}}]</TOOLCALL>", "when2call row 1 messages[1]", "call 0 must be an object with a 'name'",
     '[{"name": "f"'),
    ("<TOOLCALL>[{\"name\": \"lookup\", \"arguments\": {}}]</TOOLCALL>",
     "when2call row 1, conversation message 1 (assistant) tool call 0", "calls 'lookup', which is not in tools", "call one of"),
])
def test_malformed_calls(content, item, problem, fix):
    row = {**ROWS[1], "messages": [ROWS[1]["messages"][0], {"role": "assistant", "content": content}]}
    check_error(schema_error(normalize_when2call, row, 1), item, problem, fix)


def test_required_naming_an_unknown_parameter_is_rejected():
    row = {**ROWS[1], "tools": [{**ROWS[1]["tools"][0], "required": ["company"]}]}
    err = schema_error(normalize_when2call, row, 1)
    assert err.item.startswith("when2call row 1") and "['company']" in err.problem
