"""Salesforce/xlam-function-calling-60k rows, in the published shape (answers and tools as JSON text)."""

from __future__ import annotations

import json

import pytest

from builders.normalize import normalize_xlam

from .helpers import check_error, schema_error

# row 0 of the published train split
ROW_0 = {
    "id": 0,
    "query": "Where can I find live giveaways for beta access and games?",
    "answers": "[{\"name\": \"live_giveaways_by_type\", \"arguments\": {\"type\": \"beta\"}}, "
               "{\"name\": \"live_giveaways_by_type\", \"arguments\": {\"type\": \"game\"}}]",
    "tools": "[{\"name\": \"live_giveaways_by_type\", \"description\": \"Retrieve live giveaways from the GamerPower "
             "API based on the specified type.\", \"parameters\": {\"type\": {\"description\": \"The type of giveaways "
             "to retrieve (e.g., game, loot, beta).\", \"type\": \"str\", \"default\": \"game\"}}}]",
}

TOOLS_3 = [
    {"name": "find_max_subarray_sum", "description": "Finds the maximum sum of a contiguous subarray within a list of "
     "integers.", "parameters": {"nums": {"description": "The input list of integers.", "type": "List[int]"}}},
    {"name": "is_anagram", "description": "Checks if two words are anagrams of each other.",
     "parameters": {"word1": {"description": "The first word.", "type": "str"},
                    "word2": {"description": "The second word.", "type": "str"}}},
    {"name": "search_products", "description": "Search products in a store catalogue.",
     "parameters": {"query": {"description": "Search keywords.", "type": "str", "default": "laptop"},
                    "limit": {"description": "Maximum number of results.", "type": "int, optional"},
                    "filters": {"description": "Field filters.", "type": "Dict[str, Any], optional", "default": ""},
                    "price_range": {"description": "Min and max price.", "type": "Tuple[float, float]"}}},
]
ROW_3 = {
    "id": 3,
    "query": "Find the maximum subarray sum of [1, -2, 3, 4] and check whether 'listen' and 'silent' are anagrams.",
    "answers": json.dumps([{"name": "find_max_subarray_sum", "arguments": {"nums": [1, -2, 3, 4]}},
                           {"name": "is_anagram", "arguments": {"word1": "listen", "word2": "silent"}}]),
    "tools": json.dumps(TOOLS_3),
}


def test_row_0():
    conv = normalize_xlam(ROW_0)
    assert conv.id == "xlam:0"
    [fn] = conv.tools
    assert fn.to_openai() == {"type": "function", "function": {
        "name": "live_giveaways_by_type",
        "description": "Retrieve live giveaways from the GamerPower API based on the specified type.",
        "parameters": {"type": "object", "properties": {"type": {
            "type": "string", "description": "The type of giveaways to retrieve (e.g., game, loot, beta).",
            "default": "game"}}, "required": []}}}
    user, assistant = conv.messages
    assert (user.role, user.content) == ("user", ROW_0["query"])
    assert assistant.role == "assistant" and assistant.content is None
    assert [(c.id, c.name, c.arguments) for c in assistant.tool_calls] == [
        ("call_0_0", "live_giveaways_by_type", '{"type":"beta"}'),
        ("call_0_1", "live_giveaways_by_type", '{"type":"game"}'),
    ]


def test_python_types_and_optional_arguments():
    conv = normalize_xlam(ROW_3)
    params = {f.name: f.parameters for f in conv.tools}
    assert params["find_max_subarray_sum"] == {"type": "object", "properties": {"nums": {
        "type": "array", "items": {"type": "integer"}, "description": "The input list of integers."}},
        "required": ["nums"]}
    assert params["is_anagram"]["required"] == ["word1", "word2"]
    assert params["search_products"] == {"type": "object", "properties": {
        "query": {"type": "string", "description": "Search keywords.", "default": "laptop"},
        "limit": {"type": "integer", "description": "Maximum number of results."},
        "filters": {"type": "object", "description": "Field filters."},  # default "" contradicts object: dropped
        "price_range": {"type": "array", "items": {"type": "number"}, "description": "Min and max price."},
    }, "required": ["price_range"]}
    assert conv.dropped_defaults == 1
    calls = conv.messages[1].tool_calls
    assert [json.loads(c.arguments) for c in calls] == [{"nums": [1, -2, 3, 4]}, {"word1": "listen", "word2": "silent"}]
    assert [c.id for c in calls] == ["call_3_0", "call_3_1"]


def test_decoded_columns_and_row_position_are_accepted():
    row = {k: v for k, v in ROW_3.items() if k != "id"}
    row["tools"], row["answers"] = json.loads(row["tools"]), json.loads(row["answers"])
    conv = normalize_xlam(row, 41)
    assert conv.id == "xlam:41" and conv.messages[1].tool_calls[1].id == "call_41_1"
    assert conv.to_row()["messages"][1]["tool_calls"][0]["function"]["arguments"] == '{"nums":[1,-2,3,4]}'


def test_ids_are_deterministic():
    assert normalize_xlam(ROW_3).to_row() == normalize_xlam(dict(ROW_3)).to_row()


@pytest.mark.parametrize("change, item, problem, fix", [
    ({"query": None}, "xlam row 0", "field 'query' must be str, got NoneType", "pass the 'query' field"),
    ({"answers": "[{\"name\": \"f\""}, "xlam row 0", "field 'answers' is not valid JSON", "store 'answers' as JSON"),
    ({"answers": "{}"}, "xlam row 0", "field 'answers' must hold a JSON list, got dict", "store 'answers' as a JSON list"),
    ({"answers": "[]"}, "xlam row 0", "has no answers", "give at least one call"),
    ({"answers": "[\"live_giveaways_by_type\"]"}, "xlam row 0",
     "answers[0] must be an object with a 'name'", '{"name": ..., "arguments": {...}}'),
    ({"answers": "[{\"name\": \"get_weather\", \"arguments\": {}}]"},
     "xlam row 0, conversation message 1 (assistant) tool call 0", "calls 'get_weather', which is not in tools",
     "call one of ['live_giveaways_by_type']"),
    ({"answers": "[{\"name\": \"live_giveaways_by_type\", \"arguments\": [\"beta\"]}]"}, "xlam row 0 answers[0]",
     "arguments of the call to 'live_giveaways_by_type' must be an object, got list", "give arguments as an object"),
    ({"tools": "[{\"name\": \"f\", \"description\": \"\", \"parameters\": {\"cb\": {\"type\": \"Callable\"}}}]"},
     "xlam row 0, tools[0] (f) parameter 'cb'", "unknown type 'Callable' in 'Callable'", "List[str]"),
    ({"tools": "[{\"name\": \"f\", \"parameters\": {\"x\": \"int\"}}]"},
     "xlam row 0, tools[0] (f) parameter 'x'", "spec must be an object, got str", '{"type": "str"'),
    ({"tools": "[{\"description\": \"no name\"}]"}, "xlam row 0", "tools[0] has no name", "non-empty 'name'"),
])
def test_malformed_rows(change, item, problem, fix):
    check_error(schema_error(normalize_xlam, {**ROW_0, **change}), item, problem, fix)


def test_missing_field_and_non_dict_row():
    row = {k: v for k, v in ROW_0.items() if k != "tools"}
    check_error(schema_error(normalize_xlam, row), "xlam row 0", "has no 'tools' field", "'tools'")
    check_error(schema_error(normalize_xlam, ["not", "a", "row"], 12), "xlam row 12",
                "must be a JSON object, got list", "one decoded row")
