"""Intents: what a user wants from a sampled function chain (seed 002, A.2.1), with its domain labels.

One JSON reply per chain: the task instruction the user agent pursues, how the tools serve it,
and one or more domains (an intent built from several functions can span several, Figure 4).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from builders.llm import ChatRequest, LLMClient, load_prompt
from builders.schema import SchemaError, dumps
from toolmind.agents.common import Reject, chain_functions, tools_text

logger = logging.getLogger(__name__)

ROLE = "intent_synthesizer"
STEP = "intents"
PROMPT = load_prompt(__file__, "prompts/intent_synthesizer.jinja")
# the intent-domain labels of seed 002's Figure 4 plus common API categories; anything else is "others"
DOMAINS = ("data analysis", "entertainment", "finance", "e-commerce", "travel", "health", "education",
           "communication", "weather", "sports", "food", "technology", "news", "productivity", "security",
           "social media", "location", "business", "media", "science")
OTHER_DOMAIN = "others"
# bounded, so a server that constrains generation to the schema (llama.cpp, vLLM) cannot ramble past
# max_tokens into cut-off JSON (an unbounded list of objects did, on SmolLM2)
REPLY_SCHEMA = {"type": "object", "required": ["Task Instruction", "Tool Usage"],
                "properties": {"Task Instruction": {"type": "string", "maxLength": 200},
                               "Tool Usage": {"type": "string", "maxLength": 200},
                               "Domains": {"type": "array", "maxItems": 3, "items": {"type": "string", "maxLength": 30}}}}
_KEY_RE = re.compile(r"[^a-z]")


def _field(reply: dict, name: str) -> Any:
    """A reply field by name, forgiving case, spaces and underscores (``task_instruction``)."""
    want = _KEY_RE.sub("", name.lower())
    return next((v for k, v in reply.items() if _KEY_RE.sub("", str(k).lower()) == want), None)


def normalize_domains(value: Any) -> list[str]:
    """Known labels, lower-cased, in first-seen order; unknown or missing labels count as ``others``."""
    labels = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    out: list[str] = []
    for label in labels:
        name = str(label).strip().lower()
        name = name if name in DOMAINS else OTHER_DOMAIN
        if name not in out:
            out.append(name)
    return out or [OTHER_DOMAIN]


def parse_intent(reply: Any) -> dict:
    """The intent struct stored in rows: ``task_instruction``, ``tool_usage``, ``domains``."""
    if not isinstance(reply, dict):
        raise SchemaError("intent reply", f"is a {type(reply).__name__}, not an object",
                          'answer {"Task Instruction": ..., "Tool Usage": ..., "Domains": [...]}')
    task = _field(reply, "Task Instruction")
    if not isinstance(task, str) or not task.strip():
        raise SchemaError("intent reply", "has an empty 'Task Instruction'", "write the user's goal in one paragraph")
    usage = _field(reply, "Tool Usage")
    usage = usage if isinstance(usage, str) else "" if usage is None else dumps(usage)
    return {"task_instruction": task.strip(), "tool_usage": usage.strip(),
            "domains": normalize_domains(_field(reply, "Domains"))}


def intent_request(chain_row: dict) -> ChatRequest:
    functions = chain_functions(chain_row)
    text = PROMPT.render(tools=tools_text(functions), domains=DOMAINS)
    return ChatRequest(messages=[{"role": "user", "content": text}], prompt_version=PROMPT.version,
                       item=f"{STEP}:{chain_row['id']}")


async def synthesize_intent(chain_row: dict, client: LLMClient) -> dict | Reject:
    """The chain row with ``intent`` added (and the model / prompt version recorded), or a reject."""
    result = await client.chat_json(ROLE, intent_request(chain_row), REPLY_SCHEMA, name="intent")
    if not result.ok:
        return Reject(STEP, chain_row["id"], f"intent synthesizer: {result.error}")
    try:
        intent = parse_intent(result.value)
    except SchemaError as exc:
        return Reject(STEP, chain_row["id"], str(exc))
    return {**chain_row, "intent": intent,
            "models": {**chain_row.get("models", {}), ROLE: client.config.role(ROLE).model},
            "prompt_versions": {**chain_row.get("prompt_versions", {}), ROLE: PROMPT.version}}
