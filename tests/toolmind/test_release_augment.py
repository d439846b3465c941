"""A ToolMind release of open-source rows alone, built by `python -m builders.release`.

The seven sources from local files in their published formats (the rows of ``test_augment``), the
judges scripted on the loopback server, ``synthesize: false`` (the release publishes augmented
``trajectories`` and ``samples`` only, with no pool, graph or simulation). Two rows are planted in
the xLAM file: a BFCL v4 question asked as an xLAM query (decontamination must drop it) and a
one-word variant of a real xLAM row (near-duplicate removal must drop it).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from builders.decontam import bfcl_questions
from builders.llm.testing import FakeOpenAIServer
from builders.release import main
from tests.builders.test_release import error_line
from tests.toolmind.test_augment import LICENSES, XLAM_0, XLAM_3, judges, sources

VERSION = "v0.1.0"


def planted_xlam_rows() -> list[dict]:
    """A BFCL question (the longest simple-category one) as an xLAM query, and XLAM_3 with one word changed."""
    questions = bfcl_questions().texts
    qid = max((k for k in questions if k.startswith("simple")), key=lambda k: (len(questions[k]), k))
    bfcl = {**XLAM_0, "id": 100, "query": questions[qid]}
    near = {**XLAM_3, "id": 101, "query": XLAM_3["query"].replace("Find", "Compute")}
    return [bfcl, near]


def write_preset(tmp: Path, url: str, license: str) -> Path:
    entries = sources(tmp)
    xlam = Path(entries["xlam"]["path"])
    xlam.write_text(xlam.read_text() + "".join(json.dumps(r) + "\n" for r in planted_xlam_rows()))
    preset = {
        "name": "toolmind-augment-test", "version": "0.1.0", "seed": 3, "output_dir": str(tmp / "out"),
        "llm": {"cache": None,
                "endpoints": {"fake": {"base_url": url, "backoff_base": 0.01, "backoff_max": 0.05, "timeout": 5.0,
                                       "max_concurrency": 4}},
                "roles": {"default": {"endpoint": "fake", "model": "fake-model", "temperature": 0.0}}},
        "datasets": {"toolmind": {"pretty_name": "ToolMind augmented test", "license": license, "configs": {
            "trajectories": {"synthesize": False, "filters": {"trajectory": "record", "turn": "record"},
                             "augment": {"sources": entries, "filters": {"trajectory": "record", "turn": "record"}}},
            "samples": {}}}},
    }
    path = tmp / "preset.yaml"
    path.write_text(yaml.safe_dump(preset, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("toolmind-augment-release")
    with FakeOpenAIServer(responder=judges) as server:
        preset = write_preset(tmp, server.base_url, "cc-by-nc-4.0")
        assert main(["--preset", str(preset), "--work-dir", str(tmp / "work"), "--log-level", "WARNING"]) == 0
    return tmp / "out" / "toolmind" / VERSION


def load(folder: Path, config: str, tmp: Path):
    from datasets import load_dataset

    return load_dataset(str(folder), config, split="train", cache_dir=str(tmp / "hf"))


def test_every_source_is_published_with_its_licence_and_counted(built, tmp_path):
    samples, trajectories = load(built, "samples", tmp_path), load(built, "trajectories", tmp_path)
    assert samples.num_rows > 0 and sorted(trajectories["id"]) == trajectories["id"]  # ordered by id
    assert {(r["source"], r["license"]) for r in trajectories} == set(LICENSES.items())
    assert {(r["source"], r["license"]) for r in samples} == set(LICENSES.items())
    assert set(samples["trajectory_id"]) <= set(trajectories["id"])  # a sample goes with its trajectory
    manifest = json.loads((built / "manifest.json").read_text())
    counts = manifest["stats"]["sources"]
    assert set(counts) == set(LICENSES)  # synthesis is off: no toolmind source
    for name, c in counts.items():
        assert c["license"] == LICENSES[name] and c["format"] == name
        assert c["trajectories"] == sum(s == name for s in trajectories["source"])
        assert c["samples"] == sum(s == name for s in samples["source"])
    assert counts["xlam"]["rows_in"] == 5  # the three of test_augment and the two planted rows
    assert counts["xlam"]["rejects"]["overlaps bfcl_v4"] == 1
    assert counts["xlam"]["rejects"]["near duplicate"] == 1
    steps = manifest["stats"]["steps"]
    assert steps["decontaminate_trajectories"]["rejected"]["overlaps bfcl_v4"] >= 1
    assert steps["dedup_trajectories"]["rejected"]["near duplicate"] >= 1
    assert {"trajectory_judge", "turn_judge"} <= set(manifest["stats"]["llm"])


def test_the_card_lists_counts_and_licences_per_source(built):
    manifest = json.loads((built / "manifest.json").read_text())
    text = (built / "README.md").read_text()
    assert "## Rows per source" in text and "license: cc-by-nc-4.0" in text
    for name, c in manifest["stats"]["sources"].items():
        row = f"| `{name}` | {c['license']} | {c['rows_in']} | {c['trajectories']} | {c['samples']} |"
        assert row in text, row
    assert "decontaminate_trajectories against bfcl_v4: " in text


def test_a_permissive_licence_with_apigen_mt_is_refused_in_one_line(tmp_path, capsys):
    with FakeOpenAIServer(responder=judges) as server:
        preset = write_preset(tmp_path, server.base_url, "apache-2.0")
        assert main(["--preset", str(preset), "--work-dir", str(tmp_path / "work")]) == 2
        assert server.count == 0
    line = error_line(capsys.readouterr().err)
    assert "source 'apigen_mt' (cc-by-nc-4.0)" in line and "apache-2.0" in line
    assert not (tmp_path / "out").exists() and not (tmp_path / "work").exists()


def test_itc_test_queries_decontaminate_toolmind_when_the_release_built_itc():
    from types import SimpleNamespace

    from builders.decontam import decontaminate
    from toolmind.release import cleaning_steps

    query = "Which flights leave Lisbon for Nairobi on the first Monday of March with a stop in Casablanca?"
    ctx = SimpleNamespace(preset=SimpleNamespace(path="p.yaml"), runs={"itc": {"default": {
        "train": [], "test": [{"id": "q1", "query": query}]}}})
    dedup, decontam = cleaning_steps(ctx, {})
    assert [s.name for s in decontam.sets] == ["bfcl_v4", "itc_test"] and dedup.name == "dedup_trajectories"
    rows = [{"id": "t1", "messages": [{"role": "user", "content": f"Hi! {query} Thanks."}]},
            {"id": "t2", "messages": [{"role": "user", "content": "Book me a table for two tonight."}]}]
    kept, gone = decontaminate(rows, decontam.index, "trajectories")
    assert [r["id"] for r in kept] == ["t2"] and [h.eval_set for _, h in gone] == ["itc_test"]
    (only,) = cleaning_steps(SimpleNamespace(preset=ctx.preset, runs={}), {"dedup": False})
    assert [s.name for s in only.sets] == ["bfcl_v4"]  # no ITC in this release: BFCL alone
