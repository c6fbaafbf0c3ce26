"""One error base; each subclass carries the HTTP status it maps to at the boundary.

Each surface turns them into answers in one place: the receiver and the API through
`mailhooks.http_answers`, the CLI as `error: ...` with exit status 1 (cli/common.py).
"""

from __future__ import annotations


class MailhooksError(Exception):
    """Base of every error mailhooks raises on purpose; the message is one line, never a secret."""

    status_code = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class ParseError(MailhooksError):
    """The body cannot be read as a SocketLabs notification."""

    status_code = 400


class UnsupportedMediaType(MailhooksError):
    status_code = 415


class BodyTooLarge(MailhooksError):
    status_code = 413

    @classmethod
    def over(cls, limit: int, size: int | str | None = None) -> BodyTooLarge:
        """The error for a body over `limit` bytes; `size` when it is known up front."""
        if size is None:
            return cls(f"body is over the {limit}-byte limit")
        return cls(f"body of {size} bytes is over the {limit}-byte limit")


class AuthError(MailhooksError):
    """SecretKey or ServerId do not match the endpoint; the message names the check only."""

    status_code = 401


class NotFound(MailhooksError):
    """A named thing (an endpoint, a token) does not exist."""

    status_code = 404


class UnknownEndpoint(NotFound):
    """A post to /hooks/{name} for a name no endpoint has."""

    @classmethod
    def named(cls, name: str) -> UnknownEndpoint:
        """The error for `name`, shown cut to 100 characters."""
        return cls(f"no endpoint named {name[:100]!r}")


class Conflict(MailhooksError):
    """The name is taken."""

    status_code = 409


class InvalidInput(MailhooksError):
    """A value a person gave (a CLI argument, an API body) cannot be used as it is."""

    status_code = 400


class Unreachable(MailhooksError):
    """A remote endpoint or API gave no usable answer (the sender tools)."""

    status_code = 502


class StoreUnavailable(MailhooksError):
    """The event could not be committed (store down, commit failed, queue full)."""

    status_code = 503


class ConfigError(MailhooksError):
    """Bad settings: a database URL, a store that is not there, a port that is taken."""


class StoreMissing(ConfigError):
    """No store where a command looked: commands other than `serve` and `db upgrade` never
    create one, so a script run from the wrong place fails instead of reading an empty one."""


def first_line(error: BaseException, limit: int = 200) -> str:
    """An error as one short line, for logs and answers (drivers add multi-line detail)."""
    text = str(error)
    return text.splitlines()[0][:limit] if text.strip() else type(error).__name__
