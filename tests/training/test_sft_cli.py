import json
import os
import subprocess
import sys
from pathlib import Path

import datasets
import pytest

from builders.errors import ConfigError
from training.sft import PRESETS_DIR, SFTPreset, build_sft_config, main

ROOT = Path(__file__).resolve().parents[2]
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "",
                                           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]


def trajectory(i, verdicts):
    call = {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": json.dumps({"city": f"C{i}"})}}
    return {"id": f"t{i}", "tools": json.dumps(TOOLS), "turn_verdicts": verdicts, "messages": [
        {"role": "user", "content": f"Weather in C{i}?"},
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "content": "Error: 500 Server Error", "tool_call_id": "c1", "name": "get_weather"},
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "content": "sunny", "tool_call_id": "c1", "name": "get_weather"},
        {"role": "assistant", "content": "Sunny."}]}


def run_cli(*args):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.run([sys.executable, "-m", "training.sft", *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_help():
    out = run_cli("--help")
    assert out.returncode == 0
    for flag in ("--model", "--preset", "--output-dir", "--lora", "--max-steps", "--pkt", "--no-pkt", "--w-max",
                 "--config", "--revision"):
        assert flag in out.stdout
    text = " ".join(out.stdout.split())  # argparse wraps lines
    assert "--config CONFIG dataset config: samples or trajectories (default: samples when the dataset has " \
           "that config, else its default)" in text


@pytest.mark.parametrize("path", sorted(PRESETS_DIR.glob("sft_*.yaml")), ids=lambda p: p.stem)
def test_presets_build_valid_configs(path, tmp_path):
    preset = SFTPreset.load(path.stem)
    config = build_sft_config(preset, str(tmp_path))
    assert config.learning_rate == preset.sft["learning_rate"] and config.bf16 is False  # no GPU here
    assert config.max_length == preset.masks.max_length


def test_paper_hyperparameters():
    tl, toolmind, itc = (SFTPreset.load(n) for n in ("tl_training", "toolmind", "itc_lora"))
    assert (tl.sft["learning_rate"], tl.sft["warmup_steps"], tl.sft["per_device_train_batch_size"]) == (1e-6, 0.01, 4)
    assert tl.masks.pkt and tl.masks.w_max == 9 and tl.lora is None
    assert toolmind.sft["per_device_train_batch_size"] * toolmind.sft["gradient_accumulation_steps"] == 64
    assert (toolmind.sft["learning_rate"], toolmind.sft["warmup_steps"]) == (5e-6, 0.03)
    assert itc.lora is not None and (itc.sft["learning_rate"], itc.sft["num_train_epochs"]) == (1e-4, 3)


def test_bad_preset_is_named(tmp_path):
    with pytest.raises(ConfigError, match="was not found"):
        SFTPreset.load("no_such_preset")
    bad = tmp_path / "bad.yaml"
    bad.write_text("masks: {pkt: true, wmax: 3}\n")
    with pytest.raises(ConfigError, match=r"bad.yaml masks: unknown key 'wmax'"):
        SFTPreset.load(str(bad))


def test_cli_trains_a_few_steps(tiny_model_dir, tmp_path):
    data = tmp_path / "trajectories.parquet"
    datasets.Dataset.from_list([trajectory(i, [False, True, True]) for i in range(4)]).to_parquet(str(data))
    out = tmp_path / "run"
    res = run_cli(data, "--model", tiny_model_dir, "--output-dir", out, "--max-steps", 2, "--lora", "--w-max", 4,
                  "--set", "per_device_train_batch_size=2", "--set", "gradient_checkpointing=false")
    assert res.returncode == 0, res.stderr[-3000:]
    summary = json.loads((out / "sft_summary.json").read_text())
    assert summary["rows"] == 4 and summary["lora"] and summary["pkt"] and summary["w_max"] == 4
    assert summary["metrics"]["train_loss"] > 0 and 1.0 < summary["metrics"]["mean_token_weight"] <= 4.0
    assert (out / "adapter_model.safetensors").exists()


def test_cli_full_fine_tuning_in_process(tiny_model_dir, tmp_path):
    data = tmp_path / "samples.jsonl"
    rows = [{"id": f"s{i}", "prompt": t["messages"][:5], "completion": t["messages"][5:], "tools": t["tools"]}
            for i, t in enumerate(trajectory(i, None) for i in range(2))]
    datasets.Dataset.from_list(rows).to_json(str(data))
    trainer = main([str(data), "--model", str(tiny_model_dir), "--output-dir", str(tmp_path / "full"),
                    "--max-steps", "1", "--no-pkt", "--set", "gradient_checkpointing=false"])
    assert not hasattr(trainer.model, "peft_config")
    assert (tmp_path / "full" / "model.safetensors").exists()
    assert trainer.state.log_history[-1]["mean_token_weight"] == 1.0  # --no-pkt
