import pytest

from builders.errors import ConfigError
from builders.llm import LLMConfig
from builders.llm.config import LLMConfigError


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
    assert local.embedded and local.max_concurrency == local.parallel == 4 and local.json_mode == "json_schema"
    assert local.tool_mode == "structured" and judge.tool_mode == "native"
    assert judge.max_concurrency == 32 and judge.identity == "https://api.example.com/v1"
    assert cfg.role("trajectory_judge").sampling() == {"temperature": 0.0, "seed": 3, "extra_body": {"top_k": 5}}
    # roles the preset does not name fall back to "default", which uses the first endpoint
    assert cfg.role("tool_simulator").name == "default" and cfg.endpoint("tool_simulator").name == "local"


def test_no_llm_mapping_means_the_embedded_model():
    cfg = LLMConfig.from_mapping(None)
    assert cfg.endpoint("checker").embedded
    assert cfg.role("scorer").model == "smollm2"


def role(**fields):
    return {"roles": {"turn_judge": fields}}


def endpoint(**fields):
    return {"endpoints": {"a": {"base_url": "https://x.io/v1", **fields}}}


@pytest.mark.parametrize("mapping, where", [
    ({"endpoints": {"a": {"base_url": None, "max_concurency": 2}}}, "llm.endpoints.a.max_concurency"),
    (role(endpoint="nowhere"), "llm.roles.turn_judge.endpoint"),
    (role(temprature=0.1), "llm.roles.turn_judge.temprature"),
    (role(temperature="0.7"), "llm.roles.turn_judge.temperature"),
    (role(top_p=True), "llm.roles.turn_judge.top_p"),
    (role(presence_penalty=[1]), "llm.roles.turn_judge.presence_penalty"),
    (role(frequency_penalty="high"), "llm.roles.turn_judge.frequency_penalty"),
    (role(max_tokens=12.5), "llm.roles.turn_judge.max_tokens"),
    (role(max_tokens=0), "llm.roles.turn_judge.max_tokens"),
    (role(seed="0"), "llm.roles.turn_judge.seed"),
    (role(stop=["</s>", 3]), "llm.roles.turn_judge.stop[1]"),
    (role(stop=7), "llm.roles.turn_judge.stop"),
    (role(extra_body=["top_k", 5]), "llm.roles.turn_judge.extra_body"),
    (role(model=None), "llm.roles.turn_judge.model"),
    (endpoint(headers=["X-Team: a"]), "llm.endpoints.a.headers"),
    (endpoint(headers={"X-Team": 7}), "llm.endpoints.a.headers.X-Team"),
    (endpoint(headers_env={"api-key": ""}), "llm.endpoints.a.headers_env.api-key"),
    (endpoint(api_key_env=123), "llm.endpoints.a.api_key_env"),
    (endpoint(api_key_env=""), "llm.endpoints.a.api_key_env"),
    ({"cache": ""}, "llm.cache"),
    ({"cache": 5}, "llm.cache"),
    ({"endpoints": {"a": {"base_url": "localhost:8000"}}}, "llm.endpoints.a.base_url"),
    ({"endpoints": {"a": {"base_url": None, "json_mode": "xml"}}}, "llm.endpoints.a.json_mode"),
    ({"endpoints": {"a": {"base_url": None, "transport": "curl"}}}, "llm.endpoints.a.transport"),
    ({"endpoints": {"a": {"base_url": None, "max_concurrency": 0}}}, "llm.endpoints.a.max_concurrency"),
    ({"endpoint": {}}, "llm.endpoint"),
    ({"endpoints": {"a": {"base_url": None, "tool_mode": "xml"}}}, "llm.endpoints.a.tool_mode"),
    (endpoint(tool_mode=None), "llm.endpoints.a.tool_mode"),
    (endpoint(parallel=4), "llm.endpoints.a.parallel"),
    (endpoint(model_path="m.gguf"), "llm.endpoints.a.model_path"),
    ({"endpoints": {"a": {"base_url": None, "parallel": 0}}}, "llm.endpoints.a.parallel"),
    ({"endpoints": {"a": {"base_url": None, "ctx_per_slot": 512.5}}}, "llm.endpoints.a.ctx_per_slot"),
    ({"endpoints": {"a": {"base_url": None, "threads": -1}}}, "llm.endpoints.a.threads"),
    (endpoint(threads=1), "llm.endpoints.a.threads"),
    ({"endpoints": {"a": {"base_url": None, "model_path": "/nowhere/model.gguf"}}}, "llm.endpoints.a.model_path"),
    ({"endpoints": {"a": {"base_url": None, "chat_template": ""}}}, "llm.endpoints.a.chat_template"),
    (role(recover_tool_calls="no"), "llm.roles.turn_judge.recover_tool_calls"),
    ({"known_roles": ["x"]}, "llm.known_roles"),
])
def test_bad_presets_name_the_key(mapping, where):
    with pytest.raises(LLMConfigError) as err:
        LLMConfig.from_mapping(mapping)
    # an unknown key is named in the problem of the mapping that holds it (the one config reader's shape)
    parent, _, key = where.rpartition(".")
    assert err.value.item == where or (err.value.item == parent and f"unknown key {key!r}" in err.value.problem)
    assert "\n" not in str(err.value) and err.value.fix


def test_api_keys_come_from_the_environment_only(monkeypatch):
    with pytest.raises(ConfigError, match="api_key_env"):
        LLMConfig.from_mapping({"endpoints": {"a": {"base_url": "https://x.io/v1", "api_key": "sk-secret"}}})
    cfg = LLMConfig.from_mapping({"endpoints": {"a": {"base_url": "https://x.io/v1", "api_key_env": "TM_TEST_KEY"}}})
    monkeypatch.delenv("TM_TEST_KEY", raising=False)
    with pytest.raises(ConfigError, match="TM_TEST_KEY is not set"):
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


def test_a_role_name_typo_is_a_preset_error_listing_the_known_roles():
    with pytest.raises(ConfigError) as err:
        LLMConfig.from_mapping({"roles": {"trajectory_judg": {"temperature": 0.0}}})
    assert err.value.item == "llm.roles.trajectory_judg"
    assert "trajectory_judge" in err.value.fix and "user_simulator" in err.value.fix


def test_code_asking_for_an_unknown_role_fails_but_unnamed_known_roles_get_default():
    from builders.llm.config import ROLES, UnknownRoleError

    cfg = LLMConfig.from_mapping({"roles": {"default": {"model": "m", "temperature": 0.5},
                                            "turn_judge": {"model": "judge-model"}}})
    assert cfg.role("turn_judge").model == "judge-model"
    assert all(cfg.role(name).model == "m" for name in ROLES if name not in ("default", "turn_judge"))
    with pytest.raises(UnknownRoleError, match="'turn_judg'.*known roles: default"):
        cfg.role("turn_judg")
    with pytest.raises(UnknownRoleError):
        cfg.endpoint("judge")


def test_every_documented_role_is_known_and_every_known_role_documented():
    from pathlib import Path

    import builders
    from builders.llm import config

    for name in config.ROLES:
        assert f"``{name}``" in config.__doc__, name
    presets = (Path(builders.__file__).parent / "presets" / "llm").glob("*.yaml")
    for path in presets:
        assert all(name in path.read_text() for name in config.ROLES), path


@pytest.mark.parametrize("fields, where", [
    ({"headers": {"Authorization": "Bearer sk-1"}}, "llm.endpoints.a.headers.Authorization"),
    ({"headers": {"api-key": "abc"}}, "llm.endpoints.a.headers.api-key"),
    ({"headers": {"X-API-Key": "abc"}}, "llm.endpoints.a.headers.X-API-Key"),
    ({"headers": {"x-goog-api-key": "abc"}}, "llm.endpoints.a.headers.x-goog-api-key"),
    ({"headers": {"Authorization": 12345}}, "llm.endpoints.a.headers.Authorization"),
    ({"base_url": "https://user:sk-secret@x.io/v1"}, "llm.endpoints.a.base_url"),
    ({"base_url": "https://x.io/v1?api_key=sk-secret"}, "llm.endpoints.a.base_url"),
])
def test_secrets_in_headers_or_urls_are_refused_with_a_hint(fields, where):
    with pytest.raises(ConfigError) as err:
        LLMConfig.from_mapping(endpoint(**fields))
    assert err.value.item == where and ("api_key_env" in err.value.fix or "headers_env" in err.value.fix)
    assert "sk-secret" not in str(err.value)


def test_secret_headers_come_from_the_environment(monkeypatch):
    cfg = LLMConfig.from_mapping(endpoint(headers={"X-Team": "data"}, headers_env={"api-key": "TM_AZURE_KEY"},
                                          base_url="https://x.io/v1?api-version=2024-06-01"))
    monkeypatch.delenv("TM_AZURE_KEY", raising=False)
    with pytest.raises(ConfigError, match="TM_AZURE_KEY"):
        cfg.endpoints["a"].request_headers()
    monkeypatch.setenv("TM_AZURE_KEY", "k-1")
    assert cfg.endpoints["a"].request_headers() == {"X-Team": "data", "api-key": "k-1"}


def test_tool_mode_is_chosen_per_endpoint_with_embedded_settings(tmp_path):
    model = tmp_path / "my.gguf"
    model.write_bytes(b"\0")
    cfg = LLMConfig.from_mapping({"endpoints": {
        "local": {"base_url": None, "model_path": str(model), "chat_template": "chatml", "parallel": 2,
                  "ctx_per_slot": 8192, "threads": 1},
        "native_local": {"base_url": None, "tool_mode": "native", "json_mode": "tool", "max_concurrency": 1},
        "vllm": {"base_url": "http://127.0.0.1:8000/v1", "tool_mode": "structured"},
        "openai": {"base_url": "https://api.openai.com/v1"}}})
    local, native_local, vllm, openai = (cfg.endpoints[n] for n in ("local", "native_local", "vllm", "openai"))
    assert (local.tool_mode, local.json_mode, local.max_concurrency) == ("structured", "json_schema", 2)
    assert (local.model_path, local.chat_template, local.ctx_per_slot, local.threads) == (str(model), "chatml", 8192, 1)
    assert (native_local.tool_mode, native_local.json_mode, native_local.max_concurrency) == ("native", "tool", 1)
    assert (vllm.tool_mode, openai.tool_mode) == ("structured", "native")


def test_the_runtime_passes_the_roles_its_steps_declare():
    from builders.llm.config import UnknownRoleError

    mapping = {"roles": {"planner": {"temperature": 0.2}, "default": {"model": "m"}}}
    cfg = LLMConfig.from_mapping(mapping, roles=["planner", "critic"])
    assert cfg.role("planner").temperature == 0.2 and cfg.role("critic").model == "m"
    with pytest.raises(UnknownRoleError, match="known roles: default, planner, critic"):
        cfg.role("turn_judge")
    with pytest.raises(ConfigError) as err:
        LLMConfig.from_mapping({"roles": {"planer": {}}}, roles=["planner", "critic"])
    assert err.value.item == "llm.roles.planer" and "default, planner, critic" in err.value.fix
    with pytest.raises(ConfigError):  # without roles=, the default set applies
        LLMConfig.from_mapping(mapping)


def test_preset_files_are_read_by_the_one_config_reader(tmp_path):
    with pytest.raises(LLMConfigError, match="file not found"):
        LLMConfig.from_yaml(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("llm:\n  roles: [unclosed\n")
    with pytest.raises(LLMConfigError, match=r"broken.yaml: not valid YAML at line \d"):
        LLMConfig.from_yaml(broken)
    listed = tmp_path / "listed.yaml"
    listed.write_text("llm: [a, b]\n")
    with pytest.raises(LLMConfigError) as err:
        LLMConfig.from_yaml(listed)
    assert err.value.item == "llm" and "not a mapping" in err.value.problem
