"""ITC metrics (seed 003, section 5 and Appendix B) and its error analysis (Table 4).

Per output: the calls and the thought are read with ``parse_output``. Over a dataset:

* Tool selection P / R / F1 (micro): correct tools = the multiset overlap of predicted and
  gold tool names per item; P = correct / predicted, R = correct / gold.
* Tool invocation P / R / F1 (micro) over ``(tool, parameter key, normalised value)`` triples.
* FM: share of outputs that parse. With ``strict_format`` only ITC's own answer shape
  ``{"Thought": ..., "Action": ...}`` counts; otherwise any tool-call shape the parser reads
  (chat-template tool calls included), since a model served with tools in its chat template
  answers in that template's format.
* LM: share of outputs whose thought (the ``Thought`` field, the reasoning text, or else the
  plain text) is in the language of the query, both identified with ``langid``. An item's own
  ``language`` is used instead of identifying the query when it is a code ``langid`` knows.
* Errors: selection (hallucinated = a predicted tool that is not available, missing = a gold
  tool not predicted, extra = an available tool predicted beyond the gold ones) and invocation
  on predicted calls paired with gold calls to the same tool (incorrect value, missing
  parameter, extra parameter), each as a count and a share of its group, as in Table 4.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable

from builders.toolcalls import (
    Call,
    ParseError,
    argument_diff,
    parse_output,
    tool_schemas,
    value_key,
)
from training.metrics.tool_calls import match_calls

SELECTION_ERRORS = ("hallucinated_tools", "missing_tools", "extra_tools")
INVOCATION_ERRORS = ("incorrect_params", "missing_params", "extra_params")


def identify_language(text: str) -> str:
    import langid

    return langid.classify(text)[0]


def _known_language(code: Any) -> bool:
    import langid
    import langid.langid as impl

    if impl.identifier is None:
        langid.classify("")  # loads the model
    return isinstance(code, str) and code in impl.identifier.nb_classes


@dataclass
class ITCItemScore:
    id: str
    format_ok: bool
    language_ok: bool
    predicted_tools: int = 0
    gold_tools: int = 0
    correct_tools: int = 0
    predicted_params: int = 0
    gold_params: int = 0
    correct_params: int = 0
    errors: Counter = field(default_factory=Counter)


def _triples(calls: list[Call], schemas: dict[str, dict]) -> Counter:
    out: Counter = Counter()
    for c in calls:
        props = (schemas.get(c.name) or {}).get("properties") or {}
        for k, v in c.arguments.items():
            out[(c.name, k, value_key(v, props.get(k)))] += 1
    return out


def score_itc_item(prediction: Any, gold: list[Call], tools: Any, query: str, language: str | None = None,
                   item_id: str = "", strict_format: bool = False) -> ITCItemScore:
    """Score one output against its gold calls; unparseable outputs predict nothing."""
    schemas = tool_schemas(tools)
    try:
        parsed = parse_output(prediction, schemas)
        calls, format_ok = parsed.calls, (parsed.format == "itc" or not strict_format)
        thought = parsed.thought or parsed.text
    except ParseError:
        parsed, calls, format_ok, thought = None, [], False, ""
    reference = language if _known_language(language) else identify_language(query)
    score = ITCItemScore(item_id, format_ok, bool(thought.strip()) and identify_language(thought) == reference)

    pred_names, gold_names = Counter(c.name for c in calls), Counter(c.name for c in gold)
    score.predicted_tools, score.gold_tools = sum(pred_names.values()), sum(gold_names.values())
    score.correct_tools = sum((pred_names & gold_names).values())
    pred_triples, gold_triples = _triples(calls, schemas), _triples(gold, schemas)
    score.predicted_params, score.gold_params = sum(pred_triples.values()), sum(gold_triples.values())
    score.correct_params = sum((pred_triples & gold_triples).values())

    for name, n in (pred_names - gold_names).items():
        score.errors["hallucinated_tools" if name not in schemas else "extra_tools"] += n
    score.errors["missing_tools"] += sum((gold_names - pred_names).values())
    pairs, _, _ = match_calls(calls, gold, schemas)
    for i, j in pairs:
        if calls[i].name != gold[j].name:
            continue
        diff = argument_diff(calls[i], gold[j], schemas.get(gold[j].name))
        score.errors["incorrect_params"] += len(diff.wrong_values)
        score.errors["missing_params"] += len(diff.missing)
        score.errors["extra_params"] += len(diff.hallucinated | diff.redundant)
    return score


def _prf(correct: int, predicted: int, gold: int) -> dict[str, float]:
    p = correct / predicted if predicted else 0.0
    r = correct / gold if gold else 0.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}


def _shares(counts: Counter, keys: tuple[str, ...]) -> dict[str, dict[str, float]]:
    total = sum(counts[k] for k in keys)
    return {k: {"count": counts[k], "share": counts[k] / total if total else 0.0} for k in keys}


def aggregate_itc(scores: Iterable[ITCItemScore]) -> dict[str, Any]:
    scores = list(scores)
    n = len(scores)
    errors = sum((s.errors for s in scores), Counter())

    def total(attr: str) -> int:
        return sum(getattr(s, attr) for s in scores)

    return {
        "n": n,
        "LM": sum(s.language_ok for s in scores) / n if n else 0.0,
        "FM": sum(s.format_ok for s in scores) / n if n else 0.0,
        "tool_selection": _prf(total("correct_tools"), total("predicted_tools"), total("gold_tools")),
        "tool_invocation": _prf(total("correct_params"), total("predicted_params"), total("gold_params")),
        "errors": {"selection": _shares(errors, SELECTION_ERRORS), "invocation": _shares(errors, INVOCATION_ERRORS)},
    }
