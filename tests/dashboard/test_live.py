"""/ui/events/newer: the rows the events list's first page lacks, for live.js to prepend."""

from __future__ import annotations

import re

import pytest

from tests.dashboard.conftest import Ui, ago


def event_ids(page: str) -> list[int]:
    return [int(found) for found in re.findall(r'data-event-id="(\d+)"', page)]


@pytest.fixture
def stocked(ui: Ui) -> Ui:
    """Two deliveries and a failure; logged in with the read token."""
    for n in range(2):
        ui.send("delivered_sent_test.json", MessageId=f"m-{n}", Address=f"d{n}@x.com",
                DateTime=ago(hours=n + 1))  # fmt: skip
    ui.send("failed_constructed.json", MessageId="m-f", Address="f@x.com", DateTime=ago(hours=1))
    assert ui.login(ui.read_token).status_code == 303
    return ui


def test_the_fragment_holds_exactly_the_newer_matching_rows(stocked: Ui) -> None:
    page = stocked.get("/ui/events?kind=delivered").text
    top = event_ids(page)[0]
    live = re.search(r'data-live="([^"]+)"', page)
    assert live and live.group(1).replace("&amp;", "&") == "/ui/events/newer?kind=delivered"
    assert 'src="/ui/static/live.js"' in page
    empty = stocked.get(f"/ui/events/newer?kind=delivered&after_id={top}")
    assert empty.status_code == 200 and event_ids(empty.text) == []
    for n in range(3):
        stocked.send("delivered_sent_test.json", MessageId=f"m-new{n}", Address=f"n{n}@x.com",
                     DateTime=ago(minutes=n))  # fmt: skip
    stocked.send("failed_constructed.json", MessageId="m-new-f", Address="nf@x.com",
                 DateTime=ago(minutes=1))  # fmt: skip
    fragment = stocked.get(f"/ui/events/newer?kind=delivered&after_id={top}")
    assert fragment.status_code == 200
    assert "<html" not in fragment.text and "<tr" in fragment.text
    newer = event_ids(fragment.text)
    now = event_ids(stocked.get("/ui/events?kind=delivered").text)
    assert newer == [i for i in now if i > top]  # newest first, the same as the page's top
    assert len(newer) == 3
    searched = stocked.get(f"/ui/events/newer?q=to:nf@x.com&after_id={top}")
    assert len(event_ids(searched.text)) == 1


def test_a_burst_larger_than_one_answer_is_caught_up_in_order(
    stocked: Ui, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mailhooks.dashboard.events as dashboard

    monkeypatch.setattr(dashboard, "LIVE_BATCH", 2)
    top = event_ids(stocked.get("/ui/events").text)[0]
    for n in range(5):
        stocked.send("delivered_sent_test.json", MessageId=f"m-b{n}", Address=f"b{n}@x.com",
                     DateTime=ago(minutes=n))  # fmt: skip
    seen: list[int] = []
    for _ in range(4):
        rows = event_ids(stocked.get(f"/ui/events/newer?after_id={top}").text)
        seen = rows + seen
        top = rows[0] if rows else top
    assert seen == event_ids(stocked.get("/ui/events").text)[:5]


def test_only_the_first_page_is_live(stocked: Ui) -> None:
    top = event_ids(stocked.get("/ui/events").text)[0]
    paged = stocked.get(f"/ui/events?before_id={top}").text
    assert "data-live" not in paged and "live.js" not in paged


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("", "after_id is needed"),
        ("after_id=1&after_id=2", "after_id is needed, once"),
        ("after_id=-1", "after_id must be a whole number"),
        ("after_id=" + "9" * 30, "after_id must be a whole number"),
        ("after_id=1&before_id=5", "only the first page is live"),
        ("after_id=1&kind=nope", "unknown kind"),
        ("after_id=1&limit=5", "unknown query parameter"),
    ],
)
def test_bad_fragment_queries_are_a_400(stocked: Ui, query: str, reason: str) -> None:
    answer = stocked.get(f"/ui/events/newer?{query}")
    assert answer.status_code == 400
    assert reason in answer.text


def test_the_script_is_served_by_mailhooks_and_allowed_by_the_policy(stocked: Ui) -> None:
    script = stocked.get("/ui/static/live.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    policy = stocked.get("/ui/events").headers["content-security-policy"]
    assert "script-src 'self'" in policy and "connect-src 'self'" in policy
    assert "unsafe-inline" not in policy and "http" not in policy


def test_the_fragment_needs_a_session(ui: Ui) -> None:
    answer = ui.get("/ui/events/newer?after_id=0")
    assert answer.status_code == 303
