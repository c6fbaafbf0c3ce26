"""What both hand-written baselines do before storing: read the JSON, check the credentials.

One copy, so that the SQLite and PostgreSQL baselines do exactly the same work per request
and differ only in the database. Settings: BASELINE_SECRET and BASELINE_SERVER_ID.
"""

from __future__ import annotations

import hmac
import json
import os
from typing import Any

from flask import Response

SECRET = os.environ.get("BASELINE_SECRET", "")
SERVER_ID = int(os.environ.get("BASELINE_SERVER_ID", "0"))


def answer(status: int, message: str) -> Response:
    return Response(json.dumps({"status": message}), status=status, mimetype="application/json")


def answer_before_storing(payload: Any) -> Response | None:
    """The answer for a post that is not to be stored (refused, or a Validation); else None.

    Takes SecretKey out of `payload`, as a sample endpoint would before storing the rest.
    """
    if not isinstance(payload, dict):
        return answer(400, "body is not a JSON object")
    secret = payload.pop("SecretKey", None)
    if not isinstance(secret, str) or not hmac.compare_digest(secret.encode(), SECRET.encode()):
        return answer(401, "bad secret key")
    if payload.get("ServerId") != SERVER_ID:
        return answer(401, "wrong ServerId")
    if payload.get("Type") == "Validation":
        return answer(200, "ok")
    return None


def column_values(payload: dict[str, Any]) -> tuple[Any, ...]:
    """type, occurred_at, message_id, mailing_id, address, server_id: the indexed columns."""
    return (
        str(payload.get("Type", "")),
        payload.get("DateTime"),
        payload.get("MessageId"),
        payload.get("MailingId"),
        payload.get("Address"),
        payload.get("ServerId"),
    )
