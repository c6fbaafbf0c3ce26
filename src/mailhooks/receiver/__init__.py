"""The lean ASGI route SocketLabs posts to: POST /hooks/{name}, answered after commit."""

from mailhooks.receiver.app import Receiver

__all__ = ["Receiver"]
