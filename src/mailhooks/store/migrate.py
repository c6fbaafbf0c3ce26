"""Alembic, driven from code: `mailhooks db upgrade`, `db status`, and on `serve` start."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

MIGRATIONS = Path(__file__).parent / "migrations"
#: Serialises concurrent upgrades of one PostgreSQL database by several receivers.
PG_MIGRATION_LOCK = 0x6D61696C686F6F6B


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision`, each step in one transaction."""
    config = alembic_config()
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_MIGRATION_LOCK}
            )
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def pending_revisions(engine: Engine) -> list[str]:
    """Revisions not yet applied, oldest first (read-only)."""
    script = ScriptDirectory.from_config(alembic_config())
    current = current_revision(engine)
    pending = [rev.revision for rev in script.iterate_revisions("head", current)]
    return list(reversed(pending))
