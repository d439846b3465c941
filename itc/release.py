"""The ITC dataset as a release builds it."""

from __future__ import annotations

from builders.context import BuildContext
from itc.catalog import api_catalog

TASK_CATEGORIES = ["text-generation"]
TAGS = ["tool-use", "function-calling", "multilingual", "real-apis"]


def build_apis(ctx: BuildContext, cfg: dict, where: str) -> dict[str, list[dict]]:
    """The API catalog with each API's side of the train/test split."""
    test_fraction = float(cfg.get("test_fraction", 0.1))
    options = {k: v for k, v in cfg.items() if k not in ("source", "test_fraction")}
    pool = ctx.function_pool(cfg.get("source", "openapi"), where, options)
    return {"train": api_catalog(pool, seed=ctx.seed, test_fraction=test_fraction)}


CONFIGS = {"apis": build_apis}
