"""SQLite checkpoints are the writer's, between batches: never inside a commit, WAL bounded."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, text

from mailhooks.store.checkpoint import WalCheckpointer, take_over_checkpoints
from mailhooks.store.engine import WAL_SIZE_LIMIT_BYTES, create_store_engine
from mailhooks.store.migrate import upgrade

PAGE = 4096
ROW = {"x": "y" * 500}


def _store(tmp_path: Path) -> Engine:
    """A migrated store whose WAL starts empty (closing the last connection removes it)."""
    url = f"sqlite:///{tmp_path / 'mailhooks.db'}"
    migrating = create_store_engine(url)
    upgrade(migrating)
    migrating.dispose()
    return create_store_engine(url)


def _writer(engine: Engine) -> Connection:
    writer = engine.connect()
    take_over_checkpoints(writer)
    writer.rollback()
    with writer.begin():
        writer.execute(text("CREATE TABLE IF NOT EXISTS filler (x TEXT)"))
    return writer


def _commit_rows(writer: Connection, count: int) -> None:
    with writer.begin():
        writer.execute(text("INSERT INTO filler (x) VALUES (:x)"), [ROW] * count)


def test_commits_on_the_writer_connection_never_checkpoint(tmp_path: Path) -> None:
    engine = _store(tmp_path)
    wal = tmp_path / "mailhooks.db-wal"
    with _writer(engine) as writer:
        assert writer.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
        writer.rollback()
        database_before = (tmp_path / "mailhooks.db").stat().st_size
        for _ in range(3):  # well past the default 1,000-page automatic checkpoint
            _commit_rows(writer, 3000)
        assert wal.stat().st_size > 4 * 1024 * 1024
        assert (tmp_path / "mailhooks.db").stat().st_size == database_before
    engine.dispose()


def test_the_wal_stays_small_under_back_to_back_commits(tmp_path: Path) -> None:
    """Checkpointing between commits lets the next commit rewind the WAL to its start."""
    engine = _store(tmp_path)
    wal = tmp_path / "mailhooks.db-wal"
    now = [0.0]
    checkpointer = WalCheckpointer(every_s=0.05, clock=lambda: now[0])
    largest = 0
    with _writer(engine) as writer:
        _commit_rows(writer, 50)
        one_commit = wal.stat().st_size  # and the WAL header (32 bytes)
        for _ in range(400):  # a commit every 0.01 s: a checkpoint after every fifth
            _commit_rows(writer, 50)
            now[0] += 0.01
            checkpointer.after_commit(writer)
            largest = max(largest, wal.stat().st_size)
    engine.dispose()
    assert 400 * one_commit > 8 * 1024 * 1024
    # The file never held more than the commits between two checkpoints and the one that
    # rewinds (the file only grows, so its size is the most it ever held).
    assert largest <= 7 * one_commit, (largest, one_commit)


def test_without_checkpoints_the_wal_grows_with_every_commit(tmp_path: Path) -> None:
    """The control for the test above: same commits, no checkpointer."""
    engine = _store(tmp_path)
    wal = tmp_path / "mailhooks.db-wal"
    with _writer(engine) as writer:
        for _ in range(400):
            _commit_rows(writer, 50)
        size = wal.stat().st_size
    engine.dispose()
    assert size > 400 * 50 * len(ROW["x"])


def test_a_wal_grown_behind_a_long_reader_is_cut_back_once_it_ends(tmp_path: Path) -> None:
    engine = _store(tmp_path)
    wal = tmp_path / "mailhooks.db-wal"
    checkpointer = WalCheckpointer(every_s=0)
    with _writer(engine) as writer, engine.connect() as reader:
        writer.execute(text("PRAGMA journal_size_limit=1048576"))
        writer.commit()
        with reader.begin():  # an export holding its snapshot: no rewind past its frames
            reader.execute(text("SELECT COUNT(*) FROM filler")).scalar_one()
            for _ in range(40):
                _commit_rows(writer, 500)
                checkpointer.after_commit(writer)
        grown = wal.stat().st_size
        _commit_rows(writer, 1)  # after a checkpoint with no reader left: rewound and cut
        checkpointer.after_commit(writer)
        _commit_rows(writer, 1)
        after = wal.stat().st_size
    engine.dispose()
    assert grown > 8 * 1024 * 1024
    assert after <= 1024 * 1024 + 64 * PAGE, (grown, after)


def test_checkpoints_run_at_most_once_per_interval(tmp_path: Path) -> None:
    engine = _store(tmp_path)
    now = [100.0]
    checkpointer = WalCheckpointer(every_s=1.0, clock=lambda: now[0])
    wal = tmp_path / "mailhooks.db-wal"
    with _writer(engine) as writer:
        _commit_rows(writer, 200)
        assert not checkpointer.after_commit(writer)  # 0 s since it was made
        before = wal.stat().st_size
        _commit_rows(writer, 200)
        assert wal.stat().st_size > before  # nothing was copied, so nothing rewound
        now[0] += 0.9
        assert not checkpointer.after_commit(writer)
        now[0] += 0.1
        assert checkpointer.after_commit(writer)
        size = wal.stat().st_size
        _commit_rows(writer, 1)  # rewinds: overwrites the first frames, no growth
        assert wal.stat().st_size == size
        assert not checkpointer.after_commit(writer)
    engine.dispose()


def test_a_failed_checkpoint_is_logged_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = _store(tmp_path)
    checkpointer = WalCheckpointer(every_s=0)
    with _writer(engine) as writer:
        driver = writer.connection.driver_connection
        assert isinstance(driver, sqlite3.Connection)
        driver.close()  # any sqlite3.Error from the checkpoint call will do
        with caplog.at_level(logging.WARNING, logger="mailhooks.checkpoint"):
            assert checkpointer.after_commit(writer)
        writer.invalidate()
    engine.dispose()
    assert any("WAL checkpoint failed" in record.getMessage() for record in caplog.records)


def test_the_engine_cuts_a_rewound_wal_back_to_64_mib(tmp_path: Path) -> None:
    engine = _store(tmp_path)
    with engine.connect() as connection:
        limit = connection.exec_driver_sql("PRAGMA journal_size_limit").scalar()
    engine.dispose()
    assert limit == WAL_SIZE_LIMIT_BYTES == 64 * 1024 * 1024


def test_readers_that_keep_coming_cannot_hold_the_wal_for_ever(tmp_path: Path) -> None:
    """Readers overlapping every rewind pin the WAL; past RESTART_FRAMES the writer waits them out.

    Measured with these readers and commits for 2 s: 14 MB of WAL without the RESTART,
    under 6 MB with it.
    """
    engine = _store(tmp_path)
    wal = tmp_path / "mailhooks.db-wal"
    stop = threading.Event()
    reads = 0

    def keep_reading() -> None:
        nonlocal reads
        reader = sqlite3.connect(tmp_path / "mailhooks.db")
        while not stop.is_set():
            reader.execute("BEGIN")
            reader.execute("SELECT COUNT(*) FROM filler").fetchone()
            time.sleep(0.02)  # a query that takes a while, then a pause, like a poller
            reader.execute("COMMIT")
            reads += 1
            time.sleep(0.05)
        reader.close()

    checkpointer = WalCheckpointer(every_s=0.05, restart_frames=500)
    with _writer(engine) as writer:
        readers = [threading.Thread(target=keep_reading) for _ in range(2)]
        for thread in readers:
            thread.start()
        largest = 0
        try:
            ends = time.monotonic() + 2
            while time.monotonic() < ends:  # back to back, as under full load
                _commit_rows(writer, 50)
                checkpointer.after_commit(writer)
                largest = max(largest, wal.stat().st_size)
        finally:
            stop.set()
            for thread in readers:
                thread.join(10)
    engine.dispose()
    assert reads >= 4, "the readers did not overlap the commits"
    assert largest < 3 * 500 * (PAGE + 24), largest
