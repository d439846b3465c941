"""Release gates: a table that breaks the data contract stops the release before anything is written."""

from __future__ import annotations

import json
from typing import Callable

import pyarrow as pa

from builders.schema import Function, SchemaError


class ValidationError(ValueError):
    """Built data that breaks the contract; names the dataset, config, split, row and problem."""


def _rows(table: pa.Table, columns: list[str]):
    cols = [table.column(c).to_pylist() for c in columns]
    return enumerate(zip(*cols))


def validate_functions(table: pa.Table, where: str) -> None:
    seen = set()
    for i, (name, desc, params, outputs) in _rows(table, ["name", "description", "parameters", "outputs"]):
        try:
            Function(name=name, description=desc, parameters=json.loads(params),
                     outputs=json.loads(outputs) if outputs else None)
        except (SchemaError, json.JSONDecodeError, TypeError) as exc:
            raise ValidationError(f"{where} row {i}: {exc}") from None
        if name in seen:
            raise ValidationError(f"{where} row {i}: function name {name!r} appears twice; names must be unique")
        seen.add(name)


def validate_api_split(table: pa.Table, where: str) -> None:
    sides: dict[str, set] = {}
    for i, (api, split) in _rows(table, ["api", "split"]):
        if split not in ("train", "test"):
            raise ValidationError(f"{where} row {i}: api {api!r} has split {split!r}; expected train or test")
        sides.setdefault(api, set()).add(split)
    both = sorted(a for a, s in sides.items() if len(s) > 1)
    if both:
        raise ValidationError(f"{where}: apis {both[:5]} are on both sides of the split; split by API")


CONFIG_VALIDATORS: dict[str, Callable[[pa.Table, str], None]] = {
    "functions": validate_functions,
    "apis": validate_api_split,
}


def validate_config(dataset: str, config: str, tables: dict[str, pa.Table]) -> None:
    where = f"dataset {dataset} config {config}"
    if not tables or all(t.num_rows == 0 for t in tables.values()):
        raise ValidationError(f"{where}: no rows were built; check its source and filters (see rejects.jsonl)")
    for split, table in tables.items():
        if "id" in table.column_names:
            ids = table.column("id").to_pylist()
            if len(set(ids)) != len(ids):
                raise ValidationError(f"{where} split {split}: duplicate ids; ids must be content hashes")
        check = CONFIG_VALIDATORS.get(config)
        if check:
            check(table, f"{where} split {split}")
