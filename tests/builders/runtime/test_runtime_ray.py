"""The ray executor (2 shards, each a Ray task on a local Ray) gives the bytes of the local one."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from builders.llm.testing import FakeOpenAIServer

if os.environ.get("CI") == "true":  # in CI a missing optional dependency is a failure, not a skip
    import ray
else:
    ray = pytest.importorskip("ray")

sys.path.insert(0, str(Path(__file__).parent))
import toy  # noqa: E402

FILES = ("output.jsonl", "rejects.jsonl", "stats.json")


def test_ray_with_two_shards_gives_the_local_bytes(tmp_path, monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    with FakeOpenAIServer(latency=0.005) as server:
        toy.pipeline(server.base_url, tmp_path / "local", global_step=True).run().write(tmp_path / "out-local")
        try:
            result = toy.pipeline(server.base_url, tmp_path / "ray", shards=2, executor="ray", global_step=True).run()
        finally:
            ray.shutdown()
    result.write(tmp_path / "out-ray")
    for name in FILES:
        assert (tmp_path / "out-ray" / name).read_bytes() == (tmp_path / "out-local" / name).read_bytes(), name
    assert sorted(p.name for p in (tmp_path / "ray" / "shards").iterdir()) == ["0000-of-0002", "0001-of-0002"]
    assert all(list((tmp_path / "ray" / "shards" / s).glob("done-*.json")) for s in ("0000-of-0002", "0001-of-0002"))
    assert len(result.run["segments"][0]["shards"]) == 2
