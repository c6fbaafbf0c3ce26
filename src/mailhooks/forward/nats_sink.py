"""The NATS JetStream sink: each event published with `Nats-Msg-Id` = its idempotency key.

URL: `nats://[user:pass@]host:4222?subject=mailhooks.events.{kind}&stream=MAILHOOKS`.
Options:

- `subject` (default `mailhooks.events`): the subject of every event; `{kind}` in it is
  replaced by the event's kind (`mailhooks.events.{kind}` gives `mailhooks.events.failed`).
- `stream` (default `MAILHOOKS`): created if missing, with file storage and subjects
  matching `subject` (`{kind}` read as `*`). An existing stream is used as it is.
- `duplicate_window` (default `2m`): the window of a stream this sink creates. JetStream
  drops a message whose `Nats-Msg-Id` it has seen within the window only: a batch retried
  after a crash is dropped, a replay hours later is not, so consumers still drop repeats
  by the `Nats-Msg-Id` header.
- `timeout` (default `10s`): how long to wait for the connection and each publish ack.
- `window` (default `256`): publishes in flight before waiting for acks.

Every publish ack is checked; an ack with `duplicate` set counts as delivered. Any error is
`SinkUnavailable` with a one-line reason naming the server without its credentials.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit, urlunsplit

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import PubAck, StorageType, StreamConfig

from mailhooks.errors import ConfigError
from mailhooks.forward.options import count_option, seconds_option
from mailhooks.forward.sink import Outgoing, SinkUnavailable

log = logging.getLogger("mailhooks.forward.nats")

#: The subject when the URL names none.
DEFAULT_SUBJECT = "mailhooks.events"
#: The stream when the URL names none.
DEFAULT_STREAM = "MAILHOOKS"
_KIND = "{kind}"


class NatsSink:
    """Publishes batches to a JetStream stream and waits for every ack."""

    def __init__(self, name: str, url: str, options: Mapping[str, str]) -> None:
        self.name = name
        parts = urlsplit(url)
        if parts.scheme not in ("nats", "tls"):
            raise ConfigError(f"sink {name}: a NATS URL starts with nats:// or tls://")
        unknown = set(options) - {"subject", "stream", "duplicate_window", "timeout", "window"}
        if unknown:
            raise ConfigError(f"sink {name}: unknown option {sorted(unknown)[0]!r}")
        self._server = urlunsplit((parts.scheme, parts.netloc, "", "", ""))
        #: A password or token in the URL, kept out of every message.
        self._secrets = [s for s in (parts.password, parts.username) if s]
        #: The server as logs and errors show it: no user, password or token.
        self.where = f"{parts.scheme}://{parts.hostname or '127.0.0.1'}:{parts.port or 4222}"
        self.subject = options.get("subject", DEFAULT_SUBJECT)
        self.stream = options.get("stream", DEFAULT_STREAM)
        rest = self.subject.replace(_KIND, "")
        if not rest.strip(".") or any(c in rest for c in "{} *>") or ".." in self.subject:
            raise ConfigError(f"sink {name}: subject {self.subject!r} is not a NATS subject")
        if not self.stream or any(c in self.stream for c in " .*>/\\"):
            raise ConfigError(f"sink {name}: stream {self.stream!r} is not a stream name")
        self.duplicate_window = seconds_option(name, options, "duplicate_window", "2m")
        self.timeout = seconds_option(name, options, "timeout", "10s")
        self.window = count_option(name, options, "window", "256")
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._last_error: Exception | None = None

    def subject_for(self, kind: str) -> str:
        return self.subject.replace(_KIND, kind)

    def stream_config(self) -> StreamConfig:
        return StreamConfig(
            name=self.stream,
            subjects=[self.subject.replace(_KIND, "*")],
            storage=StorageType.FILE,
            duplicate_window=self.duplicate_window,
        )

    async def start(self) -> None:
        """Connect, and create the stream when it is missing.

        Raises:
            SinkUnavailable: the server did not answer, or the stream could not be made.
        """
        await self.close()
        self._last_error = None
        try:
            nc = await nats.connect(
                servers=[self._server],
                connect_timeout=max(1, round(self.timeout)),
                # Two attempts, then NoServersError; a lost connection is not made again
                # in the background: it fails the batch, and the next deliver reconnects.
                allow_reconnect=False,
                max_reconnect_attempts=1,
                reconnect_time_wait=0.2,
                error_cb=self._on_error,
                name=f"mailhooks-forward-{self.name}",
            )
        except (TimeoutError, OSError, nats.errors.Error) as error:
            raise self._unavailable("cannot connect", self._last_error or error) from error
        self._nc = nc
        self._js = nc.jetstream(timeout=self.timeout, publish_async_max_pending=self.window)
        try:
            await self._js.stream_info(self.stream)
        except nats.js.errors.NotFoundError:
            try:
                await self._js.add_stream(self.stream_config())
            except (TimeoutError, nats.errors.Error) as error:
                await self.close()
                raise self._unavailable(f"cannot create stream {self.stream}", error) from error
            log.info("sink %s: created stream %s on %s", self.name, self.stream, self.where)
        except (TimeoutError, nats.errors.Error) as error:
            await self.close()
            raise self._unavailable(f"cannot read stream {self.stream}", error) from error

    async def deliver(self, batch: Sequence[Outgoing]) -> None:
        """Publish the batch in order; return when JetStream has acked every event.

        Raises:
            SinkUnavailable: a publish failed or an ack was missing, late or an error.
        """
        if not batch:
            return
        if self._js is None or self._nc is None or not self._nc.is_connected:
            await self.start()
        js = self._js
        assert js is not None
        pending: list[tuple[Outgoing, asyncio.Future[PubAck]]] = []
        try:
            for event in batch:
                future = await js.publish_async(
                    self.subject_for(event.kind),
                    event.payload,
                    wait_stall=self.timeout,
                    stream=self.stream,
                    headers={
                        "Nats-Msg-Id": event.idempotency_key,
                        "Mailhooks-Id": str(event.id),
                        "Content-Type": "application/json",
                    },
                )
                pending.append((event, future))
            for event, future in pending:
                ack = await asyncio.wait_for(future, self.timeout)
                if ack.stream != self.stream:
                    raise SinkUnavailable(
                        f"sink {self.name}: event {event.id} was stored in stream "
                        f"{ack.stream}, not {self.stream}"
                    )
        except SinkUnavailable:
            raise
        except (TimeoutError, OSError, nats.errors.Error) as error:
            raise self._unavailable("publish not acknowledged", error) from error
        finally:
            for _, future in pending:
                future.cancel()

    async def close(self) -> None:
        nc, self._nc, self._js = self._nc, None, None
        if nc is not None and not nc.is_closed:
            with contextlib.suppress(OSError, asyncio.TimeoutError, nats.errors.Error):
                await nc.close()

    async def _on_error(self, error: Exception) -> None:
        self._last_error = error
        log.debug("sink %s: NATS %s: %s", self.name, self.where, self._one_line(error))

    def _unavailable(self, what: str, error: BaseException) -> SinkUnavailable:
        return SinkUnavailable(f"sink {self.name}: {what} at {self.where}: {self._one_line(error)}")

    def _one_line(self, error: BaseException) -> str:
        text = " ".join(str(error).split()) or type(error).__name__
        for secret in self._secrets:
            text = text.replace(secret, "******")
        return text[:200]
