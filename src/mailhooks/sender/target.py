"""The endpoint URL the sender tools post to, read once for all of them."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from mailhooks.errors import InvalidInput, first_line


@dataclass(frozen=True, slots=True)
class Target:
    url: str
    scheme: str
    host: str
    port: int
    #: Path and query, as sent on the request line.
    path: str

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"

    @property
    def origin(self) -> str:
        return f"{self.scheme}://{self.host_header}"


def parse_target(url: str) -> Target:
    """Scheme, host, port and path of an http(s) URL; `InvalidInput` for anything else."""
    text = url.strip()
    try:
        parts = urlsplit(text)
    except ValueError as error:  # "http://[::1": an unclosed IPv6 address
        raise InvalidInput(f"{text[:80]!r}: {first_line(error)}") from error
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"{text[:80]!r} must look like https://host[:port]/path")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as error:
        raise InvalidInput(f"URL port: {first_line(error)}") from error
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(text, parts.scheme, parts.hostname, port, path)
