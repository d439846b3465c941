"""A persistent request cache, so a killed run restarted with the same preset repeats no finished request.

Keys hash everything that determines an answer; values are the full response JSON exactly as
first received, which is what makes a rerun byte-identical. Only answers are stored: a failed
request is retried on the next run. API keys never enter a key or a value.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from builders.errors import ConfigError
from builders.schema import canonical_json

SCHEMA_VERSION = 1


def request_key(*, endpoint: str, model: str, messages: list, tools: list | None = None, tool_choice: Any = None,
                response_format: dict | None = None, sampling: dict | None = None, prompt_version: str = "") -> str:
    """sha256 of the canonical JSON of everything that determines the answer (seed is in ``sampling``)."""
    payload = {"v": SCHEMA_VERSION, "endpoint": endpoint, "model": model, "messages": messages, "tools": tools,
               "tool_choice": tool_choice, "response_format": response_format, "sampling": sampling or {},
               "prompt_version": prompt_version}
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()


class RequestCache:
    """sqlite3 in WAL mode with one commit per finished request; safe for one event loop and its threads."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=30000")
            self._db.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, role TEXT, model TEXT, "
                             "response TEXT NOT NULL, created REAL)")
        except sqlite3.DatabaseError as exc:
            raise ConfigError(f"llm cache {self.path}", f"cannot be opened as a request cache ({exc})",
                              "point llm.cache at a new file or delete the damaged one") from None

    def get(self, key: str) -> dict | None:
        with self._lock:
            row = self._db.execute("SELECT response FROM responses WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: str, response: dict, role: str = "", model: str = "") -> None:
        text = json.dumps(response, ensure_ascii=False, separators=(",", ":"))
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?)",
                             (key, role, model, text, time.time()))

    def __contains__(self, key: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM responses WHERE key = ?", (key,)).fetchone() is not None

    def keys(self) -> set[str]:
        with self._lock:
            return {k for (k,) in self._db.execute("SELECT key FROM responses")}

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()
