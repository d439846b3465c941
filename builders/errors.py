"""The error types every part raises: one shape (item, problem, fix), printed on one line.

Data problems (a row, a spec, a model reply) are ``DataError``; settings that cannot work are
``ConfigError``; credentials the server refused are ``AuthError``; a package or file the set-up
should have installed is ``DependencyError``. A CLI catches ``BuildError`` and prints one
``error:`` line. Standard library only: ``training/`` imports it too.
"""

from __future__ import annotations


def one_line(text: object, limit: int = 300) -> str:
    """Newlines escaped and length bounded, so a hostile name cannot forge extra log lines."""
    s = str(text).replace("\\", "\\\\").replace("\r", "\\r").replace("\n", "\\n")
    s = s.encode("utf-8", "backslashreplace").decode("utf-8")  # lone surrogates print
    return s if len(s) <= limit else s[: limit - 1] + "…"


class BuildError(ValueError):
    """What item, what is wrong, what to do."""

    def __init__(self, item: str, problem: str, fix: str):
        self.item, self.problem, self.fix = item, problem, fix
        super().__init__(f"{one_line(item)}: {one_line(problem, 600)}; {one_line(fix)}")


class DataError(BuildError):
    """A record, spec or reply breaks the data contract; counted as a reject, never a crash."""


class ConfigError(BuildError):
    """A preset, LLM setting or training setting that cannot work; reported before any work."""


class AuthError(BuildError):
    """A server refused the credentials."""


class DependencyError(BuildError):
    """A package, model file or source the set-up provides is missing."""
