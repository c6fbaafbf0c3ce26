"""The receiver contract through a framework integration, kept by a handler or by the store.

Each framework's test module says only how to build its app (`build`); the rest (posting,
rotating a key, failing the handler, where events are kept) is the same for all of them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from mailhooks import EndpointConfig
from mailhooks.integrations.common import Store, open_store
from tests.integrations.adapters import Keeper, contract_configs, stored_in, with_secret
from tests.integrations.cases import Served
from tests.receiver.case import Answer, ContractEndpoint, ReceiverContract, Stored


class IntegrationContract(ReceiverContract):
    """The contract's endpoints served by one integration; `build` makes its app."""

    endpoints: dict[str, EndpointConfig]
    served: Served
    keeper: Keeper

    def build(
        self,
        configs: dict[str, EndpointConfig],
        store: Store | None,
        keeper: Keeper,
        **options: Any,
    ) -> tuple[dict[str, EndpointConfig], Served]:
        """The integration's endpoint table (changed in place by a rotation) and its app."""
        raise NotImplementedError

    def serve(self, store: Store | None = None, **options: Any) -> None:
        self.keeper = Keeper()
        self.endpoints, self.served = self.build(contract_configs(), store, self.keeper, **options)

    def post(
        self,
        endpoint: str,
        body: bytes,
        content_type: str,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        return self.served.post(f"/hooks/{endpoint}", body, content_type, headers=headers)

    def add_secret(self, endpoint: ContractEndpoint, secret: str) -> None:
        with_secret(self.endpoints, endpoint, secret)

    def fail_handler(self, failing: bool) -> None:
        self.keeper.failing = failing


class KeptByHandler(IntegrationContract):
    """Events kept by the handler (Validations delivered to it too)."""

    @pytest.fixture(autouse=True)
    def receiver(self) -> None:
        self.serve(deliver_validations=True)

    def stored(self) -> list[Stored]:
        return self.keeper.stored()


class KeptByStore(IntegrationContract):
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
