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
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from builders.schema import SchemaError
from training.masks import MaskConfig

logger = logging.getLogger(__name__)

PRESETS_DIR = Path(__file__).parent / "presets"
DEFAULT_PRESET = "sft_tl_training"
DEFAULT_LORA = {"r": 16, "lora_alpha": 32, "lora_dropout": 0.05, "target_modules": "all-linear"}


@dataclass
class SFTPreset:
    """An SFT recipe: mask/PKT settings, SFTConfig arguments, optional LoRA (peft.LoraConfig arguments)."""

    name: str
    description: str = ""
    masks: MaskConfig = field(default_factory=MaskConfig)
    sft: dict[str, Any] = field(default_factory=dict)
    lora: dict[str, Any] | None = None

    @classmethod
    def load(cls, name_or_path: str) -> "SFTPreset":
        path = Path(name_or_path)
        if not path.suffix:
            path = PRESETS_DIR / f"{name_or_path}.yaml"
            if not path.exists():
                path = PRESETS_DIR / f"sft_{name_or_path}.yaml"
        if not path.exists():
            known = sorted(p.stem for p in PRESETS_DIR.glob("sft_*.yaml"))
            raise SchemaError(f"SFT preset {name_or_path!r}", "was not found", f"use one of {known} or a YAML path")
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        item = f"SFT preset {path.name}"
        _check_keys(item, data, {f.name for f in fields(cls)} - {"name"})
        masks = data.pop("masks", None) or {}
        _check_keys(f"{item} masks", masks, {f.name for f in fields(MaskConfig)})
        return cls(name=path.stem, masks=MaskConfig(**masks), **data)


def _check_keys(item: str, data: dict, allowed: set[str]) -> None:
    unknown = set(data) - allowed
    if unknown:
        raise SchemaError(item, f"has unknown keys {sorted(unknown)}", f"use only {sorted(allowed)}")


def bf16_available() -> bool:
    import torch

    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def build_sft_config(preset: SFTPreset, output_dir: str, overrides: dict[str, Any] | None = None):
    from trl import SFTConfig

    kwargs = {"bf16": bf16_available(), "report_to": "none", "max_length": preset.masks.max_length,
              **preset.sft, **(overrides or {})}
    if kwargs.get("bf16") and not bf16_available():
        logger.warning("bf16 asked for but not available here (no CUDA bf16): training in fp32")
        kwargs["bf16"] = False
    _check_keys(f"SFT settings of preset {preset.name!r}", kwargs, {f.name for f in fields(SFTConfig)})
    return SFTConfig(output_dir=output_dir, **kwargs)


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
    lora = preset.lora if use_lora is not False else None
    if use_lora and lora is None:
        lora = DEFAULT_LORA
    peft_config = None
    if lora is not None:
        from peft import LoraConfig

        peft_config = LoraConfig(task_type="CAUSAL_LM", **lora)
    n_tokens = sum(sum(x != -100 for x in labels) for labels in encoded["labels"])
    logger.info("SFT on %d rows (%d trained tokens), %s, PKT %s", len(encoded), n_tokens,
                "LoRA" if peft_config else "full fine-tuning", "on" if preset.masks.pkt else "off")
    # TRL loads the model: fp32 master weights (bf16 autocast on GPU) unless the preset's model_init_kwargs say otherwise
    return WeightedSFTTrainer(model=model_path, args=args, train_dataset=encoded, processing_class=tokenizer,
                              peft_config=peft_config)


def parse_override(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--set expects key=value, got {text!r}")
    try:
        return key.strip(), json.loads(value)
    except json.JSONDecodeError:
        return key.strip(), value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training.sft", description=__doc__.split("\n\n")[0],
                                epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dataset", help="release folder, data file (parquet/jsonl) or Hub id of a contract dataset")
    p.add_argument("--model", required=True, help="local model folder or Hub id (tokenizer with a tool-capable chat template)")
    p.add_argument("--config", default=None, help="dataset config: samples (default) or trajectories")
    p.add_argument("--split", default="train")
    p.add_argument("--revision", help="Hub revision (release tag)")
    p.add_argument("--preset", default=DEFAULT_PRESET,
                   help=f"preset name in training/presets or a YAML path (default: {DEFAULT_PRESET})")
    p.add_argument("--output-dir", required=True)
    p.add_argument("--max-steps", type=int, help="stop after this many optimizer steps")
    p.add_argument("--limit", type=int, help="use only the first N rows")
    p.add_argument("--max-length", type=int, help="truncate sequences to this many tokens (overrides the preset)")
    p.add_argument("--pkt", action=argparse.BooleanOptionalAction, default=None,
                   help="weight PKT key tokens (default: as the preset says)")
    p.add_argument("--w-max", type=float, help="PKT weight cap w_max (default: the preset's, 9)")
    lora = p.add_mutually_exclusive_group()
    lora.add_argument("--lora", dest="use_lora", action="store_true", default=None,
                      help="train a LoRA adapter (the preset's LoRA settings, or r=16 on all linear layers)")
    lora.add_argument("--full", dest="use_lora", action="store_false", help="full fine-tuning even if the preset has LoRA")
    p.add_argument("--set", dest="overrides", action="append", type=parse_override, default=[], metavar="KEY=VALUE",
                   help="override an SFTConfig field, e.g. --set learning_rate=1e-5 (repeatable)")
    return p


def main(argv: list[str] | None = None):
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from training.data import load_split

    preset = SFTPreset.load(args.preset)
    for key, value in (("pkt", args.pkt), ("w_max", args.w_max), ("max_length", args.max_length)):
        if value is not None:
            setattr(preset.masks, key, value)
    overrides = dict(args.overrides)
    if args.max_steps is not None:
        overrides["max_steps"] = args.max_steps
    ds = load_split(args.dataset, config=args.config, split=args.split, revision=args.revision)
    if args.limit:
        ds = ds.select(range(min(args.limit, len(ds))))
    trainer = build_trainer(args.model, ds, preset, args.output_dir, overrides, args.use_lora)
    result = trainer.train()
    trainer.save_model(args.output_dir)
    summary = {"preset": preset.name, "dataset": args.dataset, "config": args.config, "split": args.split,
               "revision": args.revision, "rows": len(trainer.train_dataset), "pkt": preset.masks.pkt,
               "w_max": preset.masks.w_max, "lora": hasattr(trainer.model, "peft_config"), "metrics": result.metrics}
    Path(args.output_dir, "sft_summary.json").write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    logger.info("saved to %s (train loss %.4f)", args.output_dir, result.training_loss)
    return trainer


if __name__ == "__main__":
    try:
        main()
    except SchemaError as exc:
        sys.exit(f"error: {exc}")
