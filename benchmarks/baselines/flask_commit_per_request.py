"""The usual hand-written webhook endpoint: Flask, parse the JSON, check the key, commit each event.

Served by gunicorn with sync workers; every worker process opens its own SQLite connection
with the same durability as mailhooks (WAL, synchronous=FULL) and commits once per request,
so a 200 is only sent after the event is on disk.

Settings come from the environment: BASELINE_DB (SQLite file), BASELINE_SECRET and
BASELINE_SERVER_ID (the credentials every post must carry).
"""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import UTC, datetime
from typing import Any

from baseline_checks import answer, answer_before_storing, column_values
from flask import Flask, Response, request

DB_PATH = os.environ.get("BASELINE_DB", "baseline.db")
BUSY_TIMEOUT_MS = 5000

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    type TEXT NOT NULL,
    occurred_at TEXT,
    message_id TEXT,
    mailing_id TEXT,
    address TEXT,
    server_id INTEGER,
    received_at TEXT NOT NULL,
    fields TEXT NOT NULL
)
"""

app = Flask(__name__)
_connection: sqlite3.Connection | None = None


def connection() -> sqlite3.Connection:
    """This worker's connection, opened on first use (after gunicorn has forked)."""
    global _connection
    if _connection is None:
        db = sqlite3.connect(DB_PATH, timeout=BUSY_TIMEOUT_MS / 1000)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        db.execute(SCHEMA)
        db.commit()
        _connection = db
    return _connection


@app.post("/hooks/<name>")
def receive(name: str) -> Response:
    payload: Any = request.get_json(silent=True)
    refusal = answer_before_storing(payload)
    if refusal is not None:
        return refusal
    db = connection()
    db.execute(
        "INSERT INTO events (type, occurred_at, message_id, mailing_id, address, server_id,"
        " received_at, fields) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (*column_values(payload), datetime.now(UTC).isoformat(), json.dumps(payload)),
    )
    db.commit()
    return answer(200, "ok")


@app.get("/healthz")
def healthz() -> Response:
    return Response("ok", mimetype="text/plain")
