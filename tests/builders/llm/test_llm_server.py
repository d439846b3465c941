"""The embedded server's lifecycle, exercised with the loopback fake in place of llama.cpp."""

import importlib.util
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from builders.llm import LLMClient, LLMConfig
from builders.llm.server import EmbeddedServer
from builders.errors import DependencyError
from tests.builders.llm.server_job import LoopbackServer

JOB = Path(__file__).with_name("server_job.py")
ROOT = JOB.parents[3]


@pytest.fixture(autouse=True)
def importable_children(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purposes
    return Path(f"/proc/{pid}/stat").exists() and Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def wait_dead(pid: int, seconds: float = 15) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return False


def test_start_waits_until_it_answers_and_stop_ends_it():
    with LoopbackServer() as server:
        with urllib.request.urlopen(f"{server.base_url}/models", timeout=5) as resp:
            assert resp.status == 200
        pid = server.process.pid
        assert server.start() == server.base_url  # idempotent
    assert wait_dead(pid) and not server.running


def test_the_client_starts_the_embedded_server_when_no_endpoint_is_configured(tmp_path):
    config = LLMConfig.from_mapping({"cache": str(tmp_path / "c.sqlite")})
    client = LLMClient(config, progress=False, server_factory=LoopbackServer)
    results = client.chat_many_sync("user_simulator", [[{"role": "user", "content": "hi"}]])
    assert results[0].content == "echo: hi"
    server = client._servers["local"]
    pid = server.process.pid
    client.close()
    assert wait_dead(pid)


@pytest.mark.parametrize("how, mode", [(signal.SIGINT, "context"), (signal.SIGTERM, "plain"), (signal.SIGKILL, "plain")],
                         ids=["ctrl-c", "sigterm", "parent-killed"])
def test_the_server_stops_when_the_builder_is_interrupted_or_killed(how, mode):
    if how == signal.SIGKILL and not sys.platform.startswith("linux"):
        pytest.skip("parent-death signal is Linux only")
    job = subprocess.Popen([sys.executable, str(JOB), mode], stdout=subprocess.PIPE, text=True)
    child = int(job.stdout.readline())
    assert alive(child)
    job.send_signal(how)
    job.wait(20)
    assert wait_dead(child), f"server pid {child} outlived its parent after {how!r}"


def test_sigterm_cleans_up_a_server_the_client_started_from_a_worker_thread():
    job = subprocess.Popen([sys.executable, str(JOB), "client"], stdout=subprocess.PIPE, text=True)
    pid, log = job.stdout.readline().split()
    assert alive(int(pid)) and Path(log).exists()
    job.send_signal(signal.SIGTERM)
    # SystemExit(128 + SIGTERM), not death by signal: atexit ran, stopped the server and removed its log
    assert job.wait(20) == 128 + signal.SIGTERM
    assert wait_dead(int(pid)) and not Path(log).exists()


def test_a_sigterm_handler_set_by_the_application_is_kept():
    code = ("import signal, threading; from builders.llm.server import install_sigterm_handler\n"
            "mine = lambda *a: None; signal.signal(signal.SIGTERM, mine)\n"
            "assert install_sigterm_handler() is False and signal.getsignal(signal.SIGTERM) is mine\n"
            "signal.signal(signal.SIGTERM, signal.SIG_DFL)\n"
            "t = threading.Thread(target=install_sigterm_handler); t.start(); t.join()\n"
            "assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # only the main thread may set it\n"
            "assert install_sigterm_handler() is True")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)


def test_the_cache_identity_names_the_model_file_and_chat_template(tmp_path):
    small, big = tmp_path / "a" / "model.gguf", tmp_path / "b" / "model.gguf"
    for path, size in ((small, 10), (big, 20)):
        path.parent.mkdir()
        path.write_bytes(b"\0" * size)
    template = tmp_path / "tmpl.jinja"
    template.write_text("{% for m in messages %}{{ m.content }}{% endfor %}")
    request = [{"role": "user", "content": "hi"}]

    def key(model_path, chat_template=None, parallel=4):
        client = LLMClient(LLMConfig.from_mapping({"cache": None, "endpoints": {"local": {
            "base_url": None, "model_path": str(model_path), "chat_template": chat_template, "parallel": parallel}}}),
            progress=False)
        return client.build("assistant", request)[1]

    assert key(small) == key(small) == key(small, parallel=1)  # slots change speed, not answers
    assert len({key(small), key(big), key(small, "chatml"), key(small, str(template))}) == 4
    assert "model.gguf:10:gguf" in EmbeddedServer(small).identity
    assert "127.0.0.1" not in EmbeddedServer(small, port=1234).identity


def test_missing_xllamacpp_is_a_clear_error(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "xllamacpp" else real(name, *a))
    with pytest.raises(DependencyError, match="xllamacpp is not installed.*scripts/setup.sh"):
        EmbeddedServer().start()


def test_the_child_command_carries_the_endpoint_settings(tmp_path):
    model = tmp_path / "m.gguf"
    model.write_bytes(b"\0")
    client = LLMClient(LLMConfig.from_mapping({"cache": None, "endpoints": {"local": {
        "base_url": None, "model_path": str(model), "parallel": 3, "ctx_per_slot": 1024, "chat_template": "chatml"}}}),
        progress=False)
    server = client._server(client.config.endpoints["local"])
    server.port = 1
    command = server.command()
    assert command[1].endswith("builders/llm/serve.py")
    settings = dict(zip(command[2::2], command[3::2]))
    assert settings["--model"] == str(model) and settings["--parallel"] == "3" and settings["--ctx-per-slot"] == "1024"
    assert settings["--chat-template"] == "chatml" and settings["--parent-pid"] == str(os.getpid())


def test_a_server_that_dies_at_start_reports_its_log():
    class Broken(EmbeddedServer):
        def command(self):
            return [sys.executable, "-c", "import sys; print('model file is corrupt'); sys.exit(3)"]

    with pytest.raises(DependencyError, match="exited with code 3(.|\n)*model file is corrupt"):
        Broken(startup_timeout=20).start()


def test_the_server_outlives_the_thread_that_started_it():
    # the client starts it from a worker thread that ends with each sync batch
    import threading

    server = LoopbackServer()
    worker = threading.Thread(target=server.start)
    worker.start()
    worker.join()
    try:
        time.sleep(0.5)
        assert server.running
        with urllib.request.urlopen(f"{server.base_url}/models", timeout=5) as resp:
            assert resp.status == 200
    finally:
        server.stop()


def test_the_child_exits_at_once_when_its_parent_is_already_gone():
    # the fallback for the moment before the death signal is armed (and for systems without it):
    # a child whose parent is not the builder that started it stops without loading a model
    serve = ROOT / "builders" / "llm" / "serve.py"
    done = subprocess.run([sys.executable, str(serve), "--model", "missing.gguf", "--port", "1", "--parent-pid", "1"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and "serving" not in done.stdout
