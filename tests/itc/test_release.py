"""`python -m builders.release` building ITC on the runtime, end to end against the scripted loopback LLM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from builders.llm.testing import FakeOpenAIServer
from builders.release import main
from tests.builders.test_release import error_line, release_files
from tests.itc.test_pipeline import OPTIONS, ROOT, catalog, make_responder

VERSION = "v0.1.0"


def write_preset(tmp_path: Path, url: str, roles: dict | None = None, **options) -> Path:
    """An ITC-only preset on the loopback server; ``options`` go to the ``default`` config."""
    preset = {
        "name": "itc-test", "version": "0.1.0", "seed": 0, "output_dir": str(tmp_path / "out"),
        "llm": {"cache": None,
                "endpoints": {"fake": {"base_url": url, "backoff_base": 0.01, "backoff_max": 0.05, "timeout": 5.0,
                                       "max_concurrency": 4}},
                "roles": {"default": {"endpoint": "fake", "model": "fake-model", "temperature": 0.0},
                          **(roles or {})}},
        "datasets": {"itc": {"configs": {"default": {**OPTIONS, "tools": catalog(), **options}, "apis": {}}}},
    }
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "preset.yaml"
    path.write_text(yaml.safe_dump(preset, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def release(preset: Path, work: Path, *extra: str) -> int:
    return main(["--preset", str(preset), "--work-dir", str(work), "--log-level", "WARNING", *extra])


@pytest.fixture(scope="module")
def server():
    with FakeOpenAIServer(responder=make_responder()) as srv:
        yield srv


@pytest.fixture(scope="module")
def built(server, tmp_path_factory):
    root = tmp_path_factory.mktemp("itc-release")
    preset = write_preset(root, server.base_url)
    assert release(preset, root / "work") == 0
    folder = root / "out" / "itc" / VERSION
    return SimpleNamespace(root=root, preset=preset, folder=folder, files=release_files(folder))


def test_release_loads_with_train_and_test_and_no_api_on_both_sides(built, tmp_path):
    from datasets import load_dataset

    tasks = load_dataset(str(built.folder), "default", cache_dir=str(tmp_path / "hf"))
    assert set(tasks) == {"train", "test"} and tasks["train"].num_rows and tasks["test"].num_rows
    train_tools = {t for row in tasks["train"] for t in row["tool_ids"]}
    test_tools = {t for row in tasks["test"] for t in row["tool_ids"]}
    assert train_tools and test_tools and not train_tools & test_tools
    apis = load_dataset(str(built.folder), "apis", cache_dir=str(tmp_path / "hf"))
    assert {r["api"] for r in apis["test"]} == test_tools and not set(apis["train"]["api"]) & test_tools
    for row in tasks["test"]:  # actions name the published tools
        names = {t["function"]["name"] for t in json.loads(row["tools"])}
        assert row["actions"] and all(a["name"] in names for a in row["actions"])


def test_manifest_holds_data_stats_and_the_run_record_stays_in_the_work_folder(built):
    manifest = json.loads((built.folder / "manifest.json").read_text())
    steps, llm = manifest["stats"]["steps"], manifest["stats"]["llm"]
    assert list(steps)[0] == "catalog" and list(steps)[-2:] == ["split_by_api", "decontaminate_train"]
    # the card reports the query cleaning, with a zero when nothing was removed (dedup is off in OPTIONS)
    card = (built.folder / "README.md").read_text()
    for step in ("decontaminate_queries", "decontaminate_train"):
        assert steps[step]["rejected"] or f"{step}: 0 removed" in card
    assert "dedup_queries" not in steps and "of a group is kept, a sample goes with its trajectory): not run" in card
    assert steps["check_language"]["rejected"] and steps["catalog"]["rejected"]
    assert set(llm) == {"query_generator", "scorer", "qa_generator", "checker"}
    assert all(u["requests"] > 0 and u["prompt_tokens"] > 0 for u in llm.values())
    # rejects: sorted by (step, item id), counted per step
    rejects = [json.loads(line) for line in (built.folder / "rejects.jsonl").read_text().splitlines()]
    assert rejects and [(r["step"], r["item"]) for r in rejects] == sorted((r["step"], r["item"]) for r in rejects)
    assert manifest["rejects"]["itc:check_language"] == sum(steps["check_language"]["rejected"].values())
    # wall time and cache hits live in the work folder, never in the release
    run = json.loads((built.root / "work" / "itc" / "run.json").read_text())
    assert run["wall_s"] > 0 and "run.json" not in built.files and "wall_s" not in json.dumps(manifest)


def test_a_rebuild_is_unchanged_and_a_fresh_build_byte_identical(built, server, tmp_path, capsys):
    before = server.count
    assert release(built.preset, built.root / "work") == 0
    assert "(unchanged)" in capsys.readouterr().out and server.count == before  # all from the checkpoints
    assert release(built.preset, tmp_path / "work", "--output-dir", str(tmp_path / "again")) == 0
    assert release_files(tmp_path / "again" / "itc" / VERSION) == built.files


def test_dry_run_prints_the_plan_and_sends_nothing(built, server, tmp_path, capsys):
    before = server.count
    assert release(built.preset, tmp_path / "work", "--dry-run", "--output-dir", str(tmp_path / "out")) == 0
    out = capsys.readouterr().out
    assert "generate_queries" in out and "query_generator" in out and "checker" in out and "requests" in out
    assert server.count == before and not (tmp_path / "out").exists()


def test_a_cap_stops_with_one_error_line_and_a_raised_cap_resumes(built, server, tmp_path, capsys):
    work = tmp_path / "work"
    capped = write_preset(tmp_path, server.base_url, caps={"scorer": {"requests": 3}})
    assert release(capped, work) == 2
    err = error_line(capsys.readouterr().err)
    assert "llm role 'scorer'" in err and "cap of 3 requests" in err and "raise caps.scorer.requests" in err
    assert not (tmp_path / "out" / "itc" / VERSION).exists()
    raised = write_preset(tmp_path, server.base_url, caps={"scorer": {"requests": 10_000}})
    before = server.count
    assert release(raised, work) == 0
    files = release_files(tmp_path / "out" / "itc" / VERSION)
    assert {k: v for k, v in files.items() if k.startswith("data/")} == \
        {k: v for k, v in built.files.items() if k.startswith("data/")}
    sent = server.count - before
    json.loads(files["manifest.json"])  # noqa: the release is whole
    assert sent < sum(u["requests"] for u in json.loads(built.files["manifest.json"])["stats"]["llm"].values())


@pytest.mark.parametrize("roles, message", [
    ({"trajectory_judge": {"endpoint": "fake"}}, "llm.roles.trajectory_judge: is not a role any step declares"),
    ({"scorerr": {"endpoint": "fake"}}, "scorerr"),
])
def test_a_role_no_step_calls_fails_before_any_work(server, tmp_path, capsys, roles, message):
    before = server.count
    assert release(write_preset(tmp_path, server.base_url, roles=roles), tmp_path / "work") == 2
    assert message in error_line(capsys.readouterr().err)
    assert server.count == before and not (tmp_path / "out").exists() and not (tmp_path / "work").exists()


def test_bad_itc_options_fail_in_one_line_before_any_request(server, tmp_path, capsys):
    before = server.count
    for options, message in (({"score_filter": "strict"}, "mode 'strict'"), ({"countz": {}}, "not an ITC option"),
                             ({"caps": {"nobody": {"requests": 1}}}, "caps a role no step calls")):
        assert release(write_preset(tmp_path, server.base_url, **options), tmp_path / "work") == 2
        assert message in error_line(capsys.readouterr().err)
    assert server.count == before and not (tmp_path / "out").exists()


def test_a_killed_release_resumes_to_the_same_bytes(tmp_path):
    """SIGKILL of a release subprocess mid-build, then a rerun: the same files as an unbroken build."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with FakeOpenAIServer(latency=0.05, responder=make_responder()) as slow:
        reference = tmp_path / "reference"
        assert release(write_preset(reference, slow.base_url), reference / "work") == 0
        total = slow.count
        killed = tmp_path / "killed"
        preset = write_preset(killed, slow.base_url)
        start = slow.count
        child = subprocess.Popen([sys.executable, "-m", "builders.release", "--preset", str(preset), "--work-dir",
                                  str(killed / "work"), "--log-level", "WARNING"], env=env, cwd=ROOT)
        deadline = time.monotonic() + 60
        while slow.count - start < total // 2 and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.002)
        child.send_signal(signal.SIGKILL)
        child.wait()
        assert 0 < slow.count - start < total and not (killed / "out" / "itc" / VERSION).exists()
        assert release(preset, killed / "work") == 0
    assert release_files(killed / "out" / "itc" / VERSION) == release_files(reference / "out" / "itc" / VERSION)


def test_gold_answers_score_100_on_every_itc_metric(built, tmp_path):
    from training.evaluate import main as evaluate

    import datasets

    test = datasets.load_dataset(str(built.folder), "default", split="test", cache_dir=str(tmp_path / "hf"))
    predictions = tmp_path / "gold.jsonl"
    predictions.write_text("".join(json.dumps({"id": row["id"], "output": row["completion"][0]}) + "\n"
                                   for row in test))
    report = evaluate([str(built.folder), "--config", "default", "--split", "test", "--predictions", str(predictions),
                       "--metrics", "itc", "--output", str(tmp_path / "report.json")])
    scores = report["scores"]
    flat = {}

    def walk(prefix, value):
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}", v)
        else:
            flat[prefix] = value

    walk("", scores)
    headline = {k: v for k, v in flat.items() if isinstance(v, float) and "error" not in k}
    assert headline and all(v == 100.0 or v == 1.0 for v in headline.values()), headline


def test_the_card_describes_both_configs_from_the_contract(built):
    from builders.contract import APIS, TASKS

    card = built.files["README.md"].decode()
    for spec in (TASKS, APIS):
        for name, type_, doc in spec.schema_rows():
            assert f"| `{name}` | {type_} | {doc} |" in card
