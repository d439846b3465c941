"""The ITC dataset as a release builds it: per published config, a check and a build.

``check(ctx, cfg, where)`` validates a config's settings without doing any work; the release runs
every check of the whole preset before the first build. ``build(ctx, cfg, where)`` returns
``{split: rows}`` in the config's declared contract (``builders.contract``).
"""

from __future__ import annotations

from builders.context import BuildContext
from builders.preset import PresetError, option
from itc.catalog import api_catalog

TASK_CATEGORIES = ["text-generation"]
TAGS = ["tool-use", "function-calling", "real-apis"]
SPLITS = ("train", "test")


def _apis_settings(ctx: BuildContext, cfg: dict, where: str) -> tuple[float, str, dict]:
    test_fraction = option(cfg, "test_fraction", float, where, "a number in [0, 1)", default=0.1)
    if not 0 <= test_fraction < 1:
        raise PresetError(f"{where}.test_fraction: {test_fraction} must be in [0, 1); the paper's split is 0.1")
    source = cfg.get("source", "openapi")
    options = {k: v for k, v in cfg.items() if k not in ("source", "test_fraction")}
    ctx.check_pool(source, where, options)
    return test_fraction, source, options


def check_apis(ctx: BuildContext, cfg: dict, where: str) -> None:
    _apis_settings(ctx, cfg, where)


def build_apis(ctx: BuildContext, cfg: dict, where: str) -> dict[str, list[dict]]:
    """The API catalog as ``train`` and ``test`` splits: each API in the split its tasks go to."""
    test_fraction, source, options = _apis_settings(ctx, cfg, where)
    catalog = api_catalog(ctx.function_pool(source, where, options), seed=ctx.seed, test_fraction=test_fraction)
    return {split: [{k: v for k, v in row.items() if k != "split"} for row in catalog if row["split"] == split]
            for split in SPLITS}


# config -> (check, build)
CONFIGS = {"apis": (check_apis, build_apis)}
