"""The Flask Blueprint (mailhooks.integrations.flask) through Flask's test client: the
receiver contract (tests/receiver/case.py) with a handler keeping events, and again with
the store option, then the integration cases (tests/integrations/cases.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mailhooks import EndpointConfig, Kind, sample_body
from mailhooks.integrations.common import Received, Store, open_store
from mailhooks.integrations.flask import SocketLabsBlueprint, socketlabs_blueprint
from tests.integrations.adapters import Keeper, contract_configs, lower, stored_in, with_secret
from tests.integrations.cases import IntegrationCases, Served
from tests.receiver.case import Answer, ContractEndpoint, ReceiverContract, Stored


class FlaskServed(Served):
    def __init__(self, blueprint: SocketLabsBlueprint) -> None:
        app = Flask(__name__)
        app.register_blueprint(blueprint)
        self.client: FlaskClient = app.test_client()

    def post(
        self,
        path: str,
        body: bytes,
        content_type: str | None,
        *,
        method: str = "POST",
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        response = self.client.open(
            path,
            method=method,
            data=body,
            headers={**({"Content-Type": content_type} if content_type else {}), **(headers or {})},
        )
        return Answer(
            response.status_code, response.get_data(as_text=True), lower(response.headers)
        )


class FlaskContract(ReceiverContract):
    """The contract through a Blueprint serving the contract's endpoints."""

    blueprint: SocketLabsBlueprint
    served: FlaskServed
    keeper: Keeper

    def serve(self, store: Store | None = None, **options: Any) -> None:
        self.keeper = Keeper()
        self.blueprint = socketlabs_blueprint(
            contract_configs(), store=store, handler=self.keeper, **options
        )
        self.served = FlaskServed(self.blueprint)

    def post(
        self,
        endpoint: str,
        body: bytes,
        content_type: str,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        return self.served.post(f"/hooks/{endpoint}", body, content_type, headers=headers)

    def add_secret(self, endpoint: ContractEndpoint, secret: str) -> None:
        with_secret(self.blueprint.endpoints, endpoint, secret)

    def fail_handler(self, failing: bool) -> None:
        self.keeper.failing = failing


class TestFlaskHandler(FlaskContract):
    """Events kept by the handler (Validations delivered to it too)."""

    @pytest.fixture(autouse=True)
    def receiver(self) -> None:
        self.serve(deliver_validations=True)

    def stored(self) -> list[Stored]:
        return self.keeper.stored()


class TestFlaskStore(FlaskContract):
    """Events kept by the store option, in SQLite."""

    store: Store

    @pytest.fixture(autouse=True)
    def receiver(self, tmp_path: Path) -> Iterator[None]:
        self.store = open_store(f"sqlite:///{tmp_path / 'mailhooks.db'}")
        self.store.prepare(contract_configs())  # as an app would at start-up
        self.serve(store=self.store)
        yield
        self.store.close()

    def stored(self) -> list[Stored]:
        return stored_in(self.store.engine)


class TestFlaskIntegration(IntegrationCases):
    def serve(
        self,
        endpoints: EndpointConfig | Mapping[str, EndpointConfig],
        *,
        store: str | Store | None = None,
        handler: Callable[[Received], Any] | None = None,
        deliver_validations: bool = False,
    ) -> Served:
        blueprint = socketlabs_blueprint(
            endpoints, store=store, handler=handler, deliver_validations=deliver_validations
        )
        return FlaskServed(blueprint)


def test_the_handler_decorator_registers_in_order() -> None:
    blueprint = socketlabs_blueprint(EndpointConfig(secrets=["k"]), name="hooks")
    seen: list[str] = []

    @blueprint.handler
    def first(received: Received) -> None:
        seen.append("first")

    @blueprint.handler
    def second(received: Received) -> None:
        seen.append("second")

    served = FlaskServed(blueprint)
    body, content_type = sample_body(Kind.DELIVERED, secret="k")
    assert served.post("/hooks/socketlabs", body, content_type).status == 200
    assert seen == ["first", "second"]
    assert first.__name__ == "first"  # the decorator returns the function
