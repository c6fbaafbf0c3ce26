"""SocketLabs events inside a Django project: a view, a URL include and a signal.

    # urls.py
    path("hooks/", include("mailhooks.integrations.django"))  # POST /hooks/<name>

    # settings.py
    MAILHOOKS_ENDPOINTS = {"default": {"secrets": ["..."], "server_id": 12345}}

    # any app
    @receiver(mailhooks_event)
    def keep(sender, event, dedupe_key, **kwargs): ...

Each post runs `mailhooks.receive` against the endpoint its `<name>` names, then sends
`mailhooks_event` (and anymail's `tracking` with `MAILHOOKS_ANYMAIL = True`) for an
accepted event, and writes the answer `mailhooks serve` gives, byte for byte. A receiver
that raises makes it a retryable 503 (never a 500), so SocketLabs posts the event again.
Settings are read once and cached (a `setting_changed` signal, as `override_settings`
sends, clears the cache). See docs/library.md, "Django".
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from django.conf import settings  # type: ignore[import-untyped]
from django.core import checks  # type: ignore[import-untyped]
from django.core.exceptions import ImproperlyConfigured  # type: ignore[import-untyped]
from django.core.signals import setting_changed  # type: ignore[import-untyped]
from django.dispatch import Signal  # type: ignore[import-untyped]
from django.http import HttpResponse, UnreadablePostError  # type: ignore[import-untyped]
from django.urls import path  # type: ignore[import-untyped]
from django.views.decorators.csrf import csrf_exempt  # type: ignore[import-untyped]

from mailhooks.errors import ConfigError, StoreUnavailable
from mailhooks.integrations.common import (
    Handler,
    Received,
    Store,
    call_handlers,
    check_store_ids,
    endpoints_by_name,
    handle_post,
    open_store,
    read_body,
)
from mailhooks.protocol.answers import Answer, error_answer, refusal_answer
from mailhooks.protocol.events import WireFormat
from mailhooks.protocol.failures import FailureTypeZero
from mailhooks.protocol.webhook import EndpointConfig, answer_for_unknown_endpoint

#: Sent once per accepted post (retries included; Validations only with
#: `MAILHOOKS_DELIVER_VALIDATIONS = True`), after the store (if any) committed and before
#: the 200 is written. Receivers take `(sender, event, dedupe_key, endpoint, fields,
#: accepted, **kwargs)`: `event` the `mailhooks.Event`, `dedupe_key` its 24 bytes (the
#: same on a retry), `endpoint` the name posted to, `fields` every field as sent but
#: SecretKey, `accepted` the whole `mailhooks.Accepted`. A receiver that raises makes the
#: answer a retryable 503.
mailhooks_event = Signal()

log = logging.getLogger("mailhooks.integrations")

#: The keys an endpoint's dict in `MAILHOOKS_ENDPOINTS` may hold (`EndpointConfig`'s).
ENDPOINT_KEYS = frozenset(
    {
        "secrets",
        "server_id",
        "wire_format",
        "validation_key",
        "failure_type_zero",
        "endpoint_id",
        "body_max_bytes",
        "retry_after_s",
    }
)
#: Every setting this module reads; changing one (`override_settings`) re-reads them all.
SETTINGS = frozenset(
    {
        "MAILHOOKS_ENDPOINTS",
        "MAILHOOKS_STORE",
        "MAILHOOKS_ANYMAIL",
        "MAILHOOKS_DELIVER_VALIDATIONS",
    }
)


class _Config:
    """The settings, read: the endpoints by name, the store, what is delivered."""

    def __init__(self) -> None:
        self.endpoints = endpoints_from_settings(getattr(settings, "MAILHOOKS_ENDPOINTS", None))
        self.handlers: list[Handler] = [_send_signal]
        if getattr(settings, "MAILHOOKS_ANYMAIL", False):
            self.handlers.append(_anymail_handler())
        self.deliver_validations = bool(getattr(settings, "MAILHOOKS_DELIVER_VALIDATIONS", False))
        store_url = getattr(settings, "MAILHOOKS_STORE", None)
        self.store: Store | None = None
        if store_url:
            try:
                check_store_ids(self.endpoints)
            except ConfigError as error:
                raise ImproperlyConfigured(f"MAILHOOKS_STORE: {error.message}") from error
            self.store = open_store(str(store_url))


_config: _Config | None = None


def config() -> _Config:
    """The settings, read once (and again after `setting_changed`).

    Raises:
        ImproperlyConfigured: a setting that cannot be used, naming it.
    """
    global _config
    if _config is None:
        _config = _Config()
    return _config


def _forget(*, setting: str, **_kwargs: Any) -> None:
    global _config
    if setting in SETTINGS:
        _config = None


setting_changed.connect(_forget, dispatch_uid="mailhooks-settings")


def endpoints_from_settings(value: object) -> dict[str, EndpointConfig]:
    """`MAILHOOKS_ENDPOINTS` as `EndpointConfig`s by name.

    Args:
        value: a dict of endpoint name -> dict of `EndpointConfig` fields (`wire_format`
            and `failure_type_zero` as text: `"json"`, `"form"`, `"temporary"`...). An
            endpoint without `endpoint_id` gets its place in the dict, from 1.

    Returns:
        The endpoints by name.

    Raises:
        ImproperlyConfigured: not a dict, a bad name, an unknown key, or a configuration
            that cannot work (no secret, a form endpoint without a Validation Key...).
    """
    if not isinstance(value, Mapping) or not value:
        raise ImproperlyConfigured(
            "MAILHOOKS_ENDPOINTS must be a dict of endpoint name -> settings,"
            ' e.g. {"default": {"secrets": ["..."], "server_id": 12345}}'
        )
    endpoints = {}
    for number, (name, options) in enumerate(value.items(), start=1):
        where = f"MAILHOOKS_ENDPOINTS[{str(name)[:40]!r}]"
        if not isinstance(options, Mapping):
            raise ImproperlyConfigured(f"{where} must be a dict")
        unknown = sorted(set(options) - ENDPOINT_KEYS)
        if unknown:
            raise ImproperlyConfigured(f"{where}: unknown setting {unknown[0]!r}")
        try:
            endpoints[name] = EndpointConfig(
                **{
                    "endpoint_id": number,
                    **options,
                    "wire_format": WireFormat(options.get("wire_format", WireFormat.JSON)),
                    "failure_type_zero": _zero(options.get("failure_type_zero")),
                }
            )
        except ConfigError as error:
            raise ImproperlyConfigured(f"{where}: {error.message}") from error
        except (ValueError, TypeError) as error:
            raise ImproperlyConfigured(f"{where}: {error}") from error
    try:
        return endpoints_by_name(endpoints)
    except ConfigError as error:
        raise ImproperlyConfigured(f"MAILHOOKS_ENDPOINTS: {error.message}") from error


def _zero(value: object) -> FailureTypeZero | None:
    return None if value is None else FailureTypeZero(str(value))


def _send_signal(received: Received) -> None:
    mailhooks_event.send(
        sender=hook,
        event=received.event,
        dedupe_key=received.dedupe_key,
        endpoint=received.endpoint,
        fields=received.event.fields,
        accepted=received.accepted,
    )


def _anymail_handler() -> Handler:
    try:
        from mailhooks.integrations.anymail import send_tracking
    except ImportError as error:
        raise ImproperlyConfigured(
            "MAILHOOKS_ANYMAIL is on but django-anymail is not installed"
            " (pip install django-anymail)"
        ) from error

    def send(received: Received) -> None:
        send_tracking(hook, received.event, received.dedupe_key)

    return send


def _write(answer: Answer) -> Any:
    response = HttpResponse(answer.body, status=answer.status)
    for name, value in answer.headers.items():
        response[name] = value
    return response


def _hook(request: Any, name: str) -> Any:
    if request.method != "POST":
        return _write(refusal_answer(405, "Method Not Allowed", {"Allow": "POST"}))
    try:
        current = config()
    except ImproperlyConfigured:
        log.exception("the mailhooks settings cannot be used; answered 503")
        return _write(error_answer(StoreUnavailable("endpoint configuration error; retry later")))
    endpoint = current.endpoints.get(name)
    if endpoint is None:
        return _write(answer_for_unknown_endpoint(name))
    # From the stream, not `request.body`: the endpoint's `body_max_bytes` applies (a 413,
    # as `mailhooks serve` answers), not DATA_UPLOAD_MAX_MEMORY_SIZE (Django's 400).
    try:
        body = read_body(request.read, request.META.get("CONTENT_LENGTH"), endpoint)
    except UnreadablePostError:
        return HttpResponse(status=400)  # the client went away, as the receiver answers
    if isinstance(body, Answer):
        return _write(body)
    answer = handle_post(
        body,
        request.META.get("CONTENT_TYPE"),
        endpoint,
        call_handlers(current.handlers, name),
        name=name,
        store=current.store,
        deliver_validations=current.deliver_validations,
    )
    return _write(answer)


#: The view: `POST <prefix><name>`, CSRF-exempt (SocketLabs authenticates with SecretKey).
hook = csrf_exempt(_hook)

#: For `include("mailhooks.integrations.django")`: `<name>` under the include's prefix.
urlpatterns = [path("<str:name>", hook, name="mailhooks-hook")]


def check_settings(app_configs: Any = None, **_kwargs: Any) -> list[Any]:
    """`manage.py check` (and so runserver) reports unusable mailhooks settings at start."""
    if not hasattr(settings, "MAILHOOKS_ENDPOINTS"):
        return []
    try:
        config()
    except ImproperlyConfigured as error:
        return [checks.Error(str(error), id="mailhooks.E001")]
    return []


checks.register(check_settings)
