"""`import mailhooks` is the library core: no web framework, ORM, database driver or HTTP
client comes with it, even once every public name is used (docs/library.md)."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata

from packaging.requirements import Requirement

import mailhooks

#: Top-level packages the core must never import: the service's and the integrations'.
FORBIDDEN = (
    "starlette",
    "fastapi",
    "flask",
    "django",
    "uvicorn",
    "sqlalchemy",
    "alembic",
    "psycopg",
    "httpx",
    "pydantic",
    "pydantic_settings",
    "typer",
    "rich",
    "jinja2",
    "prometheus_client",
)

PROBE = """
import sys
import mailhooks
from mailhooks import *
print(" ".join(sorted({name.split(".")[0] for name in sys.modules})))
"""


def test_import_mailhooks_brings_no_framework_database_or_http_client() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = set(done.stdout.split())
    assert "mailhooks" in loaded
    assert loaded.isdisjoint(FORBIDDEN), sorted(loaded & set(FORBIDDEN))


def test_every_public_name_is_documented() -> None:
    for name in mailhooks.__all__:
        if name != "__version__":
            assert getattr(mailhooks, name).__doc__, name


def test_a_plain_install_requires_only_orjson() -> None:
    """Everything else is an extra. .ci/core_install_check.sh installs the built wheel into an
    empty venv to check the same end to end (it needs PyPI, for orjson)."""
    requirements = [Requirement(line) for line in metadata.requires("mailhooks") or []]
    plain = [requirement.name for requirement in requirements if requirement.marker is None]
    assert plain == ["orjson"]
    extras = set(metadata.metadata("mailhooks").get_all("Provides-Extra") or [])
    assert {"server", "postgres", "django", "flask", "fastapi", "anymail"} <= extras
