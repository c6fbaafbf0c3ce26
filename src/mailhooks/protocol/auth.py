"""Endpoint authentication: salted key hashes, constant-time checks over every active key."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from mailhooks.errors import AuthError

_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"


def generate_secret(length: int = 32) -> str:
    """A random key in SocketLabs' style (letters and digits), ~185 bits at the default length."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


@dataclass(frozen=True, slots=True)
class KeyHash:
    """What is stored instead of a secret: a random salt and SHA-256(salt + secret)."""

    salt: bytes
    digest: bytes

    @classmethod
    def of(cls, secret: str) -> KeyHash:
        salt = secrets.token_bytes(16)
        return cls(salt=salt, digest=_digest(salt, secret))

    def matches(self, secret: str) -> bool:
        return hmac.compare_digest(self.digest, _digest(self.salt, secret))

    @property
    def fingerprint(self) -> str:
        """A short, non-reversible label to tell keys apart in listings."""
        return self.digest[:4].hex()


def _digest(salt: bytes, secret: str) -> bytes:
    return hashlib.sha256(salt + secret.encode("utf-8", "surrogatepass")).digest()


def check_credentials(
    *,
    secret: str | None,
    server_id: int | None,
    keys: Sequence[KeyHash],
    expected_server_id: int | None,
) -> None:
    """Raise `AuthError` unless the SecretKey matches one active key and the ServerId fits.

    Every key is checked (no early exit) so timing does not tell which key is active.
    The error names the failed check, never a key.
    """
    if secret is None or secret == "":
        raise AuthError("SecretKey is missing")
    matched = False
    for key in keys:
        matched |= key.matches(secret)
    if not matched:
        raise AuthError("SecretKey does not match this endpoint")
    if expected_server_id is not None and server_id != expected_server_id:
        raise AuthError("ServerId does not match this endpoint")
