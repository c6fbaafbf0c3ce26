"""mailhooks.integrations.common on its own: it imports no framework or ORM, and its
bounded read stops one byte past the cap whatever sizes the stream hands out."""

from __future__ import annotations

import io
import subprocess
import sys

from mailhooks import EndpointConfig
from mailhooks.integrations.common import read_body

ENDPOINT = EndpointConfig(secrets=["k"], body_max_bytes=10)


def test_the_shared_module_imports_no_framework_or_orm() -> None:
    code = (
        "import sys, mailhooks.integrations.common\n"
        "print(sorted(m for m in ('sqlalchemy', 'alembic', 'flask', 'fastapi', 'starlette',"
        " 'django', 'anyio', 'psycopg') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "[]", done.stderr


class Trickle(io.BytesIO):
    """A stream that hands out at most 3 bytes a read, and counts what was asked of it."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.taken = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(min(3, size if size is not None and size >= 0 else 3))
        self.taken += len(chunk)
        return chunk


def test_read_body_gathers_short_reads_up_to_the_cap() -> None:
    stream = Trickle(b"0123456789")
    assert read_body(stream.read, None, ENDPOINT) == b"0123456789"


def test_read_body_stops_one_byte_past_the_cap() -> None:
    stream = Trickle(b"x" * 1000)
    answer = read_body(stream.read, None, ENDPOINT)
    assert not isinstance(answer, bytes) and answer.status == 413
    assert answer.text == '{"error":"body is over the 10-byte limit"}'
    assert stream.taken == 11


def test_a_declared_length_over_the_cap_reads_nothing() -> None:
    stream = Trickle(b"x" * 1000)
    answer = read_body(stream.read, "1000", ENDPOINT)
    assert not isinstance(answer, bytes)
    assert answer.text == '{"error":"body of 1000 bytes is over the 10-byte limit"}'
    assert stream.taken == 0
