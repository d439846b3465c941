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
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from builders.schema import SchemaError
from training.metrics.tool_calls import ParseError, gold_calls
from training.reward import GOLD_COLUMN, grpo_irm_reward
from training.sft import DEFAULT_LORA, PRESETS_DIR, bf16_available, parse_override

logger = logging.getLogger(__name__)

DEFAULT_PRESET = "rl_grpo_tl"


@dataclass
class RLPreset:
    """An RL recipe: GRPOConfig arguments, optional LoRA, chat-template options."""

    name: str
    description: str = ""
    grpo: dict[str, Any] = field(default_factory=dict)  # keyword arguments of trl.GRPOConfig
    lora: dict[str, Any] | None = None  # keyword arguments of peft.LoraConfig; None = full fine-tuning
    chat_template_kwargs: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, name_or_path: str) -> "RLPreset":
        path = Path(name_or_path)
        if not path.suffix:
            path = PRESETS_DIR / f"{name_or_path}.yaml"
        if not path.exists():
            known = sorted(p.stem for p in PRESETS_DIR.glob("rl_*.yaml"))
            raise SchemaError(f"RL preset {name_or_path!r}", "was not found", f"use one of {known} or a YAML path")
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        allowed = {f.name for f in fields(cls)}
        unknown = set(data) - allowed
        if unknown:
            raise SchemaError(f"RL preset {path.name}", f"has unknown keys {sorted(unknown)}",
                              f"use only {sorted(allowed)}")
        return cls(**{"name": path.stem, **data})


def build_grpo_config(preset: RLPreset, output_dir: str, max_steps: int | None = None,
                      overrides: dict[str, Any] | None = None):
    from trl import GRPOConfig

    kwargs = {"bf16": bf16_available(), "report_to": "none", **preset.grpo, **(overrides or {})}
    if max_steps is not None:
        kwargs["max_steps"] = max_steps
    if kwargs.get("bf16") and not bf16_available():
        logger.warning("bf16 asked for but not available here (no CUDA bf16): training in fp32")
        kwargs["bf16"] = False
    known = {f.name for f in fields(GRPOConfig)}
    unknown = set(kwargs) - known
    if unknown:
        raise SchemaError(f"GRPO settings of preset {preset.name!r}", f"unknown GRPOConfig fields {sorted(unknown)}",
                          "check the names against trl.GRPOConfig")
    return GRPOConfig(output_dir=output_dir, **kwargs)


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
    peft_config = None
    lora = preset.lora if use_lora is not False else None
    if use_lora and lora is None:
        lora = DEFAULT_LORA
    if lora is not None:
        from peft import LoraConfig

        peft_config = LoraConfig(task_type="CAUSAL_LM", **lora)
    logger.info("GRPO on %d prompts, %s", len(dataset), "LoRA" if peft_config else "full fine-tuning")
    return GRPOTrainer(model=model_path, reward_funcs=[grpo_irm_reward], args=args, train_dataset=dataset,
                       processing_class=tokenizer, peft_config=peft_config)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training.rl", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dataset", help="release folder, data file or Hub id of a contract dataset (samples shape)")
    p.add_argument("--model", required=True, help="local model folder (typically the SFT checkpoint)")
    p.add_argument("--config", default=None, help="dataset config (e.g. samples)")
    p.add_argument("--split", default="train")
    p.add_argument("--revision", help="Hub revision (release tag)")
    p.add_argument("--preset", default=DEFAULT_PRESET,
                   help=f"preset name in training/presets or a YAML path (default: {DEFAULT_PRESET})")
    p.add_argument("--output-dir", required=True)
    p.add_argument("--max-steps", type=int, help="stop after this many optimizer steps")
    p.add_argument("--limit", type=int, help="use only the first N rows")
    lora = p.add_mutually_exclusive_group()
    lora.add_argument("--lora", dest="use_lora", action="store_true", default=None,
                      help="train a LoRA adapter (the preset's LoRA settings, or r=16 on all linear layers)")
    lora.add_argument("--full", dest="use_lora", action="store_false", help="full fine-tuning even if the preset has LoRA")
    p.add_argument("--set", dest="overrides", action="append", type=parse_override, default=[], metavar="KEY=VALUE",
                   help="override a GRPOConfig field, e.g. --set num_generations=4 (repeatable)")
    return p


def main(argv: list[str] | None = None):
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from training.data import load_split

    preset = RLPreset.load(args.preset)
    ds = load_split(args.dataset, config=args.config, split=args.split, revision=args.revision)
    if args.limit:
        ds = ds.select(range(min(args.limit, len(ds))))
    trainer = build_trainer(args.model, ds, preset, args.output_dir, args.max_steps, dict(args.overrides),
                            args.use_lora)
    trainer.train()
    trainer.save_model(args.output_dir)
    logger.info("saved to %s", args.output_dir)
    return trainer


if __name__ == "__main__":
    try:
        main()
    except SchemaError as exc:
        sys.exit(f"error: {exc}")
