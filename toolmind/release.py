"""The ToolMind dataset as a release builds it: per published config, a check and a build.

``check(ctx, cfg, where)`` validates a config's settings without doing any work; the release runs
every check of the whole preset before the first build. ``build(ctx, cfg, where)`` returns
``{split: rows}`` in the config's declared contract (``builders.contract``).
"""

from __future__ import annotations

from builders.context import BuildContext

TASK_CATEGORIES = ["text-generation"]
TAGS = ["tool-use", "function-calling", "synthetic"]


def _pool_options(cfg: dict) -> tuple[str, dict]:
    return cfg.get("source", "openapi"), {k: v for k, v in cfg.items() if k != "source"}


def check_functions(ctx: BuildContext, cfg: dict, where: str) -> None:
    source, options = _pool_options(cfg)
    ctx.check_pool(source, where, options)


def build_functions(ctx: BuildContext, cfg: dict, where: str) -> dict[str, list[dict]]:
    """The standardised function pool that the graph and the simulation sample from."""
    source, options = _pool_options(cfg)
    return {"train": ctx.function_pool(source, where, options)}


# config -> (check, build)
CONFIGS = {"functions": (check_functions, build_functions)}
