"""Random query strings and paths on every page never give a 5xx (bounded: 200 each)."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.dashboard.conftest import Ui, ago

NAMES = st.sampled_from(
    ["q", "kind", "endpoint", "address", "message_id", "mailing_id", "since", "until",
     "before_id", "range", "state", "reason", "page", "after_id", "removed", "x"]
)  # fmt: skip
TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["to:", "kind:failed", "after:2026-01-01", "before:9999-12-31T23:59+14:00",
                     "-1", "9" * 30, "2026-02-30", "%", "%00", "\x00", "a@b", "1e9"]),
)  # fmt: skip
PARAMS = st.lists(st.tuples(NAMES, TEXT), max_size=4)
PAGES = [
    "/ui/", "/ui/events", "/ui/events/1", "/ui/messages/m-1", "/ui/addresses/a@x.com", "/ui/login",
    "/ui/suppressions", "/ui/events.csv", "/ui/events/newer", "/ui/endpoints",
    "/ui/endpoints/json-hooks", "/ui/suppressions.csv",
]  # fmt: skip


def query_string(pairs: list[tuple[str, str]], raw: bool) -> str:
    """Percent-encoded pairs, or (raw) with `%`, `&`, `=`, `+` left as they are, so escapes
    may be malformed and values may split into more pairs."""
    safe = "%&=+:@/;," if raw else ""
    return "&".join(f"{name}={quote(value, safe=safe)}" for name, value in pairs)


@pytest.fixture
def logged_in(ui: Ui) -> Ui:
    ui.send("failed_constructed.json", MessageId="m-1", Address="a@x.com", DateTime=ago(hours=1))
    assert ui.login(ui.admin_token).status_code == 303
    return ui


@pytest.mark.parametrize("path", PAGES)
def test_random_query_strings_never_give_a_5xx(logged_in: Ui, path: str) -> None:
    @settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
    @given(pairs=PARAMS, raw=st.booleans())
    def probe(pairs: list[tuple[str, str]], raw: bool) -> None:
        text = query_string(pairs, raw)
        answer = logged_in.get(f"{path}?{text}")
        assert answer.status_code < 500, (text, answer.text[-300:])
        assert answer.status_code in (200, 303, 400, 404), (text, answer.status_code)

    probe()


def test_random_message_and_address_paths_never_give_a_5xx(logged_in: Ui) -> None:
    @settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        page=st.sampled_from(["messages", "addresses", "events", "endpoints"]),
        name=st.text(min_size=1, max_size=60),
    )
    def probe(page: str, name: str) -> None:
        answer = logged_in.get(f"/ui/{page}/{quote(name, safe='')}")
        assert answer.status_code in (200, 400, 404), (name, answer.status_code)

    probe()


def test_random_form_posts_never_give_a_5xx(logged_in: Ui) -> None:
    csrf = logged_in.csrf("/ui/addresses/a@x.com")

    @settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        fields=st.dictionaries(
            st.sampled_from(["address", "action", "reason", "csrf", "back"]), TEXT, max_size=5
        ),
        with_csrf=st.booleans(),
    )
    def probe(fields: dict[str, str], with_csrf: bool) -> None:
        if with_csrf:
            fields = {**fields, "csrf": csrf}
        answer = logged_in.post("/ui/suppressions", data=fields)
        assert answer.status_code in (303, 400, 403), (fields, answer.status_code)

    probe()


@pytest.mark.parametrize("form", ["keys", "test", "validate"])
def test_random_endpoint_form_posts_never_give_a_5xx(logged_in: Ui, form: str) -> None:
    """Rotate/retire, the Event Tester and Validate (posting to the default URL, which has
    no listening port in-process: one line on the page)."""
    csrf = logged_in.csrf("/ui/endpoints/json-hooks")

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        fields=st.dictionaries(
            st.sampled_from(["action", "type", "secret", "url", "fingerprint", "validation_only"]),
            st.one_of(TEXT, st.sampled_from(["preview", "send", "rotate", "retire", "failed",
                                             "a-long-enough-secret", "ftp://x", "http://[::1"])),
            max_size=6,
        ),
        with_csrf=st.booleans(),
    )  # fmt: skip
    def probe(fields: dict[str, str], with_csrf: bool) -> None:
        if with_csrf:
            fields = {**fields, "csrf": csrf}
        answer = logged_in.post(f"/ui/endpoints/json-hooks/{form}", data=fields)
        assert answer.status_code in (200, 303, 400, 403), (fields, answer.status_code)

    probe()
