"""Admin changes that read, then write, wait for the receiver's writer instead of failing."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import text

from mailhooks.protocol.events import WireFormat
from mailhooks.store.endpoints import add_endpoint, load_endpoints, rotate_key
from mailhooks.store.engine import create_store_engine
from mailhooks.store.migrate import upgrade
from mailhooks.store.suppressions import get_suppression, suppress_manually
from mailhooks.store.tokens import Scope, create_token


def test_changes_made_while_another_connection_commits_back_to_back(tmp_path: Path) -> None:
    engine = create_store_engine(f"sqlite:///{tmp_path / 'mailhooks.db'}")
    upgrade(engine)
    stop = threading.Event()
    errors: list[BaseException] = []

    def write() -> None:
        try:
            with engine.connect() as writer:
                with writer.begin():
                    writer.execute(text("CREATE TABLE filler (x TEXT)"))
                while not stop.is_set():
                    with writer.begin():
                        writer.execute(text("INSERT INTO filler (x) VALUES ('y')"))
        except BaseException as error:  # reported by the test thread
            errors.append(error)

    thread = threading.Thread(target=write)
    thread.start()
    try:
        for number in range(15):
            name = f"ep-{number}"
            add_endpoint(
                engine, name, wire_format=WireFormat.JSON, server_id=1, secret=f"s3cret-{number}"
            )
            rotate_key(engine, name, f"rotated-{number}")
            create_token(engine, f"token-{number}", Scope.READ)
            suppress_manually(engine, f"user{number}@example.com", "by hand")
    finally:
        stop.set()
        thread.join(30)
    assert not errors, errors
    assert len(load_endpoints(engine)) == 15
    assert all(len(endpoint.keys) == 2 for endpoint in load_endpoints(engine))
    assert all(get_suppression(engine, f"user{n}@example.com") is not None for n in range(15))
    engine.dispose()
