"""RL on tool calls with the IRM reward, on TRL's GRPOTrainer.

    python -m training.rl org/toolmind --config samples --model ./sft-ckpt --output-dir ./rl-ckpt
    python -m training.rl ./releases/toolmind --model ./sft-ckpt --preset rl_grpo_lora --max-steps 200

Input: any dataset in the contract's ``samples`` shape: ``prompt`` (messages), ``completion``
(``[anchor assistant message]``, whose tool calls are the gold calls) and ``tools`` (JSON
string). ITC rows work too (gold from ``actions``). Rows whose gold turn makes no tool call are
left out: the reward is about calls.

TRL's GRPO takes one global list of *callable* tools, while every row here has its own tool
schemas, so each prompt is rendered here with its row's tools by the model's chat template
(``add_generation_prompt=True``) and handed to GRPO as text; completions come back as text and
``training.reward.grpo_irm_reward`` parses them. The gold calls and tools travel as the columns
``gold_calls`` and ``tools``, which GRPO passes to the reward function.

The paper runs PPO (see ``training/PPO.md`` for how that maps to GRPO here and to OpenRLHF).
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from builders.schema import SchemaError
from builders.toolcalls import ParseError
from training import cli
from training.metrics.tool_calls import gold_calls
from training.reward import GOLD_COLUMN, check_gold_tools, grpo_irm_reward

logger = logging.getLogger(__name__)

DEFAULT_PRESET = "rl_grpo_tl"


@dataclass
class RLPreset(cli.Preset, kind="RL", prefix="rl_"):
    """An RL recipe: GRPOConfig arguments, optional LoRA, chat-template options."""

    grpo: dict[str, Any] = field(default_factory=dict)  # keyword arguments of trl.GRPOConfig
    lora: dict[str, Any] | None = None  # keyword arguments of peft.LoraConfig; None = full fine-tuning
    chat_template_kwargs: dict[str, Any] = field(default_factory=dict)


def build_grpo_config(preset: RLPreset, output_dir: str, max_steps: int | None = None,
                      overrides: dict[str, Any] | None = None):
    from trl import GRPOConfig

    overrides = {**(overrides or {}), **({} if max_steps is None else {"max_steps": max_steps})}
    return cli.trl_config(GRPOConfig, preset.grpo, overrides, output_dir,
                          f"GRPO settings of preset {preset.name!r}")


def render_prompt(tokenizer, messages: list[dict], tools: list[dict], chat_template_kwargs: dict | None = None,
                  strip_bos: bool = True) -> str:
    """The prompt text a trainer will tokenize: the row's messages and tools through the chat template.

    GRPO tokenizes text prompts with special tokens on, so ``strip_bos`` drops a BOS the
    template wrote when the tokenizer adds one again (OpenRLHF tokenizes without: keep it there).
    """
    text = tokenizer.apply_chat_template(messages, tools=tools or None, add_generation_prompt=True, tokenize=False,
                                         **(chat_template_kwargs or {}))
    bos = tokenizer.bos_token
    if strip_bos and bos and text.startswith(bos) and tokenizer("x")["input_ids"][:1] == [tokenizer.bos_token_id]:
        text = text[len(bos):]
    return text


def prepare_dataset(ds, tokenizer, chat_template_kwargs: dict | None = None, strip_bos: bool = True):
    """Contract rows -> ``{prompt: text, gold_calls: JSON, tools: JSON}``, rows with gold calls only."""
    from datasets import Dataset

    from training.data import row_messages, row_name, row_tools

    rows, skipped = [], 0
    for index, row in enumerate(ds):
        name = row_name(row, index)
        source = row.get("actions") if row.get("actions") is not None else row.get("completion")
        try:
            calls = gold_calls(source) if source is not None else None
        except (ParseError, json.JSONDecodeError) as exc:
            raise SchemaError(f"{name} gold", f"cannot be read ({exc})",
                              "store the anchor turn's calls as OpenAI tool_calls") from None
        if calls is None:
            raise SchemaError(name, "has no completion (or ITC actions)", "train on the `samples` config")
        if not calls:
            skipped += 1
            continue
        tools = row_tools(row, name)
        check_gold_tools(calls, {t["function"]["name"] for t in tools}, f"{name} gold")
        prompt = render_prompt(tokenizer, row_messages(row, "prompt", name), tools, chat_template_kwargs, strip_bos)
        rows.append({"prompt": prompt,
                     GOLD_COLUMN: json.dumps([c.to_openai() for c in calls], ensure_ascii=False),
                     "tools": json.dumps(tools, ensure_ascii=False)})
    if skipped:
        logger.info("left out %d rows whose gold turn makes no tool call", skipped)
    if not rows:
        raise SchemaError("RL dataset", "has no row with a gold tool call", "use a tool-use dataset's samples config")
    return Dataset.from_list(rows)


def build_trainer(model_path: str, train_dataset, preset: RLPreset, output_dir: str, max_steps: int | None = None,
                  overrides: dict[str, Any] | None = None, use_lora: bool | None = None):
    """A GRPOTrainer with the IRM reward over an already loaded contract dataset."""
    from transformers import AutoTokenizer
    from trl import GRPOTrainer

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    dataset = prepare_dataset(train_dataset, tokenizer, preset.chat_template_kwargs)
    args = build_grpo_config(preset, output_dir, max_steps, overrides)
    peft_config = cli.lora_config(preset.lora, use_lora)
    logger.info("GRPO on %d prompts, %s", len(dataset), "LoRA" if peft_config else "full fine-tuning")
    return GRPOTrainer(model=model_path, reward_funcs=[grpo_irm_reward], args=args, train_dataset=dataset,
                       processing_class=tokenizer, peft_config=peft_config)


def build_parser() -> argparse.ArgumentParser:
    p = cli.make_parser("python -m training.rl", __doc__)
    cli.add_run_arguments(p, dataset_help="release folder, data file or Hub id of a contract dataset (samples shape)",
                          config_help=cli.SAMPLES_CONFIG_HELP,
                          model_help="local model folder (typically the SFT checkpoint)", preset_default=DEFAULT_PRESET,
                          set_help="override a GRPOConfig field, e.g. --set num_generations=4 (repeatable)")
    return p


def main(argv: list[str] | None = None):
    args = cli.parse_args(build_parser(), argv)
    preset = RLPreset.load(args.preset)
    ds = cli.load_rows(args.dataset, config=args.config, split=args.split, revision=args.revision,
                       limit=args.limit)
    trainer = build_trainer(args.model, ds, preset, args.output_dir, args.max_steps, dict(args.overrides),
                            args.use_lora)
    trainer.train()
    trainer.save_model(args.output_dir)
    logger.info("saved to %s", args.output_dir)
    return trainer


if __name__ == "__main__":
    cli.run_main(main)
