"""Release gates: a table that breaks the data contract stops the release before anything is written."""

from __future__ import annotations

import pyarrow as pa

from builders.contract import contract
from builders.schema import SchemaError


class ValidationError(ValueError):
    """Built data that breaks the contract; names the dataset, config, split, row and problem."""


# configs split by a key: a value of that column (or of its lists) may sit in one split only (ITC splits by API)
DISJOINT_SPLITS = {("itc", "apis"): "api", ("itc", "default"): "tool_ids"}


def validate_config(dataset: str, config: str, tables: dict[str, pa.Table]) -> None:
    """Each split in the declared schema with valid rows; at least one row; split keys disjoint."""
    where = f"dataset {dataset} config {config}"
    if not tables or all(t.num_rows == 0 for t in tables.values()):
        raise ValidationError(f"{where}: no rows were built; check its source and filters (see rejects.jsonl)")
    try:
        spec = contract(dataset, config)
        for split, table in tables.items():
            spec.validate(table, f"{where} split {split}")
    except SchemaError as exc:
        raise ValidationError(str(exc)) from None
    key = DISJOINT_SPLITS.get((dataset, config))
    if key:
        side: dict[str, str] = {}
        for split, table in tables.items():
            for cell in table.column(key).to_pylist():
                for value in cell if isinstance(cell, list) else [cell]:
                    if side.setdefault(value, split) != split:
                        raise ValidationError(f"{where}: {key} {value!r} is in splits {side[value]} and {split}; "
                                              f"split by {key} so each sits on one side")
