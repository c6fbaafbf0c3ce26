"""Failed logins are limited per client: past the limit a 429, the token left unchecked."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from starlette.types import ASGIApp

from mailhooks.dashboard import create_dashboard
from mailhooks.dashboard.throttle import MAX_FAILURES, WINDOW_S, LoginThrottle, client_key
from mailhooks.store.engine import create_store_engine
from mailhooks.store.migrate import upgrade
from mailhooks.store.tokens import Scope, create_token
from tests.dashboard.conftest import Ui

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Dashboard:
    """The dashboard alone on a store with one token, its throttle on a clock we move."""

    portal: BlockingPortal
    app: ASGIApp
    token: str
    clock: Clock
    throttle: LoginThrottle
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    def login(self, host: str, token: str) -> httpx.Response:
        """Log in from `host` (a fresh browser: the login form, then its post)."""
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app, root_path="/ui", client=(host, 40000)),
            base_url="http://127.0.0.1",
        )
        self.clients.append(client)
        form = self.portal.call(client.get, "/ui/login")
        found = CSRF.search(form.text)
        assert found, form.text
        post = functools.partial(client.post, "/ui/login", data={"token": token, "csrf": found[1]})
        return self.portal.call(post)


@pytest.fixture
def dashboard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Dashboard]:
    from mailhooks.dashboard import login

    engine = create_store_engine(f"sqlite:///{tmp_path / 'mailhooks.db'}")
    upgrade(engine)
    token = create_token(engine, "viewer", Scope.READ)
    clock = Clock()
    throttle = LoginThrottle(clock=clock)
    monkeypatch.setattr(login, "LoginThrottle", lambda: throttle)  # the one the app makes
    try:
        with start_blocking_portal() as portal:
            app = create_dashboard(engine)
            found = Dashboard(portal, app, token, clock, throttle)
            try:
                yield found
            finally:
                for client in found.clients:
                    portal.call(client.aclose)
    finally:
        engine.dispose()


def fail_to_the_limit(dashboard: Dashboard, host: str) -> None:
    for n in range(MAX_FAILURES):
        assert dashboard.login(host, f"mht_wrong-{n}").status_code == 401


def test_past_the_limit_even_the_right_token_is_a_429(dashboard: Dashboard) -> None:
    fail_to_the_limit(dashboard, "203.0.113.5")
    answer = dashboard.login("203.0.113.5", dashboard.token)
    assert answer.status_code == 429
    assert answer.headers["retry-after"] == str(WINDOW_S)
    assert "too many failed logins from your address" in answer.text
    assert not any(
        v.startswith("mailhooks_session=")
        for k, v in answer.headers.multi_items()
        if k == "set-cookie"
    )
    dashboard.clock.now += 60
    answer = dashboard.login("203.0.113.5", "mht_wrong")
    assert answer.status_code == 429
    assert answer.headers["retry-after"] == str(WINDOW_S - 60)


def test_the_token_is_not_even_looked_up_past_the_limit(
    dashboard: Dashboard, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mailhooks.dashboard import login

    fail_to_the_limit(dashboard, "203.0.113.5")
    looked_up: list[str] = []
    monkeypatch.setattr(login, "find_token", lambda engine, token: looked_up.append(token))
    assert dashboard.login("203.0.113.5", dashboard.token).status_code == 429
    assert looked_up == []


def test_another_client_is_unaffected(dashboard: Dashboard) -> None:
    fail_to_the_limit(dashboard, "203.0.113.5")
    assert dashboard.login("203.0.113.6", "mht_wrong").status_code == 401
    assert dashboard.login("203.0.113.6", dashboard.token).status_code == 303
    assert dashboard.login("203.0.113.5", dashboard.token).status_code == 429


def test_logins_work_again_once_the_window_has_passed(dashboard: Dashboard) -> None:
    fail_to_the_limit(dashboard, "203.0.113.5")
    dashboard.clock.now += WINDOW_S - 1
    assert dashboard.login("203.0.113.5", dashboard.token).status_code == 429
    dashboard.clock.now += 1
    assert dashboard.login("203.0.113.5", dashboard.token).status_code == 303


def test_successful_logins_do_not_count(dashboard: Dashboard) -> None:
    for _ in range(MAX_FAILURES + 2):
        assert dashboard.login("203.0.113.5", dashboard.token).status_code == 303
    fail_to_the_limit(dashboard, "203.0.113.5")
    assert dashboard.login("203.0.113.5", dashboard.token).status_code == 429


def test_the_whole_app_limits_logins(ui: Ui) -> None:
    for n in range(MAX_FAILURES):
        assert ui.login(f"mht_wrong-{n}").status_code == 401
    answer = ui.login(ui.read_token)
    assert answer.status_code == 429
    assert int(answer.headers["retry-after"]) > 0


def test_the_failures_are_counted_in_a_sliding_window() -> None:
    clock = Clock()
    throttle = LoginThrottle(max_failures=3, window_s=100, clock=clock)
    for step in (0, 10, 20):
        clock.now += step
        assert throttle.attempt("a") is None
    assert throttle.attempt("a") == 100 - 30
    clock.now += 70  # the first failure is out of the window: one more try
    assert throttle.attempt("a") is None
    assert throttle.attempt("a") == 10


def test_the_clients_tracked_are_bounded_and_the_oldest_forgotten() -> None:
    clock = Clock()
    throttle = LoginThrottle(max_failures=2, window_s=100, max_clients=3, clock=clock)
    for client in ("a", "b"):
        throttle.attempt(client)
        throttle.attempt(client)
    assert throttle.retry_after("a") is not None
    for n in range(50):
        clock.now += 0.1
        throttle.attempt(f"guesser-{n}")
        assert throttle.tracked <= 3
    assert throttle.retry_after("a") is None  # forgotten, least recently failed first
    assert throttle.retry_after("b") is None
    assert throttle.tracked == 3


def test_a_forgiven_attempt_is_uncounted() -> None:
    throttle = LoginThrottle(max_failures=2, window_s=100, clock=Clock())
    throttle.attempt("a")
    throttle.forgive("a")
    assert throttle.tracked == 0
    throttle.attempt("a")
    assert throttle.attempt("a") is None
    assert throttle.attempt("a") is not None


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("203.0.113.5", "203.0.113.5"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:bbbb::9", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.5", "203.0.113.5"),
        ("testclient", "testclient"),
        (None, ""),
    ],
)
def test_an_ipv6_client_counts_as_its_64(host: str | None, key: str) -> None:
    assert client_key(host) == key
