"""Release presets: versioned YAML files that fully determine a build (with the seed and the caches).

A preset names the release version, the seed, where sources live, and which datasets and configs to
build. Everything a user may change lives here, not in code; a bad preset fails in one line that names
the file, the key and the fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?$")
DATASET_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
DEFAULT_PRESET = "default"


class PresetError(ValueError):
    """A preset that cannot be built; the message is one line naming the file, the key and the fix."""


@dataclass
class SourceConfig:
    name: str
    kind: str
    path: str


@dataclass
class DatasetConfig:
    name: str
    pretty_name: str
    license: str
    languages: list[str]
    configs: dict[str, dict]
    description: str = ""
    repo_id: str = ""


@dataclass
class Preset:
    path: Path
    name: str
    version: str
    seed: int
    output_dir: str
    max_shard_bytes: int
    sources: dict[str, SourceConfig]
    datasets: dict[str, DatasetConfig]
    llm: dict = field(default_factory=dict)
    raw: dict = field(default_factory=dict)

    def source(self, name: str, where: str) -> SourceConfig:
        if name not in self.sources:
            raise PresetError(f"preset {self.path}: {where} uses source {name!r}, which is not under 'sources' "
                              f"(defined: {', '.join(sorted(self.sources)) or 'none'}); add it or fix the name")
        return self.sources[name]


_TOP_KEYS = {"name", "version", "seed", "output_dir", "max_shard_bytes", "sources", "datasets", "llm", "description"}
_SOURCE_KEYS = {"kind", "path"}
_DATASET_KEYS = {"pretty_name", "license", "languages", "configs", "description", "repo_id"}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB)?\s*$", re.I)


def _size(value: Any, where: str) -> int:
    m = _SIZE.match(str(value))
    if not m:
        raise PresetError(f"{where}: {value!r} is not a size; write e.g. 256MB")
    mult = {"b": 1, "kb": 1 << 10, "mb": 1 << 20, "gb": 1 << 30}[(m.group(2) or "B").lower()]
    return int(float(m.group(1)) * mult)


def resolve_preset_path(name_or_path: str | None) -> Path:
    """A bare name means a preset shipped in builders/presets; anything else is a file path."""
    name_or_path = name_or_path or DEFAULT_PRESET
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") or candidate.exists():
        return candidate
    shipped = resources.files("builders") / "presets" / f"{name_or_path}.yaml"
    return Path(str(shipped))


def load_preset(name_or_path: str | None = None) -> Preset:
    path = resolve_preset_path(name_or_path)
    if not path.is_file():
        raise PresetError(f"preset {path}: file not found; pass a preset name from builders/presets or a YAML path")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        raise PresetError(f"preset {path}: not valid YAML{at} ({getattr(exc, 'problem', exc)}); fix the syntax") from None
    return parse_preset(raw, path)


def _check_keys(d: dict, allowed: set, where: str) -> None:
    unknown = sorted(set(d) - allowed)
    if unknown:
        raise PresetError(f"{where}: unknown key {unknown[0]!r}; expected one of {', '.join(sorted(allowed))}")


def _typed(value: Any, kind: type | tuple, where: str, expect: str) -> Any:
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise PresetError(f"{where}: {value!r} is not {expect}")
    return value


def _mapping(value: Any, where: str, expect: str) -> dict:
    return _typed({} if value is None else value, dict, where, expect)


def _string_list(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise PresetError(f"{where}: {value!r} is not a list of strings; write e.g. [en, zh]")
    return value


def parse_preset(raw: Any, path: Path) -> Preset:
    where = f"preset {path}"
    if not isinstance(raw, dict):
        raise PresetError(f"{where}: top level must be a mapping, got {type(raw).__name__}; see builders/presets/default.yaml")
    _check_keys(raw, _TOP_KEYS, where)
    for key in ("name", "version", "datasets"):
        if key not in raw:
            raise PresetError(f"{where}: missing required key {key!r}; see builders/presets/default.yaml")
    name = _typed(raw["name"], str, f"{where} name", "a string")
    version = str(raw["version"])
    if not SEMVER.match(version):
        raise PresetError(f"{where}: version {version!r} is not semver; write MAJOR.MINOR.PATCH such as 0.1.0")
    seed = raw.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise PresetError(f"{where}: seed {seed!r} must be an integer")
    output_dir = _typed(raw.get("output_dir", "releases"), str, f"{where} output_dir", "a folder path")
    max_shard_bytes = _size(raw.get("max_shard_bytes", "256MB"), f"{where} max_shard_bytes")
    if max_shard_bytes < 1024:
        raise PresetError(f"{where} max_shard_bytes: {raw.get('max_shard_bytes')!r} is too small; give at least 1KB")

    sources = {}
    for sname, scfg in _mapping(raw.get("sources"), f"{where} sources", "a mapping of source names").items():
        swhere = f"{where} sources.{sname}"
        scfg = _mapping(scfg, swhere, "a mapping with 'kind' and 'path'")
        _check_keys(scfg, _SOURCE_KEYS, swhere)
        if "kind" not in scfg or "path" not in scfg:
            raise PresetError(f"{swhere}: needs 'kind' and 'path'")
        sources[sname] = SourceConfig(name=sname, kind=_typed(scfg["kind"], str, f"{swhere}.kind", "a string"),
                                      path=_typed(scfg["path"], str, f"{swhere}.path", "a path"))

    datasets = {}
    if not isinstance(raw["datasets"], dict) or not raw["datasets"]:
        raise PresetError(f"{where}: 'datasets' must map dataset names to their configs")
    for dname, dcfg in raw["datasets"].items():
        dwhere = f"{where} datasets.{dname}"
        if not DATASET_NAME.match(str(dname)):
            raise PresetError(f"{dwhere}: dataset names are lower-case letters, digits, '-' and '_'")
        dcfg = _mapping(dcfg, dwhere, "a mapping with 'configs'")
        _check_keys(dcfg, _DATASET_KEYS, dwhere)
        configs = dcfg.get("configs")
        if not isinstance(configs, dict) or not configs:
            raise PresetError(f"{dwhere}: 'configs' must map config names to their settings")
        datasets[dname] = DatasetConfig(
            name=dname,
            pretty_name=_typed(dcfg.get("pretty_name", dname), str, f"{dwhere}.pretty_name", "a string"),
            license=_typed(dcfg.get("license", "other"), str, f"{dwhere}.license", "a license id such as apache-2.0"),
            languages=_string_list(dcfg.get("languages", ["en"]), f"{dwhere}.languages"),
            configs={c: _mapping(v, f"{dwhere}.configs.{c}", "a mapping of settings") for c, v in configs.items()},
            description=_typed(dcfg.get("description", ""), str, f"{dwhere}.description", "a string"),
            repo_id=_typed(dcfg.get("repo_id", f"<org>/{dname}"), str, f"{dwhere}.repo_id", "a Hub repo id"))

    return Preset(path=path, name=name, version=version, seed=seed, output_dir=output_dir,
                  max_shard_bytes=max_shard_bytes, sources=sources, datasets=datasets, llm=raw.get("llm") or {},
                  raw=raw)


def option(cfg: dict, key: str, kind: type, where: str, expect: str, default: Any = None) -> Any:
    """A typed setting of a dataset config; a wrong type fails in one line naming the key."""
    value = cfg.get(key, default)
    if value is None:
        return None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    return _typed(value, kind, f"{where}.{key}", expect)


def recorded(preset: Preset) -> dict:
    """The preset as a release records it: what determines the content, without this machine's paths."""
    raw = {k: v for k, v in preset.raw.items() if k != "output_dir"}
    if preset.sources:
        raw["sources"] = {n: {"kind": s.kind, "path": Path(s.path).name} for n, s in preset.sources.items()}
    return raw
