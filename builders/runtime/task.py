"""An LLM task: a versioned prompt template + the JSON schema of its reply + a parser to columns.

The template lives in the pipeline's ``prompts/`` folder, named after the step unless
``prompt`` says otherwise; its version is part of the checkpoint key and of every request's
cache key. The reply is validated with ``jsonschema``; a reply that is not JSON, breaks the
schema, or that ``parse`` refuses (``raise Reject``/``DataError``) is a counted reject whose
reason names the problem.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import jsonschema

from builders.errors import ConfigError
from builders.llm.client import ChatRequest
from builders.llm.prompts import PromptTemplate
from builders.runtime.step import ItemContext, MapStep, Reject
from builders.schema import content_hash


def schema_validator(schema: dict):
    """A validator for ``LLMClient.chat_json``: None when the value fits, else the first problem."""
    jsonschema.Draft202012Validator.check_schema(schema)
    checker = jsonschema.Draft202012Validator(schema)

    def validate(value: Any) -> str | None:
        error = jsonschema.exceptions.best_match(checker.iter_errors(value))
        if error is None:
            return None
        where = "$" + "".join(f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        return f"{where}: {error.message}"

    return validate


class LLMTask(MapStep):
    """Subclass with ``name``, ``role``, ``schema``, ``outputs`` and ``parse``; see the package docstring."""

    role: str = ""
    schema: dict = {"type": "object"}
    prompt: str | None = None  # file name in prompts_dir; default "<name>.jinja"
    prompts_dir: str | Path | None = None  # default: the "prompts" folder next to the subclass's module

    def __init__(self):
        if not self.role:
            raise ConfigError(f"step {self.name!r}", "is an LLMTask without a role", "set role = '<llm role>'")
        self.roles = (self.role,)
        self._load()

    def _load(self) -> None:
        folder = Path(self.prompts_dir) if self.prompts_dir else Path(inspect.getfile(type(self))).parent / "prompts"
        self.template = PromptTemplate.from_file(folder / (self.prompt or f"{self.name}.jinja"))
        try:
            self.validate = schema_validator(self.schema)
        except jsonschema.exceptions.SchemaError as exc:
            raise ConfigError(f"step {self.name!r}", f"its reply schema is not a JSON schema ({exc.message})",
                              "fix the step's schema") from None

    def __getstate__(self) -> dict:
        """Shipped to a Ray worker without the compiled template and validator; rebuilt there."""
        return {k: v for k, v in self.__dict__.items() if k not in ("template", "validate")}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._load()

    def prompt_versions(self) -> dict[str, str]:
        return {self.template.name: self.template.version}

    def identity(self) -> dict:
        # the reply schema is what the server constrains generation to: a changed schema is a changed result
        return {**super().identity(), "schema": content_hash(self.schema, 16)}

    def tokens_per_call(self) -> dict[str, int]:
        return {self.role: len(self.template.text) // 4 + 100}

    def variables(self, item: dict) -> dict:
        """Values the template renders; the item's columns by default."""
        return item

    def messages(self, item: dict) -> list[dict]:
        return [{"role": "user", "content": self.template.render(**self.variables(item))}]

    def parse(self, item: dict, reply: Any) -> dict:
        """The columns this task adds, from a reply that fits the schema."""
        raise NotImplementedError

    async def aprocess(self, item: dict, ctx: ItemContext) -> dict:
        request = ChatRequest(messages=self.messages(item), prompt_version=self.template.version,
                              item=item["id"])
        result = await ctx.chat_json(self.role, request, schema=self.schema, validator=self.validate, name=self.name)
        if not result.ok:
            raise Reject(f"{self.role}: {result.error}", {"item": item, "reply": result.chat.content if result.chat
                                                          and result.chat.ok else None})
        return {**item, **self.parse(item, result.value)}
