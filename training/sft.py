"""Weighted SFT (MAE masks + PKT weights) on any contract dataset, on TRL's SFTTrainer.

    python -m training.sft org/toolmind --config trajectories --model ./Qwen3-8B --output-dir ./sft-ckpt
    python -m training.sft ./releases/itc --model ./base --preset sft_itc_lora --max-steps 100

The rows (``samples`` or ``trajectories``, see ``training.data``) go through the model's chat
template with their tools; ``training.masks`` turns them into ``input_ids``, ``labels`` (loss on
the completion, or on every assistant turn whose verdict is True) and PKT ``weights``, and
``training.trainer.WeightedSFTTrainer`` trains on them: LoRA (peft) or full fine-tuning, bf16
autocast over fp32 weights (TRL's default) on a GPU that has it, fp32 elsewhere. The presets in
``training/presets/sft_*.yaml`` hold the SFT hyperparameters of the three papers.
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from builders.schema import SchemaError
from training import cli
from training.cli import DEFAULT_LORA, PRESETS_DIR, bf16_available, parse_override  # noqa: F401  (re-exported)
from training.masks import MaskConfig

logger = logging.getLogger(__name__)

DEFAULT_PRESET = "sft_tl_training"


@dataclass
class SFTPreset(cli.Preset, kind="SFT", prefix="sft_"):
    """An SFT recipe: mask/PKT settings, SFTConfig arguments, optional LoRA (peft.LoraConfig arguments)."""

    masks: MaskConfig = field(default_factory=MaskConfig)
    sft: dict[str, Any] = field(default_factory=dict)
    lora: dict[str, Any] | None = None

    @classmethod
    def from_yaml(cls, path: Path, data: dict[str, Any]) -> dict[str, Any]:
        masks = data.pop("masks", None) or {}
        cli.check_keys(f"SFT preset {path.name} masks", masks, {f.name for f in fields(MaskConfig)})
        return {**data, "masks": MaskConfig(**masks)}


def build_sft_config(preset: SFTPreset, output_dir: str, overrides: dict[str, Any] | None = None):
    from trl import SFTConfig

    return cli.trl_config(SFTConfig, {"max_length": preset.masks.max_length, **preset.sft}, overrides, output_dir,
                          f"SFT settings of preset {preset.name!r}")


def build_trainer(model_path: str, train_dataset, preset: SFTPreset, output_dir: str,
                  overrides: dict[str, Any] | None = None, use_lora: bool | None = None):
    """A WeightedSFTTrainer over an already loaded contract dataset."""
    from transformers import AutoTokenizer

    from training.masks import ChatEncoder
    from training.trainer import WeightedSFTTrainer

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    encoded = ChatEncoder(tokenizer, preset.masks).encode_dataset(train_dataset)
    if len(encoded) == 0:
        raise SchemaError("SFT dataset", "has no row with a trained token", "check the verdicts and max_length")
    args = build_sft_config(preset, output_dir, overrides)
    peft_config = cli.lora_config(preset.lora, use_lora)
    n_tokens = sum(sum(x != -100 for x in labels) for labels in encoded["labels"])
    logger.info("SFT on %d rows (%d trained tokens), %s, PKT %s", len(encoded), n_tokens,
                "LoRA" if peft_config else "full fine-tuning", "on" if preset.masks.pkt else "off")
    # TRL loads the model: fp32 master weights (bf16 autocast on GPU) unless the preset's model_init_kwargs say otherwise
    return WeightedSFTTrainer(model=model_path, args=args, train_dataset=encoded, processing_class=tokenizer,
                              peft_config=peft_config)


def build_parser() -> argparse.ArgumentParser:
    p = cli.make_parser("python -m training.sft", __doc__, epilog=__doc__.split("\n\n", 1)[1])
    cli.add_run_arguments(p, dataset_help="release folder, data file (parquet/jsonl) or Hub id of a contract dataset",
                          config_help="dataset config: samples or trajectories",
                          model_help="local model folder or Hub id (tokenizer with a tool-capable chat template)",
                          preset_default=DEFAULT_PRESET,
                          set_help="override an SFTConfig field, e.g. --set learning_rate=1e-5 (repeatable)")
    p.add_argument("--max-length", type=int, help="truncate sequences to this many tokens (overrides the preset)")
    p.add_argument("--pkt", action=argparse.BooleanOptionalAction, default=None,
                   help="weight PKT key tokens (default: as the preset says)")
    p.add_argument("--w-max", type=float, help="PKT weight cap w_max (default: the preset's, 9)")
    return p


def main(argv: list[str] | None = None):
    args = cli.parse_args(build_parser(), argv)
    preset = SFTPreset.load(args.preset)
    for key, value in (("pkt", args.pkt), ("w_max", args.w_max), ("max_length", args.max_length)):
        if value is not None:
            setattr(preset.masks, key, value)
    overrides = dict(args.overrides)
    if args.max_steps is not None:
        overrides["max_steps"] = args.max_steps
    ds = cli.load_rows(args.dataset, config=args.config, split=args.split, revision=args.revision,
                       limit=args.limit)
    trainer = build_trainer(args.model, ds, preset, args.output_dir, overrides, args.use_lora)
    result = trainer.train()
    trainer.save_model(args.output_dir)
    summary = {"preset": preset.name, "dataset": args.dataset, "config": args.config or ds.info.config_name,
               "split": args.split,
               "revision": args.revision, "rows": len(trainer.train_dataset), "pkt": preset.masks.pkt,
               "w_max": preset.masks.w_max, "lora": hasattr(trainer.model, "peft_config"), "metrics": result.metrics}
    Path(args.output_dir, "sft_summary.json").write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    logger.info("saved to %s (train loss %.4f)", args.output_dir, result.training_loss)
    return trainer


if __name__ == "__main__":
    cli.run_main(main)
