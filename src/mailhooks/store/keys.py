"""The key a suppression is stored under, shared by the store and the CLI's fast lookup."""

from __future__ import annotations

import hashlib

from mailhooks.protocol.values import normalise_address


def address_hash(address: str) -> str:
    """SHA-256 of the normalised address: it outlives `mailhooks purge`, so the block does."""
    return hashlib.sha256(normalise_address(address).encode()).hexdigest()
