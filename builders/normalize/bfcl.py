"""BFCL (v3/v4) entries as the PyPI package ``bfcl-eval`` ships them under ``bfcl_eval/data``.

A question line is ``{"id": "simple_python_0", "question": [[{"role": "user", "content": ...}]],
"function": [{"name": "math.factorial", "description", "parameters": {"type": "dict",
"properties": {...}, "required": [...]}}]}``; names may be dotted and types are Python or Java
words ("float", "tuple", "any", "HashMap"). Multi-turn, memory and web-search lines carry
``involved_classes`` instead of ``function``; their docs are the lines of
``multi_turn_func_doc/*.json`` (read them with :func:`read_bfcl_function_docs`).

Ground-truth lines (``possible_answer/*.json``) come in three shapes, all read by
:func:`read_bfcl_ground_truth`: single-turn ``[{"func": {"arg": [accepted values]}}]`` (``""``
among the values means the argument may be left out), multi-turn ``[["f(a=1)", ...], ...]``
(one list of Python calls per user turn), and memory / web-search ``["answer", ...]``.

BFCL is an evaluation set: use it to evaluate and to decontaminate, never to train.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from builders.schema import Conversation, Function, Message, too_deep

from .common import RowContext, normalizer, parse_python_calls


@normalizer("bfcl")
def normalize_bfcl(row: dict, ctx: RowContext, functions: list[Function] | None = None) -> Conversation:
    """A single-turn BFCL question with its functions -> Conversation (no assistant turn).

    ``functions`` supplies the docs of lines that name ``involved_classes`` instead of listing
    ``function``.
    """
    turns = ctx.field(row, "question", list)
    if len(turns) != 1:
        raise ctx.error(f"has {len(turns)} user turns; a multi-turn entry needs the model's replies and the "
                        "executed tool results between its turns, which BFCL does not ship",
                        "normalise single-turn categories only; read multi-turn answers with read_bfcl_ground_truth")
    if "function" in row:
        for i, spec in enumerate(ctx.field(row, "function", list)):
            ctx.add_function(spec, f"function[{i}]")
        tools = None
    elif functions is not None:
        tools = list(functions)
    else:
        raise ctx.error(f"lists no 'function' (its classes: {row.get('involved_classes')})",
                        "pass functions=read_bfcl_function_docs(...) for the involved classes")
    turn = turns[0]
    if not isinstance(turn, list) or not turn:
        raise ctx.error("question[0] must be a non-empty list of messages", 'give [[{"role": "user", ...}]]')
    messages = []
    for i, m in enumerate(turn):
        if not isinstance(m, dict) or not isinstance(m.get("content"), str):
            raise ctx.error("message must be an object with a role and text content",
                            'give {"role": "user", "content": "..."}', f"question[0][{i}]")
        messages.append(Message(role=m.get("role"), content=m["content"]))
    return ctx.conversation(messages, tools)


def read_bfcl_function_docs(lines: Iterable[dict], source: str = "bfcl function docs") -> list[Function]:
    """Lines of a ``multi_turn_func_doc`` file -> Functions, with ``response`` kept as outputs.

    ``source`` names the file in errors.
    """
    ctx = RowContext("bfcl", {}, 0)
    ctx.item = source
    for i, spec in enumerate(lines):
        ctx.add_function(spec, f"line {i}", outputs_key="response")
    return list(ctx.functions.values())


@dataclass(frozen=True)
class PossibleCall:
    """One expected call: each argument maps to the values the checker accepts."""

    name: str
    arguments: dict[str, list]

    def optional(self, arg: str) -> bool:
        """BFCL marks an argument that may be left out with ``""`` among its accepted values."""
        return "" in self.arguments.get(arg, [])


@dataclass
class BFCLGroundTruth:
    """Exactly one of ``calls`` (single-turn, any order), ``turns`` (multi-turn) or ``answers`` is set."""

    id: str
    calls: list[PossibleCall] | None = None
    turns: list[list[tuple[str, dict]]] | None = None
    answers: list[str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def read_bfcl_ground_truth(row: dict, index: int | None = None,
                           functions: Iterable[Function] = ()) -> BFCLGroundTruth:
    """A ``possible_answer`` line -> BFCLGroundTruth.

    ``functions`` (the entry's docs) give names to positional arguments in multi-turn calls
    such as ``sort('final_report.pdf')``.
    """
    ctx = RowContext("bfcl ground truth", row, index)
    if not isinstance(row, dict):
        raise ctx.error(f"must be a JSON object, got {type(row).__name__}", "pass one decoded line at a time")
    if too_deep(row):
        raise ctx.error("is nested more than 100 levels deep", "flatten the line")
    gt = ctx.field(row, "ground_truth", list)
    extra = {k: v for k, v in row.items() if k not in ("id", "ground_truth")}
    if all(isinstance(g, str) for g in gt) and gt:
        return BFCLGroundTruth(id=ctx.row_id, answers=list(gt), extra=extra)
    if all(isinstance(g, list) for g in gt):
        for fn in functions:
            ctx.functions[fn.name] = fn
            ctx.names[fn.name] = fn.name
        turns = []
        for t, calls in enumerate(gt):
            turn = []
            for j, text in enumerate(calls):
                if not isinstance(text, str):
                    raise ctx.error(f"call must be a string, got {type(text).__name__}",
                                    "write each call as Python, e.g. \"cd(folder='x')\"", f"turn {t} call {j}")
                turn.extend(parse_python_calls(text, ctx, f"turn {t} call {j}"))
            turns.append(turn)
        return BFCLGroundTruth(id=ctx.row_id, turns=turns, extra=extra)
    return BFCLGroundTruth(id=ctx.row_id, calls=[_possible_call(g, ctx, i) for i, g in enumerate(gt)], extra=extra)


def _possible_call(entry: Any, ctx: RowContext, i: int) -> PossibleCall:
    fix = 'write each expected call as {"func_name": {"arg": [accepted values]}}'
    if not isinstance(entry, dict) or len(entry) != 1:
        raise ctx.error(f"ground_truth[{i}] must be an object with exactly one function name", fix)
    (name, args), = entry.items()
    if not isinstance(args, dict):
        raise ctx.error(f"ground_truth[{i}] arguments of {name!r} must be an object, got {type(args).__name__}", fix)
    for arg, values in args.items():
        if not isinstance(values, list):
            raise ctx.error(f"ground_truth[{i}] argument {arg!r} of {name!r} must list its accepted values, "
                            f"got {values!r}", fix)
    return PossibleCall(name=name, arguments=args)

