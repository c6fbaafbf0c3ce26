"""Login, logout, CSRF and scopes of the dashboard, through the whole in-process app."""

from __future__ import annotations

import pytest

from tests.dashboard.conftest import Ui


def test_login_with_a_read_token_sets_a_strict_http_only_cookie(ui: Ui) -> None:
    answer = ui.login(ui.read_token)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/"
    cookie = next(
        value
        for name, value in answer.headers.multi_items()
        if name == "set-cookie" and value.startswith("mailhooks_session=")
    )
    attributes = {part.strip().lower() for part in cookie.split(";")}
    assert "httponly" in attributes
    assert "samesite=strict" in attributes
    assert "path=/ui/" in attributes
    assert "secure" not in attributes  # plain http here; https requests get Secure
    page = ui.get("/ui/")
    assert page.status_code == 200
    assert "viewer (read)" in page.text


def test_the_cookie_is_secure_over_https(ui: Ui) -> None:
    csrf = ui.csrf("https://127.0.0.1/ui/login")
    answer = ui.post("https://127.0.0.1/ui/login", data={"token": ui.read_token, "csrf": csrf})
    assert answer.status_code == 303
    cookies = [v for k, v in answer.headers.multi_items() if k == "set-cookie"]
    session = next(c for c in cookies if c.startswith("mailhooks_session="))
    assert "secure" in {part.strip().lower() for part in session.split(";")}


def test_a_wrong_token_is_refused_with_one_line(ui: Ui) -> None:
    answer = ui.login("mht_not-a-token")
    assert answer.status_code == 401
    assert "That token is not valid (or was revoked)." in answer.text
    assert "mht_not-a-token" not in answer.text
    assert not any(
        v.startswith("mailhooks_session=")
        for k, v in answer.headers.multi_items()
        if k == "set-cookie"
    )


@pytest.mark.parametrize(
    "path", ["/ui/", "/ui/events", "/ui/messages/m-1", "/ui/addresses/a@x.com", "/ui/?range=7d"]
)
def test_pages_redirect_to_login_without_a_session(ui: Ui, path: str) -> None:
    answer = ui.get(path)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/login"


def test_a_forged_cookie_is_no_session(ui: Ui) -> None:
    ui.client.cookies.set("mailhooks_session", "mht_forged", path="/ui/")
    assert ui.get("/ui/").status_code == 303


def test_ui_without_slash_goes_to_the_overview(ui: Ui) -> None:
    answer = ui.get("/ui")
    assert answer.status_code == 308
    assert answer.headers["location"] == "/ui/"


def test_login_without_its_csrf_value_is_403(ui: Ui) -> None:
    ui.get("/ui/login")  # the login cookie is set, but the form value is left out
    assert ui.post("/ui/login", data={"token": ui.read_token}).status_code == 403
    assert ui.post("/ui/login", data={"token": ui.read_token, "csrf": "x"}).status_code == 403


def test_posts_without_csrf_are_403(ui: Ui) -> None:
    assert ui.login(ui.admin_token).status_code == 303
    assert ui.post("/ui/logout").status_code == 403  # not even a form
    assert ui.post("/ui/logout", json={"csrf": "x"}).status_code == 403
    assert ui.post("/ui/logout", data={}).status_code == 403
    assert ui.post("/ui/logout", data={"csrf": "0" * 64}).status_code == 403
    change = {"address": "a@x.com", "action": "suppress", "reason": "test"}
    assert ui.post("/ui/suppressions", data=change).status_code == 403
    # Still logged in, and nothing changed: the address has no events or suppression.
    assert ui.get("/ui/").status_code == 200
    assert ui.get("/ui/addresses/a@x.com").status_code == 404


def test_logout_clears_the_session(ui: Ui) -> None:
    ui.login(ui.read_token)
    csrf = ui.csrf("/ui/")
    answer = ui.post("/ui/logout", data={"csrf": csrf})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/login"
    cleared = next(
        v for k, v in answer.headers.multi_items() if k == "set-cookie" and "mailhooks_session" in v
    )
    assert 'mailhooks_session=""' in cleared or "max-age=0" in cleared.lower()
    assert ui.get("/ui/").status_code == 303


def test_a_read_token_changes_nothing(ui: Ui) -> None:
    ui.send("failed_constructed.json", MessageId="m-read-1", Address="keep@x.com")
    ui.login(ui.read_token)
    page = ui.get("/ui/addresses/keep@x.com")
    assert page.status_code == 200
    assert 'data-suppressed="yes"' in page.text
    assert "Lift the suppression" not in page.text  # no form offered to a read token
    csrf = ui.csrf("/ui/")
    for action in ("remove", "suppress"):
        answer = ui.post(
            "/ui/suppressions",
            data={"csrf": csrf, "address": "keep@x.com", "action": action, "reason": "try"},
        )
        assert answer.status_code == 403
        assert "read token" in answer.text
    assert 'data-suppressed="yes"' in ui.get("/ui/addresses/keep@x.com").text


def test_an_admin_token_lifts_and_sets_a_suppression(ui: Ui) -> None:
    ui.send("failed_constructed.json", MessageId="m-admin-1", Address="lift@x.com")
    ui.login(ui.admin_token)
    csrf = ui.csrf("/ui/addresses/lift@x.com")
    form = {"csrf": csrf, "address": "lift@x.com", "reason": "asked by phone"}
    answer = ui.post("/ui/suppressions", data={**form, "action": "remove"})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/addresses/lift%40x.com"
    page = ui.get("/ui/addresses/lift@x.com")
    assert 'data-suppressed="no"' in page.text
    assert "asked by phone (dashboard, token ops)" in page.text
    assert ui.post("/ui/suppressions", data={**form, "action": "suppress"}).status_code == 303
    assert 'data-suppressed="yes"' in ui.get("/ui/addresses/lift@x.com").text


def test_a_revoked_token_ends_the_session(ui: Ui) -> None:
    from mailhooks.store.tokens import revoke_token

    ui.login(ui.read_token)
    assert ui.get("/ui/").status_code == 200
    revoke_token(ui.engine, "viewer")
    assert ui.get("/ui/").status_code == 303
