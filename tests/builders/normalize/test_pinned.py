"""Pinned outputs: the caches of the normalisers and the rule checks change speed, never bytes.

For the fixture rows of all seven open-source formats (each converted twice, so the second pass
reads the caches), the converted rows, the rule verdicts and the ``samples`` ids hash to values
recorded before the caches existed. Broken rows must keep their exact error messages.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import pytest

from builders.normalize import NORMALIZERS
from builders.schema import SchemaError, canonical_json
from toolmind.rules import check_turns
from toolmind.turns import split_samples

from .test_glaive import NO_FUNCTIONS, ROW_BMI, TWO_FUNCTIONS
from .test_toolace import ROW as TOOLACE_ROW
from .test_xlam import ROW_0 as XLAM_0, ROW_3 as XLAM_3, TOOLS_3

DATA = Path(__file__).resolve().parent / "data"
TAU_TOOLS = str(DATA / "taubench_airline_tools.json")


def _jsonl(name: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / name).read_text().splitlines()]


def fixture_rows() -> dict[str, tuple[list[dict], dict]]:
    return {
        "xlam": ([XLAM_0, XLAM_3], {}),
        "glaive": ([ROW_BMI, TWO_FUNCTIONS, NO_FUNCTIONS], {}),
        "toolace": ([TOOLACE_ROW], {}),
        "apigen_mt": (json.loads((DATA / "apigen_mt.json").read_text()), {}),
        "when2call": (_jsonl("when2call_sft.jsonl"), {}),
        "taubench": (json.loads((DATA / "taubench_gpt-4o-airline.json").read_text()), {"tools": TAU_TOOLS}),
        "button": (_jsonl("button.jsonl"), {}),
    }


def pipeline_digests(fmt: str) -> tuple[str, str, str]:
    """(converted rows, rule verdicts, sample ids) of one format's fixture rows, each as a short sha256."""
    rows, options = fixture_rows()[fmt]
    converted, verdicts, sample_ids = [], [], []
    for i, row in enumerate(rows):
        conv = NORMALIZERS[fmt](copy.deepcopy(row), i, **options)
        converted.append([conv.to_row(), conv.dropped_defaults])
        rules = check_turns(conv.messages, conv.tools)
        verdicts.append([[v.error, v.rule, v.reason] for v in rules])
        trajectory = {**conv.to_row(), "trajectory_verdict": None, "provenance": {"models": {}},
                      "turn_verdicts": [{"keep": not v.error, "rule": v.rule, "reason": v.reason} for v in rules]}
        sample_ids.append([s["id"] for s in split_samples(trajectory)])
    return tuple(hashlib.sha256(canonical_json(x).encode()).hexdigest()[:16] for x in (converted, verdicts, sample_ids))


PINNED = {  # recorded on main before the caches (commit 48c42a9)
    "apigen_mt": ("165f3f6839f6a259", "fefc2ae035311779", "c9fa2450aa13ede9"),
    "button": ("2264be4ffb0c5f4e", "d3cfe64b942d75cd", "0baec80c5650917e"),
    "glaive": ("dc6923421498f7eb", "99700228685a1979", "201caf6021f135bd"),
    "taubench": ("8dc354edda84fbb1", "6f3088b52a1b51e4", "e614befdc226ae53"),
    "toolace": ("56d2e61cca7dd23d", "8d1091d4a6bec9cd", "50807014a38c1417"),
    "when2call": ("e1586d88426ed798", "a5f10b4605968946", "48edf63cf754de3a"),
    "xlam": ("9623a6572c32a467", "fdb502a2503b7793", "f36e35974a054940"),
}


@pytest.mark.parametrize("fmt", sorted(PINNED))
def test_outputs_are_pinned_on_first_and_cached_pass(fmt):
    assert pipeline_digests(fmt) == PINNED[fmt]
    assert pipeline_digests(fmt) == PINNED[fmt]  # every tool and schema is a cache hit now


def _apigen_tools(change) -> dict:
    row = copy.deepcopy(fixture_rows()["apigen_mt"][0][0])
    tools = json.loads(row["tools"])
    change(tools)
    return {**row, "tools": json.dumps(tools)}


def _misspelt_type(tools: list) -> list:
    tools = copy.deepcopy(tools)
    tools[1]["parameters"]["word2"]["type"] = "Strng"
    return tools


BROKEN = [  # (format, row, its error), each after the same tools were converted fine
    ("xlam", {**XLAM_0, "answers": '[{"name": "live_giveaways_by_type", "arguments": '},
     "xlam row 0: field 'answers' is not valid JSON (Expecting value at position 49); store 'answers' as JSON text"),
    ("xlam", {**XLAM_3, "tools": json.dumps(_misspelt_type(TOOLS_3))},
     "xlam row 3, tools[1] (is_anagram) parameter 'word2': unknown type 'Strng' in 'Strng'; use a JSON or Python "
     "type such as string, int, float, bool, List[str] or Dict[str, Any]"),
    ("apigen_mt", _apigen_tools(lambda t: t[2].update(parameters={"type": "integer"})),
     "apigen_mt row 7, tools[2] (cancel_reservation) parameters: parameters must describe an object, got type "
     "'integer'; wrap the arguments in {'type': 'object', 'properties': {...}}"),
    ("apigen_mt", _apigen_tools(lambda t: t.append(dict(t[0], description="other"))),
     "apigen_mt row 7: tools[14] redefines the function 'book_reservation' differently; give every function a "
     "distinct name"),
]


@pytest.mark.parametrize("fmt, row, error", BROKEN)
def test_errors_are_unchanged_after_cache_hits(fmt, row, error):
    pipeline_digests(fmt)  # the good rows' tools are cached now
    with pytest.raises(SchemaError) as exc:
        NORMALIZERS[fmt](row, 7)
    assert str(exc.value) == error
