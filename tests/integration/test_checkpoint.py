"""SQLite checkpoints happen beside the writer, not inside its commits."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, text

from mailhooks.store.checkpoint import checkpoint, leave_checkpoints_to_the_receiver
from mailhooks.store.engine import create_store_engine
from mailhooks.store.migrate import upgrade


def _store(tmp_path: Path) -> Engine:
    engine = create_store_engine(f"sqlite:///{tmp_path / 'mailhooks.db'}")
    upgrade(engine)
    return engine


def test_commits_on_the_writer_connection_never_checkpoint(tmp_path: Path) -> None:
    engine = _store(tmp_path)
    wal = tmp_path / "mailhooks.db-wal"
    with engine.connect() as writer:
        leave_checkpoints_to_the_receiver(writer)
        assert writer.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
        writer.rollback()
        for _ in range(3):  # well past the default 1,000-page automatic checkpoint
            with writer.begin():
                writer.execute(text("CREATE TABLE IF NOT EXISTS filler (x TEXT)"))
                writer.execute(
                    text("INSERT INTO filler (x) VALUES (:x)"), [{"x": "y" * 500}] * 3000
                )
        frames_before = wal.stat().st_size
        database_before = (tmp_path / "mailhooks.db").stat().st_size
        checkpoint(engine)
        # The checkpoint copied the WAL's pages into the database file.
        assert (tmp_path / "mailhooks.db").stat().st_size > database_before
        assert frames_before > 4 * 1024 * 1024
    engine.dispose()
