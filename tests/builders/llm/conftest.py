"""A loopback OpenAI-compatible server and clients wired to it with test-sized retry delays."""

from __future__ import annotations

import pytest

from builders.llm import LLMClient
from builders.llm.testing import FakeOpenAIServer, loopback_config


@pytest.fixture
def server():
    with FakeOpenAIServer() as srv:
        yield srv


@pytest.fixture
def make_client(server, tmp_path):
    clients = []

    def make(cache: bool = True, **endpoint) -> LLMClient:
        path = str(tmp_path / "llm.sqlite") if cache else None
        client = LLMClient(loopback_config(server.base_url, path, **endpoint), progress=False)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
