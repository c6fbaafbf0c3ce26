"""Key hashes, credential checks over rotating keys, and generated secrets."""

from __future__ import annotations

import string

import pytest

from mailhooks.errors import AuthError
from mailhooks.protocol.auth import KeyHash, check_credentials, generate_secret

KEY = "n7BJk25EtAr39Sfa4K8R"
OTHER = "Zp4WqLm8TxR2vNc6HyJ3"


def auth_error(
    secret: str | None,
    keys: list[KeyHash],
    *,
    server_id: int | None = 16332,
    expected_server_id: int | None = 16332,
) -> AuthError:
    with pytest.raises(AuthError) as caught:
        check_credentials(
            secret=secret, server_id=server_id, keys=keys, expected_server_id=expected_server_id
        )
    error = caught.value
    assert error.status_code == 401
    assert "\n" not in error.message
    for key in (KEY, OTHER):
        assert key not in error.message
        assert key not in repr(error)
    if secret:
        assert secret not in error.message
    return error


def test_key_hash_matches_its_secret_only() -> None:
    hashed = KeyHash.of(KEY)
    assert hashed.matches(KEY)
    assert not hashed.matches(OTHER)
    assert not hashed.matches(KEY.lower())
    assert not hashed.matches(KEY + " ")
    assert not hashed.matches(KEY[:-1])
    assert not hashed.matches("")


def test_key_hash_is_salted_and_does_not_hold_the_secret() -> None:
    first, second = KeyHash.of(KEY), KeyHash.of(KEY)
    assert first.salt != second.salt
    assert first.digest != second.digest
    assert len(first.salt) == 16
    assert len(first.digest) == 32
    assert KEY.encode() not in first.salt + first.digest
    assert KEY not in repr(first)
    assert first.matches(KEY) and second.matches(KEY)


def test_key_hash_survives_storage_as_bytes() -> None:
    hashed = KeyHash.of(KEY)
    restored = KeyHash(salt=bytes(hashed.salt), digest=bytes(hashed.digest))
    assert restored.matches(KEY)
    assert restored == hashed


def test_key_hash_handles_non_ascii_secrets() -> None:
    secret = "ключ-🔑-é"
    hashed = KeyHash.of(secret)
    assert hashed.matches(secret)
    assert not hashed.matches("ключ-🔑-e")


def test_fingerprint_is_short_and_tells_keys_apart() -> None:
    first, second = KeyHash.of(KEY), KeyHash.of(OTHER)
    assert len(first.fingerprint) == 8
    assert all(c in string.hexdigits for c in first.fingerprint)
    assert first.fingerprint == first.digest[:4].hex()
    assert first.fingerprint != second.fingerprint
    assert KEY not in first.fingerprint


def test_right_key_is_accepted() -> None:
    check_credentials(secret=KEY, server_id=16332, keys=[KeyHash.of(KEY)], expected_server_id=16332)


def test_missing_key_is_rejected() -> None:
    for secret in (None, ""):
        error = auth_error(secret, [KeyHash.of(KEY)])
        assert error.message == "SecretKey is missing"


def test_wrong_key_is_rejected() -> None:
    error = auth_error(OTHER, [KeyHash.of(KEY)])
    assert error.message == "SecretKey does not match this endpoint"
    assert auth_error(KEY.upper(), [KeyHash.of(KEY)]).message == error.message


def test_no_active_keys_rejects_everything() -> None:
    assert auth_error(KEY, []).message == "SecretKey does not match this endpoint"


def test_both_keys_are_accepted_during_rotation() -> None:
    keys = [KeyHash.of(KEY), KeyHash.of(OTHER)]
    for secret in (KEY, OTHER):
        check_credentials(secret=secret, server_id=16332, keys=keys, expected_server_id=16332)
    assert auth_error("neither", keys).message == "SecretKey does not match this endpoint"


def test_wrong_server_id_is_rejected() -> None:
    keys = [KeyHash.of(KEY)]
    error = auth_error(KEY, keys, server_id=99999)
    assert error.message == "ServerId does not match this endpoint"
    assert auth_error(KEY, keys, server_id=None).message == error.message


def test_server_id_is_not_checked_when_none_is_expected() -> None:
    keys = [KeyHash.of(KEY)]
    for server_id in (None, 1, 16332):
        check_credentials(secret=KEY, server_id=server_id, keys=keys, expected_server_id=None)


def test_wrong_key_is_reported_before_server_id() -> None:
    error = auth_error(OTHER, [KeyHash.of(KEY)], server_id=1)
    assert error.message == "SecretKey does not match this endpoint"


def test_generate_secret_length_and_alphabet() -> None:
    unambiguous = set(string.ascii_letters + string.digits) - set("IOl01")
    for length in (1, 8, 20, 32, 64):
        secret = generate_secret(length)
        assert len(secret) == length
        assert set(secret) <= unambiguous
    assert len(generate_secret()) == 32


def test_generate_secret_uses_the_whole_alphabet() -> None:
    seen = set("".join(generate_secret() for _ in range(200)))
    assert seen == set(string.ascii_letters + string.digits) - set("IOl01")


def test_generated_secrets_are_unique() -> None:
    secrets = {generate_secret() for _ in range(1000)}
    assert len(secrets) == 1000


def test_generated_secret_round_trips_through_key_hash() -> None:
    secret = generate_secret()
    keys = [KeyHash.of(secret)]
    check_credentials(secret=secret, server_id=None, keys=keys, expected_server_id=None)
