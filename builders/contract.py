"""The published data contract as code: one declaration per config of every released dataset.

Each :class:`ConfigContract` holds the config's ``datasets.Features`` (Parquet schemas are declared,
never inferred, so an empty split is still typed), a one-line doc per column (the card's schema
table renders from it) and a row validator. The release writes and checks tables with it, the card
describes them from it, and ``training/`` reads the same shapes. Depends only on ``datasets``, the
standard library and ``builders.schema``, so ``training/`` can import it.

Every published tool name obeys the OpenAI rule ``^[a-zA-Z0-9_-]{1,64}$``; :func:`publish_names`
maps the names that break it (dotted OpenAPI operation ids) and keeps the original beside them.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import pyarrow as pa
from datasets import Features, List, Value

from builders.schema import Conversation, Function, Message, SchemaError, parse_tools_column

TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
MAX_TOOL_NAME = 64
_NOT_NAME_CHARS = re.compile(r"[^a-zA-Z0-9_-]+")
TASK_TYPES = ("single", "repeated", "parallel", "nested")
# complete: nothing was missing; completed: the LLM filled the gaps; over_budget: gaps left (past the request budget)
COMPLETION_STATES = ("complete", "completed", "over_budget")

# --- shared feature types: every config that holds messages uses exactly these ---------------------

TOOL_CALL = {"id": Value("string"), "type": Value("string"),
             "function": {"name": Value("string"), "arguments": Value("string")}}
MESSAGE = {"role": Value("string"), "content": Value("string"), "reasoning_content": Value("string"),
           "tool_calls": List(TOOL_CALL), "tool_call_id": Value("string"), "name": Value("string")}
MESSAGES = List(MESSAGE)
# one per assistant message: keep = train on it; error = the tool feedback after it shows an error (MAE)
VERDICT = {"keep": Value("bool"), "error": Value("bool"), "rule": Value("string"), "judge": Value("float64"),
           "reason": Value("string")}
ACTION = {"name": Value("string"), "arguments": Value("string")}
# the trajectory-level filter: keep = published; passed = the user agent stopped and the judge said 1
TRAJECTORY_VERDICT = {"keep": Value("bool"), "passed": Value("bool"), "completed": Value("bool"),
                      "judge": Value("float64"), "reason": Value("string")}
INTENT = {"task_instruction": Value("string"), "tool_usage": Value("string"), "domains": List(Value("string"))}
EDGE_SCORE = {"field_transitivity": Value("float64"), "intent_coherence": Value("float64"),
              "similarity": Value("float64")}
PROVENANCE = {"chain_id": Value("string"), "chain_seed": Value("int64"), "edge_scores": List(EDGE_SCORE),
              "end_reason": Value("string"), "ignored_first_turn_stops": Value("int32"),
              "output_problems": Value("string"), "models": Value("string"), "prompt_versions": Value("string"),
              "source_id": Value("string")}


@dataclass(frozen=True)
class Column:
    name: str
    feature: Any
    doc: str


@dataclass(frozen=True, eq=False)  # one object per config: compared and hashed by identity
class ConfigContract:
    """One published config: its columns (typed and documented) and what a valid row is."""

    dataset: str
    config: str
    doc: str
    columns: tuple[Column, ...]
    check_row: Callable[[dict, str], None]
    unique: tuple[str, ...] = ()  # columns whose values may appear once per split
    # columns added after rows of this config were first written (by builders and by users' own tools): a row
    # may leave them out and they are written as null; the validator says whether null is allowed
    optional: tuple[str, ...] = ()

    @property
    def features(self) -> Features:
        return Features({c.name: c.feature for c in self.columns})

    @property
    def schema(self) -> pa.Schema:
        """The Arrow schema every Parquet file of this config is written with (with the HF features)."""
        return self.features.arrow_schema

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def table(self, rows: Iterable[dict], item: str = "") -> pa.Table:
        """Rows -> a table in the declared schema; a row with a missing or extra column is an error."""
        rows = list(rows)
        names = set(self.column_names)
        for i, row in enumerate(rows):
            if any(c not in row for c in self.optional):
                rows[i] = row = {**row, **{c: None for c in self.optional if c not in row}}
            keys = set(row)
            if keys != names:
                missing, extra = sorted(names - keys), sorted(keys - names)
                raise SchemaError(f"{item or self.where} row {i}",
                                  f"columns differ from the contract (missing {missing}, extra {extra})",
                                  f"give exactly the columns of builders.contract {self.where}")
        try:
            return pa.Table.from_pylist(rows, schema=self.schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise SchemaError(item or self.where, f"a value does not fit the declared type ({exc})",
                              "fix the builder so each column holds the contract's type") from None

    @property
    def where(self) -> str:
        return f"{self.dataset}/{self.config}"

    def validate(self, table: pa.Table, item: str) -> None:
        """Schema equal to the declaration, every row valid, unique columns unique; raises SchemaError."""
        if not table.schema.equals(self.schema, check_metadata=False):
            raise SchemaError(item, f"schema differs from the contract: {table.schema.names} vs {self.column_names}",
                              f"build the table with builders.contract {self.where}.table()")
        seen: dict[str, set] = {c: set() for c in self.unique}
        for i, row in enumerate(table.to_pylist()):
            where = f"{item} row {i}"
            self.check_row(row, where)
            for col in self.unique:
                if row[col] in seen[col]:
                    raise SchemaError(where, f"{col} {row[col]!r} appears twice", f"each {col} must be unique")
                seen[col].add(row[col])

    def schema_rows(self) -> list[tuple[str, str, str]]:
        """(column, type, doc) for the card's schema table."""
        return [(c.name, feature_type(c.feature), c.doc) for c in self.columns]


def feature_type(feature: Any) -> str:
    """A short readable type: ``string``, ``list<message>``, ``struct{keep, error, …}``."""
    if feature is MESSAGES:
        return "list<message>"
    if isinstance(feature, Value):
        return feature.dtype
    if isinstance(feature, List):
        return f"list<{feature_type(feature.feature)}>"
    if isinstance(feature, dict):
        if feature is MESSAGE:
            return "message"
        return "struct{" + ", ".join(feature) + "}"
    return type(feature).__name__


# --- tool names ----------------------------------------------------------------------------------

def _base_name(name: str) -> str:
    return _NOT_NAME_CHARS.sub("_", name).strip("_")


def _digest_name(base: str, name: str) -> str:
    suffix = "_" + hashlib.sha256(name.encode()).hexdigest()[:8]
    return (base[: MAX_TOOL_NAME - len(suffix)] + suffix).lstrip("_")


def publish_names(rows: list[dict], column: str = "name", original: str = "original_name") -> list[dict]:
    """Copies of function rows with OpenAI-valid names and the source's name in ``original``.

    A valid name is kept. Otherwise runs of other characters become ``_`` (``repos.get`` ->
    ``repos_get``); only when that is empty, too long, or also the result of another name in the
    rows does an 8-hex digest of the original get appended. So the mapping is readable, depends on
    the original alone except on such a collision, ignores row order, and never merges two names
    (a remaining clash is an error).
    """
    names = [r[column] for r in rows]
    valid = {n for n in names if TOOL_NAME.match(n)}
    claims: dict[str, set] = {}
    for n in set(names) - valid:
        claims.setdefault(_base_name(n), set()).add(n)

    def mapped(name: str) -> str:
        if name in valid:
            return name
        base = _base_name(name)
        if base and len(base) <= MAX_TOOL_NAME and base not in valid and len(claims[base]) == 1:
            return base
        return _digest_name(base, name)

    out, owner = [], {}
    for row, name in zip(rows, names):
        new = mapped(name)
        if owner.setdefault(new, name) != name:
            raise SchemaError(f"function {name!r}", f"published name {new!r} is also {owner[new]!r}'s",
                              "rename one of the two functions in the source")
        out.append({**row, column: new, original: name})
    return out


# --- row validators --------------------------------------------------------------------------------

def _json(value: Any, item: str, what: str) -> Any:
    if not isinstance(value, str):
        raise SchemaError(item, f"{what} must be a JSON string, got {type(value).__name__}", f"store {what} as JSON text")
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise SchemaError(item, f"{what} is not valid JSON ({exc})", f"store {what} as JSON text") from None


def _required(row: dict, columns: Iterable[str], item: str) -> None:
    for col in columns:
        if row.get(col) in (None, ""):
            raise SchemaError(item, f"{col} is empty", f"every row needs a {col}")


def check_tool_name(name: Any, item: str) -> None:
    if not isinstance(name, str) or not TOOL_NAME.match(name):
        raise SchemaError(item, f"tool name {name!r} breaks the OpenAI rule ^[a-zA-Z0-9_-]{{1,64}}$",
                          "map it with builders.contract.publish_names and keep the original in original_name")


def _tools(value: Any, item: str) -> list[Function]:
    functions = parse_tools_column(_json(value, item, "tools"), f"{item} tools")
    for f in functions:
        check_tool_name(f.name, f"{item} tools")
    return functions


def _conversation(messages: list[dict], tools: list[Function], item: str) -> Conversation:
    try:
        return Conversation(messages=[Message.from_dict(m) for m in messages], tools=tools).validate()
    except SchemaError as exc:  # say which row
        raise SchemaError(f"{item} {exc.item}", exc.problem, exc.fix) from None


def check_function_row(row: dict, item: str) -> None:
    item = f"{item} ({row.get('name')!r})"
    check_tool_name(row["name"], item)
    _required(row, ("id", "original_name", "source", "completion"), item)
    if row["completion"] not in COMPLETION_STATES:
        raise SchemaError(item, f"completion {row['completion']!r} is unknown", f"use one of {', '.join(COMPLETION_STATES)}")
    if row["source"] not in (row["sources"] or []):
        raise SchemaError(item, f"source {row['source']!r} is not among sources {row['sources']}",
                          "list every source the function was merged from, its first source included")
    try:
        Function(name=row["name"], description=row["description"] or "",
                 parameters=_json(row["parameters"], item, "parameters"),
                 outputs=_json(row["outputs"], item, "outputs") if row["outputs"] is not None else None)
    except SchemaError as exc:  # say which row
        raise SchemaError(f"{item} {exc.item}", exc.problem, exc.fix) from None


def _prompt_completion(row: dict, tools: list[Function], item: str) -> None:
    completion = row["completion"] or []
    if len(completion) != 1 or completion[0]["role"] != "assistant":
        raise SchemaError(f"{item} completion", f"holds roles {[m['role'] for m in completion]}",
                          "put exactly the anchor assistant message in completion")
    # the prompt may end with a tool result awaiting the anchor; the whole exchange must be well formed
    _conversation((row["prompt"] or []) + completion, tools, item)


def _check_license(row: dict, item: str) -> None:
    lic = row.get("license")
    if lic is not None and (not isinstance(lic, str) or not lic.strip() or lic != lic.strip().lower()):
        raise SchemaError(item, f"license {lic!r} is not an SPDX id in lower case", "write e.g. cc-by-4.0, or null")


def check_sample_row(row: dict, item: str) -> None:
    _required(row, ("id", "trajectory_id", "source"), item)
    _check_license(row, item)
    if row["turn_index"] is None or row["turn_index"] < 0:
        raise SchemaError(item, f"turn_index {row['turn_index']!r} is not a position", "give the anchor's index")
    _prompt_completion(row, _tools(row["tools"], item), item)


def check_trajectory_row(row: dict, item: str) -> None:
    _required(row, ("id", "source"), item)
    _check_license(row, item)
    tools = _tools(row["tools"], item)
    conv = _conversation(row["messages"] or [], tools, item)
    assistant = sum(m.role == "assistant" for m in conv.messages)
    verdicts = row["turn_verdicts"] or []
    if len(verdicts) != assistant:
        raise SchemaError(f"{item} turn_verdicts", f"has {len(verdicts)} verdicts for {assistant} assistant turns",
                          "store one verdict per assistant message, in order")
    names = {f.name for f in tools}
    unknown = [n for n in row["function_chain"] or [] if n not in names]
    if unknown:
        raise SchemaError(f"{item} function_chain", f"names {unknown[:3]} not among the tools",
                          "list only functions declared in tools")


def check_edge_row(row: dict, item: str) -> None:
    item = f"{item} ({row.get('source')!r} -> {row.get('target')!r})"
    check_tool_name(row["source"], item)
    check_tool_name(row["target"], item)
    if row["source"] == row["target"]:
        raise SchemaError(item, "is a self-loop", "drop edges from a function to itself")
    if row["similarity"] is None or not -1.0 <= row["similarity"] <= 1.0:
        raise SchemaError(item, f"similarity {row['similarity']!r} is not a cosine", "store the max cosine in [-1, 1]")
    if row["validated"] and row["validation_error"] is None and None in (row["field_transitivity"],
                                                                       row["intent_coherence"]):
        raise SchemaError(item, "is validated but has no scores", "store both validator scores (0-9)")


def check_chain_row(row: dict, item: str) -> None:
    _required(row, ("id",), item)
    names = row["functions"] or []
    for name in names:
        check_tool_name(name, f"{item} functions")
    if row["length"] != len(names) or not names:
        raise SchemaError(item, f"length {row['length']} but {len(names)} functions", "store the walk's length")
    if len(set(names)) != len(names):
        raise SchemaError(item, f"visits a function twice ({names})", "walks never revisit a function")


def check_api_row(row: dict, item: str) -> None:
    item = f"{item} ({row.get('api')!r})"
    _required(row, ("api", "tool_name", "country", "category"), item)
    endpoints = _json(row["api_list"], item, "api_list")
    if not isinstance(endpoints, list) or not endpoints:
        raise SchemaError(item, "api_list must be a non-empty JSON list of endpoints", "list the API's endpoints")
    for j, endpoint in enumerate(endpoints):
        if not isinstance(endpoint, dict) or not isinstance(endpoint.get("name"), str) or not endpoint["name"]:
            raise SchemaError(f"{item} api_list[{j}]", "has no name", "give every endpoint its ITC name")
    if row["num_functions"] != len(endpoints):
        raise SchemaError(item, f"num_functions {row['num_functions']} but {len(endpoints)} endpoints in api_list",
                          "count the listed endpoints")


def check_task_row(row: dict, item: str) -> None:
    _required(row, ("id", "query", "language", "thought", "generator"), item)
    if row["task_type"] not in TASK_TYPES:
        raise SchemaError(item, f"task_type {row['task_type']!r} is unknown", f"use one of {', '.join(TASK_TYPES)}")
    apis = _json(row["apis"], item, "apis")
    if not isinstance(apis, list) or not apis:
        raise SchemaError(item, "apis must be a non-empty JSON list of API specs", "list the task's APIs")
    if not row["tool_ids"]:
        raise SchemaError(item, "tool_ids is empty", "list the catalog tools the task uses (the split's unit)")
    if not isinstance(_json(row["judge_scores"], item, "judge_scores"), dict):
        raise SchemaError(item, "judge_scores must be a JSON object keyed by judge", 'write {"judge_1": {...}}')
    tools = _tools(row["tools"], item)
    names = {f.name for f in tools}
    for j, action in enumerate(row["actions"] or []):
        where = f"{item} actions[{j}]"
        if action["name"] not in names:
            raise SchemaError(where, f"calls {action['name']!r}, which is not in tools", "call a declared tool")
        if not isinstance(_json(action["arguments"], where, "arguments"), dict):
            raise SchemaError(where, "arguments must be a JSON object", 'write e.g. {"city": "Paris"}')
    _prompt_completion(row, tools, item)


# --- the declarations --------------------------------------------------------------------------------

_S = Value("string")
LICENSE = Column("license", _S, "licence the row may be used under (SPDX, lower case): its source's for open-source "
                                "rows (xlam cc-by-4.0, apigen_mt cc-by-nc-4.0, ...), the release's for rows this "
                                "project made; null: the release's")

FUNCTIONS = ConfigContract("toolmind", "functions",
    "the standardised function pool: one OpenAI tool per row, with its output schema when the API declares one "
    "or the LLM completed it",
    (Column("id", _S, "content hash of the function as pooled (name and schemas, before completion)"),
     Column("name", _S, "tool name, OpenAI-valid (^[a-zA-Z0-9_-]{1,64}$), unique"),
     Column("original_name", _S, "the operation's name in its source (may hold dots)"),
     Column("description", _S, "what the function does"),
     Column("parameters", _S, "JSON schema of the arguments (JSON string)"),
     Column("outputs", _S, "JSON schema of the response, or null when the API declares none (JSON string)"),
     Column("api", _S, "provider[:service] the operation belongs to, or null outside OpenAPI"),
     Column("provider", _S, "API provider (domain), or null outside OpenAPI"),
     Column("service", _S, "service within the provider, or null"),
     Column("category", _S, "APIs.guru category"),
     Column("country", _S, "ISO country code from the provider's TLD, or null when global"),
     Column("method", _S, "HTTP method, or null outside OpenAPI"),
     Column("path", _S, "HTTP path template, or null outside OpenAPI"),
     Column("spec_version", _S, "version of the API spec"),
     Column("openapi_version", _S, "OpenAPI version of the spec"),
     Column("source", _S, "source package and version"),
     Column("sources", List(_S), "every source the function was merged from (deduplicated by name and schema)"),
     Column("inferred", List(_S), "fields the LLM completed (e.g. outputs, parameters.city.description)"),
     Column("completion", _S, "complete (nothing missing), completed (by the LLM) or over_budget (gaps left)")),
    check_function_row, unique=("name", "id"))

SAMPLES = ConfigContract("toolmind", "samples",
    "one row per kept assistant turn in TRL's conversational prompt-completion shape",
    (Column("id", _S, "content hash of the row"),
     Column("prompt", MESSAGES, "every message before the anchor turn (earlier reasoning dropped)"),
     Column("completion", MESSAGES, "[the anchor assistant message]"),
     Column("tools", _S, "OpenAI tools available (JSON string)"),
     Column("trajectory_id", _S, "id of the trajectory the turn comes from"),
     Column("turn_index", Value("int32"), "which assistant turn of the trajectory the anchor is (0-based)"),
     Column("source", _S, "where the trajectory comes from: toolmind (simulated here) or an open-source set's name"),
     Column("generator", _S, "model that wrote the anchor turn"),
     Column("turn_verdict", VERDICT, "turn-level filter result of the anchor: rule, judge score (0/1), reason"),
     Column("trajectory_verdict", TRAJECTORY_VERDICT, "trajectory-level filter result of its trajectory"),
     LICENSE),
    check_sample_row, unique=("id",), optional=("license",))

TRAJECTORIES = ConfigContract("toolmind", "trajectories",
    "one row per kept trajectory, with one verdict per assistant turn so bad turns can be masked in place",
    (Column("id", _S, "content hash of the trajectory"),
     Column("messages", MESSAGES, "the whole conversation"),
     Column("tools", _S, "OpenAI tools available: the chain's functions and distractors (JSON string)"),
     Column("intent", INTENT, "the intent the user agent pursued: task instruction, tool usage, domains"),
     Column("function_chain", List(_S), "the sampled function chain, by tool name"),
     Column("turn_verdicts", List(VERDICT), "one verdict per assistant message, in order (keep false: no loss)"),
     Column("trajectory_verdict", TRAJECTORY_VERDICT, "trajectory-level filter: user stop, judge (0/1), reason"),
     Column("source", _S, "where the trajectory comes from: toolmind (simulated here) or an open-source set's name"),
     LICENSE,
     Column("generator", _S, "model that played the assistant (null for open-source rows)"),
     Column("provenance", PROVENANCE, "chain id and seed, edge scores along the chain, end reason, ignored "
                                      "first-turn stops, tool output problems, models and prompt versions per role "
                                      "(these three as JSON), and for open-source rows the row's id in its source")),
    check_trajectory_row, unique=("id",), optional=("license",))

GRAPH = ConfigContract("toolmind", "graph",
    "the function graph's candidate edges: output-to-input parameter similarity and the LLM validator's scores",
    (Column("source", _S, "function whose output feeds the target (tool name, as in functions)"),
     Column("target", _S, "function whose input takes the source's output"),
     Column("similarity", Value("float64"), "max cosine between an output parameter of source and an input of target"),
     Column("field_transitivity", Value("int32"), "validator score 0-9: the output can fill the input, or null"),
     Column("intent_coherence", Value("int32"), "validator score 0-9: a user would call them in this order, or null"),
     Column("validated", Value("bool"), "the edge was within the validation budget and sent to the validator"),
     Column("kept", Value("bool"), "the walks may use the edge (passed validation, or kept unvalidated by preset)"),
     Column("validation_error", _S, "why the validator's reply was unusable, or null")),
    check_edge_row)

CHAINS = ConfigContract("toolmind", "chains",
    "the function chains: seeded random walks along kept graph edges, each the plan of one trajectory",
    (Column("id", _S, "content hash of the chain"),
     Column("functions", List(_S), "the walk's functions in order, by tool name"),
     Column("length", Value("int32"), "functions in the walk"),
     Column("target_length", Value("int32"), "the length drawn for the walk (it may stop short, not below the minimum)"),
     Column("seed", Value("int64"), "the walks' seed (each attempt draws from seed, 'walks', attempt)"),
     Column("attempt", Value("int64"), "the attempt number that produced the walk")),
    check_chain_row, unique=("id",))

APIS = ConfigContract("itc", "apis",
    "the API catalog in the ITC format (seed 003, Appendix A.1), one row per tool, in the split its tasks went to "
    "(a tool no task uses is in train)",
    (Column("api", _S, "catalog tool id (provider[:service] for OpenAPI sources); the split's unit"),
     Column("tool_name", _S, "the tool's name"),
     Column("tool_description", _S, "what the tool offers"),
     Column("home_url", _S, "the provider's home page, or empty"),
     Column("country", _S, "country of the provider (from its domain), Global when unknown"),
     Column("category", _S, "APIs.guru category"),
     Column("num_functions", Value("int64"), "endpoints in api_list"),
     Column("api_list", _S, "the endpoints: name, url, description, method, required / optional parameters "
                            "(type, description, default), statuscode (JSON list)")),
    check_api_row, unique=("api",))

TASKS = ConfigContract("itc", "default",
    "one row per task: a query over real APIs with its Thought and gold Actions, split by API (no tool on both sides)",
    (Column("id", _S, "content hash of the task"),
     Column("task_type", _S, "single, repeated, parallel or nested"),
     Column("language", _S, "language the query was asked in (the country's; en for Global)"),
     Column("country", _S, "country of the task's APIs, Global when unknown"),
     Column("category", _S, "category of the task's APIs"),
     Column("apis", _S, "ITC API specs the task may use (JSON list)"),
     Column("tool_ids", List(_S), "catalog tools the task uses (the apis config's api); the split's unit"),
     Column("query", _S, "the user's request"),
     Column("thought", _S, "reasoning before the calls, in the query's language"),
     Column("actions", List(ACTION), "gold calls in order: name (as in tools) and arguments (JSON object string)"),
     Column("generator", _S, "LLM role whose answer was kept"),
     Column("judge_scores", _S, "every judge's five scores (1-5), total and mean, keyed judge_1, judge_2, ... "
                                "(JSON object)"),
     Column("score_pass", Value("bool"), "every judge's total reached the threshold (false rows are kept only when "
                                         "the score filter records instead of enforcing)"),
     Column("language_ok", Value("bool"), "the detected language of the query is the task's language"),
     Column("detected_language", _S, "language identified in the query (langid)"),
     Column("prompt", MESSAGES, "the query as chat messages (system, user)"),
     Column("completion", MESSAGES, "[the assistant message: 'Thought: ...' and the tool calls]"),
     Column("tools", _S, "OpenAI tools built from apis (JSON string)")),
    check_task_row, unique=("id",))

CONTRACTS: dict[tuple[str, str], ConfigContract] = {
    (c.dataset, c.config): c for c in (FUNCTIONS, GRAPH, CHAINS, SAMPLES, TRAJECTORIES, APIS, TASKS)}


def contract(dataset: str, config: str) -> ConfigContract:
    try:
        return CONTRACTS[(dataset, config)]
    except KeyError:
        declared = ", ".join(f"{d}/{c}" for d, c in CONTRACTS)
        raise SchemaError(f"config {dataset}/{config}", "has no declaration in the data contract",
                          f"declare it in builders/contract.py (declared: {declared})") from None
