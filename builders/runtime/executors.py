"""Where shards run: ``local`` (in this process, one after another) or ``ray`` (one Ray task each).

A shard job carries everything a shard needs (its items, the steps, the work folder) and
writes its checkpoints and request cache under the work folder, which on a cluster is shared
storage: a shard resumed on another node repeats nothing. Both executors give the same bytes,
because a shard's result depends only on its items and the merge orders by id.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Callable, Sequence, TypeVar

from builders.errors import ConfigError, DependencyError

logger = logging.getLogger(__name__)
J = TypeVar("J")
R = TypeVar("R")
EXECUTORS = ("local", "ray")


class LocalExecutor:
    """Shards one after another in this process (the default)."""

    name = "local"
    splits_caps = False

    def map(self, fn: Callable[[J], R], jobs: Sequence[J]) -> list[R]:
        return [fn(job) for job in jobs]


class RayExecutor:
    """Each shard as a Ray task: joins ``RAY_ADDRESS`` when set, else starts a local Ray."""

    name = "ray"
    splits_caps = True  # shards run at once and apart, so each gets an equal part of every cap

    def __init__(self, num_cpus: int = 2):
        self.num_cpus = num_cpus

    def _init(self):
        try:
            import ray
        except ImportError:
            raise DependencyError("executor 'ray'", "ray is not installed",
                                  "pip install 'toolmind-builders[ray]' or use the local executor") from None
        if not ray.is_initialized():
            address = os.environ.get("RAY_ADDRESS")
            # workers import the pipeline's modules the way this process does
            paths = [p for p in sys.path if p and "site-packages" not in p and os.path.isdir(p)]
            env = {"PYTHONPATH": os.pathsep.join(paths)}
            logger.info("ray: %s", f"joining {address}" if address else f"starting a local Ray ({self.num_cpus} CPUs)")
            ray.init(address=address, num_cpus=None if address else self.num_cpus, include_dashboard=False,
                     runtime_env={"env_vars": env}, log_to_driver=False, ignore_reinit_error=True)
        return ray

    def map(self, fn: Callable[[J], R], jobs: Sequence[J]) -> list[R]:
        ray = self._init()
        task = ray.remote(num_cpus=1, max_retries=0)(fn)
        return ray.get([task.remote(job) for job in jobs])


def make_executor(name: str):
    if name == "local":
        return LocalExecutor()
    if name == "ray":
        return RayExecutor()
    raise ConfigError(f"executor {name!r}", "is not an executor", f"use one of {', '.join(EXECUTORS)}")
