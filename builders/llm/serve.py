"""The embedded model server's child process: llama.cpp's OpenAI-compatible server from ``xllamacpp``.

``EmbeddedServer`` runs this file as a child so a crash in native code cannot take the build
with it, and so the server's threads stop with one signal. The child must not outlive its
builder: it asks Linux for SIGTERM when the parent dies (``PR_SET_PDEATHSIG``, which also covers
SIGKILL) and, as a fallback for other systems and for the moment before that request, polls
whether its parent is still the process that started it. Standard library and xllamacpp only::

    python builders/llm/serve.py --model m.gguf --port 8080 --parallel 4 --ctx-per-slot 4096 --parent-pid 123
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

POLL_SECONDS = 0.5


def die_with_parent() -> None:
    """Linux: SIGTERM to this process when the thread that started it ends (its process dying included)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def parent_alive(parent_pid: int) -> bool:
    """An orphan is re-parented (to init or a subreaper), so a changed ppid means the builder is gone."""
    return os.getppid() == parent_pid


def chat_template_text(value: str | None) -> str:
    """A template file's text, or the value itself (a llama.cpp built-in name or Jinja text)."""
    if not value:
        return ""
    path = Path(value).expanduser()
    try:
        return path.read_text(encoding="utf-8") if len(value) < 4096 and path.is_file() else value
    except OSError:
        return value


def server_params(args: argparse.Namespace):
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = args.model
    params.n_parallel = args.parallel
    params.n_ctx = args.parallel * args.ctx_per_slot  # llama.cpp divides n_ctx among the slots
    params.port = args.port
    params.hostnames = [args.host]
    threads = args.threads or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count())
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    template = chat_template_text(args.chat_template)
    if template:
        params.chat_template = template
    return params


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a local GGUF file")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--parallel", type=int, default=4, help="request slots served at once")
    parser.add_argument("--ctx-per-slot", type=int, default=4096, help="tokens of context per slot")
    parser.add_argument("--chat-template", default=None, help="built-in name, Jinja text or a file; default: the GGUF's")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads; 0 = every core this process may use")
    parser.add_argument("--parent-pid", type=int, default=None, help="exit when this process is no longer the parent")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    die_with_parent()
    parent = args.parent_pid if args.parent_pid is not None else os.getppid()
    if not parent_alive(parent):  # died before the death signal was armed
        return 0
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())

    import xllamacpp

    server = xllamacpp.Server(server_params(args))  # listens once the model is loaded
    print(f"serving {args.model} on {server.listening_address}", flush=True)
    while not stop.wait(POLL_SECONDS):
        if not parent_alive(parent):
            break
    del server  # waits for the server's loop to exit
    return 0


if __name__ == "__main__":
    sys.exit(main())
