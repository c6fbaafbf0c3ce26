"""The suppression list page: filters, server-side paging, adding and removing (admins)."""

from __future__ import annotations

import csv
import io
import re

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailhooks.store.suppressions import suppress_manually
from mailhooks.views.export import SUPPRESSION_CSV_COLUMNS
from tests.dashboard.conftest import Ui, ago
from tests.dashboard.test_fuzz import PARAMS, query_string


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


def exported(answer: httpx.Response) -> list[dict[str, str]]:
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert 'filename="suppressions.csv"' in answer.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert answer.text.splitlines()[0] == ",".join(SUPPRESSION_CSV_COLUMNS)
    return rows


def test_the_csv_holds_every_entry_the_filters_match_not_one_page(
    stocked: Ui, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mailhooks.dashboard.suppressions as dashboard

    monkeypatch.setattr(dashboard, "PAGE_SIZE", 3)
    monkeypatch.setattr(dashboard, "EXPORT_CHUNK", 2)  # several reads from the cursor
    assert stocked.login(stocked.read_token).status_code == 303
    page = stocked.get("/ui/suppressions?address=x.com").text
    assert len(listed(page)) == 3
    link = re.search(r'href="([^"]+)" data-export download>Download CSV \(5 entries\)', page)
    assert link and link.group(1) == "/ui/suppressions.csv?address=x.com"
    rows = exported(stocked.get(link.group(1)))
    assert sorted(row["address"] for row in rows) == [f"m{n}@x.com" for n in range(5)]
    assert [row["address"] for row in rows] == listed(page) + listed(
        stocked.get("/ui/suppressions?address=x.com&page=2").text
    )  # the list's order, newest change first
    assert {row["active"] for row in rows} == {"true"}
    assert {row["source"] for row in rows} == {"manual"}
    assert rows[0]["reason"].startswith("manual ")
    assert rows[0]["updated_at"].startswith("20")
    everything = exported(stocked.get("/ui/suppressions.csv?state=any"))
    assert len(everything) == 8
    complaint = exported(stocked.get("/ui/suppressions.csv?reason=complaint"))
    assert [row["address"] for row in complaint] == ["c@z.net"]
    assert complaint[0]["source_event_id"].isdigit()
    assert exported(stocked.get("/ui/suppressions.csv?state=removed")) == []


def test_the_csv_follows_the_state_filter(stocked: Ui) -> None:
    from mailhooks.store.suppressions import remove_suppression

    remove_suppression(stocked.engine, "m1@x.com", "lifted")
    assert stocked.login(stocked.read_token).status_code == 303
    removed = exported(stocked.get("/ui/suppressions.csv?state=removed"))
    assert [(row["address"], row["active"]) for row in removed] == [("m1@x.com", "false")]
    assert len(exported(stocked.get("/ui/suppressions.csv"))) == 7  # active, as the page


@pytest.mark.parametrize("reason", ['=HYPERLINK("http://x")', "+1", "-2+3", "@SUM(A1)", "\tx"])
def test_the_csv_defuses_cells_a_spreadsheet_would_run(stocked: Ui, reason: str) -> None:
    suppress_manually(stocked.engine, "f@w.com", reason)
    assert stocked.login(stocked.read_token).status_code == 303
    rows = exported(stocked.get("/ui/suppressions.csv?address=f@w.com"))
    assert [row["reason"] for row in rows] == ["'" + reason]


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("state=gone", "state must be one of active, removed, any"),
        ("page=2", "unknown query parameter &#39;page&#39;"),
        ("state=any&state=active", "given more than once"),
        ("address=a%00b", "address contains a NUL character"),
    ],
)
def test_bad_csv_queries_are_a_400(stocked: Ui, query: str, reason: str) -> None:
    assert stocked.login(stocked.read_token).status_code == 303
    answer = stocked.get(f"/ui/suppressions.csv?{query}")
    assert answer.status_code == 400
    assert reason in answer.text


def test_the_csv_needs_a_session(stocked: Ui) -> None:
    answer = stocked.get("/ui/suppressions.csv")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/login"


def test_random_csv_queries_never_give_a_5xx(stocked: Ui) -> None:
    assert stocked.login(stocked.admin_token).status_code == 303

    @settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
    @given(pairs=PARAMS, raw=st.booleans())
    def probe(pairs: list[tuple[str, str]], raw: bool) -> None:
        text = query_string(pairs, raw)
        answer = stocked.get(f"/ui/suppressions.csv?{text}")
        assert answer.status_code in (200, 400), (text, answer.status_code)

    probe()
