"""The Flask Blueprint (mailhooks.integrations.flask) through Flask's test client: the
receiver contract (tests/receiver/case.py) with a handler keeping events, and again with
the store option, then the integration cases (tests/integrations/cases.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from mailhooks import EndpointConfig, Kind, sample_body
from mailhooks.integrations.common import Received, Store
from mailhooks.integrations.flask import SocketLabsBlueprint, socketlabs_blueprint
from tests.integrations.adapters import Keeper, lower
from tests.integrations.cases import IntegrationCases, Served
from tests.integrations.contract import IntegrationContract, KeptByHandler, KeptByStore
from tests.receiver.case import Answer


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


class FlaskContract(IntegrationContract):
    def build(
        self,
        configs: dict[str, EndpointConfig],
        store: Store | None,
        keeper: Keeper,
        **options: Any,
    ) -> tuple[dict[str, EndpointConfig], Served]:
        blueprint = socketlabs_blueprint(configs, store=store, handler=keeper, **options)
        return blueprint.endpoints, FlaskServed(blueprint)


class TestFlaskHandler(KeptByHandler, FlaskContract):
    pass


class TestFlaskStore(KeptByStore, FlaskContract):
    pass


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
