"""Seed inputs and dictionaries for each target, made from the real samples and the code.

Seeds start the fuzzer on bodies SocketLabs sends (tests/fixtures) and on requests every
API route accepts, so mutations begin past the first checks. The dictionaries hold the
words the code compares against (field names, Type values, enum names, parameter names,
media types), which random byte flips would take long to hit. Both are derived from the
code and the fixtures each run, so they follow when a field or a route is added.
Runs in the parent process only: importing mailhooks here is fine (the child instruments
its own imports).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from tests.reliability.fuzz import formats

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
JSON_TYPE = "application/json"
FORM_TYPE = "application/x-www-form-urlencoded"


@dataclass(frozen=True, slots=True)
class Sample:
    """One fixture body and what the receiver needs to accept it at /hooks/{name}."""

    name: str
    body: bytes
    content_type: str
    secret: str
    server_id: int | None
    address: str | None
    message_id: str | None
    mailing_id: str | None


def samples() -> list[Sample]:
    """Every fixture body (*.json, *.form), named by its file (a valid endpoint name)."""
    from mailhooks.protocol.parse import parse_body

    found = []
    for path in sorted(FIXTURES.glob("*.json")) + sorted(FIXTURES.glob("*.form")):
        content_type = JSON_TYPE if path.suffix == ".json" else FORM_TYPE
        body = path.read_bytes()
        event = parse_body(body, content_type)
        found.append(
            Sample(
                name=path.stem,
                body=body,
                content_type=content_type,
                secret=event.secret_key or "",
                server_id=event.event.server_id,
                address=event.event.address,
                message_id=event.event.message_id,
                mailing_id=event.event.mailing_id,
            )
        )
    if not found:
        raise RuntimeError(f"no sample bodies in {FIXTURES}")
    return found


def field_names() -> list[str]:
    """SocketLabs field names: the samples the code builds, and every fixture's keys."""
    from mailhooks.protocol.events import FailureType, Kind, TrackingType, WireFormat
    from mailhooks.protocol.samples import SAMPLE_KINDS, sample_fields

    names: set[str] = {"Data", "Meta", "Tags", "Key", "Value"}
    for kind in SAMPLE_KINDS:
        for wire_format in WireFormat:
            names.update(_keys(sample_fields(kind, wire_format=wire_format)))
    for sample in samples():
        if sample.content_type == JSON_TYPE:
            names.update(_keys(orjson.loads(sample.body)))
        else:
            names.update(key for key, _ in urllib.parse.parse_qsl(sample.body.decode()))
    names.update(["Tracking", *(kind.value.title() for kind in Kind)])
    names.update(
        member.title() for enum in (FailureType, TrackingType) for member in enum.__members__
    )
    return sorted(names)


def _keys(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _keys(item)
    elif isinstance(value, list):
        for item in value:
            yield from _keys(item)


#: Values the parsers treat specially: dates in both formats and at the edges of the range,
#: integers at the edges of 64 bits, NUL, the Kelvin sign (lower-cases to "k").
TRICKY_VALUES = (
    "2024-03-05T08:15:30.1234567Z",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "Mon, 01 Oct 2012 14:07:26 GMT",
    "Mon, 01 Oct 2012 14:07:26 +9999",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775809",
    "18446744073709551615",
    "1e308",
    "-0.0",
    "\u212a",
    "secretkey",
    "SECRETKEY",
)


def _json_words(names: Iterable[str]) -> list[bytes]:
    words = [orjson.dumps(name) + b":" for name in names]
    words += [orjson.dumps(value) for value in TRICKY_VALUES]
    words += [rb"\u0000", rb"\u212a", rb"\ud800", b"null", b"true", b"false", b"[]", b"{}"]
    words += [b'{"Key":', b'"Value":', b"[" * 8, b"{" * 8, b"]", b"}", b",", b'"'] + [
        value.encode() for value in TRICKY_VALUES[5:11]
    ]
    return words


def _form_words(names: Iterable[str]) -> list[bytes]:
    quote = urllib.parse.quote_plus
    words = [f"&{quote(name)}=".encode() for name in names]
    words += [quote(value).encode() for value in TRICKY_VALUES]
    words += [b"%00", b"%FF", b"%E2%84%AA", b"%C3", b"%", b"+", b"&", b"=", b"&&", b";"]
    return words


def json_seeds() -> list[bytes]:
    return [sample.body for sample in samples() if sample.content_type == JSON_TYPE]


def form_seeds() -> list[bytes]:
    return [sample.body for sample in samples() if sample.content_type == FORM_TYPE]


def json_words() -> list[bytes]:
    return _json_words(field_names())


def form_words() -> list[bytes]:
    return _form_words(field_names())


# --- the receiver route -------------------------------------------------------------------

MEDIA_TYPES = (
    JSON_TYPE,
    "text/json",
    "application/vnd.socketlabs+json",
    FORM_TYPE,
    "multipart/form-data; boundary=x",
    "text/plain",
    "APPLICATION/JSON ; charset=utf-8",
)
HEADER_NAMES = ("content-type", "user-agent", "x-forwarded-for", "expect", "accept", "cookie")


def hook_seeds() -> list[bytes]:
    """Each fixture posted to its own endpoint, plus refusals of each kind to start from."""
    seeds = [
        formats.hook_input(s.name, [("content-type", s.content_type)], s.body) for s in samples()
    ]
    first = samples()[0]
    seeds += [
        formats.hook_input(first.name, [("content-type", first.content_type)], first.body, 7),
        formats.hook_input("no-such-endpoint", [("content-type", JSON_TYPE)], b"{}"),
        formats.hook_input(first.name, [("content-type", "text/plain")], first.body),
        formats.hook_input(first.name, [], first.body),
        formats.hook_input(first.name, [("content-type", JSON_TYPE)], b"{" * 40 + b"}" * 40),
    ]
    over = first.body + b" " * (formats.BODY_LIMIT + 1 - len(first.body))
    seeds += [
        formats.hook_input(first.name, [("content-type", first.content_type)], over),
        formats.hook_input(first.name, [("content-type", first.content_type)], over, 256),
    ]
    return seeds


def hook_words() -> list[bytes]:
    names = field_names()
    words = [sample.name.encode() for sample in samples()]
    words += [f"\n{name}: ".encode() for name in HEADER_NAMES]
    words += [media.encode() for media in MEDIA_TYPES]
    words += [formats.CHUNK_CONTROL + b"1\n", b"\n\n", b"%2F", b"%00", b"%"]
    words += [sample.secret.encode() for sample in samples()]
    return words + _json_words(names)[: len(names)] + _form_words(names)[: len(names)]


# --- the API's GET routes -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ApiRoute:
    """A GET operation of the spec: its path template and its parameters' examples."""

    path: str
    path_params: dict[str, str]
    query_params: dict[str, str]


def api_routes() -> list[ApiRoute]:
    """Every GET operation in the API's OpenAPI spec, with a plausible value per parameter."""
    from sqlalchemy import create_engine

    from mailhooks.api import create_api

    engine = create_engine("sqlite://")
    try:
        spec = create_api(engine).openapi()
    finally:
        engine.dispose()
    known = _known_values()
    routes = []
    for path, operations in spec["paths"].items():
        operation = operations.get("get")
        if operation is None:
            continue
        values: dict[str, dict[str, str]] = {"path": {}, "query": {}}
        for parameter in operation.get("parameters", []):
            name = parameter["name"]
            example = known.get(name) or _example(parameter.get("schema", {}), spec)
            values[parameter["in"]][name] = example
        routes.append(ApiRoute(path, values["path"], values["query"]))
    if not routes:
        raise RuntimeError("the API's spec lists no GET operation")
    return routes


def _known_values() -> dict[str, str]:
    """Values that exist in the store the API target seeds, so some answers are 200s."""
    from mailhooks.api.cursor import encode_cursor

    first = samples()
    return {
        "event_id": "1",
        "after_id": "0",
        "limit": "5",
        "cursor": encode_cursor(3),
        "since": "2012-01-01T00:00:00Z",
        "until": "2030-01-01T00:00:00+01:00",
        "address": next(s.address for s in first if s.address),
        "message_id": next(s.message_id for s in first if s.message_id),
        "mailing_id": next(s.mailing_id for s in first if s.mailing_id),
        "endpoint": first[0].name,
        "name": first[0].name,
        "server_id": str(next(s.server_id for s in first if s.server_id is not None)),
    }


def _example(schema: dict[str, Any], spec: dict[str, Any]) -> str:
    """A value the schema accepts: an enum's first value, a boolean, a number, or text."""
    for option in schema.get("anyOf", []):
        if option.get("type") != "null":
            return _example(option, spec)
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return _example(spec["components"]["schemas"][name], spec)
    if "enum" in schema:
        return str(schema["enum"][0])
    kind = schema.get("type")
    if kind == "boolean":
        return "true"
    if kind == "integer":
        return str(schema.get("minimum", 1))
    if schema.get("format") == "date-time":
        return "2024-03-05T08:15:30Z"
    return "x"


def api_route_paths() -> list[bytes]:
    """The GET paths in a fixed order: a number in an API input picks one by its place."""
    return sorted(route.path.encode() for route in api_routes())


def api_seeds() -> list[bytes]:
    """Each route bare and with all its parameters, with each token; and each as a raw path."""
    seeds = []
    places = {path: str(place) for place, path in enumerate(api_route_paths())}
    for route in api_routes():
        values = list(route.path_params.values())
        queries = ["", urllib.parse.urlencode(route.query_params)] if route.query_params else [""]
        for query in queries:
            for token in (formats.READ, formats.ADMIN):
                place = places[route.path.encode()]
                seeds.append(formats.api_input(token, place, values, query))
        path = route.path
        for name, value in route.path_params.items():
            path = path.replace("{" + name + "}", urllib.parse.quote(value, safe=""))
        seeds.append(formats.api_input(formats.READ, path, query=queries[-1]))
    seeds.append(formats.api_input(b"", "/v1/events"))
    seeds.append(formats.api_input(b"mht_not-a-token", "/v1/events"))
    seeds.append(formats.api_input(formats.READ, "/v1/events/", query="limit=1"))
    return seeds


def api_words() -> list[bytes]:
    """Route segments, parameter names and values, and what bends a query string."""
    from mailhooks.protocol.events import Kind

    words: set[bytes] = {formats.READ + b"\n", formats.ADMIN + b"\n"}
    for route in api_routes():
        words.add(f"\n{route.path}\n".encode())
        words.update(f"/{part}".encode() for part in route.path.split("/") if part)
        words.update(f"{name}=".encode() for name in route.query_params)
        words.update(value.encode() for value in route.query_params.values())
        words.update(value.encode() for value in route.path_params.values())
    words.update(kind.value.encode() for kind in Kind)
    words.update(word.encode() for word in ("hour", "day", "csv", "ndjson", "false", "no"))
    words.update([b"+00:00", b"Z", b"T", b"-1", b"0x10", b"1_000", b"\xd9\xa3"])
    words.update(urllib.parse.quote(value).encode() for value in TRICKY_VALUES)
    words.update([b"%00", b"%2F", b"%", b"&", b"=", b"?", b"#", b"..", b"//", b"%20", b"+"])
    return sorted(words)
