"""The IRM reward: every row of the SPEC.md table, its precedence, parsing and aggregation."""

from __future__ import annotations

import json

import pytest

from builders.schema import SchemaError
from training.reward import IRM_TABLE, grpo_irm_reward, irm_breakdown, irm_reward, openrlhf_label, reward_func


def _tool(name, props, required=()):
    return {"type": "function", "function": {"name": name, "description": name.replace("_", " "),
            "parameters": {"type": "object", "properties": props, "required": list(required)}}}


TOOLS = json.dumps([
    _tool("get_weather", {"city": {"type": "string"}, "days": {"type": "integer"}, "unit": {"type": "string"}},
          ["city"]),
    _tool("get_weather_forecast", {"city": {"type": "string"}, "days": {"type": "integer"}}),
    _tool("search_hotels", {"city": {"type": "string"}, "checkin": {"type": "string"}}),
])
GOLD = [{"role": "assistant", "content": None, "reasoning_content": None, "tool_call_id": None, "name": None,
         "tool_calls": [{"id": "c1", "type": "function",
                         "function": {"name": "get_weather", "arguments": '{"city": "Paris", "days": 3}'}}]}]


def tag(name, args) -> str:
    """A completion the way Qwen / Hermes templates write one call."""
    return f'<tool_call>\n{json.dumps({"name": name, "arguments": args})}\n</tool_call>'


TABLE_ROWS = [
    ("unparseable", '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Par\n</tool_call>', -2.0),
    ("tool_not_available", tag("book_flight", {"city": "Paris"}), -2.0),
    ("wrong_tool", tag("get_weather_forecast", {"city": "Paris", "days": 3}), -1.5),
    ("hallucinated_redundant_missing", tag("get_weather", {"city": "Paris", "country": "FR", "unit": "C"}), -1.8),
    ("hallucinated_and_redundant_or_missing", tag("get_weather", {"city": "Paris", "days": 3, "country": "FR",
                                                                   "unit": "C"}), -1.3),
    ("redundant_and_missing", tag("get_weather", {"city": "Paris", "unit": "C"}), -1.0),
    ("hallucinated", tag("get_weather", {"city": "Paris", "days": 3, "country": "FR"}), -0.8),
    ("redundant_or_missing", tag("get_weather", {"city": "Paris"}), -0.5),
    ("wrong_values", tag("get_weather", {"city": "London", "days": 3}), -0.25),
    ("exact", tag("get_weather", {"city": "Paris", "days": 3}), 1.0),
]


@pytest.mark.parametrize("row, output, expected", TABLE_ROWS, ids=[r[0] for r in TABLE_ROWS])
def test_every_table_row(row, output, expected):
    result = irm_breakdown(output, GOLD, TOOLS)
    assert result.rows == [row]
    assert result.reward == expected == IRM_TABLE[row]


@pytest.mark.parametrize("output, expected", [
    # hallucinated + missing (no redundant) is the same row as hallucinated + redundant
    (tag("get_weather", {"city": "Paris", "country": "FR"}), -1.3),
    # a redundant argument alone, like a missing one alone, is -0.5
    (tag("get_weather", {"city": "Paris", "days": 3, "unit": "C"}), -0.5),
    # unreadable arguments make the whole output unparseable, even with the right tool name
    ('<tool_call>{"name": "get_weather", "arguments": "{city: Paris}"}</tool_call>', -2.0),
    # an unavailable tool beats every argument error
    (tag("book_flight", {"country": "FR"}), -2.0),
    # a wrong (but available) tool beats argument errors
    (tag("search_hotels", {"nights": 2}), -1.5),
    # argument-name errors beat wrong values
    (tag("get_weather", {"city": "London"}), -0.5),
    (tag("get_weather", {"city": "London", "days": 5, "country": "FR", "unit": "C"}), -1.3),
    # values compare after normalisation: stripped strings, "3" for an integer, 3.0 == 3
    (tag("get_weather", {"city": " Paris ", "days": "3"}), 1.0),
    (tag("get_weather", {"city": "Paris", "days": 3.0}), 1.0),
    # case still matters for strings
    (tag("get_weather", {"city": "paris", "days": 3}), -0.25),
])
def test_precedence_and_normalisation(output, expected):
    assert irm_reward(output, GOLD, TOOLS) == expected


@pytest.mark.parametrize("output", [
    GOLD,  # the gold completion itself, as OpenAI messages
    GOLD[0],
    [{"name": "get_weather", "arguments": {"days": 3, "city": "Paris"}}],
    '{"name": "get_weather", "arguments": {"city": "Paris", "days": 3}}',
    '```json\n{"name": "get_weather", "parameters": {"city": "Paris", "days": 3}}\n```',
    "<think>The user wants Paris.</think>\n" + tag("get_weather", {"city": "Paris", "days": 3}) + "<|im_end|>",
    "[get_weather(city='Paris', days=3)]",
    '{"Thought": "Paris weather", "Action": "[get_weather(city=\'Paris\', days=3)]"}',
    "<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n<parameter=days>\n3\n"
    "</parameter>\n</function>\n</tool_call>",
])
def test_every_output_shape_reads_the_same_call(output):
    assert irm_reward(output, GOLD, TOOLS) == 1.0


def test_several_calls_are_paired_and_averaged():
    gold = [{"name": "get_weather", "arguments": {"city": "Paris"}},
            {"name": "search_hotels", "arguments": {"city": "Paris", "checkin": "2025-05-01"}}]
    both = tag("search_hotels", {"city": "Paris", "checkin": "2025-05-01"}) + tag("get_weather", {"city": "Paris"})
    assert irm_reward(both, gold, TOOLS) == 1.0  # order does not matter
    one = irm_breakdown(tag("get_weather", {"city": "Paris"}), gold, TOOLS)
    assert one.rows == ["exact", "wrong_tool"] and one.reward == pytest.approx((1.0 - 1.5) / 2)
    extra = irm_breakdown(both + tag("book_flight", {}), gold, TOOLS)
    assert sorted(extra.rows) == ["exact", "exact", "tool_not_available"]
    assert extra.reward == pytest.approx((1 + 1 - 2) / 3)
    # pairing prefers the same tool even when its arguments are worse than a wrong tool's score
    paired = irm_breakdown(tag("get_weather", {"zip": "75001", "unit": "C"}) + tag("search_hotels", {"city": "Paris",
                           "checkin": "2025-05-01"}), gold, TOOLS)
    assert sorted(paired.rows) == ["exact", "hallucinated_redundant_missing"]


def test_plain_answers():
    assert irm_reward("It is sunny in Paris.", GOLD, TOOLS) == -2.0  # a call was due
    text_gold = [{"role": "assistant", "content": "Bonjour!", "tool_calls": None}]
    assert irm_reward("Hello!", text_gold, TOOLS) == 1.0
    assert irm_reward(tag("get_weather", {"city": "Paris"}), text_gold, TOOLS) == -1.5
    assert irm_reward(tag("book_flight", {}), text_gold, TOOLS) == -2.0


def test_bad_gold_or_tools_raise_clear_errors():
    with pytest.raises(SchemaError, match=r"gold call 0 to 'get_weather': its tool is not in the row's tools"):
        irm_reward(tag("get_weather", {}), GOLD, "[]")
    with pytest.raises(SchemaError, match=r"row 'r9' gold call 0 to 'get_weather': its tool is not in the row's tools"):
        openrlhf_label({"id": "r9", "completion": GOLD, "tools": "[]"})
    with pytest.raises(SchemaError, match="gold calls"):
        irm_reward(tag("get_weather", {}), "not json", TOOLS)


def test_grpo_reward_function_signature():
    completions = [[{"role": "assistant", "content": tag("get_weather", {"city": "Paris", "days": 3})}],
                   [{"role": "assistant", "content": tag("get_weather", {"city": "Paris"})}]]
    gold = json.dumps([{"name": "get_weather", "arguments": {"city": "Paris", "days": 3}}])
    rewards = grpo_irm_reward(prompts=["p", "p"], completions=completions, completion_ids=[[1], [2]],
                              gold_calls=[gold, gold], tools=[TOOLS, TOOLS], trainer_state=None)
    assert rewards == [1.0, -0.5]
    # the contract's completion column works as gold too, and text completions are read as well
    assert grpo_irm_reward(["p"], ["[get_weather(city='Paris', days=3)]"], completion=[GOLD], tools=[TOOLS]) == [1.0]
    with pytest.raises(SchemaError, match="gold_calls"):
        grpo_irm_reward(["p"], ["x"], tools=[TOOLS])


def test_openrlhf_reward_func():
    torch = pytest.importorskip("torch")
    label = openrlhf_label({"completion": GOLD, "tools": TOOLS})
    prompt = "<|im_start|>user\nWeather in Paris for 3 days?<|im_end|>\n<|im_start|>assistant\n"
    queries = [prompt + tag("get_weather", {"city": "Paris", "days": 3}) + "<|im_end|>",
               prompt + tag("get_weather", {"city": "Rome", "days": 3}) + "<|im_end|>",
               prompt + "I don't know."]
    out = reward_func(queries, [prompt] * 3, [label] * 3)
    assert torch.allclose(out["rewards"], torch.tensor([1.0, -0.25, -2.0]))
    assert torch.allclose(out["scores"], torch.tensor([1.0, 1.75 / 3, 0.0]))
    with pytest.raises(SchemaError, match="openrlhf_label"):
        reward_func(queries[:1], [prompt], ["gold"])


def test_openrlhf_loads_the_file_as_it_does(tmp_path):
    """OpenRLHF runs `--remote_rm_url x.py` with spec_from_file_location, outside sys.modules."""
    import importlib.util

    import training.reward

    spec = importlib.util.spec_from_file_location("reward_func", training.reward.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    label = module.openrlhf_label({"completion": GOLD, "tools": TOOLS})
    out = module.reward_func(["Q: " + tag("get_weather", {"city": "Paris", "days": 3})], ["Q: "], [label])
    assert out["rewards"].tolist() == [1.0]
