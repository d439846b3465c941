"""What the ``python -m training.*`` entry points share, so SFT, RL and evaluation read the same way.

Presets are YAML files in ``training/presets`` (or any YAML path) checked against a dataclass;
TRL configs get bf16 only where the GPU has it; ``--lora`` / ``--full`` pick the adapter; the
dataset options and the one-line ``error: ...`` exit (bad settings, a missing model or dataset,
bad data) are the same for every command. Presets are read with the shared config reader in
``builders.preset``, so they fail in the same shape as release presets.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Callable, ClassVar, Self

from builders.errors import BuildError, ConfigError, one_line
from builders.preset import field_names, mapping, read_yaml

logger = logging.getLogger(__name__)

PRESETS_DIR = Path(__file__).parent / "presets"
SAMPLES_CONFIG_HELP = "dataset config with prompt / completion / tools rows: samples (ToolMind) or default (ITC)"
DEFAULT_LORA = {"r": 16, "lora_alpha": 32, "lora_dropout": 0.05, "target_modules": "all-linear"}


class TrainingConfigError(ConfigError):
    """A training preset or option that cannot work."""


def check_keys(item: str, data: Any, allowed: set[str]) -> dict:
    """A typo in a preset must fail loudly, not fall back to a default."""
    return mapping(data, item, allowed, error=TrainingConfigError)


def read_preset(cls: type, name_or_path: str, kind: str, prefix: str) -> tuple[Path, dict[str, Any]]:
    """The YAML of a preset given by name (``PRESETS_DIR``, with or without ``prefix``) or path.

    Its top-level keys are checked against the fields of the dataclass ``cls`` (but ``name``,
    which is the file's stem); ``kind`` names the preset in errors (``SFT``, ``RL``).
    """
    path = Path(name_or_path)
    if not path.suffix:
        path = PRESETS_DIR / f"{name_or_path}.yaml"
        if not path.exists():
            path = PRESETS_DIR / f"{prefix}{name_or_path}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in PRESETS_DIR.glob(f"{prefix}*.yaml"))
        raise TrainingConfigError(f"{kind} preset {name_or_path!r}", "was not found",
                                  f"use one of {known} or a YAML path")
    item = f"{kind} preset {path.name}"
    return path, check_keys(item, read_yaml(path, item, TrainingConfigError), field_names(cls))


@dataclass
class Preset:
    """A recipe kept in YAML so runs are set up in files, not in code; ``name`` is the file's stem."""

    kind: ClassVar[str] = "training"  # names the preset in errors
    prefix: ClassVar[str] = ""  # the file-name prefix of this kind in PRESETS_DIR

    name: str
    description: str = ""

    def __init_subclass__(cls, kind: str = "training", prefix: str = "", **kwargs):
        super().__init_subclass__(**kwargs)
        cls.kind, cls.prefix = kind, prefix

    @classmethod
    def load(cls, name_or_path: str) -> Self:
        path, data = read_preset(cls, name_or_path, cls.kind, cls.prefix)
        return cls(name=path.stem, **cls.from_yaml(path, data))

    @classmethod
    def from_yaml(cls, path: Path, data: dict[str, Any]) -> dict[str, Any]:
        """The field values from the preset's checked YAML keys; nested settings are built here."""
        return data


def bf16_available() -> bool:
    import torch

    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def trl_config(config_cls: type, preset_kwargs: dict[str, Any], overrides: dict[str, Any] | None, output_dir: str,
               item: str):
    """A TRL config (``SFTConfig``, ``GRPOConfig``) from a preset and ``--set`` overrides.

    bf16 autocast is on where the GPU has it and turned off with a warning where a preset asks
    for it on a machine without it, so one preset runs on a GPU box and on CI alike.
    """
    kwargs = {"bf16": bf16_available(), "report_to": "none", **preset_kwargs, **(overrides or {})}
    if kwargs.get("bf16") and not bf16_available():
        logger.warning("bf16 asked for but not available here (no CUDA bf16): training in fp32")
        kwargs["bf16"] = False
    name = config_cls.__name__
    unknown = set(kwargs) - {f.name for f in fields(config_cls)}
    if unknown:
        raise TrainingConfigError(item, f"has unknown {name} fields {sorted(unknown)}",
                                  f"check the names against trl.{name}")
    return config_cls(output_dir=output_dir, **kwargs)


def lora_config(preset_lora: dict[str, Any] | None, use_lora: bool | None):
    """The ``peft.LoraConfig`` to train with, or None for full fine-tuning.

    ``use_lora`` None follows the preset, False (``--full``) drops its LoRA, True (``--lora``)
    uses the preset's LoRA settings or ``DEFAULT_LORA`` where it has none.
    """
    lora = preset_lora if use_lora is not False else None
    if use_lora and lora is None:
        lora = DEFAULT_LORA
    if lora is None:
        return None
    from peft import LoraConfig

    return LoraConfig(task_type="CAUSAL_LM", **lora)


def parse_override(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--set expects key=value, got {text!r}")
    try:
        return key.strip(), json.loads(value)
    except json.JSONDecodeError:
        return key.strip(), value


def make_parser(prog: str, doc: str, epilog: str | None = None) -> argparse.ArgumentParser:
    """A parser whose description is the first paragraph of the module docstring ``doc``."""
    return argparse.ArgumentParser(prog=prog, description=doc.split("\n\n")[0], epilog=epilog,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)


def add_dataset_arguments(parser: argparse.ArgumentParser, *, config_help: str, split: str = "train",
                          limit_help: str = "use only the first N rows") -> None:
    """``--config``, ``--split``, ``--revision``, ``--limit``: what ``load_rows`` reads."""
    parser.add_argument("--config", default=None,
                        help=f"{config_help} (default: samples when the dataset has that config, else its default)")
    parser.add_argument("--split", default=split, help=f"dataset split (default: {split})")
    parser.add_argument("--revision", help="Hub revision (release tag)")
    parser.add_argument("--limit", type=int, help=limit_help)


def add_run_arguments(parser: argparse.ArgumentParser, *, dataset_help: str, config_help: str, model_help: str,
                      preset_default: str, set_help: str) -> None:
    """The options every training command takes: data, model, preset, output, steps, LoRA, ``--set``."""
    parser.add_argument("dataset", help=dataset_help)
    parser.add_argument("--model", required=True, help=model_help)
    add_dataset_arguments(parser, config_help=config_help)
    parser.add_argument("--preset", default=preset_default,
                        help=f"preset name in training/presets or a YAML path (default: {preset_default})")
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("--max-steps", type=int, help="stop after this many optimizer steps")
    lora = parser.add_mutually_exclusive_group()
    lora.add_argument("--lora", dest="use_lora", action="store_true", default=None,
                      help="train a LoRA adapter (the preset's LoRA settings, or r=16 on all linear layers)")
    lora.add_argument("--full", dest="use_lora", action="store_false",
                      help="full fine-tuning even if the preset has LoRA")
    parser.add_argument("--set", dest="overrides", action="append", type=parse_override, default=[],
                        metavar="KEY=VALUE", help=set_help)


def parse_args(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line and turn on INFO logging, which is how the commands report progress.

    A ``--model`` that is a path must exist: checked here, before any data is loaded."""
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if getattr(args, "model", None):
        check_model(args.model)
    return args


_HUB_MODEL_ID = re.compile(r"^[\w.-]+(/[\w.-]+)?$")


def check_model(model: str) -> None:
    """A local model folder that does not exist (or a name that is neither a folder nor a Hub id)
    fails in one line here, not in a transformers traceback."""
    path = Path(model).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise ConfigError(f"--model {model}", "is not a model folder (it holds no config.json)",
                              "pass the folder holding config.json and the weights, or a Hub model id")
        return
    if path.is_absolute() or model.startswith((".", "~")) or not _HUB_MODEL_ID.match(model):
        raise ConfigError(f"--model {model}", "does not exist",
                          "pass a local model folder (with config.json) or a Hub model id such as org/name")


def load_rows(dataset: str, *, config: str | None = None, split: str = "train", revision: str | None = None,
              limit: int | None = None):
    """A contract dataset split (see ``training.data.load_split``), cut to its first ``limit`` rows."""
    from training.data import load_split

    ds = load_split(dataset, config=config, split=split, revision=revision)
    if limit:
        ds = ds.select(range(min(limit, len(ds))))
    return ds


def run_main(main: Callable[[], Any]) -> None:
    """Run a command's ``main``: bad data or settings, a missing model or dataset end in one
    ``error: ...`` line (newlines escaped), not a traceback."""
    try:
        main()
    except BuildError as exc:  # its message is one line already
        sys.exit(f"error: {exc}")
    except OSError as exc:  # e.g. transformers: a model id that is not on the Hub nor in the cache
        logger.debug("OSError in %s", main.__module__, exc_info=True)
        sys.exit(f"error: {one_line(f'{type(exc).__name__}: {exc}', 2000)}")
