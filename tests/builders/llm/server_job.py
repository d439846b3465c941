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


if __name__ == "__main__":
    server = LoopbackServer(startup_timeout=30)
    if sys.argv[1:] == ["context"]:
        with server:
            print(server.process.pid, flush=True)
            time.sleep(60)
    else:
        server.start()
        print(server.process.pid, flush=True)
        time.sleep(60)
