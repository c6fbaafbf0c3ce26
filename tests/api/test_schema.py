"""Contract test: schemathesis requests built from the live OpenAPI spec, against a real server.

Every operation in /api/openapi.json gets up to MAX_EXAMPLES generated requests that follow
the spec (positive) and as many that break it (negative), sent to `mailhooks serve` with a
read token (GET) or an admin token (PUT, DELETE). Every answer must not be a 5xx and must
match the spec (status code, content type, headers, body schema); spec-breaking input must be
refused, spec-following input accepted; every 4xx is a one-line `{"error": ...}`.

Two kinds of answer are right although a plain schemathesis run would flag them; both are
recognised narrowly in the checks below: a 400 for a value of the right type that the server
refuses on purpose (a forged cursor, a string that is not an email address, a date that
leaves the UTC range, any value with a NUL character), and values outside the spec's type
that the server reads leniently (Unix seconds for since/until, "+5.0" for integers, "no"
for booleans, any text for a string).

The operations are listed for pytest from the app built in-process (names only); the
requests use the spec as the running server publishes it, and a guard checks both agree.
(schemathesis.pytest.from_fixture is not used: 4.32.5 sets `request.node._nodeid`, which
pytest 9.2 no longer has.)
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import APIOperation, BaseSchema, Case, CheckContext, GenerationMode, Response
from schemathesis.core.failures import AcceptedNegativeData
from schemathesis.openapi.checks import RejectedPositiveData
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance
from sqlalchemy import create_engine

from mailhooks.api import create_api
from mailhooks.protocol.events import Kind, WireFormat
from mailhooks.protocol.samples import encode, sample_fields
from mailhooks.store.endpoints import add_endpoint
from mailhooks.store.engine import create_store_engine
from mailhooks.store.migrate import upgrade
from mailhooks.store.tokens import Scope, create_token
from tests.conftest import BACKENDS, pg_skip_reason
from tests.support import ServerProcess, fresh_postgres_database

pytestmark = pytest.mark.slow

SECRET = "schema-secret-Tq61xZ"
SERVER_ID = 4321
#: Generated requests per operation and mode: reaches every parameter, and stays quick.
MAX_EXAMPLES = 25
#: Values that exist on the server, mixed into positive generation so that 200 answers with
#: real bodies get validated too (random ids and addresses almost always give 404).
KNOWN_PATH = {"event_id": 1, "address": "user0@example.com"}
KNOWN_QUERY = {"message_id": "msg-0", "address": "user1@example.com"}
WRITE_METHODS = frozenset({"POST", "PUT", "DELETE"})


def _spec_operations() -> list[str]:
    """`METHOD /path` of every operation, from the app itself (names for pytest ids only)."""
    engine = create_engine("sqlite://")
    try:
        spec = create_api(engine).openapi()
    finally:
        engine.dispose()
    return [f"{method.upper()} {path}" for path, item in spec["paths"].items() for method in item]


OPERATIONS = _spec_operations()


@dataclass(frozen=True)
class Live:
    url: str
    read_token: str
    admin_token: str


@pytest.fixture(scope="module", params=BACKENDS)
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Live]:
    """A server holding events of each outcome for three addresses, with both token scopes."""
    workdir: Path = tmp_path_factory.mktemp("schema")
    cleanup = None
    if request.param == "sqlite":
        url = f"sqlite:///{workdir / 'mailhooks.db'}"
    else:
        if pg_skip_reason():
            pytest.skip(pg_skip_reason() or "")
        cleanup = fresh_postgres_database()
        url = cleanup.__enter__()
    engine = create_store_engine(url)
    server: ServerProcess | None = None
    try:
        upgrade(engine)
        add_endpoint(
            engine, "hooks", wire_format=WireFormat.JSON, server_id=SERVER_ID, secret=SECRET
        )
        read_token = create_token(engine, "schema-read", Scope.READ)
        admin_token = create_token(engine, "schema-admin", Scope.ADMIN)
        server = ServerProcess(url, workdir).start()
        start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
        kinds = [Kind.QUEUED, Kind.DELIVERED, Kind.OPEN, Kind.CLICK, Kind.FAILED, Kind.COMPLAINT]
        for number, kind in enumerate(kinds):
            fields = sample_fields(
                kind,
                secret=SECRET,
                server_id=SERVER_ID,
                address=f"user{number % 3}@example.com",
                message_id=f"msg-{number % 2}",
                occurred_at=start + timedelta(hours=number),
            )
            body, content_type = encode(fields, WireFormat.JSON)
            answer = httpx.post(
                f"{server.url}/hooks/hooks", content=body, headers={"content-type": content_type}
            )
            assert answer.status_code == 200, answer.text
        yield Live(server.url, read_token, admin_token)
    finally:
        if server is not None:
            server.stop()
        engine.dispose()
        if cleanup is not None:
            cleanup.__exit__(None, None, None)


@pytest.fixture(scope="module")
def schema(live: Live) -> BaseSchema:
    return load_schema(live)


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    """One HTTP session for all generated requests (a new one per request costs ~50 ms)."""
    with requests.Session() as shared:
        yield shared


def load_schema(live: Live) -> BaseSchema:
    """The spec as the running server publishes it; requests go to /api (its `servers`)."""
    config = schemathesis.Config()  # defaults, not a schemathesis.toml that happens to be around
    schema = schemathesis.openapi.from_url(f"{live.url}/api/openapi.json", config=config)
    assert schema.raw_schema["servers"] == [{"url": "/api"}]
    schema.config.update(base_url=f"{live.url}/api", request_timeout=15)
    # The token goes on every request: do not also generate random Authorization values.
    schema.config.generation.update(
        max_examples=MAX_EXAMPLES, no_shrink=True, with_security_parameters=False
    )
    return schema


# --- checks -----------------------------------------------------------------------------------

#: 400 reasons for values the spec allows by type but the server refuses on purpose.
BY_DESIGN_400 = re.compile(
    r"cursor is not one this API issued|is not an email address|out of range"
    # A legacy form endpoint must have the validation key it echoes (a rule across fields).
    r"|endpoint needs a validation key"
    # Key rotation depends on the keys an earlier generated request left: at most two.
    r"|already holds 2 keys|has only one key"
    # Not generated (the spec lists every parameter), but refused on purpose if it were.
    r"|unknown query parameter"
)


def _contains_nul(value: object) -> bool:
    """PostgreSQL text cannot hold NUL, so a request carrying one may be refused."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_contains_nul(key) or _contains_nul(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return any(_contains_nul(item) for item in value)
    return False


#: Values outside the spec's type that the server reads as meant (pydantic's lax mode):
#: Unix seconds for a date-time, "+5.0" for an integer, "yes" for a boolean. On the wire every
#: value is text, so any value of a plain string parameter is valid too.
_NUMBER = re.compile(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*")
_INTEGRAL = re.compile(r"\s*[-+]?\d+(\.0*)?\s*")
_BOOLEAN = re.compile(r"\s*(?i:0|1|true|false|yes|no|on|off|t|f|y|n)\s*")
_TEXT = re.compile(r".+", re.DOTALL)
LENIENT: dict[str, re.Pattern[str]] = {
    "since": _NUMBER,
    "until": _NUMBER,
    **dict.fromkeys(("limit", "after_id", "server_id", "event_id"), _INTEGRAL),
    "include_removed": _BOOLEAN,
    **dict.fromkeys(("endpoint", "address", "message_id", "mailing_id", "cursor", "reason"), _TEXT),
}


def _error_of(response: Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("error", "")) if isinstance(body, dict) else ""


def valid_data_is_accepted(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """positive_data_acceptance, except the by-design 400s above."""
    try:
        return positive_data_acceptance(ctx, response, case)
    except RejectedPositiveData:
        if response.status_code == 400 and (
            BY_DESIGN_400.search(_error_of(response))
            or _contains_nul([case.path_parameters, case.query, case.body])
        ):
            return None
        raise


def _only_lenient_values(case: Case) -> bool:
    """Whether every parameter the negative case broke is one the server reads leniently."""
    data = case.meta.phase.data if case.meta is not None else None
    if data is None:
        return False
    names = (
        {data.parameter}
        if data.parameter
        else {m.parameter for m in getattr(data, "mutations", ())}
    )
    sent = {**(case.path_parameters or {}), **(case.query or {})}

    def lenient(name: str | None) -> bool:
        value = sent.get(name or "")
        if isinstance(value, dict):  # sent as its keys, one parameter each
            value = list(value)
        if isinstance(value, list):  # repeated: the server reads the last one
            value = value[-1] if value else None
        if value is None:  # not sent: had it been required, the server would have refused
            return True
        return name in LENIENT and value is not None and bool(LENIENT[name].fullmatch(str(value)))

    return bool(names) and all(lenient(name) for name in names)


def invalid_data_is_refused(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """negative_data_rejection, except values the server reads leniently on purpose."""
    try:
        return negative_data_rejection(ctx, response, case)
    except AcceptedNegativeData:
        if _only_lenient_values(case):
            return None
        raise


def errors_are_one_line_json(_ctx: CheckContext, response: Response, _case: Case) -> bool | None:
    """Every 4xx says what is wrong in one line of JSON: {"error": "..."}."""
    if 400 <= response.status_code < 500:
        where = f"{response.request.method} {response.request.url} -> {response.status_code}"
        try:
            body = response.json()
        except ValueError:
            raise AssertionError(f"{where}: not JSON: {response.text[:200]!r}") from None
        assert isinstance(body, dict) and set(body) == {"error"}, f"{where}: {body!r}"
        message = body["error"]
        assert isinstance(message, str) and message and "\n" not in message, f"{where}: {body!r}"
    return None


# --- the generated requests -------------------------------------------------------------------


def _stays_on_the_operation(case: Case) -> bool:
    """False for path values like "../.." that the URL resolves to another path altogether."""
    return not any(
        {".", ".."} & set(str(value).split("/")) for value in (case.path_parameters or {}).values()
    )


def _strategy(operation: APIOperation, mode: GenerationMode) -> st.SearchStrategy[Case]:
    generated = operation.as_strategy(generation_mode=mode).filter(_stays_on_the_operation)
    if mode is not GenerationMode.POSITIVE:
        return generated
    parameters = {
        (parameter.name, parameter.location.value) for parameter in operation.iter_parameters()
    }
    path = {name: value for name, value in KNOWN_PATH.items() if (name, "path") in parameters}
    query = {name: value for name, value in KNOWN_QUERY.items() if (name, "query") in parameters}
    if not path and not query:
        return generated
    known = operation.as_strategy(
        generation_mode=mode, path_parameters=path or None, query=query or None
    )
    return st.one_of(generated, known)


def _nothing_to_negate(operation: APIOperation) -> bool:
    """Only unconstrained path strings, no query, no body: no request can break the spec."""
    raw = operation.definition.raw
    parameters = raw.get("parameters", [])
    plain = {"type", "title", "description"}
    return "requestBody" not in raw and all(
        parameter["in"] == "path"
        and parameter["schema"].get("type") == "string"
        and set(parameter["schema"]) <= plain
        for parameter in parameters
    )


#: The same requests every run (derandomize): a CI run is reproducible, and a new case is
#: found by changing the code or the spec, not by luck.
BOUNDED = settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
    database=None,
)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
@pytest.mark.parametrize("label", OPERATIONS)
def test_operation_follows_the_spec(
    live: Live, schema: BaseSchema, session: requests.Session, label: str, mode: GenerationMode
) -> None:
    method, path = label.split(" ", 1)
    operation = schema[path][method]
    if mode is GenerationMode.NEGATIVE and _nothing_to_negate(operation):
        pytest.skip(f"{label}: the spec leaves nothing to make invalid")
    admin = method in WRITE_METHODS or path.startswith("/v1/endpoints")
    token = live.admin_token if admin else live.read_token
    sent: list[int] = []

    @BOUNDED
    @given(case=_strategy(operation, mode))
    def check(case: Case) -> None:
        response = case.call_and_validate(
            base_url=f"{live.url}/api",
            session=session,
            headers={"Authorization": f"Bearer {token}"},
            excluded_checks=[positive_data_acceptance, negative_data_rejection],
            additional_checks=[
                valid_data_is_accepted,
                invalid_data_is_refused,
                errors_are_one_line_json,
            ],
        )
        sent.append(response.status_code)

    try:
        check()
    except Unsatisfiable:
        pytest.skip(f"{label}: schemathesis found no {mode.value} request to make")
    assert sent, "no request was sent"
    assert all(status < 500 for status in sent)


def test_the_spec_lists_every_operation_with_its_parameters(live: Live) -> None:
    """Guard for the generated tests: they cover what the running server publishes."""
    spec = httpx.get(f"{live.url}/api/openapi.json").json()
    published = [
        f"{method.upper()} {path}" for path, item in spec["paths"].items() for method in item
    ]
    assert sorted(published) == sorted(OPERATIONS)
    assert {
        "GET /v1/events",
        "GET /v1/events/feed",
        "GET /v1/events/{event_id}",
        "GET /v1/messages",
        "GET /v1/addresses/{address}",
        "GET /v1/suppressions",
        "GET /v1/suppressions/{address}",
        "PUT /v1/suppressions/{address}",
        "DELETE /v1/suppressions/{address}",
    } <= set(published)
    listing = spec["paths"]["/v1/events"]["get"]
    assert {parameter["name"] for parameter in listing["parameters"]} == {
        "kind", "endpoint", "address", "message_id", "mailing_id", "since", "until",
        "failure_type", "failure_code", "domain", "limit", "cursor",
    }  # fmt: skip
    assert all(item[method].get("security") for item in spec["paths"].values() for method in item)
