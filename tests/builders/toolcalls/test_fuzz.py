"""Seeded fuzzing: malformed rows, schemas and calls become data errors (item, problem, fix), never crashes.

Every normaliser owned here (OpenAI, xLAM, Glaive, ToolACE, BFCL questions, answers and function
docs), the data model (rows, tools, functions) and the call readers (``parse_output``,
``calls_from_text``, ``extract_json``, argument validation) get valid seeds mutated as a tester
would: keys deleted, values swapped for the wrong type, nulls, lists where strings belong, lone
surrogates, huge strings, deep nesting. An exception that is not a ``DataError`` fails the test.
"""

from __future__ import annotations

import json
import random
import traceback
from collections import Counter
from pathlib import Path

from builders import toolcalls
from builders.errors import DataError
from builders.normalize import (
    normalize_bfcl,
    normalize_glaive,
    normalize_openai,
    normalize_toolace,
    normalize_xlam,
    read_bfcl_function_docs,
    read_bfcl_ground_truth,
)
from builders.schema import Conversation, Function, parse_tools_column

from .test_call_table import TABLE, TOOLS

SEED, ROUNDS = 20261201, 1100
DATA = Path(__file__).parents[1] / "normalize" / "data"

WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Weather now.", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
    "required": ["city"]}}}
OPENAI_ROW = {"id": "r1", "tools": [WEATHER], "messages": [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
    {"role": "tool", "tool_call_id": "c1", "name": "get_weather", "content": '{"temp": 21}'},
    {"role": "assistant", "content": "21 degrees."}]}
XLAM_ROW = {"id": 3, "query": "Max subarray of [1,-2,3]?", "answers": json.dumps(
    [{"name": "find_max", "arguments": {"nums": [1, -2, 3]}}]), "tools": json.dumps([
        {"name": "find_max", "description": "Max subarray sum.", "parameters": {
            "nums": {"type": "List[int]", "description": "Numbers."},
            "k": {"type": "int, optional", "description": "Window.", "default": 0.7}}}])}
GLAIVE_ROW = {
    "system": "SYSTEM: You are a helpful assistant with access to the following functions. Use them if required -\n"
              + json.dumps({"name": "bmi", "description": "BMI.", "parameters": {"type": "object", "properties": {
                  "weight": {"type": "number"}, "height": {"type": "number"}}, "required": ["weight"]}}, indent=4),
    "chat": "USER: My BMI? 70 kg, 1.75 m.\n\n\nASSISTANT: <functioncall> {\"name\": \"bmi\", \"arguments\": "
            "'{\"weight\": 70, \"height\": 1.75}'} <|endoftext|>\n\n\nFUNCTION RESPONSE: {\"bmi\": 22.86}\n\n\n"
            "ASSISTANT: It is 22.86. <|endoftext|>\n\n\n"}
TOOLACE_FUNCTIONS = [{"name": "Market Trends API", "description": "Trends.", "parameters": {"type": "dict", "properties": {
    "trend_type": {"type": "string"}, "limit": {"type": "integer"}}, "required": ["trend_type"]}, "required": None}]
TOOLACE_ROW = {
    "system": "You are an expert in composing functions.\nHere is a list of functions in JSON format that you can "
              "invoke:\n" + json.dumps(TOOLACE_FUNCTIONS) + ".\nShould you decide to return the function call(s), Put "
              "it in the format of [func1(params_name=params_value)]\n\nNO other text MUST be included. \n",
    "conversations": [
        {"from": "user", "value": "Market indexes, 5 items."},
        {"from": "assistant", "value": "[Market Trends API(trend_type='MARKET_INDEXES', limit=5)]"},
        {"from": "tool", "value": "[{\"name\": \"Market Trends API\", \"results\": {\"trends\": []}}]"},
        {"from": "assistant", "value": "Nothing moved."}]}


def _lines(name: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / name).read_text(encoding="utf-8").splitlines() if line.strip()]


def _deep(depth: int, leaf=1):
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


_JUNK = [None, 0, -1, 3.5, True, "", "x", [], {}, ["a"], {"a": 1}, "\ud800lone", "a\nb\rc", "a" * 100_001,
         "[" * 3000 + "]" * 3000, "{" * 500, float("nan"), [None], [[["x"]]], {"": None}, {"type": []},
         {"role": ["user"]}, "<tool_call>{", "[f(", "```json\n{", "\x00", "🙂" * 50]


def _junk(rng: random.Random):
    """A fresh wrong value (never shared, so mutations cannot build cycles)."""
    if rng.random() < 0.04:
        return _deep(rng.choice([50, 1200, 3000]))
    return json.loads(json.dumps(rng.choice(_JUNK), allow_nan=True))


def _paths(obj, path=(), depth=0):
    """Every (container path) in obj, JSON strings that hold containers counted as containers."""
    yield path
    if depth > 12:
        return
    if isinstance(obj, dict):
        for k, v in list(obj.items()):
            yield from _paths(v, path + (k,), depth + 1)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, path + (i,), depth + 1)


def _mutate(obj, rng: random.Random):
    obj = json.loads(json.dumps(obj))  # a fresh copy; seeds are plain JSON
    for _ in range(rng.randint(1, 3)):
        # reach into JSON-string fields too: decode one, mutate inside, encode back
        strings = [p for p in _paths(obj) if p and isinstance(_get(obj, p), str) and _get(obj, p)[:1] in "[{"]
        if strings and rng.random() < 0.3:
            p = rng.choice(strings)
            try:
                obj = _set(obj, p, json.dumps(_mutate(json.loads(_get(obj, p)), rng), ensure_ascii=False))
                continue
            except (ValueError, RecursionError):  # not JSON, or too deep to write back: mutate it as text
                pass
        p = rng.choice(list(_paths(obj)))
        parent, action = _get(obj, p[:-1]) if p else None, rng.random()
        if p and action < 0.25 and isinstance(parent, (dict, list)):
            del parent[p[-1]]
        elif action < 0.35 and isinstance(_get(obj, p), dict):
            _get(obj, p)[rng.choice(["role", "type", "name", "x", "properties", "required", "id"])] = _junk(rng)
        elif action < 0.45 and isinstance(_get(obj, p), str):
            s = _get(obj, p)
            cut = rng.randrange(len(s) + 1)
            obj = _set(obj, p, s[:cut] + rng.choice(["", "'", '"', "(", "[", "\ud800", "\n"]) + s[cut + 1:])
        else:
            obj = _set(obj, p, _junk(rng))
    return obj


def _get(obj, path):
    for k in path:
        obj = obj[k]
    return obj


def _set(obj, path, value):
    if not path:
        return value
    _get(obj, path[:-1])[path[-1]] = value
    return obj


def _bfcl_seeds():
    questions, answers, docs = _lines("bfcl_v4_questions.jsonl"), _lines("bfcl_v4_possible_answer.jsonl"), \
        _lines("bfcl_v4_gorilla_file_system.jsonl")
    functions = read_bfcl_function_docs(docs)
    return questions, answers, docs, functions


def _check_schema(schema, index):
    """Validation reports a broken schema as an issue; publishing it as a Function raises."""
    assert isinstance(toolcalls.argument_issues({"city": "x"}, schema), list)
    return Function(name="f", description="", parameters=schema)


def _targets():
    questions, answers, docs, functions = _bfcl_seeds()
    calls = [v for _, v, _ in TABLE]
    return {
        "openai": ([OPENAI_ROW], lambda r, i: normalize_openai(r, i)),
        "xlam": ([XLAM_ROW], lambda r, i: normalize_xlam(r, i)),
        "glaive": ([GLAIVE_ROW], lambda r, i: normalize_glaive(r, i)),
        "toolace": ([TOOLACE_ROW], lambda r, i: normalize_toolace(r, i)),
        "bfcl question": (questions, lambda r, i: normalize_bfcl(r, i)),
        "bfcl answer": (answers, lambda r, i: read_bfcl_ground_truth(r, i, functions)),
        "bfcl docs": ([docs[:3]], lambda r, i: read_bfcl_function_docs(r if isinstance(r, list) else [r])),
        "conversation": ([OPENAI_ROW], lambda r, i: Conversation.from_row(r).validate()),
        "tools column": ([[WEATHER], json.dumps([WEATHER])], lambda r, i: parse_tools_column(r)),
        "function": ([WEATHER], lambda r, i: Function.from_openai(r)),
        "call parser": (calls, lambda r, i: toolcalls.parse_output(r, TOOLS)),
        "text calls": ([c for c in calls if isinstance(c, str)], lambda r, i: toolcalls.calls_from_text(r, TOOLS)),
        "extract json": (['{"answer": "yes", "score": [1, 2]}'], lambda r, i: toolcalls.extract_json(r)),
        "arguments": ([{"city": "Paris", "unit": "c"}],
                      lambda r, i: toolcalls.check_arguments("get_weather", r, WEATHER["function"]["parameters"])),
        "schema": ([WEATHER["function"]["parameters"]], _check_schema),
    }


def test_fuzz_rejects_never_crashes():
    rng = random.Random(SEED)
    outcomes: Counter = Counter()
    crashes: dict[str, str] = {}
    for name, (seeds, consume) in _targets().items():
        for n in range(ROUNDS):
            value = _mutate(rng.choice(seeds), rng)
            index = n if rng.random() < 0.5 else None
            try:
                consume(value, index)
                outcomes[name, "ok"] += 1
            except DataError as exc:
                assert "\n" not in str(exc) and exc.item and exc.problem and exc.fix, repr(exc)
                outcomes[name, "rejected"] += 1
            except Exception as exc:  # noqa: BLE001 - the point of the test
                frames = traceback.extract_tb(exc.__traceback__)
                ours = [f for f in frames if "/builders/" in f.filename] or frames
                where = ours[-1]  # the last line of our code, where the fix belongs
                key = f"{name}: {type(exc).__name__} at {Path(where.filename).name}:{where.lineno}"
                crashes.setdefault(key, f"{exc!s:.200}")
    total = sum(outcomes.values()) + len(crashes)
    assert total >= 10_000
    assert not crashes, "\n".join(f"{k} ({v})" for k, v in sorted(crashes.items()))
    for name in _targets():  # every target both accepted and rejected something: the mutations reach it
        assert outcomes[name, "rejected"] > 0, name
