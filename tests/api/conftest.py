"""The `api` fixture: one `mailhooks serve` per backend holding SENT, for this whole folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from mailhooks.protocol.events import WireFormat
from mailhooks.store.endpoints import add_endpoint
from mailhooks.store.engine import create_store_engine
from mailhooks.store.migrate import upgrade
from mailhooks.store.schema import events
from mailhooks.store.tokens import Scope, create_token
from tests.api.stocked import (
    BY_LABEL,
    DUPLICATED,
    FORM_SECRET,
    JSON_SECRET,
    SENT,
    SERVER_ID,
    VALIDATION_KEY,
    Api,
    post,
)
from tests.conftest import BACKENDS, pg_skip_reason
from tests.support import ServerProcess, fresh_postgres_database


@pytest.fixture(scope="package", params=BACKENDS)
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """`mailhooks serve` holding SENT (DUPLICATED posted twice), with a read and an admin token.

    Package scope: one server per backend for every test file in this folder.
    """
    workdir: Path = tmp_path_factory.mktemp("api")
    cleanup = None
    if request.param == "sqlite":
        url = f"sqlite:///{workdir / 'mailhooks.db'}"
    else:
        if pg_skip_reason():
            pytest.skip(pg_skip_reason() or "")
        cleanup = fresh_postgres_database()
        url = cleanup.__enter__()
    engine = create_store_engine(url)
    server: ServerProcess | None = None
    api: Api | None = None
    try:
        upgrade(engine)
        add_endpoint(
            engine, "hooks", wire_format=WireFormat.JSON, server_id=SERVER_ID, secret=JSON_SECRET
        )
        add_endpoint(
            engine,
            "legacy",
            wire_format=WireFormat.FORM,
            server_id=SERVER_ID,
            secret=FORM_SECRET,
            validation_key=VALIDATION_KEY,
        )
        read_token = create_token(engine, "dashboard", Scope.READ)
        admin_token = create_token(engine, "ops", Scope.ADMIN)
        server = ServerProcess(url, workdir).start()
        api = Api(server, engine, url, read_token, admin_token)
        for item in SENT:
            response = post(server.url, item)
            assert response.status_code == 200, (item.label, response.text)
            with engine.connect() as connection:
                api.ids[item.label] = connection.execute(
                    select(events.c.id).where(
                        events.c.message_id == item.message_id,
                        events.c.occurred_at == item.at,
                    )
                ).scalar_one()
        assert post(server.url, BY_LABEL[DUPLICATED]).status_code == 200
        assert sorted(api.ids.values()) == api.all_ids()
        yield api
    finally:
        if api is not None:
            api.client.close()
        if server is not None:
            server.stop()
        engine.dispose()
        if cleanup is not None:
            cleanup.__exit__(None, None, None)
