"""A build killed with SIGKILL leaves no spec-parsing worker behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

# a build whose spec stream stalls after the workers have started: it is killed mid-build
BUILD = """
import json, sys, time
from builders.sources.openapi import OpenAPIFunctionPool, SpecFile
from tests.sources import petstore_spec

def specs():
    yield SpecFile("a.json", json.dumps(petstore_spec("a.example.com", "A")).encode(), "a.example.com")
    print("started", flush=True)
    time.sleep(600)

list(OpenAPIFunctionPool(seed=1, source="test", workers=2).run(specs()))
"""


def children(pid: int) -> set[int]:
    found = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found.update(int(c) for c in (task / "children").read_text().split())
        except OSError:
            pass
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; only its parent's wait is missing


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads the process tree from /proc (Linux)")
def test_sigkill_of_a_build_leaves_no_worker_behind():
    root = Path(__file__).resolve().parents[3]
    env = {**os.environ, "PYTHONPATH": str(root)}
    build = subprocess.Popen([sys.executable, "-c", BUILD], cwd=root, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert build.stdout.readline().strip() == "started"
        workers = children(build.pid)
        assert len(workers) >= 2, workers  # the two workers (and the executor's helpers, if any)
        build.send_signal(signal.SIGKILL)
        build.wait()
        deadline = time.monotonic() + 20  # a bound for a loaded CI machine, not a timing assertion
        while any(alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [w for w in workers if alive(w)], "workers outlived the killed build"
    finally:
        build.kill()
        for w in children(build.pid) | locals().get("workers", set()):
            if alive(w):
                os.kill(w, signal.SIGKILL)
