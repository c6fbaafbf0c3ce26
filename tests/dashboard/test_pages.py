"""The overview, events, message and address pages, on events posted through the receiver."""

from __future__ import annotations

import re

import pytest

from mailhooks.protocol.failure_codes import describe_failure
from mailhooks.views.overview import MIN_DOMAIN_VOLUME
from tests.dashboard.conftest import Ui, ago
from tests.receiver.case import KEYS, encode, fields_of
from tests.support import content_type_for


def count(page: str, attribute: str, name: str) -> str:
    """The text of the element carrying `attribute="name"` (data-kind, data-count, data-rate)."""
    found = re.search(rf'{attribute}="{re.escape(name)}">([^<]*)<', page)
    assert found, f"no {attribute}={name} in the page"
    return found.group(1)


@pytest.fixture
def posted(ui: Ui) -> Ui:
    """Three deliveries, a hard and a soft bounce and a complaint in the last day, one
    delivery 3 days ago, one 40 days ago; then logged in with the read token."""
    for n in range(3):
        ui.send("delivered_sent_test.json", MessageId=f"m-d{n}", Address=f"d{n}@x.com",
                DateTime=ago(hours=n + 1))  # fmt: skip
    ui.send("failed_constructed.json", MessageId="m-hard", Address="hard@x.com",
            DateTime=ago(minutes=30))  # fmt: skip
    ui.send("failed_constructed.json", MessageId="m-soft", Address="soft@x.com",
            FailureType=0, DateTime=ago(minutes=20))  # fmt: skip
    ui.send("complaint_constructed.json", MessageId="m-d0", Address="d0@x.com",
            DateTime=ago(minutes=10))  # fmt: skip
    ui.send("delivered_sent_test.json", MessageId="m-old", Address="old@x.com",
            DateTime=ago(days=3))  # fmt: skip
    ui.send("delivered_sent_test.json", MessageId="m-older", Address="old@x.com",
            DateTime=ago(days=40))  # fmt: skip
    assert ui.login(ui.read_token).status_code == 303
    return ui


def test_the_overview_counts_what_was_posted(posted: Ui) -> None:
    page = posted.get("/ui/").text
    assert count(page, "data-count", "total") == "6"
    assert count(page, "data-kind", "delivered") == "3"
    assert count(page, "data-kind", "failed") == "2"
    assert count(page, "data-kind", "bounced") == "1"
    assert count(page, "data-kind", "complaint") == "1"
    assert count(page, "data-rate", "delivery") == "75.0%"
    assert count(page, "data-rate", "bounce") == "25.0%"
    assert count(page, "data-rate", "complaint") == "33.3%"
    assert "<svg" in page and 'class="k-delivered"' in page
    # The day before holds nothing (the delivery 3 days ago is further back).
    assert count(page, "data-trend", "total") == "new"
    assert count(page, "data-trend", "delivery") == "—"
    # 24 hourly buckets (25 bucket starts: the hour holding "24 h ago" to the current one).
    assert page.count('<text class="axis"') >= 3


def test_the_overview_compares_with_the_window_before(posted: Ui) -> None:
    """7 days: 4 deliveries (one 3 days ago); the 7 days before: none, so the events' trend
    is "new". 30 days: the 30 before hold the delivery 40 days ago."""
    page = posted.get("/ui/?range=30d").text
    assert count(page, "data-trend", "total") == "+600%"  # 7 events against 1
    assert count(page, "data-trend", "delivery") == "-20.0 pts"  # 80% (4 of 5) against 100%


def test_the_overview_lists_failure_codes_mailings_and_endpoint_answers(posted: Ui) -> None:
    fixture = "failed_constructed.json"
    code = str(fields_of(fixture)["FailureCode"])
    posted.send(fixture, MessageId="m-hard2", Address="hard2@x.com", DateTime=ago(minutes=5))
    bad_key = posted.post(
        "/hooks/json-hooks",
        content=encode(fixture, fields_of(fixture, SecretKey="wrong")),
        headers={"content-type": content_type_for(fixture)},
    )
    assert bad_key.status_code == 401
    posted.flush_answers()
    page = posted.get("/ui/").text
    assert count(page, "data-code", code) == "3"  # both failures of the fixture and this one
    assert describe_failure(int(code)).text in page
    assert count(page, "data-mailing", "SL1-2") == "4"  # the failures and the complaint
    # The most recently active first, with its counts of all time: the deliveries' mailing
    # (latest an hour ago) holds the one 40 days ago too.
    deliveries = "SLNL-0-9999999-9999999"
    assert count(page, "data-mailing", deliveries) == "5"
    assert page.index('data-mailing="SL1-2"') < page.index(f'data-mailing="{deliveries}"')
    assert re.search(r'data-mailing-last="SL1-2">\d{4}-\d\d-\d\d \d\d:\d\d:\d\d<', page)
    assert count(page, "data-answer", "2xx") == "9"  # every post to json-hooks stored
    assert re.search(r'data-endpoint="json-hooks" data-answer="401">1<', page)
    assert re.search(r'data-endpoint="legacy-hooks" data-answer="2xx">0<', page)


def test_the_overview_ranks_domains_by_bounce_rate(ui: Ui) -> None:
    """Only domains with enough delivered + bounced messages are ranked, highest rate first."""
    for n in range(MIN_DOMAIN_VOLUME):
        ui.send("delivered_sent_test.json", MessageId=f"a{n}", Address=f"u{n}@good.example",
                DateTime=ago(minutes=n))  # fmt: skip
    for n in range(MIN_DOMAIN_VOLUME - 5):
        ui.send("delivered_sent_test.json", MessageId=f"b{n}", Address=f"u{n}@bad.example",
                DateTime=ago(minutes=n))  # fmt: skip
    for n in range(5):
        ui.send("failed_constructed.json", MessageId=f"c{n}", Address=f"v{n}@bad.example",
                FailureType=1, DateTime=ago(minutes=n))  # fmt: skip
    ui.send("failed_constructed.json", MessageId="d", Address="x@rare.example", FailureType=1,
            DateTime=ago(minutes=1))  # fmt: skip
    assert ui.login(ui.read_token).status_code == 303
    page = ui.get("/ui/").text
    assert count(page, "data-domain", "bad.example") == "25.0%"
    assert count(page, "data-domain", "good.example") == "0.0%"
    assert page.index('data-domain="bad.example"') < page.index('data-domain="good.example"')
    assert 'data-domain="rare.example"' not in page  # one message is no rate


@pytest.mark.parametrize(("window", "delivered", "total"), [("7d", "4", "7"), ("30d", "4", "7")])
def test_the_window_selector_widens_the_counts(
    posted: Ui, window: str, delivered: str, total: str
) -> None:
    page = posted.get(f"/ui/?range={window}").text
    assert count(page, "data-kind", "delivered") == delivered
    assert count(page, "data-count", "total") == total
    assert f'href="/ui/?range={window}" aria-current="page"' in page
    assert "Events per day" in page


def test_an_unknown_window_is_a_400(posted: Ui) -> None:
    answer = posted.get("/ui/?range=1y")
    assert answer.status_code == 400
    assert "range must be one of 24h, 7d, 30d" in answer.text


def event_ids(page: str) -> list[int]:
    return [int(found) for found in re.findall(r'data-event-id="(\d+)"', page)]


def test_the_events_list_shows_every_event_newest_first(posted: Ui) -> None:
    page = posted.get("/ui/events").text
    ids = event_ids(page)
    assert len(ids) == 8
    assert ids == sorted(ids, reverse=True)
    assert 'href="/ui/messages/m-hard"' in page
    assert 'href="/ui/addresses/hard%40x.com"' in page


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("kind=failed", 2),
        ("kind=delivered", 5),
        ("address=HARD@x.com", 1),
        ("message_id=m-d0", 2),
        ("q=to:old@x.com", 2),
        ("q=old@x.com", 2),
        ("q=kind:delivered+to:old@x.com", 2),
        (f"q=to:old@x.com+after:{ago(days=10)[:10]}", 1),
        (f"q=to:old@x.com+before:{ago(days=10)[:10]}", 1),
        ("q=mailing:SL1-2", 3),  # the failures and the complaint
        ("q=mailing:none-such", 0),
        ("endpoint=json-hooks&kind=complaint", 1),
        ("endpoint=legacy-hooks", 0),
        (f"since={ago(days=5)[:10]}&kind=delivered", 4),
    ],
)
def test_the_events_list_filters(posted: Ui, query: str, expected: int) -> None:
    answer = posted.get(f"/ui/events?{query}")
    assert answer.status_code == 200, answer.text
    assert len(event_ids(answer.text)) == expected
    assert count(answer.text, "data-count", "matching") == str(expected)


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("kind=nope", "unknown kind &#39;nope&#39;"),
        ("since=yesterday", "since is not a date"),
        ("before_id=-1", "before_id must be a whole number"),
        ("before_id=99999999999999999999", "before_id must be a whole number"),
        ("q=colour:red", "unknown search word &#39;colour:&#39;"),
        ("q=a@x.com+b@x.com", "address is given twice"),
        ("address=a@x.com&q=to:b@x.com", "address is given twice"),
        ("kind=failed&kind=delivered", "given more than once"),
        ("limit=5", "unknown query parameter &#39;limit&#39;"),
        ("address=a%00b", "address contains a NUL character"),
        ("q=after:2026-13-01", "after: is not a date"),
    ],
)
def test_bad_event_queries_are_a_400_with_the_reason(posted: Ui, query: str, reason: str) -> None:
    answer = posted.get(f"/ui/events?{query}")
    assert answer.status_code == 400
    assert reason in answer.text


def test_the_events_list_pages_with_before_id(posted: Ui, monkeypatch: pytest.MonkeyPatch) -> None:
    import mailhooks.dashboard.events as dashboard

    monkeypatch.setattr(dashboard, "PAGE_SIZE", 3)
    seen: list[int] = []
    path: str | None = "/ui/events?kind=delivered"
    while path is not None:
        page = posted.get(path).text
        seen += event_ids(page)
        found = re.search(r'rel="next" href="([^"]+)"', page)
        path = found.group(1).replace("&amp;", "&") if found else None
        assert path is None or "kind=delivered" in path
    assert len(seen) == 5
    assert count(page, "data-count", "matching") == "5"  # on every page, the last included
    assert seen == sorted(seen, reverse=True)
    assert len(set(seen)) == 5


def test_a_message_delivered_then_bounced_shows_bounced(posted: Ui) -> None:
    posted.send("delivered_sent_test.json", MessageId="m-late", Address="late@x.com",
                MailingId="SL1-2", DateTime=ago(hours=2))  # fmt: skip
    posted.send("failed_constructed.json", MessageId="m-late", Address="late@x.com",
                DateTime=ago(hours=1))  # fmt: skip
    page = posted.get("/ui/messages/m-late")
    assert page.status_code == 200
    assert re.search(r"data-status>bounced<", page.text)
    kinds = re.findall(r'<span class="kind k-(\w+)">', page.text)
    assert kinds == ["delivered", "failed"]  # event-time order
    assert "FailureType 1" in page.text and "permanent" in page.text


def test_the_timeline_is_in_event_time_whatever_the_arrival(posted: Ui) -> None:
    posted.send("failed_constructed.json", MessageId="m-async", Address="async@x.com",
                DateTime=ago(minutes=5))  # fmt: skip
    posted.send("delivered_sent_test.json", MessageId="m-async", Address="async@x.com",
                MailingId="SL1-2", DateTime=ago(hours=3))  # fmt: skip
    page = posted.get("/ui/messages/m-async").text
    assert re.findall(r'<span class="kind k-(\w+)">', page) == ["delivered", "failed"]
    assert re.search(r"data-status>bounced<", page)


def test_an_unknown_message_is_a_404(posted: Ui) -> None:
    answer = posted.get("/ui/messages/none-such")
    assert answer.status_code == 404
    assert "no message with MessageId &#39;none-such&#39;" in answer.text


def test_the_address_page_shows_history_and_suppression(posted: Ui) -> None:
    page = posted.get("/ui/addresses/HARD@X.com").text
    assert 'data-suppressed="yes"' in page
    assert "permanent failures</dt><dd>1" in page
    assert 'href="/ui/messages/m-hard"' in page
    clean = posted.get("/ui/addresses/d1@x.com").text
    assert 'data-suppressed="no"' in clean
    assert posted.get("/ui/addresses/nobody@x.com").status_code == 404


def test_pages_carry_security_headers_and_no_cache(posted: Ui) -> None:
    answer = posted.get("/ui/events")
    assert "default-src 'none'" in answer.headers["content-security-policy"]
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["cache-control"] == "no-store"


def test_the_stylesheet_is_served_by_mailhooks(ui: Ui) -> None:
    answer = ui.get("/ui/static/dashboard.css")
    assert answer.status_code == 200
    assert "prefers-color-scheme: dark" in answer.text
    assert ui.get("/ui/static/../app.py").status_code == 404


def test_an_unreachable_store_is_a_503_page(posted: Ui, monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy.exc import OperationalError

    from mailhooks.dashboard import overview

    def down(*_args: object, **_options: object) -> None:
        raise OperationalError("SELECT", {}, Exception("database is locked"))

    monkeypatch.setattr(overview, "read_overview", down)
    answer = posted.get("/ui/")
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "5"
    assert "the store is busy or unreachable; retry later" in answer.text


def test_an_event_page_shows_the_event_as_sent(posted: Ui) -> None:
    listed = posted.get("/ui/events?message_id=m-hard").text
    (event_id,) = event_ids(listed)
    assert f'href="/ui/events/{event_id}"' in listed
    page = posted.get(f"/ui/events/{event_id}")
    assert page.status_code == 200
    assert "550 5.1.1 user unknown" in page.text
    assert "FailureType 1, code 2001" in page.text
    assert "&#34;SecretKey&#34;:&#34;[redacted]&#34;" in page.text  # the body, escaped
    assert not any(key in page.text for key in KEYS)
    assert posted.get("/ui/events/999999").status_code == 404
    assert posted.get("/ui/events/x1").status_code == 404
