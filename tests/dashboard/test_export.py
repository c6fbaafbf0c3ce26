"""/ui/events.csv: every event the events page's filters match, not one page of them."""

from __future__ import annotations

import csv
import io
import re

import pytest

from mailhooks.views.export import CSV_COLUMNS
from tests.dashboard.conftest import Ui, ago


def event_ids(page: str) -> list[int]:
    return [int(found) for found in re.findall(r'data-event-id="(\d+)"', page)]


@pytest.fixture
def stocked(ui: Ui) -> Ui:
    """7 deliveries and 2 failures at x.com, 3 deliveries at y.org; logged in (read)."""
    for n in range(7):
        ui.send("delivered_sent_test.json", MessageId=f"m-x{n}", Address=f"x{n}@x.com",
                DateTime=ago(hours=n + 1))  # fmt: skip
    for n in range(2):
        ui.send("failed_constructed.json", MessageId=f"m-f{n}", Address=f"f{n}@x.com",
                DateTime=ago(minutes=n + 1))  # fmt: skip
    for n in range(3):
        ui.send("delivered_sent_test.json", MessageId=f"m-y{n}", Address=f"y{n}@y.org",
                DateTime=ago(days=3, hours=n))  # fmt: skip
    assert ui.login(ui.read_token).status_code == 303
    return ui


def paged_ids(ui: Ui, path: str) -> list[int]:
    """Every event id the events page lists for `path`, following its pages."""
    seen: list[int] = []
    current: str | None = path
    while current is not None:
        page = ui.get(current).text
        seen += event_ids(page)
        found = re.search(r'rel="next" href="([^"]+)"', page)
        current = found.group(1).replace("&amp;", "&") if found else None
    return seen


@pytest.mark.parametrize(
    "query",
    ["kind=delivered", f"q=kind:delivered+after:{ago(days=1)[:10]}", "endpoint=json-hooks", ""],
)
def test_the_csv_holds_exactly_the_filtered_events(
    stocked: Ui, monkeypatch: pytest.MonkeyPatch, query: str
) -> None:
    import mailhooks.dashboard.events as dashboard

    monkeypatch.setattr(dashboard, "PAGE_SIZE", 3)  # the filter matches several pages
    listed = paged_ids(stocked, f"/ui/events?{query}")
    assert len(listed) > 3
    page = stocked.get(f"/ui/events?{query}").text
    link = re.search(r'href="([^"]+)" data-export', page)
    assert link, page
    answer = stocked.get(link.group(1).replace("&amp;", "&"))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert tuple(rows[0].keys()) == CSV_COLUMNS
    exported = [int(row["id"]) for row in rows]
    assert len(exported) == len(listed)
    assert sorted(exported) == sorted(listed)
    assert exported == sorted(exported)  # oldest first, as every export
    expected = {"kind=delivered": 10, "endpoint=json-hooks": 12, "": 12}.get(query, 7)
    assert len(exported) == expected


def test_the_link_carries_the_query_but_not_the_page(stocked: Ui) -> None:
    page = stocked.get("/ui/events?kind=failed&before_id=999999").text
    assert 'href="/ui/events.csv?kind=failed" data-export' in page
    assert 'href="/ui/events.csv" data-export' in stocked.get("/ui/events").text


def test_an_export_matching_nothing_is_the_header_alone(stocked: Ui) -> None:
    answer = stocked.get("/ui/events.csv?q=mailing:none-such")
    assert answer.status_code == 200
    assert answer.text.splitlines() == [",".join(CSV_COLUMNS)]


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("kind=nope", "unknown kind &#39;nope&#39;"),
        ("since=yesterday", "since is not a date"),
        ("q=colour:red", "unknown search word"),
        ("kind=failed&kind=delivered", "given more than once"),
        ("limit=5", "unknown query parameter"),
        ("address=a%00b", "address contains a NUL character"),
        ("before_id=5", "before_id pages the list"),
    ],
)
def test_bad_export_queries_are_a_400_like_the_page(stocked: Ui, query: str, reason: str) -> None:
    answer = stocked.get(f"/ui/events.csv?{query}")
    assert answer.status_code == 400
    assert reason in answer.text


def test_the_export_needs_a_session(ui: Ui) -> None:
    answer = ui.get("/ui/events.csv")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/login"


def test_a_down_store_is_a_503_page_not_a_broken_download(
    stocked: Ui, monkeypatch: pytest.MonkeyPatch
) -> None:
    from collections.abc import Iterator

    from sqlalchemy.exc import OperationalError

    from mailhooks.views import reads

    def down(*_args: object) -> Iterator[list[dict[str, object]]]:
        raise OperationalError("SELECT", {}, Exception("database is locked"))
        yield []

    monkeypatch.setattr(reads, "export_chunks", down)
    answer = stocked.get("/ui/events.csv?kind=delivered")
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "5"


def test_the_csv_holds_no_live_formula(stocked: Ui) -> None:
    """A MailingId or MessageId comes from whoever posts; opened in a spreadsheet, a cell
    starting with = + - @ would run as a formula, so it is written with a leading '."""
    stocked.send("delivered_sent_test.json", MessageId="=HYPERLINK(\"http://x\")",
                 MailingId="+1-1", Address="z@x.com", DateTime=ago(minutes=1))  # fmt: skip
    text = stocked.get("/ui/events.csv?address=z@x.com").text
    (row,) = list(csv.DictReader(io.StringIO(text)))
    assert row["message_id"] == '\'=HYPERLINK("http://x")'
    assert row["mailing_id"] == "'+1-1"
    assert row["address"] == "z@x.com"
