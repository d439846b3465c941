"""QA generation (seed 003, section 3.4 and Appendix F): a Thought and an Action per query, from
one or more generator models; every Action is parsed and checked against the APIs' schemas
before a checker sees it."""

from __future__ import annotations

import re

import jsonschema

from builders.llm.prompts import load_prompt
from builders.llm.toolmode import reply_schema as turn_schema
from builders.schema import content_hash, dumps
from itc.catalog import endpoint_parameters
from training.metrics.tool_calls import ParseError, parse_output

STAGE = "generate_answers"
REPLY_SCHEMA = {"type": "object", "required": ["Thought", "Action"],
                "properties": {"Thought": {"type": "string"}, "Action": {"type": ["string", "array"]}}}


# how many calls an Action of each task type makes (``action_problems`` checks the same rules)
ACTION_CALLS = {"single": (1, 1), "repeated": (2, 3), "parallel": (2, 3), "nested": (2, 3)}
THOUGHT_CHARS = (10, 100)
ARGUMENT_CHARS = 80  # a string argument's bound in the request schema, so a value cannot run on to max_tokens


def _arguments(parameters: dict) -> dict:
    """An API's argument schema for the reply: no other keys, and string values bounded."""
    props = {k: {**v, "maxLength": v.get("maxLength", ARGUMENT_CHARS)} if isinstance(v, dict) and v.get("type") == "string"
             else v for k, v in (parameters.get("properties") or {}).items()}
    return {**parameters, "properties": props, "additionalProperties": False}


def reply_schema(endpoints: dict[str, dict], task_type: str, names: list[str] | None = None) -> dict:
    """The reply schema for one query: each call's ``name`` is one of the query's APIs (``names``, else
    the set's) and its ``arguments`` fit that API's parameters, in the number of calls the task type
    needs; a repeated task's calls all go to one API. Built with the structured tool mode's schema.
    """
    wanted = [n for n in names or () if n in endpoints] or list(endpoints)
    fns = [{"name": n, "parameters": _arguments(endpoints[n]["parameters"])} for n in wanted]
    low, high = ACTION_CALLS[task_type]

    def calls(group: list[dict]) -> dict:
        return {**turn_schema(group, "required")["properties"]["tool_calls"], "minItems": low, "maxItems": high}

    action = {"anyOf": [calls([fn]) for fn in fns]} if task_type == "repeated" else calls(fns)
    thought = {"type": "string", "minLength": THOUGHT_CHARS[0], "maxLength": THOUGHT_CHARS[1]}
    return {"type": "object", "required": ["Thought", "Action"], "additionalProperties": False,
            "properties": {"Thought": thought, "Action": action}}


def parse_actions(reply) -> tuple[str, list[dict]]:
    """(thought, [{name, arguments}]) from an ITC answer; ``ValueError`` when it cannot be read.

    The one place ITC reads calls: swap in the shared ``builders.toolcalls`` module here.
    """
    try:
        parsed = parse_output(reply)
    except ParseError as exc:
        salvaged = _salvage(reply) if isinstance(reply, str) else None
        if salvaged is None:
            raise ValueError(f"the answer's Action cannot be parsed: {exc}") from None
        try:
            parsed = parse_output(salvaged)
        except ParseError as exc2:
            raise ValueError(f"the answer's Action cannot be parsed: {exc2}") from None
    return parsed.thought, [{"name": c.name, "arguments": c.arguments} for c in parsed.calls]


_LOOSE_ANSWER = re.compile(r'"Thought"\s*:\s*"(?P<thought>.*?)"\s*,\s*\\?"Action"\s*:\s*"(?P<action>\[.*\])\s*"\s*\}', re.S)


def _salvage(text: str) -> dict | None:
    """``{"Thought": ..., "Action": "[f(a="x")]"}`` with unescaped quotes inside the Action string (as in
    the paper's own Appendix I examples) is not JSON; read the two fields by position instead."""
    m = _LOOSE_ANSWER.search(text.replace('\\"', '"'))
    return {"Thought": m.group("thought"), "Action": m.group("action")} if m else None


def qa_request(query: dict, api_specs: list[dict], language_name: str, endpoints: dict[str, dict]) -> dict:
    """The Appendix F prompt (``api_specs`` already cut for prompts) and the query's reply schema."""
    prompt = load_prompt(__file__, "prompts/qa.txt")
    text = prompt.render(country=query["country"], language_name=language_name, api_info=dumps(api_specs),
                         query=query["query"])
    schema = reply_schema(endpoints, query["task_type"], query.get("query_apis"))
    return {"prompt": prompt.version, "messages": [{"role": "user", "content": text}], "reply_schema": schema}


def action_problems(actions: list[dict], endpoints: dict[str, dict], task_type: str) -> list[str]:
    """What is wrong with the calls for the task: unknown APIs, arguments that break the schema, wrong shape."""
    problems = []
    if not actions:
        problems.append("the Action makes no call")
    for i, call in enumerate(actions):
        api = endpoints.get(call["name"])
        if api is None:
            problems.append(f"call {i} uses {call['name']!r}, which is not in the API set")
            continue
        schema = {**endpoint_parameters(api), "additionalProperties": False}
        for err in sorted(jsonschema.Draft202012Validator(schema).iter_errors(call["arguments"]), key=str):
            problems.append(f"call {i} to {call['name']!r}: {err.message}")
    names = [c["name"] for c in actions]
    if task_type == "single" and len(names) != 1:
        problems.append(f"a single task makes one call, this Action makes {len(names)}")
    if task_type == "repeated" and (len(names) < 2 or len(set(names)) != 1):
        problems.append("a repeated task calls one API at least twice")
    if task_type in ("parallel", "nested") and len(names) < 2:
        problems.append(f"a {task_type} task makes at least two calls")
    return problems


def candidate_from_reply(query: dict, reply, endpoints: dict[str, dict], *, generator: str) -> dict:
    """One answer candidate: the parsed Thought / Action and the problems found (empty = valid)."""
    try:
        thought, actions = parse_actions(reply)
        problems = action_problems(actions, endpoints, query["task_type"])
        if not thought.strip():
            problems.insert(0, "the answer has no Thought")
    except ValueError as exc:
        thought, actions, problems = "", [], [str(exc)]
    return {"id": content_hash([query["id"], generator]), "query_id": query["id"], "generator": generator,
            "thought": thought, "actions": actions, "problems": problems, "valid": not problems}
