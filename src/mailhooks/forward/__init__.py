"""`mailhooks forward`: stored events, in feed order, to NATS, RabbitMQ or HTTP webhooks."""

from mailhooks.forward.sink import Outgoing, Sink, SinkUnavailable

__all__ = ["Outgoing", "Sink", "SinkUnavailable"]
