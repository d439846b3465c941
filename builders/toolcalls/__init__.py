"""Reading, validating and comparing tool calls: one module every part agrees on.

Normalisers, agents, judges, the LLM layer, the reward and the metrics all read calls with
``parse_output`` / ``parse_python_calls``, check them with ``check_arguments`` and compare them
with ``values_equal`` / ``argument_diff``, so a call counts as the same call everywhere.
Depends only on the data model (``builders.schema``), ``builders.errors`` and ``jsonschema``,
so ``training/`` may import it.
"""

from .calls import Call, ParsedOutput, ParseError
from .extract import extract_json, split_thought
from .messages import call_arguments, clean_message
from .parse import calls_from_text, param_order, parse_calls, parse_output
from .pycalls import parse_python_calls
from .validate import (
    ArgumentError,
    ArgumentIssue,
    argument_issues,
    check_arguments,
    check_json,
    drop_bad_defaults,
)
from .values import (
    ArgDiff,
    argument_diff,
    normalize_value,
    tool_schemas,
    value_key,
    values_equal,
)

__all__ = [
    "ArgDiff", "ArgumentError", "ArgumentIssue", "Call", "ParseError", "ParsedOutput", "argument_diff",
    "argument_issues", "call_arguments", "calls_from_text", "check_arguments", "check_json", "clean_message",
    "drop_bad_defaults", "extract_json", "normalize_value", "param_order", "parse_calls", "parse_output",
    "parse_python_calls", "split_thought", "tool_schemas", "value_key", "values_equal",
]
