"""Query scoring (seed 003, section 3.3 and Appendix E): five dimensions, 1-5, by two judges.

The total is computed here, as the Appendix E prompt defines it (the mean of the five scores,
rounded half up), not taken from the judge, whose arithmetic is not trusted. A query is kept when
*every* judge's total is at least the threshold (4 by default) and, optionally, each dimension
reaches its own minimum. In ``record`` mode every query is kept and the verdict is only stored.
"""

from __future__ import annotations

import json
import math
from typing import Mapping

import jsonschema

from builders.llm.prompts import load_prompt
from builders.schema import dumps

DIMENSIONS = ("relevance", "clarity", "specificity", "practicality", "language_appropriateness")
STAGE = "score_queries"
_DIMENSION = {"type": "object", "required": ["score"],
              "properties": {"score": {"type": "integer", "minimum": 1, "maximum": 5}, "explanation": {"type": "string"}}}
REPLY_SCHEMA = {"type": "object", "required": list(DIMENSIONS),
                "properties": {**{d: _DIMENSION for d in DIMENSIONS}, "total_score": {"type": "number"},
                               "overall_evaluation": {"type": "string"}, "improvement_suggestions": {"type": "string"},
                               "conclusion": {"type": "string"}}}


SCORES = [1, 2, 3, 4, 5]


def request_schema() -> dict:
    """What the judge is asked for: an integer score (enum 1-5) per dimension and nothing else (a small
    judge's explanations are noise that costs most of the reply's tokens). The total is computed here."""
    dimension = {"type": "object", "required": ["score"], "additionalProperties": False,
                 "properties": {"score": {"enum": SCORES}}}
    return {"type": "object", "required": list(DIMENSIONS), "additionalProperties": False,
            "properties": {d: dimension for d in DIMENSIONS}}


def scoring_request(query: dict, api_specs: list[dict], language_name: str) -> dict:
    prompt = load_prompt(__file__, "prompts/query_scoring.txt")
    text = prompt.render(api_data=dumps(api_specs), query=query["query"], language_name=language_name)
    return {"prompt": prompt.version, "messages": [{"role": "user", "content": text}], "reply_schema": request_schema()}


def total_score(scores: Mapping[str, int]) -> int:
    """Appendix E: the average of the five scores rounded to the nearest integer (halves round up)."""
    return math.floor(sum(scores[d] for d in DIMENSIONS) / len(DIMENSIONS) + 0.5)


def parse_score_reply(reply: dict | str) -> dict:
    """``{"scores": {dim: int}, "mean", "total", "explanations"}``; ``ValueError`` naming the broken field."""
    value = json.loads(reply) if isinstance(reply, str) else reply
    try:
        jsonschema.validate(value, REPLY_SCHEMA)
    except jsonschema.ValidationError as exc:
        raise ValueError(f"score reply breaks its schema at {list(exc.absolute_path)}: {exc.message}") from None
    scores = {d: value[d]["score"] for d in DIMENSIONS}
    return {"scores": scores, "mean": sum(scores.values()) / len(DIMENSIONS), "total": total_score(scores),
            "explanations": {d: value[d].get("explanation", "") for d in DIMENSIONS}}


def keep_decision(judgements: Mapping[str, dict], *, threshold: float = 4,
                  per_dimension: Mapping[str, int] | None = None) -> tuple[bool, str]:
    """(keep, reason): every judge's total >= ``threshold`` and every per-dimension minimum is met."""
    if not judgements:
        return False, "no judge scored the query"
    unknown = sorted(set(per_dimension or {}) - set(DIMENSIONS))
    if unknown:
        raise ValueError(f"per-dimension threshold {unknown[0]!r} is not one of {', '.join(DIMENSIONS)}")
    for judge, j in sorted(judgements.items()):
        if j["total"] < threshold:
            return False, f"judge {judge} gave total {j['total']} < {threshold}"
        for dim, minimum in sorted((per_dimension or {}).items()):
            if j["scores"][dim] < minimum:
                return False, f"judge {judge} gave {dim} {j['scores'][dim]} < {minimum}"
    return True, "every judge passed"


def filter_scored(rows: list[dict], replies: Mapping[str, Mapping[str, dict | str]], *, threshold: float = 4,
                  per_dimension: Mapping[str, int] | None = None, mode: str = "enforce", rejects=None) -> list[dict]:
    """Attach the judges' scores to each query row and keep those that pass (``enforce``) or all (``record``).

    ``replies[query_id][judge]`` is that judge's raw reply; an unreadable reply is a reject reason.
    """
    if mode not in ("enforce", "record"):
        raise ValueError(f"filter mode {mode!r} must be 'enforce' or 'record'")
    kept = []
    for row in rows:
        judged, problems = {}, []
        for judge, reply in sorted(replies.get(row["id"], {}).items()):
            try:
                judged[judge] = parse_score_reply(reply)
            except (ValueError, json.JSONDecodeError) as exc:
                problems.append(f"judge {judge}: {exc}")
        ok, reason = (False, "; ".join(problems)) if problems else keep_decision(
            judged, threshold=threshold, per_dimension=per_dimension)
        row = {**row, "judge_scores": {j: {**v["scores"], "total": v["total"], "mean": v["mean"]} for j, v in judged.items()},
               "score_pass": ok}
        if not ok and rejects is not None:
            rejects.add(STAGE, row["id"], f"{reason}; the query is not good enough to keep", row)
        if ok or mode == "record":
            kept.append(row)
    return kept
