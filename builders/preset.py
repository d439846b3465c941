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
    options: dict = field(default_factory=dict)


@dataclass
class DatasetConfig:
    name: str
    pretty_name: str
    license: str
    languages: list[str]
    configs: dict[str, dict]
    description: str = ""


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
_DATASET_KEYS = {"pretty_name", "license", "languages", "configs", "description"}
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


def parse_preset(raw: Any, path: Path) -> Preset:
    where = f"preset {path}"
    if not isinstance(raw, dict):
        raise PresetError(f"{where}: top level must be a mapping, got {type(raw).__name__}; see builders/presets/default.yaml")
    _check_keys(raw, _TOP_KEYS, where)
    for key in ("name", "version", "datasets"):
        if key not in raw:
            raise PresetError(f"{where}: missing required key {key!r}; see builders/presets/default.yaml")
    version = str(raw["version"])
    if not SEMVER.match(version):
        raise PresetError(f"{where}: version {version!r} is not semver; write MAJOR.MINOR.PATCH such as 0.1.0")
    seed = raw.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise PresetError(f"{where}: seed {seed!r} must be an integer")

    sources = {}
    for sname, scfg in (raw.get("sources") or {}).items():
        swhere = f"{where} sources.{sname}"
        if not isinstance(scfg, dict) or "kind" not in scfg or "path" not in scfg:
            raise PresetError(f"{swhere}: needs 'kind' and 'path'")
        sources[sname] = SourceConfig(name=sname, kind=scfg["kind"], path=str(scfg["path"]),
                                      options={k: v for k, v in scfg.items() if k not in _SOURCE_KEYS})

    datasets = {}
    if not isinstance(raw["datasets"], dict) or not raw["datasets"]:
        raise PresetError(f"{where}: 'datasets' must map dataset names to their configs")
    for dname, dcfg in raw["datasets"].items():
        dwhere = f"{where} datasets.{dname}"
        if not DATASET_NAME.match(str(dname)):
            raise PresetError(f"{dwhere}: dataset names are lower-case letters, digits, '-' and '_'")
        if not isinstance(dcfg, dict):
            raise PresetError(f"{dwhere}: must be a mapping with 'configs'")
        _check_keys(dcfg, _DATASET_KEYS, dwhere)
        configs = dcfg.get("configs")
        if not isinstance(configs, dict) or not configs:
            raise PresetError(f"{dwhere}: 'configs' must map config names to their settings")
        datasets[dname] = DatasetConfig(
            name=dname, pretty_name=dcfg.get("pretty_name", dname), license=dcfg.get("license", "other"),
            languages=list(dcfg.get("languages", ["en"])),
            configs={c: dict(v or {}) for c, v in configs.items()}, description=dcfg.get("description", ""))

    return Preset(path=path, name=str(raw["name"]), version=version, seed=seed,
                  output_dir=str(raw.get("output_dir", "releases")),
                  max_shard_bytes=_size(raw.get("max_shard_bytes", "256MB"), f"{where} max_shard_bytes"),
                  sources=sources, datasets=datasets, llm=raw.get("llm") or {}, raw=raw)
