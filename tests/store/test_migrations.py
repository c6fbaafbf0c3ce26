"""Every migration steps down and back up cleanly, on both backends."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text

from mailhooks.store import migrate
from mailhooks.store.engine import create_store_engine
from mailhooks.store.schema import metadata


def _downgrade(engine: Engine, revision: str) -> None:
    config = migrate.alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def _schema(engine: Engine) -> dict[str, list[str]]:
    """Each table's columns and index names, and AUTOINCREMENT on SQLite: what a step must
    restore exactly."""
    inspector = inspect(engine)
    autoincrement = _sqlite_autoincrement_tables(engine)
    return {
        table: sorted(column["name"] for column in inspector.get_columns(table))
        + sorted(str(index["name"]) for index in inspector.get_indexes(table))
        + (["AUTOINCREMENT"] if table in autoincrement else [])
        for table in inspector.get_table_names()
        if table != "alembic_version"
    }


def _sqlite_autoincrement_tables(engine: Engine) -> set[str]:
    """Tables whose ids SQLite never reuses (compare_metadata does not look at this)."""
    if engine.dialect.name != "sqlite":
        return set()
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'table'"))
        return {name for name, sql in rows if "AUTOINCREMENT" in sql.upper()}


def test_each_migration_downgrades_and_upgrades_again(database_url: str) -> None:
    engine = create_store_engine(database_url)
    script = ScriptDirectory.from_config(migrate.alembic_config())
    revisions = [rev.revision for rev in reversed(list(script.walk_revisions()))]
    schemas = {}
    for revision in revisions:
        migrate.upgrade(engine, revision)
        schemas[revision] = _schema(engine)
    for index in range(len(revisions) - 1, 0, -1):
        _downgrade(engine, revisions[index - 1])
        assert migrate.current_revision(engine) == revisions[index - 1]
        assert _schema(engine) == schemas[revisions[index - 1]]
    _downgrade(engine, "base")
    assert _schema(engine) == {}
    migrate.upgrade(engine)
    assert _schema(engine) == schemas[revisions[-1]]
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), metadata) == []
    if engine.dialect.name == "sqlite":
        assert _sqlite_autoincrement_tables(engine) == {
            table.name
            for table in metadata.tables.values()
            if table.dialect_options["sqlite"]["autoincrement"]
        }
    engine.dispose()


def test_lookup_indexes_exist_after_upgrade(engine: Engine) -> None:
    inspector = inspect(engine)
    names = {
        table: {str(index["name"]) for index in inspector.get_indexes(table)}
        for table in ("events", "messages")
    }
    assert {
        "ix_events_occurred_at",
        "ix_events_received_at",
        "ix_events_kind_id",
        "ix_events_mailing_id_id",
    } <= names["events"]
    assert {"ix_messages_message_id", "ix_messages_last_event_at"} <= names["messages"]
