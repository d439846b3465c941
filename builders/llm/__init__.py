"""LLM access shared by both pipelines: one async client, per-role presets, a request cache,
structured-output helpers, tool modes (native / structured), tool calls recovered from text and the
embedded offline model server (llama.cpp from the xllamacpp wheel, in a child process)."""

from builders.llm.cache import RequestCache, request_key
from builders.llm.client import ChatRequest, ChatResult, JSONResult, LLMClient, api_messages
from builders.llm.config import ROLES, EndpointConfig, LLMConfig, LLMConfigError, RoleConfig, UnknownRoleError
from builders.llm.prompts import PromptTemplate, load_prompt
from builders.llm.recovery import recover_tool_calls
from builders.llm.server import EmbeddedServer, smollm2_path
from builders.llm.structured import JSONReplyError, check_schema, extract_json, parse_json_reply

__all__ = [
    "ChatRequest", "ChatResult", "EmbeddedServer", "EndpointConfig", "JSONReplyError", "JSONResult", "LLMClient",
    "LLMConfig", "LLMConfigError", "PromptTemplate", "ROLES", "RequestCache", "RoleConfig", "UnknownRoleError", "api_messages",
    "check_schema", "extract_json", "load_prompt", "parse_json_reply", "recover_tool_calls", "request_key",
    "smollm2_path",
]
