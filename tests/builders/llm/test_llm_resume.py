"""A killed run restarted with the same preset repeats no finished request and writes the same bytes."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from builders.llm import RequestCache

JOB = Path(__file__).with_name("batch_job.py")
N = 40


def start_job(server, cache: Path, out: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(JOB.parents[3])}
    return subprocess.Popen([sys.executable, str(JOB), server.base_url, str(cache), str(out), str(N)], env=env)


def test_resume_after_sigkill_is_byte_identical(server, tmp_path):
    server.latency = 0.05
    # an uninterrupted reference run on its own cache
    reference = tmp_path / "reference.jsonl"
    assert start_job(server, tmp_path / "ref.sqlite", reference).wait(60) == 0
    assert server.count == N
    served_before = server.count

    cache, out = tmp_path / "llm.sqlite", tmp_path / "out.jsonl"
    job = start_job(server, cache, out)
    deadline = time.monotonic() + 30
    while server.count < served_before + N // 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    job.send_signal(signal.SIGKILL)
    job.wait(10)
    assert job.returncode == -signal.SIGKILL and not out.exists()

    done = RequestCache(cache)
    finished = done.keys()
    done.close()
    assert 0 < len(finished) < N
    sent_before_restart = server.count
    assert start_job(server, cache, out).wait(60) == 0
    # only the unfinished requests went out again (requests in flight at the kill are not finished)
    assert server.count - sent_before_restart == N - len(finished)
    assert out.read_bytes() == reference.read_bytes()
