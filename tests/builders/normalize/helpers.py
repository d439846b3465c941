"""Assertions shared by the normaliser tests: an error names the row, the problem and the fix."""

from __future__ import annotations

import pytest

from builders.errors import one_line
from builders.schema import SchemaError


def schema_error(fn, *args, **kwargs) -> SchemaError:
    with pytest.raises(SchemaError) as info:
        fn(*args, **kwargs)
    return info.value


def check_error(err: SchemaError, item: str, problem: str, fix: str = "") -> None:
    """``item`` exactly, ``problem`` as a prefix (it may end with parser detail), ``fix`` as a part."""
    assert err.item == item
    assert err.problem.startswith(problem), err.problem
    assert fix in err.fix and err.fix
    assert str(err) == f"{one_line(err.item)}: {one_line(err.problem, 600)}; {one_line(err.fix)}"
    assert "\n" not in str(err)
