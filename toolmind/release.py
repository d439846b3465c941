"""The ToolMind dataset as a release builds it: one function per published config."""

from __future__ import annotations

from builders.context import BuildContext

TASK_CATEGORIES = ["text-generation"]
TAGS = ["tool-use", "function-calling", "agents", "synthetic"]


def build_functions(ctx: BuildContext, cfg: dict, where: str) -> dict[str, list[dict]]:
    """The standardised function pool that the graph and the simulation sample from."""
    options = {k: v for k, v in cfg.items() if k != "source"}
    return {"train": ctx.function_pool(cfg.get("source", "openapi"), where, options)}


CONFIGS = {"functions": build_functions}
