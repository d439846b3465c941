"""BFCL AST-style scoring on the data that the PyPI package ``bfcl-eval`` ships (BFCL v4).

BFCL is evaluation data: never train on it.

``bfcl-eval`` pins old numpy / networkx, so it is installed with ``pip install --no-deps
bfcl-eval``; nothing here needs its dependencies. Its official AST checker imports
``bfcl_eval.constants.model_config``, which imports every vendor SDK; we put a small module in
its place whose ``MODEL_CONFIG_MAPPING`` holds one prompt-style model config with
``underscore_to_dot=False`` (function names keep their dots) before importing the checker.

A model's output is read with ``parse_output`` (chat-template tool calls, JSON, or BFCL's
prompt-style ``[f(a=1)]``), turned into BFCL's decoded form ``[{name: {arg: value}}]`` and
judged by the official checker. Irrelevance categories pass when no call is made (or the
output holds none that parses), live_relevance when at least one is made, as in BFCL.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import sys
import types
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

from builders.schema import SchemaError
from builders.toolcalls import ParseError, parse_output
from builders.toolcalls.types import json_type_name

# single-turn categories the AST checker scores; multi-turn / agentic ones need BFCL's runtime
AST_CATEGORIES = (
    "simple_python", "simple_java", "simple_javascript", "multiple", "parallel", "parallel_multiple",
    "live_simple", "live_multiple", "live_parallel", "live_parallel_multiple",
)
RELEVANCE_CATEGORIES = ("irrelevance", "live_irrelevance", "live_relevance")
CATEGORIES = AST_CATEGORIES + RELEVANCE_CATEGORIES

_MODEL_KEY = "toolmind/prompt"  # the checker looks configs up by model_name.replace("_", "/")
_MODEL_NAME = "toolmind_prompt"
_INSTALL_HINT = "install it with `pip install --no-deps bfcl-eval`"


def data_dir() -> Path:
    spec = importlib.util.find_spec("bfcl_eval")
    if spec is None or not spec.submodule_search_locations:
        raise SchemaError("bfcl-eval", "is not installed", _INSTALL_HINT)
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _check_category(category: str) -> None:
    if category not in CATEGORIES:
        raise SchemaError(f"BFCL category {category!r}", "is not a single-turn category scored here",
                          f"use one of {', '.join(CATEGORIES)}")


def _read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def load_bfcl(category: str) -> list[dict]:
    """Rows ``{id, category, messages, function, ground_truth}`` of one BFCL v4 category."""
    _check_category(category)
    root = data_dir()
    path = root / f"BFCL_v4_{category}.json"
    if not path.exists():
        raise SchemaError(f"BFCL category {category!r}", f"has no data file {path.name} in bfcl-eval",
                          "upgrade bfcl-eval or pick another category")
    answers = {}
    answer_path = root / "possible_answer" / path.name
    if answer_path.exists():
        answers = {r["id"]: r["ground_truth"] for r in _read_jsonl(answer_path)}
    rows = []
    for r in _read_jsonl(path):
        turns = r["question"]
        rows.append({"id": r["id"], "category": category, "messages": turns[0] if turns else [],
                     "function": r["function"], "ground_truth": answers.get(r["id"])})
    return rows


def language_of(category: str) -> str:
    return "java" if category.endswith("java") else "javascript" if category.endswith("javascript") else "python"


def openai_tools(functions: list[dict], category: str) -> list[dict]:
    """BFCL function docs as OpenAI tools for a chat template, as BFCL prepares them for FC models.

    Java / JavaScript parameters become strings with their declared type in the description
    (BFCL's language-specific hint), BFCL type names map to JSON-schema ones.
    """
    language = language_of(category)
    hint = {"java": " Note that the provided function is in Java 8 SDK syntax.",
            "javascript": " Note that the provided function is in JavaScript syntax."}.get(
        language, " Note that the provided function is in Python 3 syntax.")
    tools = []
    for fn in copy.deepcopy(functions):
        fn["description"] = fn.get("description", "") + hint
        params = fn.setdefault("parameters", {})
        params["type"] = "object"
        props = params.setdefault("properties", {})
        if language != "python":
            lang = "Java" if language == "java" else "JavaScript"
            for value in props.values():
                kind = value.get("type", "any")
                if kind == "any":
                    note = f" This parameter can be of any type of {lang} object in string representation."
                else:
                    note = f" This is {lang} {kind} type parameter in string representation."
                if isinstance(value.get("items"), dict):
                    note += f" The list elements are of type {value['items'].get('type')}; they are not in string representation."
                if isinstance(value.get("properties"), dict) and language == "javascript":
                    note += (" The dictionary entries have the following schema; they are not in string representation. "
                             + json.dumps(value["properties"]))
                value["description"] = value.get("description", "") + note
                value.pop("items", None)
                value.pop("properties", None)
                value["type"] = "string"
        _map_types(props)
        tools.append({"type": "function", "function": fn})
    return tools


def _map_types(props: dict) -> None:
    """BFCL type words to JSON ones with the builders' one mapping (as BFCL's GORILLA_TO_OPENAPI does)."""
    for value in props.values():
        value["type"] = json_type_name(value.get("type"))
        if isinstance(value.get("properties"), dict):
            _map_types(value["properties"])
        items = value.get("items")
        if isinstance(items, dict) and "type" in items:
            _map_types({"items": items})


@lru_cache(maxsize=1)
def official_ast_checker():
    """BFCL's ``ast_checker``, imported without its vendor-SDK model registry."""
    if importlib.util.find_spec("bfcl_eval") is None:
        raise SchemaError("bfcl-eval", "is not installed", _INSTALL_HINT)
    name = "bfcl_eval.constants.model_config"
    module = sys.modules.get(name)
    if module is None:
        module = types.ModuleType(name, "Stand-in for BFCL's model registry: one prompt-style config.")
        module.MODEL_CONFIG_MAPPING = {}
        sys.modules[name] = module
    module.MODEL_CONFIG_MAPPING.setdefault(_MODEL_KEY, types.SimpleNamespace(
        model_name=_MODEL_KEY, display_name="toolmind prompt-style", is_fc_model=False, underscore_to_dot=False))
    from bfcl_eval.constants.enums import Language
    from bfcl_eval.eval_checker.ast_eval.ast_checker import ast_checker

    return ast_checker, Language


def decoded_calls(prediction: Any, functions: list[dict] | None = None) -> list[dict]:
    """BFCL's decoded form ``[{name: {arg: value}}]``; raises ``ParseError`` when unreadable.

    ``functions`` (the row's function docs) give positional arguments their parameter names.
    """
    params = {f["name"]: f.get("parameters") or {} for f in functions or []
              if isinstance(f, dict) and isinstance(f.get("name"), str)}
    return [{c.name: c.arguments} for c in parse_output(prediction, params).calls]


def score_bfcl_item(prediction: Any, row: dict) -> dict[str, Any]:
    """``{id, valid, error_type, error}`` of one output on one BFCL row."""
    category = row["category"]
    try:
        decoded = decoded_calls(prediction, row.get("function"))
        decode_error = None
    except ParseError as exc:
        decoded, decode_error = [], str(exc)
    out = {"id": row["id"], "category": category}
    if category in RELEVANCE_CATEGORIES:
        called = bool(decoded)
        valid = not called if "irrelevance" in category else called
        kind = None if valid else ("irrelevance_error:decoder_success" if called else "relevance_error:decoder_failed")
        return out | {"valid": valid, "error_type": kind, "error": [] if valid else [decode_error or "no call made"]}
    if decode_error is not None or not decoded:
        return out | {"valid": False, "error_type": "ast_decoder:decoder_failed",
                      "error": [decode_error or "the output holds no function call"]}
    checker, Language = official_ast_checker()
    try:
        result = checker(row["function"], decoded, row["ground_truth"], Language(language_of(category)),
                         category, _MODEL_NAME)
    except Exception as exc:  # the checker asserts on some malformed outputs; BFCL counts them wrong
        result = {"valid": False, "error_type": "ast_checker:exception", "error": [f"{type(exc).__name__}: {exc}"]}
    return out | {"valid": bool(result["valid"]), "error_type": None if result["valid"] else result.get("error_type"),
                  "error": result.get("error", [])}


def aggregate_bfcl(results: Iterable[dict]) -> dict[str, Any]:
    results = list(results)
    by_category: dict[str, list[bool]] = {}
    for r in results:
        by_category.setdefault(r["category"], []).append(r["valid"])
    return {"n": len(results),
            "accuracy": sum(r["valid"] for r in results) / len(results) if results else 0.0,
            "by_category": {c: {"n": len(v), "accuracy": sum(v) / len(v)} for c, v in sorted(by_category.items())}}
