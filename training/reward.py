"""The IRM reward of TL-Training (seed 001 section 3.3): one score per tool call, by error type.

The table (SPEC.md, after the paper's public code) is checked top to bottom, first match wins:

=========================================================  ======
unparseable output                                           -2.0
tool not in the available list                               -2.0
wrong tool                                                   -1.5
hallucinated + redundant + missing arguments                 -1.8
hallucinated and (redundant or missing)                      -1.3
redundant and missing                                        -1.0
hallucinated only                                            -0.8
redundant or missing                                         -0.5
right argument names, wrong values                          -0.25
exact                                                        +1.0
=========================================================  ======

Hallucinated: an argument name that is not a parameter of the called tool. Redundant: a real
parameter the gold call does not use. Missing: a gold argument that was not given. Values are
equal when their normalised JSON is (``training.metrics.tool_calls``, which also says which
output shapes are read: OpenAI messages, ``<tool_call>`` tags, JSON, ITC answers, call lists).

A turn may hold several calls. The generated calls are paired with the gold calls (same tool
first, then most equal arguments) and the reward is the mean over all pairs and leftovers:
each pair scores by the table; a gold call left without a generated call scores as a wrong
tool (-1.5); a generated call left without a gold call scores -2 when its tool is not
available and -1.5 otherwise. When the gold turn has no call (a plain answer), a generated
answer without calls scores +1. When the gold turn has calls and the output holds none, or
cannot be parsed, the turn scores -2 (unparseable). So the reward lies in [-2, 1].

Three ways in: ``irm_reward(generated, gold, tools)`` for one turn; ``grpo_irm_reward`` with
TRL's reward-function signature; ``reward_func(queries, prompts, labels)`` for OpenRLHF's
``--remote_rm_url`` (see ``training/PPO.md``).
"""

from __future__ import annotations

import json
import logging
from typing import Any, Collection, Mapping, NamedTuple, Sequence

from builders.schema import SchemaError
from builders.toolcalls import (
    Call,
    ParseError,
    argument_diff,
    parse_calls,
    tool_schemas,
)
from training.metrics.tool_calls import gold_calls, match_calls, mean

logger = logging.getLogger(__name__)

IRM_TABLE: dict[str, float] = {
    "unparseable": -2.0,
    "tool_not_available": -2.0,
    "wrong_tool": -1.5,
    "hallucinated_redundant_missing": -1.8,
    "hallucinated_and_redundant_or_missing": -1.3,
    "redundant_and_missing": -1.0,
    "hallucinated": -0.8,
    "redundant_or_missing": -0.5,
    "wrong_values": -0.25,
    "exact": 1.0,
}


def classify_call(generated: Call, gold: Call, schemas: Mapping[str, dict]) -> str:
    """The IRM table row of one generated call against its gold call."""
    if generated.name not in schemas:
        return "tool_not_available"
    if generated.name != gold.name:
        return "wrong_tool"
    diff = argument_diff(generated, gold, schemas.get(gold.name))
    h, r, m = bool(diff.hallucinated), bool(diff.redundant), bool(diff.missing)
    if h and r and m:
        return "hallucinated_redundant_missing"
    if h and (r or m):
        return "hallucinated_and_redundant_or_missing"
    if r and m:
        return "redundant_and_missing"
    if h:
        return "hallucinated"
    if r or m:
        return "redundant_or_missing"
    if diff.wrong_values:
        return "wrong_values"
    return "exact"


class IRMResult(NamedTuple):
    # a NamedTuple, not a dataclass: OpenRLHF runs this file outside sys.modules, where
    # dataclasses cannot resolve their string annotations
    reward: float
    rows: list[str]  # the table row of every pair and leftover


def _irm_affinity(generated: Call, gold: Call, schemas: dict) -> tuple:
    row = classify_call(generated, gold, schemas)
    return (generated.name == gold.name, IRM_TABLE[row])


def check_gold_tools(gold: Sequence[Call], tool_names: Collection[str], item: str = "gold") -> None:
    """A gold call to a tool the row does not list can never score +1: the row is broken, say so."""
    for j, call in enumerate(gold):
        if call.name not in tool_names:
            raise SchemaError(f"{item} call {j} to {call.name!r}", "its tool is not in the row's tools",
                              f"add the tool to the tools column or fix the gold call (tools: "
                              f"{sorted(tool_names) or 'none'})")


def irm_breakdown(generated: Any, gold: Any, tools: Any, table: Mapping[str, float] | None = None) -> IRMResult:
    """The reward of one turn and the table row behind every part of it."""
    table = {**IRM_TABLE, **(table or {})}
    wanted = gold if isinstance(gold, list) and all(isinstance(c, Call) for c in gold) else _gold(gold)
    schemas = tool_schemas(tools)
    check_gold_tools(wanted, schemas)
    try:
        calls = generated if isinstance(generated, list) and all(isinstance(c, Call) for c in generated) \
            else parse_calls(generated, schemas)
    except ParseError as exc:
        logger.debug("unparseable output: %s", exc)
        return IRMResult(table["unparseable"], ["unparseable"])
    if wanted and not calls:
        return IRMResult(table["unparseable"], ["unparseable"])
    pairs, extra, missed = match_calls(calls, wanted, schemas, _irm_affinity)
    rows = [classify_call(calls[i], wanted[j], schemas) for i, j in pairs]
    rows += ["wrong_tool"] * len(missed)
    rows += ["tool_not_available" if calls[i].name not in schemas else "wrong_tool" for i in extra]
    if not rows:  # no gold call and none generated: a plain answer where one was due
        rows = ["exact"]
    return IRMResult(mean(table[r] for r in rows), rows)


def irm_reward(generated: Any, gold: Any, tools: Any, table: Mapping[str, float] | None = None) -> float:
    """Score generated tool call(s) against the gold call(s) and the available tools.

    ``generated``: model output in any shape ``parse_output`` reads (text, message, calls).
    ``gold``: the gold calls: a completion (list of messages), an assistant message, a list of
    OpenAI calls or ``{name, arguments}`` dicts, or a JSON string of any of these.
    ``tools``: the row's tools (JSON string or list of OpenAI tools).
    """
    return irm_breakdown(generated, gold, tools, table).reward


def _gold(value: Any) -> list[Call]:
    try:
        return gold_calls(value)
    except (ParseError, json.JSONDecodeError) as exc:
        raise SchemaError("gold calls", f"cannot be read ({exc})",
                          "pass the completion messages or a list of {name, arguments} calls") from None


# ---------------------------------------------------------------------------------------------
# TRL


GOLD_COLUMN = "gold_calls"


def grpo_irm_reward(prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float]:
    """TRL ``GRPOTrainer`` reward function: IRM of each completion.

    TRL passes every dataset column as a keyword list. The gold calls come from the
    ``gold_calls`` column (JSON string of a call list, what ``training.rl`` writes) or, failing
    that, from the contract's ``completion`` column; ``tools`` from the ``tools`` column.
    """
    golds = kwargs.get(GOLD_COLUMN) or kwargs.get("completion")
    tools = kwargs.get("tools")
    if golds is None or tools is None:
        raise SchemaError("GRPO batch", f"has no {GOLD_COLUMN!r}/'completion' or 'tools' column "
                          f"(got {sorted(kwargs)})",
                          "keep the gold calls and the tools as dataset columns (training.rl does)")
    return [irm_reward(c, g, t) for c, g, t in zip(completions, golds, tools)]


# ---------------------------------------------------------------------------------------------
# OpenRLHF


def openrlhf_label(row: Mapping[str, Any]) -> str:
    """The ``label`` string OpenRLHF hands to ``reward_func``: gold calls and tools as JSON.

    Build it for every row of a contract dataset (``ds.map(lambda r: {"label": openrlhf_label(r)})``)
    and train with ``--label_key label``.
    """
    calls = _gold(row.get(GOLD_COLUMN) or row.get("completion") or row.get("actions"))
    tools = row.get("tools")
    check_gold_tools(calls, tool_schemas(tools), f"row {row['id']!r} gold" if row.get("id") else "gold")
    return json.dumps({"gold": [c.to_openai() for c in calls],
                       "tools": json.loads(tools) if isinstance(tools, str) else tools}, ensure_ascii=False)


def _response(query: str, prompt: str) -> str:
    if query.startswith(prompt):
        return query[len(prompt):]
    tail = prompt[-64:]  # tokenisation round trips can alter the prompt text a little
    at = query.rfind(tail) if tail else -1
    return query[at + len(tail):] if at >= 0 else query


def reward_func(queries: Sequence[str], prompts: Sequence[str], labels: Sequence[str], **kwargs: Any) -> dict:
    """OpenRLHF custom reward (``--remote_rm_url path/to/this/file.py --label_key label``).

    ``queries`` are prompt + response texts, ``prompts`` the prompt texts, ``labels`` the
    strings from ``openrlhf_label``. Returns ``rewards`` (IRM, in [-2, 1]), ``scores`` (the
    same mapped to [0, 1] for dynamic filtering) and ``extra_logs``.
    """
    import torch

    rewards = []
    for i, (query, prompt, label) in enumerate(zip(queries, prompts, labels)):
        try:
            target = json.loads(label)
        except (TypeError, json.JSONDecodeError):
            raise SchemaError(f"label {i}", "is not the JSON written by openrlhf_label",
                              "build the label column with training.reward.openrlhf_label") from None
        rewards.append(irm_reward(_response(query, prompt), target["gold"], target["tools"]))
    r = torch.tensor(rewards, dtype=torch.float32)
    return {"rewards": r, "scores": (r + 2.0) / 3.0, "extra_logs": {"irm_exact": (r == 1.0).float()}}
