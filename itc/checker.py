"""The checker (seed 003, Appendix G) and the choice among answer candidates (section 3.4).

Each candidate is judged Pass / Fail by every *other* configured model; with one model, that model
checks its own answers at temperature 0 (the card says so). A candidate passes when it is valid
(its Action parsed and fits the schemas) and every checker says Pass. When several pass they are
cross-ranked: most Pass verdicts first, then the answer whose Thought is in the query's language,
then the fewest calls beyond the task's need, then a seeded draw, so the choice is reproducible.
"""

from __future__ import annotations

import json

import jsonschema

from builders.llm.prompts import load_prompt
from builders.schema import dumps
from itc.catalog import item_rng

STAGE = "check_answers"
REPLY_SCHEMA = {"type": "object", "required": ["decision", "reasoning"], "additionalProperties": False,
                "properties": {"decision": {"enum": ["Pass", "Fail"]},
                               "reasoning": {"type": "string", "minLength": 1, "maxLength": 60}}}
CHECKER_TEMPERATURE = 0.0


def checkers_for(generator: str, models: list[str]) -> list[str]:
    """Who checks ``generator``'s answers: the other models, or the model itself when it is alone."""
    others = [m for m in models if m != generator]
    return others or [generator]


def tool_summary(tools: list[dict]) -> list[dict]:
    """Each tool's name, a short description and its parameter names: enough to judge an answer, and a
    short prompt for a small checker."""
    out = []
    for tool in tools:
        fn = tool.get("function", tool)
        params = fn.get("parameters") or {}
        out.append({"name": fn.get("name"), "description": (fn.get("description") or "")[:160],
                    "parameters": sorted(params.get("properties") or {})})
    return out


def checker_request(query: dict, candidate: dict, tools: list[dict], examples: list[dict], language_name: str) -> dict:
    prompt = load_prompt(__file__, "prompts/checker.txt")
    answer = {"Thought": candidate["thought"], "Action": candidate["actions"]}
    dialog = [{"role": "user", "content": query["query"]}, {"role": "assistant", "content": dumps(answer)}]
    text = prompt.render(example_list="\n".join(dumps(e) for e in examples) or "(none)", tool_list=dumps(tool_summary(tools)),
                         dialog=dumps(dialog), language_name=language_name)
    return {"prompt": prompt.version, "messages": [{"role": "user", "content": text}], "reply_schema": REPLY_SCHEMA,
            "temperature": CHECKER_TEMPERATURE}


def parse_checker_reply(reply: dict | str) -> dict:
    value = json.loads(reply) if isinstance(reply, str) else reply
    if isinstance(value, dict) and isinstance(value.get("decision"), str):  # "pass" / " PASS " are Pass
        value = {**value, "decision": value["decision"].strip().capitalize()}
    try:
        jsonschema.validate(value, REPLY_SCHEMA)
    except jsonschema.ValidationError as exc:
        raise ValueError(f"checker reply breaks its schema at {list(exc.absolute_path)}: {exc.message}") from None
    return {"decision": value["decision"], "reasoning": value["reasoning"]}


def judge_candidate(candidate: dict, replies: dict[str, dict | str]) -> dict:
    """The candidate with its verdicts; passes when valid and every checker said Pass."""
    verdicts, problems = {}, list(candidate["problems"])
    for checker, reply in sorted(replies.items()):
        try:
            verdicts[checker] = parse_checker_reply(reply)
        except (ValueError, json.JSONDecodeError) as exc:
            problems.append(f"checker {checker}: {exc}")
    if not verdicts:
        problems.append("no checker judged the answer")
    fails = [c for c, v in verdicts.items() if v["decision"] == "Fail"]
    problems += [f"checker {c} said Fail: {verdicts[c]['reasoning']}" for c in fails]
    return {**candidate, "verdicts": verdicts, "passes": sum(v["decision"] == "Pass" for v in verdicts.values()),
            "checked": not problems, "check_problems": problems}


def cross_rank(judged: list[dict], *, seed: int, language: str | None = None, language_of=None) -> list[dict]:
    """Candidates that passed, best first (see the module docstring for the order)."""
    passed = [c for c in judged if c["checked"]]

    def key(c: dict):
        lang_ok = language is None or language_of is None or language_of(c["thought"]) == language
        tie = item_rng(seed, STAGE, c["id"]).random()
        return (-c["passes"], not lang_ok, len(c["actions"]), tie)

    return sorted(passed, key=key)


def choose_answer(judged: list[dict], *, seed: int, rejects=None, language: str | None = None,
                  language_of=None) -> dict | None:
    """The best passing candidate of one query, or None (a reject with every candidate's reasons)."""
    ranked = cross_rank(judged, seed=seed, language=language, language_of=language_of)
    if ranked:
        return {**ranked[0], "ranking": [c["generator"] for c in ranked]}
    if rejects is not None and judged:
        reasons = "; ".join(f"{c['generator']}: {', '.join(c['check_problems'])}" for c in judged)
        rejects.add(STAGE, judged[0]["query_id"], f"no answer passed the checker ({reasons}); regenerate answers", judged)
    return None
