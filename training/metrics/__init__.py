"""Tool-use metrics: single-turn TS / PI / CF (TL-Training), ITC and BFCL AST-style scoring.

``tool_calls`` holds what every metric and the IRM reward share: reading tool calls out of
whatever a model produced, and comparing argument values.
"""

from training.metrics.tool_calls import (
    Call,
    ParsedOutput,
    aggregate_single_turn,
    ParseError,
    match_calls,
    parse_calls,
    parse_output,
    single_turn_metrics,
    values_equal,
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
