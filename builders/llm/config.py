"""Which chat model each role talks to, read from the preset's ``llm:`` mapping.

Every agent and judge in both pipelines names a *role*; the preset maps roles to endpoints,
models and sampling settings, so a release can put the judges on a strong hosted model and the
simulators on a cheap local one without touching code::

    llm:
      cache: .cache/llm.sqlite           # persistent request cache; null turns it off
      endpoints:
        local: {base_url: null}          # null -> the embedded llama.cpp server (SmolLM2)
        judge:
          base_url: https://api.openai.com/v1
          api_key_env: OPENAI_API_KEY    # the key itself never lives in a preset
          max_concurrency: 32
          json_mode: json_schema
      roles:
        default: {endpoint: local, model: smollm2, temperature: 0.7, max_tokens: 512}
        trajectory_judge: {endpoint: judge, model: gpt-4.1, temperature: 0.0, seed: 0}

Endpoint keys: ``base_url``, ``api_key_env``, ``max_concurrency``, ``timeout`` (seconds per
attempt), ``max_attempts``, ``backoff_base`` / ``backoff_max`` (seconds), ``json_mode``
(``response_format`` | ``json_schema`` | ``tool`` | ``prompt``), ``transport`` (``auto`` |
``aiohttp`` | ``httpx``; auto takes aiohttp when installed), ``headers``.
Role keys: ``endpoint``, ``model``, ``temperature``, ``top_p``, ``max_tokens``, ``seed``,
``stop``, ``presence_penalty``, ``frequency_penalty``, ``extra_body`` (server-specific
sampling such as vLLM's ``top_k``). A step asking for a role the preset does not name gets
the ``default`` role. With no ``llm:`` mapping at all, everything runs on the embedded server.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from builders.schema import SchemaError

JSON_MODES = ("response_format", "json_schema", "tool", "prompt")
TRANSPORTS = ("auto", "aiohttp", "httpx")
EMBEDDED_MODEL = "smollm2"
# sampling settings forwarded to the server; all of them are part of the cache key
SAMPLING_KEYS = ("temperature", "top_p", "max_tokens", "seed", "stop", "presence_penalty",
                 "frequency_penalty", "extra_body")


def _check_keys(item: str, mapping: Any, cls: type, forbidden: dict[str, str] | None = None) -> dict:
    if mapping is None:
        return {}
    if not isinstance(mapping, dict):
        raise SchemaError(item, f"must be a mapping, got {type(mapping).__name__}",
                          f"write it as {{key: value}} with keys from {sorted(_field_names(cls))}")
    for key in mapping:
        if forbidden and key in forbidden:
            raise SchemaError(f"{item}.{key}", "is not allowed in a preset", forbidden[key])
        if key not in _field_names(cls):
            raise SchemaError(f"{item}.{key}", "unknown key",
                              f"use one of {', '.join(sorted(_field_names(cls)))}")
    return dict(mapping)


def _field_names(cls: type) -> set[str]:
    return {f.name for f in fields(cls) if f.name != "name"}


def _positive(item: str, value: Any, kind: type = int) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0 or (
            kind is int and not isinstance(value, int)):
        raise SchemaError(item, f"must be a positive {kind.__name__}, got {value!r}", "fix the number in the preset")


@dataclass
class EndpointConfig:
    """One OpenAI-compatible server. ``base_url=None`` means the embedded llama.cpp server."""

    name: str = "local"
    base_url: str | None = None
    api_key_env: str | None = None
    max_concurrency: int = 16
    timeout: float = 120.0
    max_attempts: int = 6
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    json_mode: str = "response_format"
    transport: str = "auto"
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def embedded(self) -> bool:
        return self.base_url is None

    @property
    def identity(self) -> str:
        """What the cache key records about the server: its URL, never its key or local port."""
        return "embedded:llama.cpp:smollm2" if self.embedded else self.base_url.rstrip("/")

    def api_key(self) -> str:
        if not self.api_key_env:
            return "no-key"  # local servers (vLLM, SGLang, llama.cpp) accept any key
        key = os.environ.get(self.api_key_env)
        if not key:
            raise SchemaError(f"llm endpoint {self.name!r}", f"environment variable {self.api_key_env} is not set",
                              f"export {self.api_key_env}=<your key> before the run")
        return key

    @classmethod
    def from_mapping(cls, name: str, mapping: Any) -> "EndpointConfig":
        item = f"llm.endpoints.{name}"
        raw = _check_keys(item, mapping, cls, forbidden={
            "api_key": "put the key in an environment variable and name it with api_key_env"})
        cfg = cls(name=name, **raw)
        if cfg.embedded:
            # llama.cpp serves one request at a time and only returns tool calls when forced
            cfg.max_concurrency = 1 if "max_concurrency" not in raw else cfg.max_concurrency
            cfg.json_mode = raw.get("json_mode", "tool")
        elif not isinstance(cfg.base_url, str) or not cfg.base_url.startswith(("http://", "https://")):
            raise SchemaError(f"{item}.base_url", f"must be an http(s) URL or null, got {cfg.base_url!r}",
                              "write e.g. http://127.0.0.1:8000/v1, or null for the embedded model")
        for key in ("max_concurrency", "max_attempts"):
            _positive(f"{item}.{key}", getattr(cfg, key))
        for key in ("timeout", "backoff_base", "backoff_max"):
            _positive(f"{item}.{key}", getattr(cfg, key), float)
        for key, allowed in (("json_mode", JSON_MODES), ("transport", TRANSPORTS)):
            if getattr(cfg, key) not in allowed:
                raise SchemaError(f"{item}.{key}", f"unknown value {getattr(cfg, key)!r}", f"use one of {', '.join(allowed)}")
        return cfg


@dataclass
class RoleConfig:
    """The model and sampling one agent or judge uses."""

    name: str = "default"
    endpoint: str = "local"
    model: str = EMBEDDED_MODEL
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    stop: list[str] | str | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    extra_body: dict | None = None

    def sampling(self) -> dict:
        """The settings sent with every request, without the unset ones."""
        return {k: getattr(self, k) for k in SAMPLING_KEYS if getattr(self, k) is not None}

    @classmethod
    def from_mapping(cls, name: str, mapping: Any) -> "RoleConfig":
        raw = _check_keys(f"llm.roles.{name}", mapping, cls)
        cfg = cls(name=name, **raw)
        if not isinstance(cfg.model, str) or not cfg.model:
            raise SchemaError(f"llm.roles.{name}.model", "must be a model name", "name the served model")
        return cfg


@dataclass
class LLMConfig:
    endpoints: dict[str, EndpointConfig] = field(default_factory=dict)
    roles: dict[str, RoleConfig] = field(default_factory=dict)
    cache: str | None = ".cache/llm.sqlite"

    def __post_init__(self):
        if not self.endpoints:
            self.endpoints = {"local": EndpointConfig.from_mapping("local", {})}
        if "default" not in self.roles:
            self.roles["default"] = RoleConfig(name="default", endpoint=next(iter(self.endpoints)))
        for role in self.roles.values():
            if role.endpoint not in self.endpoints:
                raise SchemaError(f"llm.roles.{role.name}.endpoint", f"names endpoint {role.endpoint!r}, which is not defined",
                                  f"use one of {', '.join(sorted(self.endpoints))} or add it under llm.endpoints")

    def role(self, name: str) -> RoleConfig:
        """A step's role, or ``default`` when the preset does not name it."""
        return self.roles.get(name) or self.roles["default"]

    def endpoint(self, role: str) -> EndpointConfig:
        return self.endpoints[self.role(role).endpoint]

    @classmethod
    def from_mapping(cls, mapping: Any) -> "LLMConfig":
        raw = _check_keys("llm", mapping, cls)
        endpoints = raw.get("endpoints") or {}
        roles = raw.get("roles") or {}
        for item, value in (("llm.endpoints", endpoints), ("llm.roles", roles)):
            if not isinstance(value, dict):
                raise SchemaError(item, f"must be a mapping of names, got {type(value).__name__}",
                                  "write it as {name: {...}}")
        cache = raw.get("cache", cls.cache)
        if cache is not None and not isinstance(cache, (str, Path)):
            raise SchemaError("llm.cache", f"must be a file path or null, got {cache!r}", "give a path such as .cache/llm.sqlite")
        return cls(endpoints={n: EndpointConfig.from_mapping(n, m) for n, m in endpoints.items()},
                   roles={n: RoleConfig.from_mapping(n, m) for n, m in roles.items()},
                   cache=str(cache) if cache is not None else None)

    @classmethod
    def from_yaml(cls, path: str | Path) -> "LLMConfig":
        """Read the ``llm:`` mapping of a preset file (or a file that is only that mapping)."""
        import yaml

        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
        return cls.from_mapping(data.get("llm", data) if isinstance(data, dict) else data)
