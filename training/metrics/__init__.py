"""Tool-use metrics: single-turn TS / PI / CF (TL-Training), ITC and BFCL AST-style scoring.

Reading tool calls out of whatever a model produced and comparing argument values live in the
shared ``builders.toolcalls``; ``tool_calls`` here matches calls and scores single turns.
"""

from builders.toolcalls import (
    Call,
    ParsedOutput,
    ParseError,
    parse_calls,
    parse_output,
    values_equal,
)
from training.metrics.tool_calls import (
    aggregate_single_turn,
    match_calls,
    single_turn_metrics,
)

__all__ = [
    "Call",
    "aggregate_single_turn",
    "ParseError",
    "ParsedOutput",
    "match_calls",
    "parse_calls",
    "parse_output",
    "single_turn_metrics",
    "values_equal",
]
