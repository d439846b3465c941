import json

import datasets
import pytest

from builders.schema import SchemaError
from training.data import load_split, row_conversation, row_messages, row_tools

TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather now",
                                           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]
CALL = {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}


def msg(role, content=None, **kw):
    """A message dict with every contract key, as Arrow stores it."""
    base = {"role": role, "content": content, "reasoning_content": None, "tool_calls": None,
            "tool_call_id": None, "name": None}
    return base | kw


SAMPLE = {"id": "s1", "prompt": [msg("user", "Weather in Paris?")],
          "completion": [msg("assistant", "", tool_calls=[CALL])], "tools": json.dumps(TOOLS)}
TRAJECTORY = {"id": "t1", "tools": json.dumps(TOOLS), "turn_verdicts": [True, False],
              "messages": [msg("user", "Weather in Paris?"), msg("assistant", "", tool_calls=[CALL]),
                           msg("tool", "sunny", tool_call_id="c1", name="get_weather"), msg("assistant", "Sunny.")]}


def test_load_split_from_files_and_release_folder(tmp_path):
    ds = datasets.Dataset.from_list([SAMPLE, SAMPLE | {"id": "s2"}])
    ds.to_parquet(str(tmp_path / "one.parquet"))
    ds.to_json(str(tmp_path / "one.jsonl"))
    release = tmp_path / "release"
    (release / "data" / "samples").mkdir(parents=True)
    ds.to_parquet(str(release / "data" / "samples" / "train-00000-of-00001.parquet"))
    (release / "README.md").write_text(
        "---\nconfigs:\n- config_name: samples\n  default: true\n  data_files:\n"
        "  - split: train\n    path: data/samples/train-*.parquet\n---\n# test\n")
    for source, config in ((tmp_path / "one.parquet", None), (tmp_path / "one.jsonl", None), (release, "samples")):
        loaded = load_split(str(source), config=config)
        assert loaded["id"] == ["s1", "s2"]
        assert json.loads(loaded[0]["tools"]) == TOOLS


def test_load_split_errors_name_the_source(tmp_path):
    with pytest.raises(SchemaError, match="neither an existing file or folder nor a Hub id"):
        load_split(str(tmp_path / "missing" / "deeper" / "x"))
    bad = tmp_path / "data.txt"
    bad.write_text("x")
    with pytest.raises(SchemaError, match="unknown file type"):
        load_split(str(bad))
    datasets.Dataset.from_list([SAMPLE]).to_parquet(str(tmp_path / "one.parquet"))
    with pytest.raises(SchemaError, match=r"split='test'.*could not be loaded"):
        load_split(str(tmp_path), split="test")


def test_row_tools_and_messages():
    assert row_tools(SAMPLE) == TOOLS
    assert row_tools({"tools": None}) == []
    with pytest.raises(SchemaError, match="row tools: is not valid JSON"):
        row_tools({"tools": "[{"})
    cleaned = row_messages(SAMPLE, "completion")
    assert cleaned == [{"role": "assistant", "content": "", "tool_calls": [CALL]}]  # None keys dropped
    dict_args = msg("assistant", None, tool_calls=[{"type": "function", "function": {"name": "f", "arguments": {"a": 1}}}])
    assert row_messages({"messages": [dict_args]})[0]["tool_calls"][0]["function"]["arguments"] == '{"a": 1}'


def test_row_conversation_samples_and_trajectories():
    messages, tools, turns = row_conversation(SAMPLE)
    assert [m["role"] for m in messages] == ["user", "assistant"] and turns == [1] and tools == TOOLS
    messages, _, turns = row_conversation(TRAJECTORY)
    assert len(messages) == 4 and turns == [1]  # the second assistant turn is marked False (MAE)
    dict_verdicts = TRAJECTORY | {"turn_verdicts": [{"keep": True, "error": True}, {"keep": True}]}
    assert row_conversation(dict_verdicts)[2] == [3]
    assert row_conversation(TRAJECTORY | {"turn_verdicts": None})[2] == [1, 3]


def test_row_conversation_errors_name_the_row():
    with pytest.raises(SchemaError, match=r"row 't1' turn_verdicts: has 1 verdicts for 2 assistant turns"):
        row_conversation(TRAJECTORY | {"turn_verdicts": [True]})
    with pytest.raises(SchemaError, match="row 's1' completion: holds no assistant message"):
        row_conversation(SAMPLE | {"completion": [msg("user", "x")]})
    with pytest.raises(SchemaError, match="neither prompt/completion nor messages"):
        row_conversation({"id": "x", "text": "hello"})
    with pytest.raises(SchemaError, match="verdict must be a bool"):
        row_conversation(TRAJECTORY | {"turn_verdicts": ["yes", True]})


@pytest.mark.parametrize("arguments,problem", [
    ("{a: oops", r"arguments are not valid JSON \(.*\): '\{a: oops'"),
    ('["Paris"]', r"arguments must be a JSON object, got list"),
    (5, r"arguments must be a JSON object, got int"),
])
def test_bad_call_arguments_name_row_message_and_call(arguments, problem):
    bad = {"id": "c2", "type": "function", "function": {"name": "get_weather", "arguments": arguments}}
    row = SAMPLE | {"completion": [msg("assistant", "", tool_calls=[CALL, bad])]}
    with pytest.raises(SchemaError, match=rf"^row 's1' completion\[0\] tool call 1 \(get_weather\): {problem}"):
        row_conversation(row)
    assert row_messages({"messages": [msg("assistant", None, tool_calls=[CALL | {"function": {
        "name": "f", "arguments": None}}])]})[0]["tool_calls"][0]["function"]["arguments"] == "{}"


def write_release(folder, configs, default=None):
    """A release folder whose card lists ``configs`` (name -> rows), ``default`` marked as the default."""
    card = ["---", "configs:"]
    for name, rows in configs.items():
        (folder / "data" / name).mkdir(parents=True)
        datasets.Dataset.from_list(rows).to_parquet(str(folder / "data" / name / "train-00000-of-00001.parquet"))
        card += [f"- config_name: {name}"] + (["  default: true"] if name == default else []) + [
            "  data_files:", "  - split: train", f"    path: data/{name}/train-*.parquet"]
    (folder / "README.md").write_text("\n".join(card + ["---", "# test", ""]))
    return str(folder)


def test_load_split_defaults_to_samples(tmp_path):
    """A ToolMind release may mark `functions` its default; without --config, training reads `samples`."""
    functions = [{"name": "get_weather", "schema": json.dumps(TOOLS[0])}]
    release = write_release(tmp_path / "toolmind", {"functions": functions, "samples": [SAMPLE]}, default="functions")
    assert load_split(release)["id"] == ["s1"]
    assert load_split(release, config="functions")["name"] == ["get_weather"]
    other = write_release(tmp_path / "itc", {"apis": functions, "default": [SAMPLE]}, default="default")
    assert load_split(other)["id"] == ["s1"]  # no `samples`: the dataset's own default
