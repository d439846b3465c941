"""A build killed with SIGKILL at random moments resumes to the bytes of an unbroken build.

The toy pipeline (a CPU step, a three-call rollout, an LLM judge, a filter, a global split)
runs as a subprocess against one scripted loopback server; every kill lands while requests
are in flight. No request whose reply reached the client (its request cache) may be sent
again: the server-side repeats are at most the requests in flight at the kills, that is, sent
but not answered into the cache, and those are never more than the endpoint's concurrency.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from builders.llm.testing import FakeOpenAIServer
from builders.schema import canonical_json

TOY = Path(__file__).with_name("toy.py")
ROOT = Path(__file__).resolve().parents[3]
FILES = ("output.jsonl", "rejects.jsonl", "stats.json")
CONCURRENCY = 8  # toy.pipeline's default


def cached(work: Path) -> int:
    path = work / "shards" / "0000-of-0001" / "llm.sqlite"
    if not path.exists():
        return 0
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
    finally:
        db.close()


def build(base_url: str, work: Path, out: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, str(TOY), base_url, str(work), str(out)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_sigkill_at_random_moments_resumes_to_identical_bytes(tmp_path):
    with FakeOpenAIServer(latency=0.02) as server:
        proc = build(server.base_url, tmp_path / "work-unbroken", tmp_path / "unbroken")
        assert proc.wait(120) == 0, proc.stderr.read().decode()
        unbroken_requests = server.count
    assert unbroken_requests > 100

    rng = random.Random(1234)
    kills, in_flight_at_kills, out = 0, 0, tmp_path / "resumed"
    with FakeOpenAIServer(latency=0.1) as server:
        while kills < 10:
            start = server.count
            proc = build(server.base_url, tmp_path / "work", out)
            target = rng.randint(1, 20)  # kill after a random number of requests, a random moment later
            while proc.poll() is None and server.count - start < target:
                time.sleep(0.002)
            time.sleep(rng.uniform(0, 0.1))
            if proc.poll() is not None:
                break  # finished before the kill
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            in_flight = len({canonical_json(r) for r in list(server.requests)}) - cached(tmp_path / "work")
            assert 0 <= in_flight <= CONCURRENCY
            in_flight_at_kills += in_flight
            kills += 1
        assert kills == 10, "the build finished before 10 kills; make the toy build longer"
        proc = build(server.base_url, tmp_path / "work", out)
        assert proc.wait(120) == 0, proc.stderr.read().decode()
        bodies = [canonical_json(r) for r in server.requests]

    for name in FILES:
        assert (out / name).read_bytes() == (tmp_path / "unbroken" / name).read_bytes(), name
    repeats = len(bodies) - len(set(bodies))
    assert len(set(bodies)) == unbroken_requests
    assert repeats <= in_flight_at_kills, (repeats, in_flight_at_kills)
