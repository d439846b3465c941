"""Match generated tool calls with gold calls and score single turns (TS / PI / CF).

Reading calls from model output, comparing values and argument names live in the shared
``builders.toolcalls`` module, so the builders, the reward and the metrics read a call the same
way; this module keeps what only evaluation needs. The names re-exported below keep older
imports (``training.metrics.tool_calls.parse_output``) working.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Sequence

from builders.toolcalls import (  # noqa: F401  (re-exported)
    ArgDiff,
    Call,
    ParsedOutput,
    ParseError,
    argument_diff,
    normalize_value,
    parse_calls,
    parse_output,
    parse_python_calls,
    tool_schemas,
    value_key,
    values_equal,
)
from builders.toolcalls.extract import loads


def parse_call_syntax(text: str) -> list[Call]:
    """``[f(a=1), g(b='x')]`` into calls, keyword arguments only (no tool to map positions through)."""
    return parse_python_calls(text)


# ---------------------------------------------------------------------------------------------
# matching and single-turn metrics


def _affinity(generated: Call, gold: Call, schemas: dict[str, dict]) -> tuple:
    if generated.name != gold.name:
        return (0,)
    diff = argument_diff(generated, gold, schemas.get(gold.name))
    shared = set(generated.arguments) & set(gold.arguments)
    return (1, len(shared) - len(diff.wrong_values), len(shared),
            -len(diff.hallucinated | diff.redundant | diff.missing))


def match_calls(generated: Sequence[Call], gold: Sequence[Call], schemas: dict[str, dict] | None = None,
                affinity: Callable[[Call, Call, dict], tuple] | None = None
                ) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Pair generated with gold calls, best pairs first (same name, then most equal arguments).

    Returns (pairs of (generated index, gold index), unmatched generated, unmatched gold).
    Greedy on the affinity, ties by position, so the result is deterministic.
    """
    schemas = schemas or {}
    affinity = affinity or _affinity
    ranked = sorted(((affinity(g, d, schemas), -i, -j, i, j) for i, g in enumerate(generated)
                     for j, d in enumerate(gold)), reverse=True)
    pairs, used_g, used_d = [], set(), set()
    for *_, i, j in ranked:
        if i not in used_g and j not in used_d:
            pairs.append((i, j))
            used_g.add(i)
            used_d.add(j)
    pairs.sort(key=lambda p: p[1])
    return (pairs, [i for i in range(len(generated)) if i not in used_g],
            [j for j in range(len(gold)) if j not in used_d])


def gold_calls(value: Any) -> list[Call]:
    """Gold calls from a completion (messages), an ``actions`` list, a JSON string of either, or calls."""
    if isinstance(value, str):
        value = loads(value) if value.strip() else []
    if isinstance(value, list) and all(isinstance(c, Call) for c in value):
        return list(value)
    try:
        return parse_calls(value)
    except ParseError as exc:
        raise ParseError("gold calls", f"cannot be read: {exc.problem}", exc.fix) from None


def single_turn_metrics(generated: Sequence[Call] | None, gold: Sequence[Call], tools: Any = None) -> dict[str, bool]:
    """TS / PI / CF of one turn (TL-Training section 4.3, after RoTBench).

    TS: the calls name exactly the gold tools; PI: and each uses exactly the gold argument
    names; CF: and every value is right. ``generated=None`` (unparseable output) fails all three.
    """
    if generated is None or len(generated) != len(gold):
        return {"ts": False, "pi": False, "cf": False}
    schemas = tool_schemas(tools)
    pairs, _, _ = match_calls(generated, gold, schemas)
    ts = all(generated[i].name == gold[j].name for i, j in pairs)
    diffs = [argument_diff(generated[i], gold[j], schemas.get(gold[j].name)) for i, j in pairs]
    pi = ts and all(d.same_names for d in diffs)
    cf = pi and all(d.exact for d in diffs)
    return {"ts": ts, "pi": pi, "cf": cf}


def aggregate_single_turn(results: Iterable[dict[str, bool]]) -> dict[str, float]:
    """Share of turns passing TS, PI and CF."""
    results = list(results)
    return {"n": len(results), **{k.upper(): mean(float(r[k]) for r in results) for k in ("ts", "pi", "cf")}}


def mean(values: Iterable[float]) -> float:
    values = list(values)
    return sum(values) / len(values) if values else 0.0
