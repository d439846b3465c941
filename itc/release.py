"""The ITC dataset as a release builds it."""

from __future__ import annotations

from builders.context import BuildContext
from builders.preset import PresetError, option
from itc.catalog import api_catalog

TASK_CATEGORIES = ["text-generation"]
TAGS = ["tool-use", "function-calling", "multilingual", "real-apis"]


def build_apis(ctx: BuildContext, cfg: dict, where: str) -> dict[str, list[dict]]:
    """The API catalog with each API's side of the train/test split."""
    test_fraction = option(cfg, "test_fraction", float, where, "a number in [0, 1)", default=0.1)
    if not 0 <= test_fraction < 1:
        raise PresetError(f"{where}.test_fraction: {test_fraction} must be in [0, 1); the paper's split is 0.1")
    options = {k: v for k, v in cfg.items() if k not in ("source", "test_fraction")}
    pool = ctx.function_pool(cfg.get("source", "openapi"), where, options)
    return {"train": api_catalog(pool, seed=ctx.seed, test_fraction=test_fraction)}


CONFIGS = {"apis": build_apis}
