"""SQLite checkpoints happen beside the writer, not inside its commits."""

from __future__ import annotations

import threading
import time
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


def test_the_wal_stays_bounded_under_continuous_commits(tmp_path: Path) -> None:
    """PASSIVE alone never rewinds a WAL that commits keep appending to; the reset must."""
    engine = _store(tmp_path)
    wal = tmp_path / "mailhooks.db-wal"
    stop = threading.Event()
    commits = 0
    errors: list[BaseException] = []

    def write() -> None:
        nonlocal commits
        try:
            with engine.connect() as writer:
                leave_checkpoints_to_the_receiver(writer)
                writer.rollback()
                with writer.begin():
                    writer.execute(text("CREATE TABLE filler (x TEXT)"))
                while not stop.is_set():  # back to back, as under full load
                    with writer.begin():
                        writer.execute(
                            text("INSERT INTO filler (x) VALUES (:x)"), [{"x": "y" * 500}] * 50
                        )
                    commits += 1
        except BaseException as error:  # reported by the test thread
            errors.append(error)

    thread = threading.Thread(target=write)
    thread.start()
    largest = 0
    try:
        # Until the writer has written enough to matter (about 4 s here), bounded for slow disks.
        deadline = time.monotonic() + 60
        while commits * 50 * 500 // 4096 <= 12_000 and time.monotonic() < deadline:
            time.sleep(0.2)
            checkpoint(engine, reset_frames=1000)
            largest = max(largest, wal.stat().st_size)
    finally:
        stop.set()
        thread.join(30)
        engine.dispose()
    assert not errors, errors
    pages_written = commits * 50 * 500 // 4096
    assert pages_written > 10_000, "the writer did not write enough to test anything"
    # Reset at 1,000 frames, checked every 0.2 s: a few thousand frames at most, where the
    # written pages alone would have made the file several times larger.
    assert largest < 8_000 * 4096 < pages_written * 4096
