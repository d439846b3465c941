"""The two published conversation configs built from filtered trajectories.

``trajectories``: one row per kept trajectory, every turn in one sequence with its verdict, so a
trainer masks failed turns instead of re-reading the prefix once per turn. ``samples``: one row
per kept assistant turn in TRL's conversational prompt-completion shape (``SFTTrainer`` trains
on the anchor only). Earlier assistant turns lose their reasoning in a sample's prompt: a model
at inference time never sees its own past reasoning either.
"""

from __future__ import annotations

from builders.schema import content_hash

SOURCE = "toolmind"
TRAJECTORY_COLUMNS = ("id", "messages", "tools", "intent", "function_chain", "turn_verdicts",
                      "trajectory_verdict", "provenance")
SAMPLE_COLUMNS = ("id", "prompt", "completion", "tools", "trajectory_id", "turn_index", "source", "generator",
                  "turn_verdict", "trajectory_verdict")
_PROVENANCE = ("chain_id", "chain_seed", "edge_scores", "end_reason", "ignored_first_turn_stops", "output_problems",
               "models", "prompt_versions")


def trajectory_row(filtered: dict) -> dict:
    """A filtered simulation row as a ``trajectories`` row (column order as published)."""
    row = {key: filtered[key] for key in TRAJECTORY_COLUMNS if key != "provenance"}
    row["provenance"] = {key: filtered.get(key) for key in _PROVENANCE}
    n_assistant = sum(m["role"] == "assistant" for m in row["messages"])
    if len(row["turn_verdicts"]) != n_assistant:
        raise ValueError(f"trajectory {row['id']!r}: {len(row['turn_verdicts'])} verdicts for "
                         f"{n_assistant} assistant messages; run the judges on the final messages")
    return row


def _without_reasoning(message: dict) -> dict:
    return {**message, "reasoning_content": None} if message["role"] == "assistant" else message


def split_samples(row: dict) -> list[dict]:
    """One ``samples`` row per kept assistant turn of a ``trajectories`` row."""
    messages = row["messages"]
    anchors = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
    out = []
    for turn_index, (i, verdict) in enumerate(zip(anchors, row["turn_verdicts"])):
        if not verdict["keep"]:
            continue
        prompt = [_without_reasoning(m) for m in messages[:i]]
        completion = [messages[i]]
        out.append({
            "id": content_hash({"prompt": prompt, "completion": completion, "tools": row["tools"]}),
            "prompt": prompt, "completion": completion, "tools": row["tools"], "trajectory_id": row["id"],
            "turn_index": turn_index, "source": SOURCE, "generator": row["provenance"]["models"].get("assistant"),
            "turn_verdict": verdict, "trajectory_verdict": row["trajectory_verdict"],
        })
    return out
