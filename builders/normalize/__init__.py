"""Normalisers: one row of a published tool-use dataset -> a validated ``Conversation``.

Each normaliser takes the row exactly as its source publishes it, plus the row's position
(used to name and number rows that carry no id), and either returns a Conversation whose
tools are JSON-schema Functions and whose calls have JSON-string arguments and ids
``call_<row>_<n>``, or raises ``SchemaError`` naming the row, the problem and the fix.
"""

from __future__ import annotations

import logging
from typing import Any, Iterable, Iterator

from tqdm.auto import tqdm

from builders.errors import ConfigError, DataError
from builders.pipeline import PipelineStep, Rejects
from builders.schema import Conversation

from .apigen_mt import normalize_apigen_mt
from .button import normalize_button
from .bfcl import (
    BFCLGroundTruth,
    PossibleCall,
    normalize_bfcl,
    read_bfcl_function_docs,
    read_bfcl_ground_truth,
)
from .common import Normalizer
from .glaive import normalize_glaive
from .openai import normalize_openai
from .taubench import normalize_taubench
from .toolace import normalize_toolace
from .types import convert_schema, parameters_schema, python_type
from .when2call import normalize_when2call
from .xlam import normalize_xlam

logger = logging.getLogger(__name__)

NORMALIZERS: dict[str, Normalizer] = {
    "openai": normalize_openai,
    "xlam": normalize_xlam,
    "glaive": normalize_glaive,
    "toolace": normalize_toolace,
    "bfcl": normalize_bfcl,
    "apigen_mt": normalize_apigen_mt,
    "when2call": normalize_when2call,
    "taubench": normalize_taubench,
    "button": normalize_button,
}


def get_normalizer(source: str) -> Normalizer:
    try:
        return NORMALIZERS[source]
    except KeyError:
        raise ConfigError(f"normaliser {source!r}", "does not exist",
                          f"use one of {', '.join(sorted(NORMALIZERS))}") from None


class Normalize(PipelineStep):
    """Source rows -> Conversations; a row that breaks the contract is rejected with its reason."""

    name = "normalize"
    inputs = ("row",)
    outputs = ("conversation",)

    def __init__(self, source: str, rejects: Rejects | None = None, progress: bool = True, **options: Any):
        super().__init__(rejects)
        self.source, self.normalizer, self.options, self.progress = source, get_normalizer(source), options, progress

    def run(self, data: Iterable[dict]) -> Iterator[Conversation]:
        for i, row in enumerate(tqdm(data, desc=f"normalize {self.source}", unit="row", disable=not self.progress)):
            try:
                conv = self.normalizer(row, i, **self.options)
            except DataError as exc:  # SchemaError, a call ParseError, an ArgumentError: one reject each
                self.reject(exc.item, str(exc), row)
                continue
            self.stat("kept")
            yield conv
        if self.stats["rejected"]:
            logger.info("normalize %s: kept %d, rejected %d", self.source, self.stats["kept"], self.stats["rejected"])


__all__ = [
    "NORMALIZERS", "Normalize", "get_normalizer", "normalize_openai", "normalize_xlam", "normalize_glaive",
    "normalize_toolace", "normalize_bfcl", "normalize_apigen_mt", "normalize_when2call",
    "normalize_taubench", "normalize_button", "read_bfcl_ground_truth", "read_bfcl_function_docs",
    "BFCLGroundTruth", "PossibleCall", "python_type", "convert_schema", "parameters_schema",
]
