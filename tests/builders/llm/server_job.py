"""Starts a model server child the way builders do, prints its pid, then waits to be interrupted or killed."""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from builders.llm.server import EmbeddedServer  # noqa: E402


class LoopbackServer(EmbeddedServer):
    """The embedded-server lifecycle around the fake OpenAI server instead of llama.cpp (fast, no model)."""

    def command(self) -> list[str]:
        return [sys.executable, "-m", "builders.llm.testing", "--port", str(self.port)]


def through_the_client() -> None:
    """The way builders start it: the client, on first use, from a worker thread of its event loop."""
    from builders.llm import LLMClient, LLMConfig

    client = LLMClient(LLMConfig.from_mapping({"cache": None}), progress=False, server_factory=LoopbackServer)
    [result] = client.chat_many_sync("user_simulator", [[{"role": "user", "content": "hi"}]])
    assert result.ok, result.error
    server = client._servers["local"]
    print(server.process.pid, server._log.name, flush=True)
    time.sleep(60)


if __name__ == "__main__":
    server = LoopbackServer(startup_timeout=30)
    if sys.argv[1:] == ["real"]:  # the xllamacpp child itself, started from a short-lived thread as the client does
        import threading

        server = EmbeddedServer(parallel=1, ctx_per_slot=512)
        starter = threading.Thread(target=server.start)
        starter.start()
        starter.join()
        print(server.process.pid, flush=True)
        time.sleep(120)
    elif sys.argv[1:] == ["client"]:
        through_the_client()
    elif sys.argv[1:] == ["context"]:
        with server:
            print(server.process.pid, flush=True)
            time.sleep(60)
    else:
        server.start()
        print(server.process.pid, flush=True)
        time.sleep(60)
