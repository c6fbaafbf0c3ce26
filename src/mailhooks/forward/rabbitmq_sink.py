"""The RabbitMQ sink: persistent messages with publisher confirms, `message_id` = the key.

URL: `amqp://user:pass@host:5672/vhost?exchange=mailhooks&routing_key=events.{kind}`
(`amqps://` for TLS). Options:

- `exchange` (default `mailhooks`): declared durable, of type `topic`.
- `routing_key` (default `events.{kind}`): `{kind}` is replaced by the event's kind, so a
  queue bound with `events.failed` or `events.*` picks what it wants.
- `mandatory` (default `true`): a message no queue is bound for is returned by RabbitMQ,
  which fails the batch (the forwarder retries until a queue is bound). `false` lets
  RabbitMQ drop unroutable messages; narrow with the sink's `kinds` filter instead.
- `timeout` (default `10s`): how long to wait for the connection and each confirm.
- `window` (default `256`): publishes in flight before waiting for confirms.

Each message is persistent (delivery mode 2), `content_type` application/json, its
`message_id` the event's idempotency key, `type` its kind and header `mailhooks-id` its feed
id. RabbitMQ does not drop repeats: after a retry or a crash a consumer can see a
`message_id` twice and must drop repeats by it. A nack, a return or a missing confirm is
`SinkUnavailable`; the password in the URL is never logged or shown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import aiormq
import aiormq.abc
from aio_pika.abc import AbstractChannel, AbstractRobustConnection, DeliveryMode, ExchangeType

from mailhooks.errors import ConfigError
from mailhooks.forward.options import count_option, seconds_option
from mailhooks.forward.sink import Outgoing, SinkUnavailable

log = logging.getLogger("mailhooks.forward.rabbitmq")

#: The exchange when the URL names none.
DEFAULT_EXCHANGE = "mailhooks"
#: The routing key when the URL names none.
DEFAULT_ROUTING_KEY = "events.{kind}"
_KIND = "{kind}"
_OPTIONS = {"exchange", "routing_key", "mandatory", "timeout", "window"}
_FAILURES = (OSError, asyncio.TimeoutError, aiormq.exceptions.AMQPError, RuntimeError)


class RabbitMQSink:
    """Publishes batches to a topic exchange and waits for every publisher confirm."""

    def __init__(self, name: str, url: str, options: Mapping[str, str]) -> None:
        self.name = name
        parts = urlsplit(url)
        if parts.scheme not in ("amqp", "amqps"):
            raise ConfigError(f"sink {name}: a RabbitMQ URL starts with amqp:// or amqps://")
        unknown = set(options) - _OPTIONS
        if unknown:
            raise ConfigError(f"sink {name}: unknown option {sorted(unknown)[0]!r}")
        self._url = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        self._secret = parts.password or ""
        default_port = 5671 if parts.scheme == "amqps" else 5672
        #: The broker as logs and errors show it: no user or password.
        self.where = (
            f"{parts.scheme}://{parts.hostname or 'localhost'}:{parts.port or default_port}"
        )
        self.exchange_name = options.get("exchange", DEFAULT_EXCHANGE)
        self.routing_key = options.get("routing_key", DEFAULT_ROUTING_KEY)
        if len(self.exchange_name) > 255 or len(self.routing_key) > 200:
            raise ConfigError(f"sink {name}: exchange or routing_key is too long")
        mandatory = options.get("mandatory", "true").lower()
        if mandatory not in ("true", "false"):
            raise ConfigError(f"sink {name}: mandatory must be true or false")
        self.mandatory = mandatory == "true"
        self.timeout = seconds_option(name, options, "timeout", "10s")
        self.window = count_option(name, options, "window", "256")
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None

    def routing_key_for(self, kind: str) -> str:
        return self.routing_key.replace(_KIND, kind)

    async def start(self) -> None:
        """Connect, open a channel with publisher confirms and declare the exchange.

        Raises:
            SinkUnavailable: the broker did not answer or refused the declaration.
        """
        await self.close()
        try:
            connection = await aio_pika.connect_robust(
                self._url,
                timeout=self.timeout,
                client_properties={"connection_name": f"mailhooks-forward-{self.name}"},
            )
        except _FAILURES as error:
            raise self._unavailable("cannot connect", error) from error
        self._connection = connection
        try:
            channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
            await channel.declare_exchange(
                self.exchange_name, ExchangeType.TOPIC, durable=True, timeout=self.timeout
            )
        except _FAILURES as error:
            await self.close()
            raise self._unavailable(
                f"cannot declare exchange {self.exchange_name}", error
            ) from error
        self._channel = channel

    async def deliver(self, batch: Sequence[Outgoing]) -> None:
        """Publish the batch in order; return when RabbitMQ has confirmed every message.

        Raises:
            SinkUnavailable: a nack, a returned message, a lost channel or a late confirm.
        """
        if not batch:
            return
        if self._channel is None or self._channel.is_closed:
            await self.start()
        assert self._channel is not None
        in_flight: list[asyncio.Task[aiormq.abc.ConfirmationFrameType | None]] = []
        try:
            underlay = await asyncio.wait_for(self._channel.get_underlay_channel(), self.timeout)
            for start in range(0, len(batch), self.window):
                # The channel's lock takes publishes in the order these tasks start.
                in_flight = [
                    asyncio.create_task(self._publish(underlay, event))
                    for event in batch[start : start + self.window]
                ]
                for task in in_flight:
                    confirm = await asyncio.wait_for(task, self.timeout)
                    if not isinstance(confirm, aiormq.spec.Basic.Ack):
                        raise SinkUnavailable(
                            f"sink {self.name}: RabbitMQ at {self.where} did not confirm a "
                            f"message ({type(confirm).__name__})"
                        )
        except SinkUnavailable:
            raise
        except aiormq.exceptions.PublishError as error:
            raise SinkUnavailable(
                f"sink {self.name}: RabbitMQ at {self.where} returned a message: no queue "
                f"is bound to exchange {self.exchange_name} for its routing key"
            ) from error
        except aiormq.exceptions.DeliveryError as error:
            raise SinkUnavailable(
                f"sink {self.name}: RabbitMQ at {self.where} refused a message (nack)"
            ) from error
        except _FAILURES as error:
            raise self._unavailable("publish not confirmed", error) from error
        finally:
            for task in in_flight:
                task.cancel()

    async def _publish(
        self, channel: aiormq.abc.AbstractChannel, event: Outgoing
    ) -> aiormq.abc.ConfirmationFrameType | None:
        message = aio_pika.Message(
            event.payload,
            content_type="application/json",
            delivery_mode=DeliveryMode.PERSISTENT,
            message_id=event.idempotency_key,
            type=event.kind,
            app_id="mailhooks",
            headers={"mailhooks-id": event.id},
        )
        return await channel.basic_publish(
            message.body,
            exchange=self.exchange_name,
            routing_key=self.routing_key_for(event.kind),
            properties=message.properties,
            mandatory=self.mandatory,
        )

    async def close(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and not connection.is_closed:
            with contextlib.suppress(*_FAILURES):
                await asyncio.wait_for(connection.close(), self.timeout)

    def _unavailable(self, what: str, error: BaseException) -> SinkUnavailable:
        text = " ".join(str(error).split()) or type(error).__name__
        if self._secret:
            text = text.replace(self._secret, "******")
        return SinkUnavailable(f"sink {self.name}: {what} at {self.where}: {text[:200]}")
