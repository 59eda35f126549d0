"""A persistent cache of LLM answers, so an interrupted run resumes without re-asking.

Keyed by the full prompt, the model's identity and its decoding settings (and the how-many-th
time the same prompt is asked in a run, so that sampled generations of one prompt differ),
and written as each answer arrives. spacy-llm's BatchCache is not used: its key ignores token
order and the prompt, and it never writes the last partial batch.
"""
import hashlib
import json
import sqlite3
import threading
from pathlib import Path
from typing import Optional, Union


def answer_key(identity: dict, prompt: str, occurrence: int = 0) -> str:
    payload = json.dumps([identity, prompt, occurrence], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf8")).hexdigest()


class AnswerCache:
    """SQLite file of key -> answer; safe to share between threads of one process."""

    def __init__(self, path: Union[str, Path]):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, model TEXT, prompt TEXT, answer TEXT)"
        )

    def get(self, key: str) -> Optional[str]:
        with self._lock:
            row = self._db.execute("SELECT answer FROM answers WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def put(self, key: str, model: str, prompt: str, answer: str) -> None:
        with self._lock:  # autocommit: the answer is on disk when this returns
            self._db.execute(
                "INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?)", (key, model, prompt, answer)
            )

    def delete(self, key: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM answers WHERE key = ?", (key,))
