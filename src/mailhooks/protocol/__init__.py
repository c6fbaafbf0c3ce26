"""The pure core: SocketLabs wire formats in, normalised events out. No I/O here."""

from mailhooks.protocol.events import Event, Kind, Notification
from mailhooks.protocol.parse import parse_body

__all__ = ["Event", "Kind", "Notification", "parse_body"]
