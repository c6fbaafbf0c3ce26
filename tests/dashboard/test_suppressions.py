"""The suppression list page: filters, server-side paging, adding and removing (admins)."""

from __future__ import annotations

import re

import pytest

from mailhooks.store.suppressions import suppress_manually
from tests.dashboard.conftest import Ui, ago


def listed(page: str) -> list[str]:
    return re.findall(r'<tr data-suppression="([^"]*)">', page)


@pytest.fixture
def stocked(ui: Ui) -> Ui:
    """Suppressions: 5 by hand at x.com, 2 at y.org, a complaint through the receiver."""
    for n in range(5):
        suppress_manually(ui.engine, f"m{n}@x.com", f"manual {n}")
    suppress_manually(ui.engine, "a@y.org", "asked to stop")
    suppress_manually(ui.engine, "b@y.org", "asked to stop")
    ui.send("complaint_constructed.json", MessageId="m-c", Address="c@z.net",
            DateTime=ago(minutes=5))  # fmt: skip
    return ui


def test_the_list_filters_by_address_domain_state_and_reason(stocked: Ui) -> None:
    assert stocked.login(stocked.read_token).status_code == 303
    assert len(listed(stocked.get("/ui/suppressions").text)) == 8
    assert sorted(listed(stocked.get("/ui/suppressions?address=@Y.ORG").text)) == [
        "a@y.org", "b@y.org"
    ]  # fmt: skip
    assert listed(stocked.get("/ui/suppressions?reason=complaint").text) == ["c@z.net"]
    assert listed(stocked.get("/ui/suppressions?address=m3").text) == ["m3@x.com"]
    assert listed(stocked.get("/ui/suppressions?state=removed").text) == []
    page = stocked.get("/ui/suppressions?address=%25").text  # LIKE wildcards are literal
    assert listed(page) == []
    assert 'href="/ui/addresses/m0%40x.com"' in stocked.get("/ui/suppressions").text


def test_the_list_pages_on_the_server(stocked: Ui, monkeypatch: pytest.MonkeyPatch) -> None:
    import mailhooks.dashboard.suppressions as dashboard
    from mailhooks.views import reads

    monkeypatch.setattr(dashboard, "PAGE_SIZE", 3)
    limits: list[int] = []
    real = reads.suppression_page

    def spy(*args: object, **options: object) -> object:
        limits.append(int(options["limit"]))  # type: ignore[call-overload]
        return real(*args, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(reads, "suppression_page", spy)
    assert stocked.login(stocked.read_token).status_code == 303
    seen: list[str] = []
    path: str | None = "/ui/suppressions?address=x.com"
    while path is not None:
        page = stocked.get(path).text
        seen += listed(page)
        found = re.search(r'rel="next" href="([^"]+)"', page)
        path = found.group(1).replace("&amp;", "&") if found else None
        assert path is None or "address=x.com" in path
    assert sorted(seen) == [f"m{n}@x.com" for n in range(5)]
    assert limits == [3, 3]
    assert 'data-count="matching">5<' in page


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("state=gone", "state must be one of active, removed, any"),
        ("page=0", "page must be a whole number from 1 to 10000"),
        ("page=x", "page must be a whole number"),
        ("page=" + "9" * 30, "page must be a whole number"),
        ("limit=5", "unknown query parameter"),
        ("state=any&state=active", "given more than once"),
        ("address=a%00b", "address contains a NUL character"),
    ],
)
def test_bad_list_queries_are_a_400(stocked: Ui, query: str, reason: str) -> None:
    assert stocked.login(stocked.read_token).status_code == 303
    answer = stocked.get(f"/ui/suppressions?{query}")
    assert answer.status_code == 400
    assert reason in answer.text


def test_a_read_token_sees_no_forms_and_cannot_change(stocked: Ui) -> None:
    assert stocked.login(stocked.read_token).status_code == 303
    page = stocked.get("/ui/suppressions").text
    assert 'name="action"' not in page and 'type="checkbox"' not in page
    csrf = stocked.csrf("/ui/suppressions")  # the logout form's: the same session value
    answer = stocked.post(
        "/ui/suppressions",
        data={"csrf": csrf, "action": "remove", "address": "m0@x.com", "reason": "no"},
    )
    assert answer.status_code == 403
    assert listed(stocked.get("/ui/suppressions?address=m0@").text) == ["m0@x.com"]


def test_an_admin_removes_many_with_a_reason_and_the_history_says_who(stocked: Ui) -> None:
    assert stocked.login(stocked.admin_token).status_code == 303
    csrf = stocked.csrf("/ui/suppressions")
    answer = stocked.post(
        "/ui/suppressions",
        data={"csrf": csrf, "action": "remove", "back": "/suppressions?address=x.com",
              "address": ["m1@x.com", "m2@x.com"], "reason": "list cleanup"},
    )  # fmt: skip
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/suppressions?address=x.com"
    removed = stocked.get("/ui/suppressions?state=removed").text
    assert sorted(listed(removed)) == ["m1@x.com", "m2@x.com"]
    assert len(listed(stocked.get("/ui/suppressions").text)) == 6
    history = stocked.get("/ui/addresses/m1@x.com").text
    assert 'data-suppressed="no"' in history
    assert "list cleanup (dashboard, token ops)" in history
    assert re.search(r'<tr data-change="remove">', history)
    assert re.search(r'<tr data-change="suppress">', history)


def test_an_admin_adds_one(stocked: Ui) -> None:
    assert stocked.login(stocked.admin_token).status_code == 303
    csrf = stocked.csrf("/ui/suppressions")
    answer = stocked.post(
        "/ui/suppressions",
        data={"csrf": csrf, "action": "suppress", "address": "New@W.com",
              "reason": "asked by phone", "back": "list"},
    )  # fmt: skip
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/suppressions"
    assert listed(stocked.get("/ui/suppressions?address=new@").text) == ["new@w.com"]
    page = stocked.get("/ui/addresses/new@w.com").text
    assert "asked by phone (dashboard, token ops)" in page


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({"action": "remove", "address": "m0@x.com", "reason": "x"}, 403),  # no CSRF
        ({"action": "remove", "address": "m0@x.com"}, 400),
        ({"action": "remove", "reason": "x"}, 400),
        ({"action": "remove", "address": "not an address", "reason": "x"}, 400),
        ({"action": "drop", "address": "m0@x.com", "reason": "x"}, 400),
    ],
)
def test_bad_changes_are_refused(stocked: Ui, fields: dict[str, str], status: int) -> None:
    assert stocked.login(stocked.admin_token).status_code == 303
    csrf = stocked.csrf("/ui/suppressions")
    data = fields if status == 403 else {**fields, "csrf": csrf}
    assert stocked.post("/ui/suppressions", data=data).status_code == status
    assert listed(stocked.get("/ui/suppressions?address=m0@").text) == ["m0@x.com"]


def test_a_bad_address_among_many_changes_nothing(stocked: Ui) -> None:
    assert stocked.login(stocked.admin_token).status_code == 303
    csrf = stocked.csrf("/ui/suppressions")
    answer = stocked.post(
        "/ui/suppressions",
        data={"csrf": csrf, "action": "remove", "address": ["m0@x.com", "bad"], "reason": "x"},
    )
    assert answer.status_code == 400
    assert listed(stocked.get("/ui/suppressions?address=m0@").text) == ["m0@x.com"]


def test_the_history_read_is_bounded_and_newest_first(stocked: Ui) -> None:
    from mailhooks.store.suppressions import remove_suppression
    from mailhooks.views import reads

    for n in range(3):
        remove_suppression(stocked.engine, "m0@x.com", f"lift {n}")
        suppress_manually(stocked.engine, "m0@x.com", f"again {n}")
    changes = reads.suppression_changes(stocked.engine, "M0@x.com", limit=2)
    assert [c["reason"] for c in changes] == ["again 2", "lift 2"]
    assert len(reads.suppression_changes(stocked.engine, "m0@x.com")) == 7
