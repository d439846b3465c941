"""A loopback OpenAI-compatible server and clients wired to it with test-sized retry delays."""

from __future__ import annotations

import pytest

from builders.llm import LLMClient, LLMConfig
from builders.llm.testing import FakeOpenAIServer


def fake_config(base_url: str, cache: str | None = None, **endpoint) -> LLMConfig:
    ep = {"base_url": base_url, "backoff_base": 0.01, "backoff_max": 0.05, "timeout": 5.0, **endpoint}
    return LLMConfig.from_mapping({
        "cache": cache,
        "endpoints": {"fake": ep},
        "roles": {"default": {"endpoint": "fake", "model": "fake-model", "temperature": 0.0}},
    })


@pytest.fixture
def server():
    with FakeOpenAIServer() as srv:
        yield srv


@pytest.fixture
def make_client(server, tmp_path):
    clients = []

    def make(cache: bool = True, **endpoint) -> LLMClient:
        path = str(tmp_path / "llm.sqlite") if cache else None
        client = LLMClient(fake_config(server.base_url, path, **endpoint), progress=False)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
