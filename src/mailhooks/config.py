"""Settings from MAILHOOKS_* environment variables (and CLI flags, which override them)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MAILHOOKS_", extra="ignore")

    #: `sqlite:///path` (default: ./mailhooks.db) or `postgresql://user@host/db`.
    database_url: str = "sqlite:///mailhooks.db"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    #: Most events committed in one transaction.
    batch_max: int = Field(default=500, ge=1)
    #: How long the writer waits for a batch to fill (ms); 0 commits whatever is queued at once.
    batch_wait_ms: float = Field(default=0.0, ge=0)
    #: Events waiting for a commit before new posts get 503 at once.
    queue_max: int = Field(default=10_000, ge=1)
    #: Longest a post waits for its commit before it is answered 503.
    commit_timeout_s: float = Field(default=10.0, gt=0)
    #: Retry-After (seconds) sent with every 503.
    retry_after_s: int = Field(default=5, ge=0)
    #: Bodies larger than this are answered 413 (SocketLabs events are a few KB).
    body_max_bytes: int = Field(default=256 * 1024, ge=1024)
    #: How often a running server re-reads endpoints and keys (CLI changes apply within this).
    endpoint_refresh_s: float = Field(default=2.0, gt=0)
    #: ServerId of the `default` endpoint created on a first start.
    default_server_id: int = 1000
    #: Serve HTTPS directly (SocketLabs requires HTTPS for JSON endpoints); or use a proxy.
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    log_level: str = "info"
