"""The two published conversation configs built from filtered trajectories.

``trajectories``: one row per kept trajectory, every turn in one sequence with its verdict, so a
trainer masks failed turns instead of re-reading the prefix once per turn. ``samples``: one row
per kept assistant turn in TRL's conversational prompt-completion shape (``SFTTrainer`` trains
on the anchor only). Earlier assistant turns lose their reasoning in a sample's prompt: a model
at inference time never sees its own past reasoning either.

Both shapes serve synthesized and open-source (``toolmind.augment``) trajectories alike; ``source``
says which, and ``license`` under which licence the row may be used. :func:`published_row` gives the
columns that ``builders.contract`` declares for every config.
"""

from __future__ import annotations

import hashlib

from builders.contract import contract
from builders.schema import canonical_json, dumps

SOURCE = "toolmind"
TRAJECTORY_COLUMNS = ("id", "messages", "tools", "intent", "function_chain", "turn_verdicts",
                      "trajectory_verdict", "source", "provenance")
SAMPLE_COLUMNS = ("id", "prompt", "completion", "tools", "trajectory_id", "turn_index", "source", "generator",
                  "turn_verdict", "trajectory_verdict", "license")
_PROVENANCE = ("chain_id", "chain_seed", "edge_scores", "end_reason", "ignored_first_turn_stops", "output_problems",
               "models", "prompt_versions", "license", "source_id")
_ID_LENGTH = 16  # as builders.schema.content_hash


def trajectory_row(filtered: dict) -> dict:
    """A filtered simulation (or converted open-source) row as a ``trajectories`` row (column order as published)."""
    row = {key: filtered[key] for key in TRAJECTORY_COLUMNS if key not in ("source", "provenance")}
    row["source"] = filtered.get("source") or SOURCE
    row["provenance"] = {key: filtered.get(key) for key in _PROVENANCE}
    n_assistant = sum(m["role"] == "assistant" for m in row["messages"])
    if len(row["turn_verdicts"]) != n_assistant:
        raise ValueError(f"trajectory {row['id']!r}: {len(row['turn_verdicts'])} verdicts for "
                         f"{n_assistant} assistant messages; run the judges on the final messages")
    return row


def _without_reasoning(message: dict) -> dict:
    return {**message, "reasoning_content": None} if message["role"] == "assistant" else message


def _encoded(value) -> bytes:
    """The bytes ``content_hash`` hashes for a value (canonical JSON, UTF-8 with surrogates passed)."""
    return canonical_json(value).encode("utf-8", "surrogatepass")


def split_samples(row: dict) -> list[dict]:
    """One ``samples`` row per kept assistant turn of a ``trajectories`` row.

    A sample's ``id`` is ``content_hash({"prompt", "completion", "tools"})``. Encoding that dict
    anew for every turn re-encodes the whole prefix and the tools once per turn (quadratic, and
    the slowest part of the split); here every message and the tools are encoded once and the
    canonical JSON of each sample is hashed from those pieces, giving the same bytes and ids.
    """
    messages, tools = row["messages"], row["tools"]
    prompt_form = [_without_reasoning(m) for m in messages]
    encoded = [_encoded(m) for m in prompt_form]
    tail = b'],"tools":' + _encoded(tools) + b"}"
    generator = row["provenance"]["models"].get("assistant")
    source = row.get("source") or SOURCE
    license = row["provenance"].get("license")
    anchors = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
    out = []
    for turn_index, (i, verdict) in enumerate(zip(anchors, row["turn_verdicts"])):
        if not verdict["keep"]:
            continue
        completion = [messages[i]]
        digest = hashlib.sha256(b'{"completion":[')
        digest.update(_encoded(messages[i]))  # the anchor keeps its reasoning
        digest.update(b'],"prompt":[')
        digest.update(b",".join(encoded[:i]))
        digest.update(tail)
        out.append({
            "id": digest.hexdigest()[:_ID_LENGTH],
            "prompt": prompt_form[:i], "completion": completion, "tools": tools, "trajectory_id": row["id"],
            "turn_index": turn_index, "source": source, "generator": generator,
            "turn_verdict": verdict, "trajectory_verdict": row["trajectory_verdict"], "license": license,
        })
    return out


def published_row(config: str, row: dict, license: str | None = None) -> dict:
    """A pipeline row in its config's contract columns: the one mapping the release and augmentation use.

    Mappings with open keys (``provenance`` models, prompt versions, output problems) become JSON text;
    ``generator`` is the model that played the assistant; ``license`` is the row's own (an open-source
    row carries its source's) or, for rows this project made, the given release licence.
    """
    if config == "trajectories":
        prov = row.get("provenance") or {}
        row = {**row, "source": row.get("source") or SOURCE, "license": prov.get("license") or license,
               "generator": (prov.get("models") or {}).get("assistant"),
               "provenance": {**prov, **{k: dumps(prov.get(k) or ([] if k == "output_problems" else {}))
                                         for k in ("models", "prompt_versions", "output_problems")}}}
    elif config == "samples":
        row = {**row, "license": row.get("license") or license}
    return {c: row.get(c) for c in contract("toolmind", config).column_names}
