"""One error base; each subclass carries the HTTP status it maps to at the boundary."""

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


class AuthError(MailhooksError):
    """SecretKey or ServerId do not match the endpoint; the message names the check only."""

    status_code = 401


class UnknownEndpoint(MailhooksError):
    status_code = 404


class StoreUnavailable(MailhooksError):
    """The event could not be committed (store down, commit failed, queue full)."""

    status_code = 503


class ConfigError(MailhooksError):
    """Bad settings or CLI arguments; reported as one line with a non-zero exit."""


class StoreMissing(ConfigError):
    """No store where a command looked: commands other than `serve` and `db upgrade` never
    create one, so a script run from the wrong place fails instead of reading an empty one."""


def first_line(error: BaseException, limit: int = 200) -> str:
    """An error as one short line, for logs and answers (drivers add multi-line detail)."""
    text = str(error)
    return text.splitlines()[0][:limit] if text.strip() else type(error).__name__
