"""Query generation (seed 003, Appendices C / D): requests built from an API set and seed examples,
replies parsed and validated, each query tagged with the language of its APIs' country."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from builders.llm.prompts import load_prompt
from builders.schema import content_hash, dumps
from itc.catalog import item_rng, public_spec

SEED_POOL = Path(__file__).resolve().parent / "seeds" / "seed_pool.jsonl"
STAGE = "generate_queries"
LANGUAGE_NAMES = {"en": "English", "zh": "Chinese", "ja": "Japanese", "de": "German", "fr": "French", "es": "Spanish",
                  "hi": "Hindi", "ko": "Korean", "pt": "Portuguese", "vi": "Vietnamese", "id": "Indonesian",
                  "ar": "Arabic", "it": "Italian", "ru": "Russian", "tr": "Turkish", "th": "Thai", "nl": "Dutch",
                  "sw": "Swahili", "pl": "Polish", "cs": "Czech", "da": "Danish", "fi": "Finnish", "el": "Greek",
                  "he": "Hebrew", "hr": "Croatian", "hu": "Hungarian", "ms": "Malay", "no": "Norwegian",
                  "ro": "Romanian", "rw": "Kinyarwanda", "sk": "Slovak", "sl": "Slovenian", "sr": "Serbian",
                  "sv": "Swedish", "tl": "Tagalog", "uk": "Ukrainian", "ur": "Urdu"}

REPLY_SCHEMA = {
    "type": "object", "required": ["queries"],
    "properties": {"queries": {"type": "array", "minItems": 1, "items": {
        "type": "object", "required": ["query", "apis"],
        "properties": {"query": {"type": "string", "minLength": 5},
                       "apis": {"type": "array", "minItems": 1, "items": {"type": "string"}}}}}},
}
# how many of the set's APIs one query of each task type names (capped by the set's size)
QUERY_APIS = {"single": (1, 1), "repeated": (1, 1), "parallel": (2, 3), "nested": (2, 3)}
QUERY_CHARS = (20, 160)
_DESCRIPTION_CHARS = 100


def set_names(api_set: dict) -> list[str]:
    """The endpoint names a query of ``api_set`` may name, in the set's order."""
    return list(dict.fromkeys(k.split("::", 1)[1] for k in api_set["apis"]))


def reply_schema(api_set: dict, n: int) -> dict:
    """The reply schema for one set: ``apis`` is an enum of the set's names, sized for the task type.

    A schema-constraining server (llama.cpp) then makes even a tiny model name only real APIs,
    and bounded strings keep a reply from running on to ``max_tokens``.
    """
    names = set_names(api_set)
    low, high = QUERY_APIS[api_set["task_type"]]
    apis = {"type": "array", "minItems": min(low, len(names)), "maxItems": min(high, len(names)),
            "items": {"enum": names}}
    query = {"type": "string", "minLength": QUERY_CHARS[0], "maxLength": QUERY_CHARS[1]}
    item = {"type": "object", "required": ["query", "apis"], "additionalProperties": False,
            "properties": {"query": query, "apis": apis}}
    return {"type": "object", "required": ["queries"], "additionalProperties": False,
            "properties": {"queries": {"type": "array", "minItems": 1, "maxItems": max(1, n), "items": item}}}


def output_format(api_set: dict) -> str:
    names = " | ".join(set_names(api_set))
    return '{"queries": [{"query": "<the instruction>", "apis": ["<' + names + '>"]}]}'


def prompt_specs(specs: list[dict]) -> list[dict]:
    """The ITC specs cut to what a prompt needs (names, short descriptions, parameters): small models
    read a short prompt faster and better than URLs, status codes and long descriptions."""
    def param(p: dict) -> dict:
        return {"name": p["name"], "type": p.get("type", "string"),
                "description": (p.get("description") or "")[:40]}

    return [{"tool_name": s["tool_name"], "country": s["country"],
             "api_list": [{"name": a["name"], "description": (a.get("description") or "")[:_DESCRIPTION_CHARS],
                           "required_parameters": [param(p) for p in a.get("required_parameters", [])],
                           "optional_parameters": [param(p) for p in a.get("optional_parameters", [])[:2]]}
                          for a in s["api_list"]]} for s in specs]


def language_name(code: str) -> str:
    return LANGUAGE_NAMES.get(code, code)


def load_seed_pool(path: str | Path = SEED_POOL) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def pick_examples(pool: list[dict], task_type: str, language: str, *, k: int, seed: int, item: str) -> list[dict]:
    """``k`` (1-3) seed examples of ``task_type``: the task's language first, then a seeded draw of the rest."""
    rng = item_rng(seed, STAGE, item)
    same_type = [s for s in pool if s["task_type"] == task_type]
    rng.shuffle(same_type)
    same_type.sort(key=lambda s: s["language"] != language)  # stable: keeps the shuffle inside each group
    return same_type[:max(1, min(k, 3))]


def api_set_specs(api_set: dict, tools_by_id: dict[str, dict]) -> list[dict]:
    """The ITC specs of the set's endpoints, grouped by tool, in the set's order."""
    names: dict[str, list[str]] = {}
    for key in api_set["apis"]:
        tool_id, name = key.split("::", 1)
        names.setdefault(tool_id, []).append(name)
    return [public_spec(tools_by_id[t], n) for t, n in names.items()]


def query_request(api_set: dict, specs: list[dict], examples: list[dict], *, n: int = 3) -> dict:
    """The prompt for one API set (``specs``: ``api_set_specs``): template version (for the cache key) and message."""
    prompt = load_prompt(__file__, f"prompts/query_{api_set['task_type']}.txt")
    shown = [{"query": e["query"], "apis": e["apis"]} for e in examples]
    text = prompt.render(n=n, language_name=language_name(api_set["language"]), output_format=output_format(api_set),
                         example_list="\n".join(dumps(e) for e in shown), api_data=dumps(prompt_specs(specs)))
    return {"prompt": prompt.version, "messages": [{"role": "user", "content": text}],
            "reply_schema": reply_schema(api_set, n)}


def parse_query_reply(reply: dict | str, api_set: dict, *, generator: str) -> list[dict]:
    """Query rows from one reply; raises ``ValueError`` with the reason when it breaks the schema.

    An API named in a query that is not in the set is an error too: the generator invented it.
    """
    value = json.loads(reply) if isinstance(reply, str) else reply
    try:
        jsonschema.validate(value, REPLY_SCHEMA)
    except jsonschema.ValidationError as exc:
        raise ValueError(f"query reply breaks its schema at {list(exc.absolute_path)}: {exc.message}") from None
    allowed = {k.split("::", 1)[1] for k in api_set["apis"]}
    rows = []
    for q in value["queries"]:
        unknown = sorted(set(q["apis"]) - allowed)
        if unknown:
            raise ValueError(f"query {q['query'][:60]!r} names APIs outside its set: {unknown}")
        query = q["query"].strip()
        rows.append({"id": content_hash([api_set["id"], query]), "api_set_id": api_set["id"],
                     "task_type": api_set["task_type"], "language": api_set["language"], "country": api_set["country"],
                     "category": api_set["category"], "apis": api_set["apis"], "tool_ids": api_set["tool_ids"],
                     "query": query, "query_apis": sorted(set(q["apis"])), "generator": generator})
    return rows

