"""/healthz, /readyz and /metrics on a real server, both backends."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import httpx
import pytest
from sqlalchemy import func, select

from mailhooks.protocol.events import Kind, WireFormat
from mailhooks.protocol.samples import sample_body
from mailhooks.store.endpoints import add_endpoint
from mailhooks.store.engine import create_store_engine
from mailhooks.store.migrate import upgrade
from mailhooks.store.schema import events
from tests.support import ServerProcess

pytestmark = pytest.mark.slow


def _metric(text: str, name: str, labels: str = "") -> float:
    pattern = re.escape(name) + (re.escape("{" + labels + "}") if labels else "") + r" (\S+)"
    found = re.search(rf"^{pattern}$", text, re.MULTILINE)
    assert found is not None, f"{name}{{{labels}}} not in /metrics"
    return float(found.group(1))


def test_health_readiness_and_metrics(
    database_url: str, start_server: Callable[..., ServerProcess]
) -> None:
    engine = create_store_engine(database_url)
    upgrade(engine)
    add_endpoint(engine, "ops", wire_format=WireFormat.JSON, server_id=1000, secret="ops-key-1")
    engine.dispose()
    server = start_server(database_url)
    with httpx.Client(base_url=server.url, timeout=10) as client:
        assert client.get("/healthz").text == "ok"
        assert (client.get("/readyz").status_code, client.get("/readyz").text) == (200, "ready")
        for n in range(3):
            body, content_type = sample_body(Kind.DELIVERED, secret="ops-key-1", message_id=f"o{n}")
            response = client.post(
                "/hooks/ops", content=body, headers={"content-type": content_type}
            )
            assert response.status_code == 200
        wrong, content_type = sample_body(Kind.OPEN, secret="not-it")
        assert (
            client.post(
                "/hooks/ops", content=wrong, headers={"content-type": content_type}
            ).status_code
            == 401
        )
        again = client.post("/hooks/ops", content=body, headers={"content-type": content_type})
        assert again.status_code == 200  # the last Delivered once more: a duplicate
        for n in range(5):  # random names must not become labels
            client.post(f"/hooks/random-{n}", content=wrong, headers={"content-type": content_type})
        text = client.get("/metrics").text
    assert (
        _metric(text, "mailhooks_requests_total", 'endpoint="ops",kind="delivered",status="200"')
        == 4
    )
    assert _metric(text, "mailhooks_requests_total", 'endpoint="ops",kind="open",status="401"') == 1
    assert _metric(text, "mailhooks_requests_total", 'endpoint="",kind="",status="404"') == 5
    assert _metric(text, "mailhooks_unauthorized_total") == 1
    assert _metric(text, "mailhooks_duplicates_total") == 1
    assert _metric(text, "mailhooks_batch_size_sum") == 4
    assert _metric(text, "mailhooks_commit_seconds_count") >= 1
    assert _metric(text, "mailhooks_queue_depth") == 0
    assert "random-" not in text
    assert "ops-key-1" not in text


def test_serve_applies_retention_periodically(
    database_url: str, start_server: Callable[..., ServerProcess]
) -> None:
    engine = create_store_engine(database_url)
    upgrade(engine)
    add_endpoint(engine, "ops", wire_format=WireFormat.JSON, server_id=1000, secret="ops-key-1")
    # Keep events for 1 s (days as a fraction), checking every 0.5 s.
    server = start_server(
        database_url,
        MAILHOOKS_RETENTION_DAYS=str(1 / 86400),
        MAILHOOKS_RETENTION_INTERVAL_S="0.5",
    )
    body, content_type = sample_body(Kind.DELIVERED, secret="ops-key-1", message_id="expiring")
    response = httpx.post(
        f"{server.url}/hooks/ops", content=body, headers={"content-type": content_type}
    )
    assert response.status_code == 200
    deadline = time.monotonic() + 15
    remaining = 1
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            remaining = connection.execute(select(func.count()).select_from(events)).scalar_one()
        if remaining == 0:
            break
        time.sleep(0.2)
    engine.dispose()
    assert remaining == 0, "serve did not expire the old event"
    assert '"logger":"mailhooks.receiver","msg":"retention"' in server.log_text()
