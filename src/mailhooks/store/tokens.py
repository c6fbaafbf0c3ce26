"""API bearer tokens: random, shown once, stored as SHA-256, checked in constant time."""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, insert, select, update

from mailhooks.errors import Conflict, InvalidInput, NotFound
from mailhooks.store.engine import write_transaction
from mailhooks.store.schema import api_tokens

#: Tokens start with this so they are recognisable in configs and secret scanners.
TOKEN_PREFIX = "mht_"


class Scope(enum.StrEnum):
    READ = "read"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class ApiToken:
    id: int
    name: str
    scope: Scope
    created_at: datetime
    revoked_at: datetime | None


def token_digest(token: str) -> bytes:
    # Tokens carry 256 random bits, so a plain hash is enough: no salt, no slow KDF.
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def create_token(engine: Engine, name: str, scope: Scope) -> str:
    """Store a new token and return it; it is never shown again."""
    if not name or len(name) > 100:
        raise InvalidInput("a token name must be 1-100 characters")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with write_transaction(engine) as connection:
        taken = connection.execute(select(api_tokens.c.id).where(api_tokens.c.name == name))
        if taken.first() is not None:
            raise Conflict(f"a token named {name!r} already exists")
        connection.execute(
            insert(api_tokens).values(
                name=name,
                scope=scope.value,
                digest=token_digest(token),
                created_at=datetime.now(UTC),
            )
        )
    return token


def revoke_token(engine: Engine, name: str) -> None:
    with engine.begin() as connection:
        changed = connection.execute(
            update(api_tokens)
            .where(api_tokens.c.name == name, api_tokens.c.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
        ).rowcount
    if not changed:
        raise NotFound(f"no active token named {name!r}")


def list_tokens(engine: Engine) -> list[ApiToken]:
    with engine.connect() as connection:
        rows = connection.execute(select(api_tokens).order_by(api_tokens.c.name))
        return [
            ApiToken(row.id, row.name, Scope(row.scope), row.created_at, row.revoked_at)
            for row in rows
        ]


def find_token(engine: Engine, token: str) -> ApiToken | None:
    """The active token matching `token`, or None.

    The lookup is by digest (an index hit); the digest is then compared with
    `hmac.compare_digest` so the final check does not leak timing either.
    """
    digest = token_digest(token)
    with engine.connect() as connection:
        row = connection.execute(
            select(api_tokens).where(api_tokens.c.digest == digest)
        ).one_or_none()
    if row is None or row.revoked_at is not None or not hmac.compare_digest(row.digest, digest):
        return None
    return ApiToken(row.id, row.name, Scope(row.scope), row.created_at, row.revoked_at)
