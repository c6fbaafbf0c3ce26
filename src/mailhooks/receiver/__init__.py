"""The ASGI app SocketLabs posts to: POST /hooks/{name}."""

from mailhooks.receiver.app import create_app

__all__ = ["create_app"]
