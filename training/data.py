"""Read any dataset in the published data contract, local or on the Hub, into chat-template inputs.

``training`` depends only on the contract, never on ``toolmind`` or ``itc``. The columns it reads:

``samples`` (ToolMind default config; also every ITC row)
    ``prompt``: list of message dicts, every message before the anchor turn.
    ``completion``: list of message dicts, ``[anchor assistant message]``; every assistant
    message in it is trained.
    ``tools``: JSON string (or list) of OpenAI tools ``{type: "function", function: {...}}``.
    ``id``: optional, used in error messages.

``trajectories`` (ToolMind)
    ``messages``: list of message dicts, the whole trajectory.
    ``tools``: as above.
    ``turn_verdicts``: optional, one entry per *assistant* message in order, either a bool
    (True = train on that turn) or a dict ``{"keep": bool, "error": bool, ...}`` (trained when
    ``keep`` is not False and ``error`` is not True). A False verdict is MAE: the turn stays in
    the context with no loss. Without the column every assistant turn is trained.

Message dicts carry ``role``, ``content``, ``reasoning_content``, ``tool_calls``
(``[{id, type, function: {name, arguments}}]``, ``arguments`` a JSON string), ``tool_call_id``
and ``name``; any of them may be None.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Any

import datasets

from builders.schema import SchemaError, parse_tools_column
from builders.toolcalls import call_arguments, clean_message  # noqa: F401  (re-exported)

logger = logging.getLogger(__name__)

VERDICTS_COLUMN = "turn_verdicts"
DEFAULT_CONFIG = "samples"
_HUB_ID_RE = re.compile(r"^[\w.\-]+(/[\w.\-]+)?$")
_FILE_BUILDERS = {".parquet": "parquet", ".jsonl": "json", ".json": "json", ".csv": "csv", ".arrow": "arrow"}


def default_config(path_or_id: str, revision: str | None = None) -> str | None:
    """``samples`` where the dataset has that config, else None (the dataset's own default).

    A ToolMind release may mark ``functions`` as its default, which holds no conversations.
    """
    try:
        names = datasets.get_dataset_config_names(path_or_id, revision=revision)
    except Exception as exc:  # offline, not a dataset with configs: let load_dataset decide and report
        logger.debug("could not list the configs of %s (%s)", path_or_id, exc)
        return None
    return DEFAULT_CONFIG if DEFAULT_CONFIG in names else None


def load_split(path_or_id: str, *, config: str | None = None, split: str = "train",
               revision: str | None = None) -> datasets.Dataset:
    """Load one split from a release folder, a single data file, or a Hub dataset id.

    Without ``config``, a folder or Hub dataset loads its ``samples`` config when it has one.
    """
    path = Path(os.path.expanduser(path_or_id))
    if config is None and (path.is_dir() or (not path.exists() and _HUB_ID_RE.match(path_or_id))):
        config = default_config(path_or_id, revision)
        if config is not None:
            logger.info("no config given: using %r", config)
    item = f"dataset {path_or_id!r} (config={config!r}, split={split!r})"
    if path.is_file():
        builder = _FILE_BUILDERS.get("".join(path.suffixes[-1:]).lower())
        if builder is None:
            raise SchemaError(item, f"unknown file type {path.suffix!r}",
                              f"pass a release folder or a file ending in {', '.join(_FILE_BUILDERS)}")
        args, kwargs = (builder,), {"data_files": {split: str(path)}}
    elif path.is_dir():
        args, kwargs = (str(path), config), {}
    elif _HUB_ID_RE.match(path_or_id):
        args, kwargs = (path_or_id, config), {"revision": revision}
    else:
        raise SchemaError(item, "is neither an existing file or folder nor a Hub id",
                          "check the path, or pass a Hub id such as 'org/toolmind'")
    if revision is not None and "revision" not in kwargs:
        logger.warning("%s is local: revision %r is ignored", path_or_id, revision)
    try:
        ds = datasets.load_dataset(*args, split=split, **kwargs)
    except Exception as exc:  # datasets raises many types; all mean the same thing to the user
        raise SchemaError(item, f"could not be loaded ({type(exc).__name__}: {exc})",
                          "check the path or Hub id, the config and split names, and network access "
                          "(set HF_HUB_OFFLINE=1 to use the local cache only)") from exc
    logger.info("loaded %s: %d rows, columns %s", item, len(ds), ds.column_names)
    return ds


def row_name(row: dict, index: int | None = None) -> str:
    """How a row is named in errors: its id when it has one, else its position."""
    rid = row.get("id") or row.get("trajectory_id")
    return f"row {rid!r}" if rid else f"row {index if index is not None else '?'}"


def row_tools(row: dict, item: str = "row") -> list[dict]:
    """A row's ``tools`` cell as a list of OpenAI tool dicts, validated against the shared schema."""
    value = row.get("tools")
    if isinstance(value, str) and value:
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise SchemaError(f"{item} tools", f"is not valid JSON ({exc})",
                              "store tools as a JSON list of OpenAI tools") from None
    functions = parse_tools_column(value, f"{item} tools")
    return [f.to_openai() for f in functions]


def row_messages(row: dict, column: str = "messages", item: str = "row") -> list[dict]:
    value = row.get(column)
    if not isinstance(value, list) or not value:
        raise SchemaError(f"{item} {column}", f"must be a non-empty list of messages, got {type(value).__name__}",
                          "use the contract's list-of-message-dicts column")
    return [clean_message(m, f"{item} {column}[{i}]") for i, m in enumerate(value)]


def _verdict_trains(verdict: Any, item: str) -> bool:
    if isinstance(verdict, bool):
        return verdict
    if isinstance(verdict, dict):
        return verdict.get("keep") is not False and verdict.get("error") is not True
    raise SchemaError(item, f"verdict must be a bool or a {{keep, error}} dict, got {verdict!r}",
                      "store one bool per assistant turn (True = train)")


def row_conversation(row: dict, index: int | None = None) -> tuple[list[dict], list[dict], list[int]]:
    """(messages, tools, indices of the assistant messages to train) for a samples or trajectories row."""
    item = row_name(row, index)
    tools = row_tools(row, item)
    if "prompt" in row and "completion" in row:
        prompt = row_messages(row, "prompt", item)
        completion = row_messages(row, "completion", item)
        messages = prompt + completion
        trained = [len(prompt) + i for i, m in enumerate(completion) if m["role"] == "assistant"]
        if not trained:
            raise SchemaError(f"{item} completion", "holds no assistant message",
                              "put the anchor assistant turn in `completion`")
        return messages, tools, trained
    if "messages" in row:
        messages = row_messages(row, "messages", item)
        assistant = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
        verdicts = row.get(VERDICTS_COLUMN)
        if verdicts is None:
            return messages, tools, assistant
        if len(verdicts) != len(assistant):
            raise SchemaError(f"{item} {VERDICTS_COLUMN}",
                              f"has {len(verdicts)} verdicts for {len(assistant)} assistant turns",
                              "store exactly one verdict per assistant message, in order")
        trained = [i for i, v in zip(assistant, verdicts)
                   if _verdict_trains(v, f"{item} {VERDICTS_COLUMN} for message {i}")]
        return messages, tools, trained
    raise SchemaError(item, f"has neither prompt/completion nor messages (columns: {sorted(row)})",
                      "load the `samples` or `trajectories` config of a contract dataset")
