"""``python -m training.evaluate``: --help, scoring prediction files, and generating with a model."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

from builders.schema import SchemaError
from tests.training.test_rl import ROWS, TEXT_ROW, _row
from training.evaluate import main


def _write(path, rows):
    from datasets import Dataset

    Dataset.from_list(rows).to_parquet(path)
    return str(path)


def _predictions(path, outputs: dict):
    path.write_text("".join(json.dumps({"id": k, "output": v}) + "\n" for k, v in outputs.items()))
    return str(path)


@pytest.fixture
def samples(tmp_path):
    return _write(tmp_path / "samples.parquet", ROWS + [TEXT_ROW])  # r0..r3: Paris, Rome, Oslo, Lima; t: no call


def tag(args):
    return f'<tool_call>{json.dumps({"name": "get_weather", "arguments": args})}</tool_call>'


def test_help_runs_as_a_module():
    out = subprocess.run([sys.executable, "-m", "training.evaluate", "--help"], capture_output=True, text=True,
                         check=True).stdout
    for option in ("--model", "--predictions", "--metrics", "--output", "bfcl:<category>"):
        assert option in out


def test_tl_report_from_a_predictions_file(samples, tmp_path, capsys):
    preds = _predictions(tmp_path / "p.jsonl", {
        "r0": tag({"city": "Paris"}),  # TS PI CF, IRM +1
        "r1": tag({"city": "Roma"}),  # TS PI, IRM -0.25
        "r2": tag({"city": "Oslo", "unit": "C"}),  # TS, hallucinated argument: IRM -0.8
        "r3": '<tool_call>{"name": "get_weather", "arguments": {"city": </tool_call>',  # nothing, IRM -2
        "t": "Hello!",
    })
    out = tmp_path / "report.json"
    main([samples, "--split", "train", "--predictions", preds, "--output", str(out)])
    report = json.loads(out.read_text())
    assert report["metrics"] == "tl"  # inferred: no `actions` column
    assert report["scores"] == pytest.approx({"n": 4, "TS": 0.75, "PI": 0.5, "CF": 0.25, "IRM": -2.05 / 4})
    assert [i["id"] for i in report["items"]] == ["r0", "r1", "r2", "r3"]  # the plain-answer row is not scored
    table = capsys.readouterr().out
    assert "TS" in table and "0.7500" in table


def test_itc_report_from_a_predictions_file(tmp_path):
    rows = []
    for i, (query, lang, city) in enumerate([("What is the weather in Paris?", "en", "Paris"),
                                              ("Quel temps fait-il à Lyon aujourd'hui ?", "fr", "Lyon")]):
        rows.append(_row(i, city) | {"id": f"i{i}", "task_type": "single", "language": lang, "query": query,
                                     "thought": "", "actions": [{"name": "get_weather",
                                                                 "arguments": json.dumps({"city": city})}]})
    data = _write(tmp_path / "itc.parquet", rows)
    preds = _predictions(tmp_path / "p.jsonl", {
        "i0": json.dumps({"Thought": "I will look up the current weather in Paris for the user.",
                          "Action": "[get_weather(city='Paris')]"}),
        "i1": tag({"city": "Lyons"}),
    })
    out = tmp_path / "itc.json"
    report = main([data, "--split", "train", "--predictions", preds, "--output", str(out)])
    scores = report["scores"]
    assert report["metrics"] == "itc"
    assert (scores["FM"], scores["LM"]) == (1.0, 0.5)
    assert scores["tool_selection"] == pytest.approx({"precision": 1.0, "recall": 1.0, "f1": 1.0})
    assert scores["tool_invocation"] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5})
    assert scores["errors"]["invocation"]["incorrect_params"]["count"] == 1
    strict = main([data, "--split", "train", "--predictions", preds, "--output", str(out), "--strict-format"])
    assert strict["scores"]["FM"] == 0.5


@pytest.mark.skipif(importlib.util.find_spec("bfcl_eval") is None, reason="bfcl-eval is not installed")
def test_bfcl_report_from_a_predictions_file(tmp_path):
    preds = _predictions(tmp_path / "p.jsonl", {
        "simple_python_0": "[calculate_triangle_area(base=10, height=5)]",
        "simple_python_1": '<tool_call>{"name": "math.factorial", "arguments": {"number": 5}}</tool_call>',
        "simple_python_2": "[math.hypot(x=4, y=6)]",
    })
    report = main(["bfcl:simple_python", "--predictions", preds, "--limit", "3", "--output", str(tmp_path / "b.json")])
    assert report["metrics"] == "bfcl"
    assert report["scores"]["accuracy"] == pytest.approx(2 / 3)
    assert [i["valid"] for i in report["items"]] == [True, True, False]



@pytest.mark.skipif(importlib.util.find_spec("bfcl_eval") is None, reason="bfcl-eval is not installed")
def test_a_missing_prediction_fails_even_an_irrelevance_item():
    from training.evaluate import bfcl_items, score

    items = bfcl_items("bfcl:irrelevance")[:2]
    report = score(items, {items[0].id: "None of these functions can compute a triangle's area."}, "bfcl")
    assert [i["valid"] for i in report["items"]] == [True, False]
    assert report["items"][1]["error_type"] == "missing_prediction"


def test_predictions_that_match_no_item_are_an_error(samples, tmp_path):
    preds = _predictions(tmp_path / "p.jsonl", {"other": "x"})
    with pytest.raises(SchemaError, match="match none"):
        main([samples, "--split", "train", "--predictions", preds, "--output", str(tmp_path / "r.json")])


def test_generation_with_a_local_model(tiny_model_dir, samples, tmp_path):
    out = tmp_path / "gen" / "report.json"
    report = main([samples, "--split", "train", "--model", str(tiny_model_dir), "--limit", "2",
                   "--max-new-tokens", "6", "--batch-size", "2", "--output", str(out)])
    saved = [json.loads(line) for line in (tmp_path / "gen" / "report.predictions.jsonl").read_text().splitlines()]
    assert [p["id"] for p in saved] == ["r0", "r1"] and all(isinstance(p["output"], str) for p in saved)
    assert report["scores"]["n"] == 2 and 0.0 <= report["scores"]["TS"] <= 1.0
    assert json.loads(out.read_text())["model"] == str(tiny_model_dir)


@pytest.mark.parametrize("metrics", ["tl", "itc"])
def test_gold_tool_missing_from_tools_is_named_up_front(metrics):
    from training.evaluate import contract_items

    other = json.dumps([{"type": "function", "function": {"name": "get_time", "description": "",
                                                         "parameters": {"type": "object", "properties": {}}}}])
    row = ROWS[2] | {"tools": other, "actions": [{"name": "get_weather", "arguments": '{"city": "Oslo"}'}]}
    with pytest.raises(SchemaError, match=r"^row 'r2' gold call 0 to 'get_weather': its tool is not in the row's"):
        contract_items([ROWS[0], row], metrics)
