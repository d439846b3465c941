"""Versioned prompt templates, kept as files next to the step that uses them.

The version goes into every request's cache key: editing a prompt must not replay answers to
the old one. Unless the file declares ``{# version: X #}`` on its first line, the version is a
hash of the text, so any edit changes it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import jinja2

from builders.errors import ConfigError, DependencyError
from builders.schema import content_hash

_VERSION_RE = re.compile(r"^\{#\s*version:\s*([^#]+?)\s*#\}\s*\n?")
_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False, autoescape=False)


@dataclass
class PromptTemplate:
    name: str
    text: str
    declared_version: str | None = None
    _template: jinja2.Template = field(init=False, repr=False)

    def __post_init__(self):
        self._template = _ENV.from_string(self.text)

    @property
    def version(self) -> str:
        return f"{self.name}@{self.declared_version or content_hash(self.text, 12)}"

    def render(self, **values) -> str:
        try:
            return self._template.render(**values).strip()
        except jinja2.UndefinedError as exc:
            raise ConfigError(f"prompt {self.name!r}", f"template value missing ({exc.message})",
                              "pass every variable the template uses to render()") from None

    @classmethod
    def from_text(cls, name: str, text: str) -> "PromptTemplate":
        m = _VERSION_RE.match(text)
        return cls(name=name, text=text[m.end():] if m else text, declared_version=m.group(1) if m else None)

    @classmethod
    def from_file(cls, path: str | Path) -> "PromptTemplate":
        path = Path(path)
        if not path.is_file():
            raise DependencyError(f"prompt {path.name!r}", f"file {path} does not exist",
                              "ship the template next to the step that uses it")
        return cls.from_text(path.stem, path.read_text(encoding="utf-8"))


def load_prompt(anchor: str | Path, filename: str) -> PromptTemplate:
    """A template stored beside ``anchor`` (pass ``__file__`` of the step's module)."""
    return PromptTemplate.from_file(Path(anchor).resolve().parent / filename)
