"""The registry and the pipeline step that runs a normaliser over a source."""

from __future__ import annotations

import json

import pytest

from builders.errors import ConfigError
from builders.normalize import NORMALIZERS, Normalize, get_normalizer
from builders.pipeline import Rejects

from .test_glaive import NO_FUNCTIONS, ROW_BMI
from .test_xlam import ROW_0


def test_registry_names_every_source():
    assert set(NORMALIZERS) == {"openai", "xlam", "glaive", "toolace", "bfcl", "apigen_mt", "when2call",
                                "taubench", "button"}
    assert all(fn.source == name for name, fn in NORMALIZERS.items())
    with pytest.raises(ConfigError, match="normaliser 'sharegpt': does not exist; use one of apigen_mt, bfcl, button, glaive"):
        get_normalizer("sharegpt")


def test_step_keeps_good_rows_and_rejects_bad_ones_with_reasons(tmp_path):
    rejects = Rejects()
    step = Normalize("glaive", rejects=rejects, progress=False)
    bad = {"system": ROW_BMI["system"], "chat": "USER: hi\n\n\nFUNCTION RESPONSE: {}"}
    out = list(step([ROW_BMI, bad, NO_FUNCTIONS]))
    assert [c.id for c in out] == ["glaive:0", "glaive:2"]
    assert step.stats == {"kept": 2, "rejected": 1}
    [rejected] = rejects.items
    assert rejected["step"] == "normalize" and rejected["item"] == "glaive row 1 chat turn 1 (FUNCTION RESPONSE)"
    assert "follows no <functioncall>" in rejected["reason"] and rejected["record"] == bad
    rejects.write(tmp_path / "rejects.jsonl")
    assert json.loads((tmp_path / "rejects.jsonl").read_text())["item"] == rejected["item"]


def test_step_uses_row_ids_when_present():
    out = list(Normalize("xlam", progress=False)([ROW_0, {**ROW_0, "id": 59999}]))
    assert [c.id for c in out] == ["xlam:0", "xlam:59999"]
    assert out[1].messages[1].tool_calls[0].id == "call_59999_0"
