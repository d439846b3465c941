import pytest

from builders.llm import LLMConfig
from builders.schema import SchemaError


def test_preset_shape_parses_roles_endpoints_and_defaults(tmp_path):
    preset = tmp_path / "preset.yaml"
    preset.write_text("""
name: demo
llm:
  cache: runs/llm.sqlite
  endpoints:
    local: {base_url: null}
    judge: {base_url: "https://api.example.com/v1", api_key_env: JUDGE_KEY, max_concurrency: 32, json_mode: json_schema}
  roles:
    user_simulator: {endpoint: local, model: smollm2, temperature: 0.7, max_tokens: 512}
    trajectory_judge: {endpoint: judge, model: gpt-4.1, temperature: 0.0, seed: 3, extra_body: {top_k: 5}}
""")
    cfg = LLMConfig.from_yaml(preset)
    assert cfg.cache == "runs/llm.sqlite"
    local, judge = cfg.endpoints["local"], cfg.endpoints["judge"]
    assert local.embedded and local.max_concurrency == 1 and local.json_mode == "tool"
    assert judge.max_concurrency == 32 and judge.identity == "https://api.example.com/v1"
    assert cfg.role("trajectory_judge").sampling() == {"temperature": 0.0, "seed": 3, "extra_body": {"top_k": 5}}
    # roles the preset does not name fall back to "default", which uses the first endpoint
    assert cfg.role("tool_simulator").name == "default" and cfg.endpoint("tool_simulator").name == "local"


def test_no_llm_mapping_means_the_embedded_model():
    cfg = LLMConfig.from_mapping(None)
    assert cfg.endpoint("anything").embedded
    assert cfg.role("anything").model == "smollm2"


@pytest.mark.parametrize("mapping, where", [
    ({"endpoints": {"a": {"base_url": None, "max_concurency": 2}}}, "llm.endpoints.a.max_concurency"),
    ({"roles": {"judge": {"endpoint": "nowhere"}}}, "llm.roles.judge.endpoint"),
    ({"roles": {"judge": {"temprature": 0.1}}}, "llm.roles.judge.temprature"),
    ({"endpoints": {"a": {"base_url": "localhost:8000"}}}, "llm.endpoints.a.base_url"),
    ({"endpoints": {"a": {"base_url": None, "json_mode": "xml"}}}, "llm.endpoints.a.json_mode"),
    ({"endpoints": {"a": {"base_url": None, "transport": "curl"}}}, "llm.endpoints.a.transport"),
    ({"endpoints": {"a": {"base_url": None, "max_concurrency": 0}}}, "llm.endpoints.a.max_concurrency"),
    ({"endpoint": {}}, "llm.endpoint"),
])
def test_bad_presets_name_the_key(mapping, where):
    with pytest.raises(SchemaError) as err:
        LLMConfig.from_mapping(mapping)
    assert err.value.item == where


def test_api_keys_come_from_the_environment_only(monkeypatch):
    with pytest.raises(SchemaError, match="api_key_env"):
        LLMConfig.from_mapping({"endpoints": {"a": {"base_url": "https://x.io/v1", "api_key": "sk-secret"}}})
    cfg = LLMConfig.from_mapping({"endpoints": {"a": {"base_url": "https://x.io/v1", "api_key_env": "TM_TEST_KEY"}}})
    monkeypatch.delenv("TM_TEST_KEY", raising=False)
    with pytest.raises(SchemaError, match="TM_TEST_KEY is not set"):
        cfg.endpoints["a"].api_key()
    monkeypatch.setenv("TM_TEST_KEY", "sk-123")
    assert cfg.endpoints["a"].api_key() == "sk-123"


def test_shipped_llm_presets_parse():
    from pathlib import Path

    import builders

    presets = sorted((Path(builders.__file__).parent / "presets" / "llm").glob("*.yaml"))
    assert presets
    for path in presets:
        cfg = LLMConfig.from_yaml(path)
        assert cfg.role("default").model and cfg.cache
