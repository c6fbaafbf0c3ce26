"""The receiver contract (tests/receiver/case.py) against the library call, through the
smallest adapter an application could write: `receive`, keep new events in a dict by
dedupe key, count repeats, write the answer (`answer_for_handler_failure` when keeping
fails).

So the core passes the very tests mailhooks' own receiver passes; the Django, Flask and
FastAPI integrations will run the same contract over their own routes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

import pytest

from mailhooks import (
    Accepted,
    EndpointConfig,
    Event,
    answer_for_handler_failure,
    answer_for_unknown_endpoint,
    receive,
)
from tests.receiver.case import (
    CONTRACT_ENDPOINTS,
    Answer,
    ContractEndpoint,
    ReceiverContract,
    Stored,
)


@dataclass
class Kept:
    endpoint: str
    event: Event
    duplicates: int = 0


class TestLibraryCall(ReceiverContract):
    """`mailhooks.receive` behind a dict of endpoints and a dict of kept events."""

    endpoints: dict[str, EndpointConfig]
    kept: dict[bytes, Kept]
    failing: bool

    @pytest.fixture(autouse=True)
    def receiver(self) -> None:
        self.endpoints = {
            endpoint.name: EndpointConfig(
                secrets=[endpoint.secret],
                server_id=endpoint.server_id,
                wire_format=endpoint.wire_format,
                validation_key=endpoint.validation_key,
                endpoint_id=number,
            )
            for number, endpoint in enumerate(CONTRACT_ENDPOINTS, start=1)
        }
        self.kept = {}
        self.failing = False

    def add_secret(self, endpoint: ContractEndpoint, secret: str) -> None:
        config = self.endpoints[endpoint.name]
        self.endpoints[endpoint.name] = dataclasses.replace(
            config, secrets=[*config.secrets, secret]
        )

    def fail_handler(self, failing: bool) -> None:
        self.failing = failing

    def post(
        self,
        endpoint: str,
        body: bytes,
        content_type: str,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        config = self.endpoints.get(endpoint)
        if config is None:
            answer = answer_for_unknown_endpoint(endpoint)
            return Answer(answer.status, answer.text)
        result = receive(body, content_type, config)
        if isinstance(result, Accepted) and self.failing:
            answer = answer_for_handler_failure(config.retry_after_s)
            return Answer(
                answer.status, answer.text, {k.lower(): v for k, v in answer.headers.items()}
            )
        if isinstance(result, Accepted):
            seen = self.kept.get(result.dedupe_key)
            if seen is None:
                self.kept[result.dedupe_key] = Kept(endpoint, result.event)
            else:
                seen.duplicates += 1
        return Answer(result.answer.status, result.answer.text)

    def stored(self) -> list[Stored]:
        return [
            Stored(
                endpoint=kept.endpoint,
                type=kept.event.wire_type,
                message_id=kept.event.message_id,
                fields=kept.event.fields,
                duplicates=kept.duplicates,
            )
            for kept in self.kept.values()
        ]
