"""When a failed request is worth another attempt, and how long to wait before it.

Retries 429, 408/409/425, 5xx, timeouts, dropped connections and malformed bodies with
exponential backoff and "equal jitter", honouring the server's ``Retry-After`` /
``retry-after-ms``; authentication, permission and not-found errors are fatal (a refused key
or a bad preset, not a passing fault) and stop the run as ``AuthError`` / ``LLMConfigError``.
"""

from __future__ import annotations

import email.utils
import random
import time

import openai

from builders.errors import AuthError, BuildError
from builders.llm.config import LLMConfigError
from builders.llm.reply import MalformedResponse

RETRY_STATUS = {408, 409, 425, 429}
AUTH_ERRORS = (openai.AuthenticationError, openai.PermissionDeniedError)  # 401, 403
FATAL_ERRORS = (*AUTH_ERRORS, openai.NotFoundError)
MAX_SERVER_WAIT = 600.0  # a Retry-After beyond this is capped


def retry_after(exc: Exception) -> float | None:
    """Seconds the server asked us to wait (``retry-after-ms`` or ``Retry-After`` seconds/date)."""
    response = getattr(exc, "response", None)
    if response is None:
        return None
    headers = response.headers
    try:
        if "retry-after-ms" in headers:
            return float(headers["retry-after-ms"]) / 1000
        value = headers.get("retry-after")
        if value is None:
            return None
        try:
            return float(value)
        except ValueError:
            return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def describe(exc: Exception) -> tuple[str, bool]:
    """(reason, retryable) for a failed attempt."""
    if isinstance(exc, openai.APITimeoutError):
        return "timeout", True
    if isinstance(exc, openai.APIConnectionError):
        return f"connection error ({exc.__cause__ or exc})", True
    if isinstance(exc, openai.APIStatusError):
        message = str(getattr(exc, "message", exc))[:200]
        return f"HTTP {exc.status_code}: {message}", exc.status_code in RETRY_STATUS or exc.status_code >= 500
    if isinstance(exc, MalformedResponse):
        return f"malformed response body ({exc})"[:240], True
    return f"{type(exc).__name__}: {exc}", False


def backoff(attempt: int, exc: Exception, base: float, cap: float, rng: random.Random) -> float:
    """Seconds before attempt ``attempt + 1``: the server's ask if any, else jittered exponential."""
    asked = retry_after(exc)
    if asked is not None:
        return min(asked, MAX_SERVER_WAIT)
    ceiling = min(cap, base * 2 ** (attempt - 1))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)  # "equal jitter": spread retries, keep a floor


def fatal_error(exc: Exception, where: str) -> BuildError:
    """The error that stops the run for a fatal reply: a refused key is an ``AuthError``, an
    unknown model or path (404) an ``LLMConfigError``."""
    problem = f"{type(exc).__name__}: {getattr(exc, 'message', exc)}"
    if isinstance(exc, AUTH_ERRORS):
        return AuthError(where, f"the server refused the credentials ({problem})",
                         "check the key in the endpoint's api_key_env / headers_env variable")
    return LLMConfigError(where, problem, "check the model name and base_url in the preset")
