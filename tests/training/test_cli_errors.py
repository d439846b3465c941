"""Every training CLI fails on a missing model or dataset, or a bad preset, with one ``error:`` line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from builders.errors import ConfigError
from training import cli
from training.sft import SFTPreset

ROOT = Path(__file__).resolve().parents[2]


def run(module: str, *args) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def error_lines(res: subprocess.CompletedProcess) -> list[str]:
    assert res.returncode != 0 and "Traceback" not in res.stderr, res.stderr[-3000:]
    return [line for line in res.stderr.splitlines() if line.startswith("error:")]


@pytest.fixture
def model_dir(tmp_path) -> Path:
    """A folder that passes the up-front check (it holds a config.json); never loaded here."""
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    return folder


@pytest.mark.parametrize("module, extra", [
    ("training.sft", ["--output-dir", "out"]),
    ("training.rl", ["--output-dir", "out"]),
    ("training.evaluate", []),
])
def test_missing_model_path_is_one_error_line(tmp_path, module, extra):
    res = run(module, tmp_path / "data.jsonl", "--model", "/nonexistent", *extra)
    assert error_lines(res) == ["error: --model /nonexistent: does not exist; pass a local model folder "
                                "(with config.json) or a Hub model id such as org/name"]


def test_a_folder_without_config_json_is_not_a_model(tmp_path):
    res = run("training.sft", tmp_path / "data.jsonl", "--model", tmp_path, "--output-dir", tmp_path / "out")
    (line,) = error_lines(res)
    assert "is not a model folder (it holds no config.json)" in line


@pytest.mark.parametrize("module, extra", [
    ("training.sft", ["--output-dir", "out"]),
    ("training.rl", ["--output-dir", "out"]),
])
def test_missing_dataset_is_one_error_line(tmp_path, model_dir, module, extra):
    res = run(module, tmp_path / "missing.parquet", "--model", model_dir, *extra)
    (line,) = error_lines(res)
    assert "missing.parquet" in line and "is neither an existing file or folder nor a Hub id" in line


def test_evaluate_missing_dataset_is_one_error_line(tmp_path):
    predictions = tmp_path / "p.jsonl"
    predictions.write_text('{"id": "a", "output": ""}\n')
    res = run("training.evaluate", tmp_path / "missing.parquet", "--predictions", predictions)
    (line,) = error_lines(res)
    assert "is neither an existing file or folder nor a Hub id" in line


def test_bad_preset_is_a_config_error_in_the_shared_shape(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("sft: {learning_rate: 1e-5}\nmasks: [1, 2]\n")
    with pytest.raises(ConfigError, match=r"^SFT preset bad.yaml masks: \[1, 2\] is not a mapping; write it as"):
        SFTPreset.load(str(bad))
    bad.write_text("sft: {learning_rate: 1e-5\n")
    with pytest.raises(ConfigError, match=r"^SFT preset bad.yaml: not valid YAML at line 2"):
        SFTPreset.load(str(bad))
    bad.write_text("lerning_rate: 1\n")
    with pytest.raises(ConfigError, match=r"^SFT preset bad.yaml: unknown key 'lerning_rate'; expected one of "):
        SFTPreset.load(str(bad))


def test_run_main_prints_one_line_for_a_multiline_error(capsys):
    def main():
        raise ConfigError("--model x\ny", "line one\nline two", "fix it")

    with pytest.raises(SystemExit) as exit_:
        cli.run_main(main)
    assert exit_.value.code == "error: --model x\\ny: line one\\nline two; fix it"
