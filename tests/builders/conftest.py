"""Fixtures for the Hub tests: a local Hub-compatible server and hand-made release folders."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Callable, Iterator

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from huggingface_hub import constants as hf_constants

from tests.local_hub import LocalHub


@pytest.fixture
def local_hub(tmp_path, monkeypatch) -> Iterator[LocalHub]:
    """A fresh Hub at ``local_hub.endpoint``; ``local_hub.load_rows`` / ``run_client`` read it back.

    In this process nothing points at huggingface.co: the token comes only from what a test passes,
    and huggingface_hub's user-agent registry lookup (a call to the official Hub) is off. Clients
    that must see the hub as *the* Hub (``datasets``) run in a subprocess: ``local_hub.client_env()``.
    """
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(hf_constants, "HF_HUB_DISABLE_TELEMETRY", True)
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)  # the local hub is no network
    monkeypatch.setattr(hf_constants, "HF_TOKEN_PATH", str(tmp_path / "no-saved-token"))
    hub = LocalHub(tmp_path / "hub").start()
    try:
        yield hub
    finally:
        hub.stop()


def _card(configs: list[str]) -> str:
    lines = ["---", "configs:"]
    for i, config in enumerate(configs):
        lines.append(f"- config_name: {config}")
        if i == 0:
            lines.append("  default: true")
        lines += ["  data_files:", "  - split: train", f"    path: data/{config}/train-*.parquet"]
    lines += ["license: apache-2.0", "---", "", "# Test release", ""]
    return "\n".join(lines)


def write_release(folder: Path, version: str, tables: dict[str, list[dict]], shards: int = 1,
                  name: str = "toolmind") -> Path:
    """A release folder in the layout ``builders.release`` writes: Parquet shards, card, manifest."""
    files: dict[str, dict] = {}
    for config, rows in tables.items():
        (folder / "data" / config).mkdir(parents=True, exist_ok=True)
        n = min(shards, len(rows))
        for i in range(n):
            rel = f"data/{config}/train-{i:05d}-of-{n:05d}.parquet"
            part = rows[i::n]
            pq.write_table(pa.Table.from_pylist(part), folder / rel)
            files[rel] = {"rows": len(part)}
    (folder / "README.md").write_text(_card(list(tables)), encoding="utf-8")
    files["README.md"] = {}
    for rel, entry in files.items():
        data = (folder / rel).read_bytes()
        entry.update(sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))
    manifest = {"dataset": name, "version": version, "files": dict(sorted(files.items())),
                "rows": {c: {"train": len(r)} for c, r in tables.items()}}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return folder


@pytest.fixture
def make_release(tmp_path) -> Callable[..., Path]:
    """``make_release(version, {config: rows}, shards=1)`` -> a fresh release folder."""
    counter = iter(range(1_000_000))

    def make(version: str, tables: dict[str, list[dict]], shards: int = 1) -> Path:
        folder = tmp_path / "releases" / f"v{version}-{next(counter)}"
        return write_release(folder, version, tables, shards)

    return make
