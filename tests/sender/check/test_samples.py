"""What `mailhooks check` sends: SAMPLE_EVENTS is what the receiver's own parser and
dedupe make of the posts, and the secret-length check leads the report."""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any

import pytest

from mailhooks.protocol.dedupe import dedupe_key
from mailhooks.protocol.events import Kind, WireFormat
from mailhooks.protocol.parse import parse_body
from mailhooks.protocol.samples import encode, sample_fields
from mailhooks.sender.check.report import render_text
from mailhooks.sender.check.run import (
    CHECK_ADDRESS,
    EVENT_CHECKS,
    SAMPLE_EVENTS,
    check_names,
    describe_sample_events,
    run_checks,
    sample_posts,
)
from mailhooks.sender.check.types import CheckOptions, Status
from tests.support import free_port


@pytest.mark.parametrize("wire_format", list(WireFormat))
def test_sample_events_is_what_a_mailhooks_receiver_makes_of_the_posts(
    wire_format: WireFormat,
) -> None:
    numbers = itertools.count()

    def sample(kind: Kind) -> dict[str, Any]:
        return sample_fields(
            kind,
            wire_format=wire_format,
            address=CHECK_ADDRESS,
            message_id=f"mailhooks-check-{next(numbers)}",
        )

    posts = sample_posts(sample, wire_format)
    assert [post.check for post in posts] == [
        "unknown-fields", "unknown-type", "duplicate", "duplicate", "failure-type"
    ]  # fmt: skip
    assert {post.check for post in posts} == set(EVENT_CHECKS)
    stored: dict[bytes, Kind] = {}
    for post in posts:
        event = parse_body(*encode(post.fields, wire_format)).event
        assert event.address == CHECK_ADDRESS
        stored.setdefault(dedupe_key(1, event), event.kind)
    assert Counter(stored.values()) == SAMPLE_EVENTS
    assert describe_sample_events() == "4 sample events (2 delivered, 1 unknown, 1 failed)"


def test_a_short_secret_warns_first_and_a_normal_one_passes() -> None:
    url = f"http://127.0.0.1:{free_port()}/hooks/x"  # nothing listens: no POST is made
    short = run_checks(CheckOptions(url, "abc", timeout_s=2.0))
    assert [r.name for r in short.results] == check_names(WireFormat.JSON)
    first = short.results[0]
    assert (first.name, first.status) == ("secret-length", Status.WARN)
    lines = render_text(short, "abc")
    assert lines[1].split(None, 2) == [
        "WARN",
        "secret-length",
        "the secret key is 3 characters, fewer than 16: this report hides it only where it "
        "stands as a whole word",
    ]
    normal = run_checks(CheckOptions(url, "k" * 32, timeout_s=2.0))
    assert normal.results[0].status is Status.PASS
    assert normal.results[0].detail == "the secret key is 32 characters"
