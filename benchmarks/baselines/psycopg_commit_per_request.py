"""The usual hand-written webhook endpoint on PostgreSQL: Flask + psycopg, one commit per event.

This is how a team typically writes it (and the shape of most webhook samples): Flask served
by gunicorn with sync workers, each worker holding one psycopg 3 connection opened after the
fork, parsing the JSON, checking the key, and running one INSERT and COMMIT per request, so
a 200 is only sent after PostgreSQL has flushed the commit (synchronous_commit=on, set on
the connection so a server default cannot turn it off). It is the same stack as
flask_commit_per_request.py; only the database differs, so mailhooks-pg/baseline-pg and
mailhooks/baseline compare like with like. A Starlette endpoint with an async pool is the
other common shape; with two cores and one commit per request both are bound by the
round trip and flush per event, which is what group commit removes.

Settings come from the environment: BASELINE_DATABASE_URL (a postgresql:// URL),
BASELINE_SECRET and BASELINE_SERVER_ID (the credentials every post must carry).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import psycopg
from baseline_checks import answer, answer_before_storing, column_values
from flask import Flask, Response, request
from psycopg.types.json import Jsonb

DATABASE_URL = os.environ.get("BASELINE_DATABASE_URL", "postgresql://postgres@127.0.0.1/test")

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id BIGSERIAL PRIMARY KEY,
    type TEXT NOT NULL,
    occurred_at TEXT,
    message_id TEXT,
    mailing_id TEXT,
    address TEXT,
    server_id BIGINT,
    received_at TIMESTAMPTZ NOT NULL,
    fields JSONB NOT NULL
)
"""

app = Flask(__name__)
_connection: psycopg.Connection[Any] | None = None


def connection() -> psycopg.Connection[Any]:
    """This worker's connection, opened on first use (after gunicorn has forked)."""
    global _connection
    if _connection is None or _connection.closed:
        db = psycopg.connect(DATABASE_URL, options="-c synchronous_commit=on")
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
    try:
        db.execute(
            "INSERT INTO events (type, occurred_at, message_id, mailing_id, address, server_id,"
            " received_at, fields) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (*column_values(payload), datetime.now(UTC), Jsonb(payload)),
        )
        db.commit()
    except psycopg.Error:
        db.rollback()
        raise
    return answer(200, "ok")


@app.get("/healthz")
def healthz() -> Response:
    return Response("ok", mimetype="text/plain")
