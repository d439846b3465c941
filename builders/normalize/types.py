"""Python-style type names -> JSON schema: the one mapping lives in ``builders.toolcalls.types``."""

from builders.toolcalls.types import (
    convert_schema,
    parameters_schema,
    python_type,
    required_names,
)

__all__ = ["convert_schema", "parameters_schema", "python_type", "required_names"]
