"""mailhooks: a durable, exactly-once receiver for SocketLabs email event notifications.

The package is also a library (docs/library.md): `mailhooks.receive` checks one SocketLabs
post inside any application and says what to answer. The names below are its public core.
They import no web framework, database or HTTP client (tests/test_import.py), so they are
imported here directly; the service's own modules are imported from where they live.
"""

from mailhooks.protocol.answers import Answer
from mailhooks.protocol.dedupe import dedupe_key
from mailhooks.protocol.events import Event, Kind, WireFormat
from mailhooks.protocol.failure_codes import describe_failure
from mailhooks.protocol.failures import FailureTypeZero
from mailhooks.protocol.samples import sample_body, sample_fields
from mailhooks.protocol.status import (
    AddressState,
    MessageState,
    Status,
    address_state,
    message_state,
)
from mailhooks.protocol.webhook import (
    Accepted,
    EndpointConfig,
    Refused,
    answer_for_handler_failure,
    answer_for_unknown_endpoint,
    receive,
)

__version__ = "0.1.0"

__all__ = [
    "Accepted",
    "AddressState",
    "Answer",
    "EndpointConfig",
    "Event",
    "FailureTypeZero",
    "Kind",
    "MessageState",
    "Refused",
    "Status",
    "WireFormat",
    "__version__",
    "address_state",
    "answer_for_handler_failure",
    "answer_for_unknown_endpoint",
    "dedupe_key",
    "describe_failure",
    "message_state",
    "receive",
    "sample_body",
    "sample_fields",
]
