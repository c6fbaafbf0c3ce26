"""The events list's failure type, failure code and domain filters, and its bounded count."""

from __future__ import annotations

import re

import pytest

from mailhooks.dashboard.search import BadQuery, parse_events_query, parse_search
from mailhooks.store.queries import EventFilter
from tests.dashboard.conftest import Ui, ago


def event_ids(page: str) -> list[int]:
    return [int(found) for found in re.findall(r'data-event-id="(\d+)"', page)]


def matching(page: str) -> str:
    found = re.search(r'data-count="matching"(?: data-capped)?>([^<]*)<', page)
    assert found, "no matching count in the page"
    return found.group(1)


@pytest.fixture
def failures(ui: Ui) -> Ui:
    """Failures of each type and two codes at x.com and y.org, deliveries at x.com and
    sub.x.com; then logged in with the read token."""
    for n, (failure_type, code, address) in enumerate(
        [
            (1, 2001, "hard@x.com"),
            (1, 5001, "Other@X.com"),
            (0, 5001, "soft@y.org"),
            (2, 2001, "listed@y.org"),
        ]
    ):
        ui.send("failed_constructed.json", MessageId=f"f{n}", Address=address,
                FailureType=failure_type, FailureCode=code,
                DateTime=ago(minutes=30 - n))  # fmt: skip
    for n, address in enumerate(["d@x.com", "d@sub.x.com", "d_x@notx.com"]):
        ui.send("delivered_sent_test.json", MessageId=f"d{n}", Address=address,
                DateTime=ago(minutes=10 - n))  # fmt: skip
    assert ui.login(ui.read_token).status_code == 303
    return ui


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("failure_type=1", 2),
        ("failure_type=0", 1),
        ("failure_type=2", 1),
        ("failure_code=5001", 2),
        ("failure_type=1&failure_code=5001", 1),
        ("failure_code=1", 0),
        ("domain=x.com", 3),  # two failures (one spelled X.com) and a delivery
        ("domain=X.COM", 3),
        ("domain=%40y.org", 2),  # a leading @ is dropped
        ("domain=sub.x.com", 1),
        ("domain=x.com&kind=delivered", 1),
        ("domain=x.com&failure_type=1", 2),
        ("domain=_x.com", 0),  # `_` is a character, not LIKE's wildcard
        ("kind=failed&failure_code=2001", 2),
        ("q=domain:y.org", 2),
        ("q=code:2001+domain:y.org", 1),
        ("q=failure:permanent", 2),
        ("q=failure:2", 1),
        ("failure_type=1&q=domain:x.com", 2),
    ],
)
def test_the_new_filters_narrow_the_list(failures: Ui, query: str, expected: int) -> None:
    answer = failures.get(f"/ui/events?{query}")
    assert answer.status_code == 200, answer.text
    assert len(event_ids(answer.text)) == expected
    assert matching(answer.text) == str(expected)


def test_the_form_keeps_the_chosen_failure_type_code_and_domain(failures: Ui) -> None:
    page = failures.get("/ui/events?failure_type=2&failure_code=2001&domain=y.org").text
    assert '<option value="2" selected>2 suppressed</option>' in page
    assert 'name="failure_code" type="number"' in page and 'value="2001"' in page
    assert 'name="domain" value="y.org"' in page
    assert len(event_ids(page)) == 1


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("failure_type=3", "unknown failure type &#39;3&#39;"),
        ("failure_type=hard", "unknown failure type &#39;hard&#39;"),
        ("failure_code=-1", "failure_code must be a whole number"),
        ("failure_code=5e3", "failure_code must be a whole number"),
        ("failure_code=99999999999999999999", "failure_code must be a whole number"),
        ("domain=a@x.com", "domain is the part after @"),
        ("domain=%40", "domain is empty"),
        (f"domain={'a' * 254}", "domain is longer than 253 characters"),
        ("q=code:abc", "code: must be a whole number"),
        ("q=domain:a@b", "domain: is the part after @"),
        ("failure_code=1&q=code:2", "failure code is given twice"),
        ("kind=delivered&failure_type=1", "failure type and code are on failed events only"),
        ("q=kind:open+code:5001", "failure type and code are on failed events only"),
    ],
)
def test_bad_filter_values_are_a_400_with_one_line(failures: Ui, query: str, reason: str) -> None:
    answer = failures.get(f"/ui/events?{query}")
    assert answer.status_code == 400
    assert reason in answer.text


def test_a_count_past_the_cap_shows_more_than(
    failures: Ui, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mailhooks.dashboard.events as dashboard

    monkeypatch.setattr(dashboard, "COUNT_CAP", 2)
    page = failures.get("/ui/events?domain=x.com").text
    assert "more than <span" in page
    assert matching(page) == "2"
    assert 'data-count="matching" data-capped>' in page
    assert "Download all (more than 2) as CSV" in page
    assert len(event_ids(page)) == 3  # the list itself is not capped
    exact = failures.get("/ui/events?domain=y.org").text
    assert matching(exact) == "2" and "more than" not in exact
    assert "Download all 2 as CSV" in exact


def test_the_cap_is_shown_with_thousands_separators(
    failures: Ui, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mailhooks.dashboard.events as dashboard

    monkeypatch.setattr(dashboard, "COUNT_CAP", 1000)
    monkeypatch.setattr(dashboard.reads, "event_count_upto", lambda *_: 1001)
    page = failures.get("/ui/events").text
    assert matching(page) == "1,000"
    assert "more than" in page


def test_the_csv_export_and_the_live_rows_take_the_new_filters(failures: Ui) -> None:
    exported = failures.get("/ui/events.csv?domain=y.org&failure_code=2001")
    assert exported.status_code == 200, exported.text
    lines = exported.text.strip().splitlines()
    assert len(lines) == 2 and "listed@y.org" in lines[1]
    newer = failures.get("/ui/events/newer?after_id=0&failure_type=1").text
    assert len(event_ids(newer)) == 2


def test_the_search_box_reads_the_new_keys() -> None:
    assert parse_search("domain:Example.COM code:5001 failure:Temporary") == EventFilter(
        domain="example.com", failure_code=5001, failure_type=0
    )
    asked = parse_events_query({"failure_type": "suppressed"}, ["failure_type"])
    assert asked.where == EventFilter(failure_type=2)
    with pytest.raises(BadQuery, match="domain is given twice"):
        parse_search("domain:x.com domain:y.com")
