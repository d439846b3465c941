"""GRPO with the IRM reward: dataset preparation, presets, and a few real steps on a tiny model."""

from __future__ import annotations

import json
import re

import pytest

from builders.errors import ConfigError
from builders.schema import SchemaError
from training.rl import RLPreset, build_grpo_config, build_parser, main, prepare_dataset, render_prompt

TOOLS = json.dumps([{"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}])


def _msg(role, content=None, tool_calls=None):
    return {"role": role, "content": content, "reasoning_content": None, "tool_calls": tool_calls,
            "tool_call_id": None, "name": None}


def _row(i, city):
    call = {"id": f"c{i}", "type": "function",
            "function": {"name": "get_weather", "arguments": json.dumps({"city": city})}}
    return {"id": f"r{i}", "prompt": [_msg("user", f"Weather in {city}?")],
            "completion": [_msg("assistant", None, [call])], "tools": TOOLS}


ROWS = [_row(i, c) for i, c in enumerate(["Paris", "Rome", "Oslo", "Lima"])]
TEXT_ROW = {"id": "t", "prompt": [_msg("user", "Hi")], "completion": [_msg("assistant", "Hello!")], "tools": TOOLS}


def test_prepare_dataset_renders_tools_and_keeps_gold(chat_tokenizers):
    tok = chat_tokenizers["qwen3"]
    ds = prepare_dataset(ROWS[:2] + [TEXT_ROW], tok)
    assert len(ds) == 2  # the plain-answer row is left out
    assert ds.column_names == ["prompt", "gold_calls", "tools"]
    assert '"name": "get_weather"' in ds[0]["prompt"] and ds[0]["prompt"].endswith("<|im_start|>assistant\n")
    assert json.loads(ds[1]["gold_calls"])[0]["function"] == {"name": "get_weather", "arguments": '{"city": "Rome"}'}
    assert render_prompt(tok, [{"role": "user", "content": "Hi"}], []).count("get_weather") == 0
    with pytest.raises(SchemaError, match="no row with a gold tool call"):
        prepare_dataset([TEXT_ROW], tok)


def test_gold_tool_missing_from_tools_is_named_up_front(chat_tokenizers):
    other = json.dumps([{"type": "function", "function": {"name": "get_time", "description": "",
                                                         "parameters": {"type": "object", "properties": {}}}}])
    with pytest.raises(SchemaError, match=r"^row 'r1' gold call 0 to 'get_weather': its tool is not in the row's "
                                          r"tools; .*\['get_time'\]"):
        prepare_dataset([ROWS[0], ROWS[1] | {"tools": other}], chat_tokenizers["qwen3"])


def test_presets_load_and_map_to_grpo(tmp_path):
    tl, lora = RLPreset.load("rl_grpo_tl"), RLPreset.load("rl_grpo_lora")
    assert tl.lora is None and lora.lora["r"] == 16
    args = build_grpo_config(tl, str(tmp_path))
    assert (args.learning_rate, args.beta, args.epsilon, args.num_train_epochs) == (2e-6, 0.4, 0.2, 3)
    assert args.bf16 is False  # no CUDA here
    assert args.per_device_train_batch_size * args.gradient_accumulation_steps // args.num_generations == 8
    with pytest.raises(ConfigError, match="unknown GRPOConfig fields"):
        build_grpo_config(tl, str(tmp_path), overrides={"not_a_field": 1})
    with pytest.raises(ConfigError, match="was not found"):
        RLPreset.load("rl_nope")


def test_help_lists_the_options(capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for option in ("--model", "--preset", "--output-dir", "--max-steps", "--lora"):
        assert option in out


def test_a_few_grpo_steps_with_the_irm_reward(tiny_model_dir, tmp_path, monkeypatch):
    """Real steps through the CLI; a spy around the wired reward checks what GRPO hands it.

    The reward must see each prompt's own gold calls and tools: an exact call for the city in the
    prompt scores +1 through it, a wrong value -0.25.
    """
    from datasets import Dataset

    from training import rl
    from training.reward import grpo_irm_reward

    seen = []

    def spy(prompts, completions, **kwargs):
        cities = [re.search(r"Weather in (\w+)\?", p).group(1) for p in prompts]
        call = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "%s"}}\n</tool_call>'
        seen.append({"cities": cities, "gold": kwargs["gold_calls"], "tools": kwargs["tools"],
                     "exact": grpo_irm_reward(prompts, [call % c for c in cities], **kwargs),
                     "wrong": grpo_irm_reward(prompts, [call % "Nowhere"] * len(prompts), **kwargs)})
        return grpo_irm_reward(prompts, completions, **kwargs)

    spy.__name__ = "grpo_irm_reward"
    monkeypatch.setattr(rl, "grpo_irm_reward", spy)
    data = tmp_path / "samples.parquet"
    Dataset.from_list(ROWS).to_parquet(data)
    out = tmp_path / "rl"
    trainer = main([str(data), "--model", str(tiny_model_dir), "--output-dir", str(out), "--max-steps", "2",
                    "--set", "num_generations=2", "--set", "per_device_train_batch_size=2",
                    "--set", "gradient_accumulation_steps=1", "--set", "max_completion_length=12",
                    "--set", "save_strategy=no"])
    assert trainer.state.global_step == 2
    logged = [h for h in trainer.state.log_history if "rewards/grpo_irm_reward/mean" in h]
    assert len(logged) == 2
    for h in logged:  # a random model writes no call: every completion scores in the IRM range
        assert -2.0 <= h["rewards/grpo_irm_reward/mean"] <= 1.0
    assert (out / "model.safetensors").exists()
    assert len(seen) == 2
    for batch in seen:  # one prompt, two generations, per step
        assert len(batch["cities"]) == 2 and batch["cities"][0] == batch["cities"][1]
        for city, gold, tools in zip(batch["cities"], batch["gold"], batch["tools"]):
            assert json.loads(gold)[0]["function"]["arguments"] == json.dumps({"city": city}) and tools == TOOLS
        assert batch["exact"] == [1.0, 1.0] and batch["wrong"] == [-0.25, -0.25]


def test_lora_option_trains_an_adapter(tiny_model_dir, tmp_path):
    from peft import PeftModel

    from training.rl import build_trainer

    overrides = {"num_generations": 2, "per_device_train_batch_size": 2, "gradient_accumulation_steps": 1,
                 "max_completion_length": 8, "save_strategy": "no"}
    trainer = build_trainer(str(tiny_model_dir), ROWS[:2], RLPreset.load("rl_grpo_tl"), str(tmp_path), max_steps=1,
                            overrides=overrides, use_lora=True)
    assert isinstance(trainer.model, PeftModel)
    trainer.train()
    assert trainer.state.global_step == 1


def test_openrlhf_preparation_from_ppo_md(chat_tokenizers):
    from training.reward import openrlhf_label, reward_func

    ds = prepare_dataset(ROWS[:2], chat_tokenizers["qwen3"], strip_bos=False)
    ds = ds.map(lambda r: {"label": openrlhf_label(r)}, remove_columns=["gold_calls", "tools"])
    assert ds.column_names == ["prompt", "label"]
    responses = ['<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call><|im_end|>',
                 '<tool_call>\n{"name": "get_weather", "arguments": {"town": "Rome"}}\n</tool_call><|im_end|>']
    out = reward_func([p + r for p, r in zip(ds["prompt"], responses)], ds["prompt"], ds["label"])
    assert out["rewards"].tolist() == pytest.approx([1.0, -1.3])  # hallucinated `town`, missing `city`
