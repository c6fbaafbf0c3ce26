"""The HTTP webhook sink: each event POSTed as JSON to the team's own service, signed per
the Standard Webhooks specification (`webhook-id`, `webhook-timestamp`, `webhook-signature`).

`https://crm.example/hooks?secret_file=/etc/mailhooks/crm.secret&window=1` posts to
`https://crm.example/hooks`; query parameters that are not this sink's options stay in the
URL posted to. Options:

- `secret_file`: a file holding the `whsec_...` secret (several lines sign with each, so the
  receiver can rotate keys); or `secret_env`: the environment variable holding it. One is
  required; a secret in the URL itself is refused.
- `window` (default 1): posts in flight at once. 1 keeps feed order strictly; more trades
  the order within a window for throughput (the batch still returns only when all are 2xx).
- `timeout_s` (default 15, as Svix): a 2xx within it is success.
- `retries` (default `1,5`): seconds to wait before each quick retry of a post inside one
  `deliver`, after which it raises `SinkUnavailable`; the loop's backoff does the rest.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
from standardwebhooks import Webhook

from mailhooks import __version__
from mailhooks.errors import ConfigError
from mailhooks.forward.sink import Outgoing, SinkUnavailable

#: This sink's own options; every other query parameter stays in the URL posted to.
OPTIONS = frozenset({"secret_file", "secret_env", "window", "timeout_s", "retries"})
#: Query parameters the forward loop reads (filters); never posted to the receiver.
LOOP_OPTIONS = frozenset({"kinds", "endpoints"})
#: Parameters that would put a secret in the URL, where logs and `ps` would show it.
REFUSED = frozenset({"secret", "whsec"})
DEFAULT_WINDOW = 1
DEFAULT_TIMEOUT_S = 15.0
DEFAULT_RETRIES = (1.0, 5.0)
#: Answers worth a quick retry; any other non-2xx waits for the loop's backoff.
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class HttpSink:
    """POST each event to one URL, signed; `deliver` returns when every post got a 2xx."""

    def __init__(self, name: str, url: str, options: Mapping[str, str]) -> None:
        self.name = name
        self.url = target_url(url)
        #: The URL as messages show it: no credentials, no query string.
        self.shown_url = shown_url(url)
        refused = REFUSED & set(options)
        if refused:
            raise ConfigError(
                f"sink {name}: a secret in the URL ({', '.join(sorted(refused))}) is refused; "
                "use secret_file or secret_env"
            )
        self.signers = [Webhook(secret) for secret in read_secrets(name, options)]
        self.window = positive_int(name, options, "window", DEFAULT_WINDOW)
        self.timeout_s = positive_float(name, options, "timeout_s", DEFAULT_TIMEOUT_S)
        self.retries = retry_delays(name, options.get("retries"))
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        # httpx logs every request at INFO, query string included: one line per event, and
        # the receiver's own parameters in the log. Quiet unless someone set its level.
        quiet = logging.getLogger("httpx")
        if quiet.level == logging.NOTSET:
            quiet.setLevel(logging.WARNING)
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout_s),
                limits=httpx.Limits(max_connections=self.window),
                follow_redirects=False,
                headers={"user-agent": f"mailhooks/{__version__}"},
            )

    async def deliver(self, batch: Sequence[Outgoing]) -> None:
        """POST every event of `batch`, at most `window` at once, started in batch order.

        Raises:
            SinkUnavailable: when a post got no 2xx after its quick retries; posts still in
                flight are cancelled, and the loop retries the whole batch.
        """
        await self.start()
        pending: set[asyncio.Task[None]] = set()
        try:
            for event in batch:
                while len(pending) >= self.window:
                    pending = await _first_done(pending)
                pending.add(asyncio.create_task(self._post_with_retries(event)))
            while pending:
                pending = await _first_done(pending)
        finally:
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _post_with_retries(self, event: Outgoing) -> None:
        for delay in self.retries:
            try:
                await self._post(event)
                return
            except _Retryable:
                await asyncio.sleep(delay)
        try:
            await self._post(event)
        except _Retryable as error:
            raise SinkUnavailable(str(error)) from None

    async def _post(self, event: Outgoing) -> None:
        assert self._client is not None
        headers = self.headers(event, datetime.now(UTC))
        where = f"sink {self.name}: POST {self.shown_url} (event {event.id})"
        try:
            async with asyncio.timeout(self.timeout_s):
                response = await self._client.post(self.url, content=event.payload, headers=headers)
        except TimeoutError:
            raise _Retryable(f"{where}: no answer within {self.timeout_s:g} s") from None
        except httpx.HTTPError as error:
            raise _Retryable(f"{where}: {type(error).__name__} {_first_line(error)}") from None
        if 200 <= response.status_code < 300:
            return
        message = f"{where} answered {response.status_code}"
        if response.status_code in RETRY_STATUSES:
            raise _Retryable(message)
        raise SinkUnavailable(message)

    def headers(self, event: Outgoing, now: datetime) -> dict[str, str]:
        """The Standard Webhooks headers of one post (a fresh timestamp on each attempt)."""
        signatures = " ".join(
            signer.sign(event.idempotency_key, now, event.payload) for signer in self.signers
        )
        return {
            "content-type": "application/json",
            "webhook-id": event.idempotency_key,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signatures,
            "mailhooks-event-id": str(event.id),
            "mailhooks-kind": event.kind,
            "mailhooks-endpoint": event.endpoint,
        }


class _Retryable(Exception):
    """A post worth retrying at once (no answer, or 408/429/5xx); the message is one line."""


async def _first_done(pending: set[asyncio.Task[None]]) -> set[asyncio.Task[None]]:
    """Wait for one task to finish; re-raise its error; return those still running."""
    done, still = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
    try:
        for task in done:
            task.result()
    except BaseException:
        pending.clear()
        pending.update(still)
        raise
    return still


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:200] if text else ""


def target_url(url: str) -> str:
    """`url` without this sink's options and the loop's filters: the URL posted to."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"not an http(s) URL with a host: {shown_url(url)}")
    kept = [
        (key, value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
        if key not in OPTIONS | LOOP_OPTIONS | REFUSED
    ]
    return urlunsplit(parts._replace(query=urlencode(kept), fragment=""))


def shown_url(url: str) -> str:
    """`url` as messages show it: scheme, host, port and path only."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{host}:{port}" if port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def read_secrets(name: str, options: Mapping[str, str]) -> list[str]:
    """The signing secrets (one per non-empty line) from `secret_file` or `secret_env`."""
    file, env = options.get("secret_file"), options.get("secret_env")
    if bool(file) == bool(env):
        raise ConfigError(f"sink {name}: give exactly one of secret_file or secret_env")
    if file:
        try:
            text = Path(file).read_text()
        except OSError as error:
            raise ConfigError(
                f"sink {name}: cannot read secret_file {file} ({error.strerror})"
            ) from None
        source = f"secret_file {file}"
    else:
        assert env is not None
        if env not in os.environ:
            raise ConfigError(f"sink {name}: environment variable {env} (secret_env) is not set")
        text, source = os.environ[env], f"environment variable {env}"
    secrets = [line.strip() for line in text.splitlines() if line.strip()]
    if not secrets:
        raise ConfigError(f"sink {name}: {source} holds no secret")
    if not all(is_whsec(secret) for secret in secrets):
        raise ConfigError(f"sink {name}: {source} does not hold a whsec_<base64> secret")
    return secrets


def is_whsec(secret: str) -> bool:
    """`whsec_` and non-empty base64, as the Standard Webhooks specification writes secrets."""
    if not secret.startswith("whsec_"):
        return False
    body = secret.removeprefix("whsec_")
    try:
        return bool(base64.b64decode(body + "=" * (-len(body) % 4), validate=True))
    except ValueError:
        return False


def positive_int(name: str, options: Mapping[str, str], key: str, default: int) -> int:
    raw = options.get(key)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(f"sink {name}: {key} must be a whole number of at least 1, not {raw!r}")
    return value


def positive_float(name: str, options: Mapping[str, str], key: str, default: float) -> float:
    raw = options.get(key)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise ConfigError(f"sink {name}: {key} must be a number of seconds over 0, not {raw!r}")
    return value


def retry_delays(name: str, raw: str | None) -> tuple[float, ...]:
    """`retries=1,5`: the waits before each quick retry; `retries=` (empty): none."""
    if raw is None:
        return DEFAULT_RETRIES
    try:
        delays = tuple(float(part) for part in raw.split(",") if part.strip())
    except ValueError:
        delays = (-1.0,)
    if any(not 0 <= delay <= 60 for delay in delays):
        raise ConfigError(
            f"sink {name}: retries must be seconds between 0 and 60, comma-separated, not {raw!r}"
        )
    return delays
