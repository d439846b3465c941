"""Hand-made function rows and vectors whose edges are known in advance."""

from __future__ import annotations

import json

import numpy as np


def fn(name: str, inputs: dict[str, str] | None = None, outputs: dict[str, str] | None = None,
       types: dict[str, str] | None = None) -> dict:
    """A pool row: ``inputs`` / ``outputs`` map parameter names to descriptions ("" means none)."""
    types = types or {}

    def props(d):
        return {k: {"type": types.get(k, "string"), **({"description": v} if v else {})} for k, v in d.items()}

    out = {"type": "object", "properties": props(outputs)} if outputs is not None else None
    return {"name": name, "description": f"{name} does a thing", "source": "test",
            "parameters": json.dumps({"type": "object", "properties": props(inputs or {})}),
            "outputs": json.dumps(out) if out is not None else None}


class TableEmbedder:
    """An embedder whose vectors are given per description, so every cosine is exact by construction."""

    def __init__(self, by_description: dict[str, list[float]]):
        self.by_description = by_description
        self.calls = []

    def embed(self, texts):
        self.calls.append(list(texts))
        rows = []
        for t in texts:
            desc = t.split("DESC ", 1)[1].rsplit(" TYPE ", 1)[0]
            v = np.asarray(self.by_description[desc], dtype=np.float32)
            rows.append(v / np.linalg.norm(v))
        return np.stack(rows)
