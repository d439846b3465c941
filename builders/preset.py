"""Release presets: versioned YAML files that fully determine a build (with the seed and the caches).

A preset names the release version, the seed, where sources live, and which datasets and configs to
build. Everything a user may change lives here, not in code; a bad preset fails in one line that names
the file, the key and the fix.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

import yaml

from builders.errors import ConfigError

SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?$")
DATASET_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
DEFAULT_PRESET = "default"


class PresetError(ConfigError):
    """A release preset that cannot be built.

    Also takes the older one-message form ``PresetError("item: problem; fix")``, split at the
    first ``": "`` and the last ``"; "``, so callers not yet moved to (item, problem, fix) keep working.
    """

    def __init__(self, item: str, problem: str | None = None, fix: str | None = None):
        if problem is None:
            item, _, rest = item.partition(": ")
            problem, _, fix = rest.rpartition("; ") if "; " in rest else (rest, "", "see builders/presets/default.yaml")
        super().__init__(item, problem, fix or "see builders/presets/default.yaml")


# --- the config reader: every preset, LLM setting and training setting is read with these ---------
# Each takes the value, the ``item`` that names it in errors (file and key path) and raises
# ``error`` (a ConfigError subclass) as (item, problem, fix). ``None`` means "not set" throughout.

def read_yaml(path: Path, item: str, error: type[ConfigError] = ConfigError) -> Any:
    """A YAML file's data; a missing file or a syntax error is one line naming the file (and line)."""
    if not path.is_file():
        raise error(item, "file not found", "pass a preset name or the path of a YAML file")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        raise error(item, f"not valid YAML{at} ({getattr(exc, 'problem', exc)})", "fix the syntax") from None


def mapping(value: Any, item: str, allowed: Iterable[str] | None = None, *, required: Iterable[str] = (),
            forbidden: dict[str, str] | None = None, error: type[ConfigError] = ConfigError) -> dict:
    """A mapping of settings (None is empty) whose keys are all in ``allowed``; ``forbidden`` maps a
    key that must never be in a preset (e.g. a secret) to the fix; ``required`` keys must be there."""
    value = {} if value is None else value
    allowed = None if allowed is None else set(allowed)
    if not isinstance(value, dict):
        keys = f" with keys from {', '.join(sorted(allowed))}" if allowed else ""
        raise error(item, f"{value!r} is not a mapping", f"write it as {{key: value}}{keys}")
    for key in value:
        if forbidden and key in forbidden:
            raise error(f"{item}.{key}", "is not allowed in a preset", forbidden[key])
    unknown = sorted(str(k) for k in value if allowed is not None and k not in allowed)
    if unknown:
        raise error(item, f"unknown key {unknown[0]!r}" + (f" (and {unknown[1:]})" if unknown[1:] else ""),
                    f"expected one of {', '.join(sorted(allowed))}")
    for key in required:
        if key not in value:
            raise error(item, f"missing required key {key!r}", "add it (see the shipped presets for an example)")
    return value


@contextmanager
def option_types(item: str, fix: str):
    """Turns a TypeError / ValueError raised while options are applied (a number where a mapping goes) into
    one PresetError line naming ``item``; a ConfigError already names its own item and passes through."""
    try:
        yield
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise PresetError(item, f"an option has the wrong type ({exc})", fix) from None


def field_names(cls: type, exclude: Iterable[str] = ("name",)) -> set[str]:
    """The keys a preset section may hold: the fields of the dataclass it fills."""
    return {f.name for f in fields(cls)} - set(exclude)


def typed(value: Any, kind: type | tuple, item: str, expect: str, error: type[ConfigError] = ConfigError) -> Any:
    """``value`` if it is of ``kind`` (a bool is no number; an int is a float); else one line saying what is expected."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if float in kinds and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kinds) or isinstance(value, bool) and bool not in kinds:
        raise error(item, f"{value!r} is not {expect}", f"write {expect}")
    return value


def number(value: Any, item: str, kind: type = int, *, minimum: float | None = None, positive: bool = False,
           error: type[ConfigError] = ConfigError) -> Any:
    """An int (or, with ``kind=float``, any number), optionally > 0 or >= ``minimum``."""
    what = "a whole number" if kind is int else "a number"
    value = typed(value, kind, item, what, error)
    if positive and value <= 0 or minimum is not None and value < minimum:
        bound = "greater than 0" if positive else f"at least {minimum}"
        raise error(item, f"{value!r} is out of range", f"give {what} {bound}")
    return value


def choice(value: Any, item: str, allowed: Iterable[str], error: type[ConfigError] = ConfigError) -> str:
    allowed = tuple(allowed)
    if value not in allowed:
        raise error(item, f"unknown value {value!r}", f"use one of {', '.join(allowed)}")
    return value


def string_list(value: Any, item: str, error: type[ConfigError] = ConfigError, example: str = "[en, zh]") -> list[str]:
    """A non-empty list of non-empty strings."""
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise error(item, f"{value!r} is not a list of strings", f"write e.g. {example}")
    return value


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB)?\s*$", re.I)


def size(value: Any, item: str, minimum: int = 0, error: type[ConfigError] = ConfigError) -> int:
    """A byte size such as ``256MB`` (B, KB, MB, GB; 1KB = 1024 bytes)."""
    m = _SIZE.match(str(value))
    if not m:
        raise error(item, f"{value!r} is not a size", "write e.g. 256MB")
    mult = {"b": 1, "kb": 1 << 10, "mb": 1 << 20, "gb": 1 << 30}[(m.group(2) or "B").lower()]
    n = int(float(m.group(1)) * mult)
    if n < minimum:
        raise error(item, f"{value!r} is too small", f"give at least {minimum} bytes")
    return n


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
            raise PresetError(f"preset {self.path} {where}", f"uses source {name!r}, which is not under 'sources' "
                              f"(defined: {', '.join(sorted(self.sources)) or 'none'})", "add it or fix the name")
        return self.sources[name]


_TOP_KEYS = {"name", "version", "seed", "output_dir", "max_shard_bytes", "sources", "datasets", "llm", "description"}
_SOURCE_KEYS = {"kind", "path"}
_DATASET_KEYS = {"pretty_name", "license", "languages", "configs", "description", "repo_id"}


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
    return parse_preset(read_yaml(path, f"preset {path}", PresetError), path)


def parse_preset(raw: Any, path: Path) -> Preset:
    where = f"preset {path}"
    if not isinstance(raw, dict):
        raise PresetError(where, f"top level must be a mapping, got {type(raw).__name__}",
                          "see builders/presets/default.yaml")
    mapping(raw, where, _TOP_KEYS, required=("name", "version", "datasets"), error=PresetError)
    name = typed(raw["name"], str, f"{where} name", "a string", PresetError)
    version = str(raw["version"])
    if not SEMVER.match(version):
        raise PresetError(f"{where} version", f"{version!r} is not semver", "write MAJOR.MINOR.PATCH such as 0.1.0")
    seed = raw.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise PresetError(where, f"seed {seed!r} must be an integer", "write a whole number such as 20261122")
    output_dir = typed(raw.get("output_dir", "releases"), str, f"{where} output_dir", "a folder path", PresetError)
    max_shard_bytes = size(raw.get("max_shard_bytes", "256MB"), f"{where} max_shard_bytes", 1024, PresetError)

    sources = {}
    for sname, scfg in mapping(raw.get("sources"), f"{where} sources", error=PresetError).items():
        swhere = f"{where} sources.{sname}"
        scfg = mapping(scfg, swhere, _SOURCE_KEYS, required=("kind", "path"), error=PresetError)
        sources[sname] = SourceConfig(name=sname, kind=typed(scfg["kind"], str, f"{swhere}.kind", "a string", PresetError),
                                      path=typed(scfg["path"], str, f"{swhere}.path", "a path", PresetError))

    datasets = {}
    if not isinstance(raw["datasets"], dict) or not raw["datasets"]:
        raise PresetError(f"{where} datasets", "must map dataset names to their configs",
                          "see builders/presets/default.yaml")
    for dname, dcfg in raw["datasets"].items():
        dwhere = f"{where} datasets.{dname}"
        if not DATASET_NAME.match(str(dname)):
            raise PresetError(dwhere, "is not a dataset name", "use lower-case letters, digits, '-' and '_'")
        dcfg = mapping(dcfg, dwhere, _DATASET_KEYS, error=PresetError)
        configs = dcfg.get("configs")
        if not isinstance(configs, dict) or not configs:
            raise PresetError(f"{dwhere}.configs", "must map config names to their settings",
                              "see builders/presets/default.yaml")
        datasets[dname] = DatasetConfig(
            name=dname,
            pretty_name=typed(dcfg.get("pretty_name", dname), str, f"{dwhere}.pretty_name", "a string", PresetError),
            license=typed(dcfg.get("license", "other"), str, f"{dwhere}.license", "a license id such as apache-2.0",
                          PresetError),
            languages=string_list(dcfg.get("languages", ["en"]), f"{dwhere}.languages", PresetError),
            configs={c: mapping(v, f"{dwhere}.configs.{c}", error=PresetError) for c, v in configs.items()},
            description=typed(dcfg.get("description", ""), str, f"{dwhere}.description", "a string", PresetError),
            repo_id=typed(dcfg.get("repo_id", f"<org>/{dname}"), str, f"{dwhere}.repo_id", "a Hub repo id", PresetError))

    return Preset(path=path, name=name, version=version, seed=seed, output_dir=output_dir,
                  max_shard_bytes=max_shard_bytes, sources=sources, datasets=datasets, llm=raw.get("llm") or {},
                  raw=raw)


def option(cfg: dict, key: str, kind: type, where: str, expect: str, default: Any = None) -> Any:
    """A typed setting of a dataset config; a wrong type fails in one line naming the key."""
    value = cfg.get(key, default)
    return None if value is None else typed(value, kind, f"{where}.{key}", expect, PresetError)


def recorded(preset: Preset) -> dict:
    """The preset as a release records it: what determines the content, without this machine's paths."""
    raw = {k: v for k, v in preset.raw.items() if k != "output_dir"}
    if preset.sources:
        raw["sources"] = {n: {"kind": s.kind, "path": Path(s.path).name} for n, s in preset.sources.items()}
    return raw
