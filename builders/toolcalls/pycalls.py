"""Python call syntax, ``[f(a=1), mod.g("x")]``, read with ``ast`` (never eval).

ToolACE replies, BFCL ground truth and prompt-style model outputs, and ITC ``Action`` strings
write calls this way, with liberties Python does not allow: names with spaces or dashes
("Google Translate", "get-weather"), quoted keyword names (``"to"="fr"``), keywords that are
Python words (``from="x"``) and typographic quotes (``’Hi’``). A scanner that knows where
strings are swaps those for placeholders before ``ast.parse`` and back after. Positional
arguments take the names of the tool's parameters in order, when the tool is known.
"""

from __future__ import annotations

import ast
import keyword
import re
from typing import Any, Mapping

from .calls import Call, ParseError

_QUOTES = {"'": "'", '"': '"', "‘": "’‘", "’": "’‘", "“": "”“", "”": "”“"}
_NAME_BEFORE_PAREN = re.compile(r"(^|[\[,(=]\s*)([A-Za-z_][\w.\-]*(?: +[\w.\-]+)*)(\s*\()")
_KEYWORD_ARG = re.compile(r"(^|[(,]\s*)([A-Za-z_]\w*)(\s*=(?!=))")
_JSON_WORDS = {"true": True, "false": False, "null": None, "True": True, "False": False, "None": None}
_FIX = "write calls as [func(arg=value, ...)] with Python literal values"
_VALUE_FIX = "quote text values and give numbers, lists and dicts as literals"
MAX_TEXT = 100_000
MAX_DEPTH = 100


def parse_python_calls(text: str, params: Mapping[str, list[str]] | None = None,
                       item: str = "model output") -> list[Call]:
    """Calls in ``text``; ``params`` maps a tool name to its parameter names, for positional arguments."""
    if not isinstance(text, str):
        raise ParseError(item, f"calls must be text, got {type(text).__name__}", _FIX)
    if len(text) > MAX_TEXT:
        raise ParseError(item, f"call text is {len(text)} characters long (limit {MAX_TEXT})", _FIX)
    source, names = _placeholders(text.strip(), item)
    try:
        tree = ast.parse(source, mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        reason = getattr(exc, "msg", None) or type(exc).__name__
        raise ParseError(item, f"cannot read the function call(s) {text.strip()[:200]!r} ({reason})", _FIX) from None
    nodes = tree.elts if isinstance(tree, (ast.List, ast.Tuple)) else [tree]
    reader = _Reader(source, names, params or {}, item)
    return [reader.call(node) for node in nodes]


def _placeholders(text: str, item: str) -> tuple[str, dict[str, str]]:
    """Rewrite ``text`` into Python: odd names and keys become ``__pN__``, curly-quoted strings ``'...'``."""
    names: dict[str, str] = {}

    def token(original: str) -> str:
        for tok, name in names.items():
            if name == original:
                return tok
        tok = f"__p{len(names)}__"
        names[tok] = original
        return tok

    def code(segment: str) -> str:
        def call_name(m: re.Match) -> str:
            name = m.group(2)
            if all(part.isidentifier() and not keyword.iskeyword(part) for part in name.split(".")):
                return m.group(0)
            return m.group(1) + token(name.strip()) + m.group(3)

        def arg_name(m: re.Match) -> str:
            return m.group(1) + token(m.group(2)) + m.group(3) if keyword.iskeyword(m.group(2)) else m.group(0)

        return _KEYWORD_ARG.sub(arg_name, _NAME_BEFORE_PAREN.sub(call_name, segment))

    out, i, start = [], 0, 0
    while i < len(text):
        ch = text[i]
        if ch not in _QUOTES:
            i += 1
            continue
        out.append(code(text[start:i]))
        closers, j = _QUOTES[ch], i + 1
        while j < len(text) and text[j] not in closers:
            j += 2 if text[j] == "\\" and ch in "'\"" else 1
        if j >= len(text):
            raise ParseError(item, f"cannot read the function call(s) {text[:200]!r} (unterminated string)", _FIX)
        literal = text[i:j + 1] if ch in "'\"" else repr(text[i + 1:j])
        k = j + 1
        while k < len(text) and text[k] == " ":
            k += 1
        if text[k:k + 1] == "=" and text[k + 1:k + 2] != "=":  # a quoted keyword name: "to"="fr"
            try:
                key = ast.literal_eval(literal)
            except (ValueError, SyntaxError):
                key = literal[1:-1]
            literal = key if isinstance(key, str) and key.isidentifier() and not keyword.iskeyword(key) \
                else token(str(key))
        out.append(literal)
        i = start = j + 1
    out.append(code(text[start:]))
    return "".join(out), names


class _Reader:
    def __init__(self, source: str, names: dict[str, str], params: Mapping[str, list[str]], item: str):
        self.source, self.names, self.params, self.item = source, names, params, item

    def restore(self, text: str) -> str:
        for tok, name in self.names.items():
            text = text.replace(tok, name)
        return text

    def error(self, problem: str, fix: str) -> ParseError:
        return ParseError(self.item, self.restore(problem), fix)

    def call(self, node: ast.AST) -> Call:
        if not isinstance(node, ast.Call):
            raise self.error(f"expected a function call, found {ast.unparse(node)[:80]!r}", _FIX)
        name = self.restore(self.func_name(node.func))
        args: dict[str, Any] = {}
        if node.args:
            order = self.params.get(name)
            if order is None or len(node.args) > len(order) or any(isinstance(a, ast.Starred) for a in node.args):
                raise self.error(f"call to {name!r} passes {len(node.args)} positional argument(s) that cannot be "
                                 "matched to parameter names", "pass arguments by keyword")
            for pname, value in zip(order, node.args):
                args[pname] = self.literal(value, 0)
        for kw in node.keywords:
            if kw.arg is None:
                raise self.error(f"call to {name!r} uses **kwargs", "pass every argument by keyword")
            args[self.restore(kw.arg)] = self.literal(kw.value, 0)
        return Call(name, args)

    def func_name(self, node: ast.AST) -> str:
        if isinstance(node, ast.Name):
            return node.id
        if isinstance(node, ast.Attribute):  # dotted names such as math.factorial
            return f"{self.func_name(node.value)}.{node.attr}"
        raise self.error(f"cannot read the function name {ast.unparse(node)[:80]!r}", "call functions by name")

    def literal(self, node: ast.AST, depth: int) -> Any:
        """A JSON value from a literal node; JSON spellings true/false/null are accepted too."""
        if depth > MAX_DEPTH:
            raise self.error(f"argument values nest more than {MAX_DEPTH} levels", _VALUE_FIX)
        if isinstance(node, ast.Constant) and isinstance(node.value, (str, int, float, bool, type(None))):
            return node.value
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            return [self.literal(e, depth + 1) for e in node.elts]
        if isinstance(node, ast.Dict):
            out = {}
            for k, v in zip(node.keys, node.values):
                key = self.literal(k, depth + 1) if k is not None else None
                if not isinstance(key, (str, int, float, bool)):
                    raise self.error(f"dictionary key {ast.unparse(k) if k else '**'!r} is not a plain value",
                                     "use string keys in dictionary arguments")
                out[key if isinstance(key, str) else str(key)] = self.literal(v, depth + 1)
            return out
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            value = self.literal(node.operand, depth + 1)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.Name) and node.id in _JSON_WORDS:
            return _JSON_WORDS[node.id]
        raise self.error(f"argument value {ast.unparse(node)[:80]!r} is not a literal", _VALUE_FIX)
