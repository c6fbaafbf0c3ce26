"""mailhooks: a durable, exactly-once receiver for SocketLabs email event notifications."""

__all__ = ["__version__"]

__version__ = "0.1.0"
