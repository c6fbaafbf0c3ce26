"""`--sink NAME=URL`: a sink's name, its URL, its options and the loop's filters.

The URL's query string carries the sink's options; `kinds=` and `endpoints=` (comma
separated) are the loop's filters and are not passed on. The scheme picks the sink class,
imported only when used (`http`/`https`, `nats`, `amqp`/`amqps`). Messages show a URL only
through `redact`: no password and no secret parameter is ever printed or logged.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from mailhooks.errors import ConfigError, InvalidInput
from mailhooks.protocol.events import Kind

if TYPE_CHECKING:
    from mailhooks.forward.sink import Sink

#: Scheme -> (module, class) of the sink that delivers to it.
SINK_CLASSES = {
    "http": ("mailhooks.forward.http_sink", "HttpSink"),
    "https": ("mailhooks.forward.http_sink", "HttpSink"),
    "nats": ("mailhooks.forward.nats_sink", "NatsSink"),
    "amqp": ("mailhooks.forward.rabbitmq_sink", "RabbitMQSink"),
    "amqps": ("mailhooks.forward.rabbitmq_sink", "RabbitMQSink"),
}
#: Query parameters the loop reads (filters); the sink never sees them.
FILTER_OPTIONS = frozenset({"kinds", "endpoints"})
#: A sink name is its key in `forward_positions` (and a metric label).
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
#: Query parameters whose value is shown as "***" (their names contain one of these).
SECRET_WORDS = ("secret", "password", "passwd", "token", "api_key", "apikey")
HIDDEN = "***"


@dataclass(frozen=True, slots=True)
class SinkConfig:
    name: str
    url: str
    #: The URL's query parameters minus the filters.
    options: Mapping[str, str] = field(default_factory=dict)
    #: Kind values to forward; None forwards every kind.
    kinds: frozenset[str] | None = None
    #: Endpoint names to forward; None forwards every endpoint.
    endpoints: frozenset[str] | None = None

    @property
    def shown_url(self) -> str:
        return redact(self.url)


def parse_sink(text: str) -> SinkConfig:
    """One `NAME=URL` option.

    Raises:
        InvalidInput: no `=`, a bad name, an unknown scheme or kind.
    """
    name, equals, url = text.partition("=")
    name = name.strip()
    if not equals or not url:
        raise InvalidInput(f"--sink {redact(text)!r}: expected NAME=URL")
    if not NAME_PATTERN.fullmatch(name):
        raise InvalidInput(
            f"--sink: name {name[:40]!r} must be letters, digits, '.', '_' or '-' (at most 100)"
        )
    parts = urlsplit(url)
    if parts.scheme.lower() not in SINK_CLASSES:
        known = ", ".join(sorted(SINK_CLASSES))
        raise InvalidInput(f"sink {name}: scheme {parts.scheme!r} is not one of {known}")
    query = parse_qsl(parts.query, keep_blank_values=True)
    options = {key: value for key, value in query if key not in FILTER_OPTIONS}
    filters = {key: value for key, value in query if key in FILTER_OPTIONS}
    kinds = _names(filters.get("kinds"))
    if kinds is not None:
        unknown = sorted(kinds - {kind.value for kind in Kind})
        if unknown:
            allowed = ", ".join(kind.value for kind in Kind)
            raise InvalidInput(f"sink {name}: unknown kind {unknown[0]!r} (one of {allowed})")
    return SinkConfig(
        name=name,
        url=url,
        options=options,
        kinds=kinds,
        endpoints=_names(filters.get("endpoints")),
    )


def build_sink(config: SinkConfig) -> Sink:
    """The sink for `config`'s scheme, constructed (not started).

    Raises:
        ConfigError: the sink's extra is missing, or the sink refused its options.
    """
    module_name, class_name = SINK_CLASSES[urlsplit(config.url).scheme.lower()]
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ConfigError(
            f"sink {config.name}: {error.name or module_name} is not installed "
            "(pip install 'mailhooks[forward]')"
        ) from None
    sink_class = cast(Any, getattr(module, class_name))
    return cast("Sink", sink_class(config.name, config.url, config.options))


def redact(url: str) -> str:
    """`url` with its password and every secret-looking query value replaced by ***."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, _, host = netloc.rpartition("@")
            user = userinfo.partition(":")[0]
            netloc = f"{user}:{HIDDEN}@{host}" if user else f"{HIDDEN}@{host}"
        query = [
            (key, HIDDEN if _is_secret(key) else value)
            for key, value in parse_qsl(parts.query, keep_blank_values=True)
        ]
        return urlunsplit(parts._replace(netloc=netloc, query=urlencode(query, safe=",*/")))
    except ValueError:
        return f"{url.partition(':')[0]}://{HIDDEN}"


def _is_secret(key: str) -> bool:
    lowered = key.lower()
    if lowered.endswith(("_file", "_env")):  # where the secret is, not the secret
        return False
    return any(word in lowered for word in SECRET_WORDS)


def _names(value: str | None) -> frozenset[str] | None:
    if value is None:
        return None
    names = frozenset(part.strip() for part in value.split(",") if part.strip())
    return names or None
