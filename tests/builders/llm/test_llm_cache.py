from builders.llm import RequestCache, request_key

BASE = dict(endpoint="http://127.0.0.1:1/v1", model="m", messages=[{"role": "user", "content": "hi"}],
            tools=None, tool_choice=None, response_format=None, sampling={"temperature": 0.0}, prompt_version="p@1")


def test_key_covers_everything_that_determines_the_answer():
    base = request_key(**BASE)
    assert request_key(**BASE) == base
    for change in [dict(model="n"), dict(endpoint="https://api.openai.com/v1"),
                   dict(messages=[{"role": "user", "content": "hi!"}]),
                   dict(tools=[{"type": "function", "function": {"name": "f"}}]),
                   dict(tool_choice="required"), dict(response_format={"type": "json_object"}),
                   dict(sampling={"temperature": 0.0, "seed": 1}), dict(sampling={"temperature": 0.7}),
                   dict(prompt_version="p@2")]:
        assert request_key(**{**BASE, **change}) != base, change
    # key order inside the request does not matter
    assert request_key(**{**BASE, "sampling": {"seed": 1, "top_p": 0.9}}) == \
        request_key(**{**BASE, "sampling": {"top_p": 0.9, "seed": 1}})


def test_answers_persist_across_reopen(tmp_path):
    path = tmp_path / "c" / "llm.sqlite"
    cache = RequestCache(path)
    response = {"id": "x", "choices": [{"message": {"role": "assistant", "content": "héllo"}}], "usage": {"prompt_tokens": 1.5}}
    cache.put("k1", response, role="judge", model="m")
    assert "k1" in cache and "k2" not in cache and cache.get("k2") is None
    cache.close()
    reopened = RequestCache(path)
    assert reopened.get("k1") == response and len(reopened) == 1 and reopened.keys() == {"k1"}
    reopened.close()


def test_a_damaged_file_is_a_clear_error(tmp_path):
    import pytest

    from builders.errors import ConfigError

    bad = tmp_path / "llm.sqlite"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(ConfigError, match="cannot be opened"):
        RequestCache(bad)
