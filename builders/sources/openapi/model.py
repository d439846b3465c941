"""The types the OpenAPI reader shares: its settings, its error, and what one operation becomes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from builders.schema import Function, SchemaError, dumps

HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
MAX_NAME_LENGTH = 64  # the OpenAI tools API limit


class ReaderError(SchemaError):
    """A data problem in a source (a ``DataError``); the message is one line (newlines escaped)."""


class OpenAPIError(ReaderError):
    """A spec or one operation cannot be normalised; ``problem`` is the short reject reason."""


def shown(value: Any, limit: int = 80) -> str:
    """``repr`` for a message: bounded in length, and safe on a value nested past the recursion limit."""
    try:
        return repr(value)[:limit]
    except RecursionError:
        return f"a deeply nested {type(value).__name__}"


def check_utf8(item: str, value: Any) -> None:
    """A text with a lone surrogate (a bad ``\\ud800`` escape in the JSON) cannot be written as UTF-8:
    reject the spec or operation here rather than fail when the release is written."""
    try:
        json.dumps(value, ensure_ascii=False, default=str).encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = exc.object[max(0, exc.start - 20): exc.end + 20]
        raise OpenAPIError(item, f"holds a lone surrogate (an invalid \\u escape) near {bad!r}",
                           "fix the text in the spec: \\ud800-\\udfff escapes must come in pairs") from None


@dataclass
class OpenAPIConfig:
    """Knobs for how much of a spec survives; defaults keep schemas small enough for a prompt."""

    max_ref_depth: int = 3  # nested $ref expansions before a schema is cut
    max_nodes: int = 150  # schema nodes per inputs / outputs schema; nested ones past it are cut
    max_depth: int = 12  # inline nesting levels (counted from the last $ref) before a schema is cut
    max_properties: int = 64  # properties kept per object (required ones first, then spec order)
    max_description: int = 1024  # characters of a function description
    max_param_description: int = 200  # characters of a parameter / property description
    max_enum: int = 50  # longer enums are summarised in the description instead
    max_alternatives: int = 8  # oneOf / anyOf branches kept
    drop_credentials: bool = True


@dataclass(frozen=True)
class ApiInfo:
    """Metadata shared by every operation of one spec."""

    api: str  # provider[:service]
    provider: str
    service: str | None
    title: str
    categories: tuple[str, ...]
    country: str | None
    spec_version: str
    openapi_version: str

    @property
    def category(self) -> str | None:
        return self.categories[0] if self.categories else None


@dataclass(frozen=True)
class OpenAPIOperation:
    function: Function
    info: ApiInfo
    method: str
    path: str
    # argument name -> "path:<name>" | "query:<name>" | "header:<name>" | "body:<property>" | "body"
    locations: dict = field(default_factory=dict)

    def to_row(self, source: str) -> dict:
        fn, info = self.function, self.info
        return {
            "name": fn.name, "description": fn.description, "parameters": dumps(fn.parameters),
            "outputs": dumps(fn.outputs) if fn.outputs is not None else None,
            "api": info.api, "provider": info.provider, "service": info.service, "category": info.category,
            "country": info.country, "method": self.method, "path": self.path, "spec_version": info.spec_version,
            "openapi_version": info.openapi_version, "source": source,
        }

