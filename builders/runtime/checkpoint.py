"""A step's checkpoint: its results in chunks under the build's work folder, and a done marker.

Chunks are written whole (temporary file, then rename), so a build killed at any moment finds
only complete chunks; the items they hold are not run again. Chunks hold ``Result`` tuples in
``marshal`` form (3x faster than pickle for JSON-like items; pickle when an item holds other
objects): an internal format of one build, read only by the same Python that wrote it (the
release is JSON/Parquet); never point a build at a work folder others can write. The folder name carries the step's key, a hash of its
identity (settings, prompt versions, code version) and of its input (the upstream key chain
down to the source digest), so a changed setting or input never reuses old results.
"""

from __future__ import annotations

import json
import logging
import marshal
import os
import pickle
from pathlib import Path

logger = logging.getLogger(__name__)


# What one input item became in one step, as a plain tuple (cheap to build and to pickle):
# (item id, outputs: a dict | a list of dicts | None, reject reason | None, reject record,
#  usage: {role: [requests, prompt tokens, completion tokens, failures]} | None)
Result = tuple
ITEM, OUTPUTS, REASON, RECORD, USAGE = range(5)


def atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


class Checkpoint:
    """The chunks and done marker of one step (in one shard); ``enabled=False`` keeps nothing."""

    def __init__(self, folder: Path, enabled: bool = True):
        self.folder, self.enabled = Path(folder), enabled
        self.seq = 0

    @property
    def done_path(self) -> Path:
        return self.folder / "done.json"

    def is_done(self) -> bool:
        return self.enabled and self.done_path.exists()

    def load(self) -> list[Result]:
        """Every result in the complete chunks (leftover temporary files are removed)."""
        if not self.enabled or not self.folder.is_dir():
            return []
        results: list[Result] = []
        for path in sorted(self.folder.glob("chunk-*.bin")):
            data = path.read_bytes()
            results.extend(marshal.loads(data[1:]) if data[:1] == b"M" else pickle.loads(data[1:]))
            self.seq = max(self.seq, int(path.stem.split("-")[1]) + 1)
        for tmp in self.folder.glob("*.tmp"):
            tmp.unlink()
        if results:
            logger.debug("resuming %s: %d finished items from %d chunks", self.folder.name, len(results), self.seq)
        return results

    def write(self, results: list[Result]) -> None:
        if not self.enabled or not results:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        try:
            data = b"M" + marshal.dumps(results)
        except ValueError:  # an item holds something marshal cannot write
            data = b"P" + pickle.dumps(results, protocol=pickle.HIGHEST_PROTOCOL)
        atomic_write(self.folder / f"chunk-{self.seq:06d}.bin", data)
        self.seq += 1

    def mark_done(self, summary: dict) -> None:
        if self.enabled:
            self.folder.mkdir(parents=True, exist_ok=True)
            atomic_write(self.done_path, json.dumps(summary, sort_keys=True).encode())
