"""Settings from MAILHOOKS_* environment variables (and CLI flags, which override them)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from mailhooks.protocol.answers import RETRY_AFTER_S
from mailhooks.protocol.webhook import BODY_MAX_BYTES
from mailhooks.store.location import default_database_url
from mailhooks.store.suppressions import SuppressionPolicy


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MAILHOOKS_", extra="ignore")

    #: `sqlite:///path` or `postgresql://user@host/db`; by default a SQLite file in the
    #: user's data directory (~/.local/share/mailhooks/mailhooks.db), wherever one runs.
    database_url: str = Field(default_factory=default_database_url)
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
    retry_after_s: int = Field(default=RETRY_AFTER_S, ge=0)
    #: Bodies larger than this are answered 413 (SocketLabs events are a few KB).
    body_max_bytes: int = Field(default=BODY_MAX_BYTES, ge=1024)
    #: How often a running server re-reads endpoints and keys (CLI changes apply within this).
    endpoint_refresh_s: float = Field(default=2.0, gt=0)
    #: ServerId of the `default` endpoint created on a first start.
    default_server_id: int = 1000
    #: Serve HTTPS directly (SocketLabs requires HTTPS for JSON endpoints); or use a proxy.
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    log_level: str = "info"
    #: Receiver processes sharing the port, each with its own writer. More than one uses
    #: more cores (SQLite serialises their commits; each still carries a batch). /metrics
    #: then shows the counters of the process that answers.
    workers: int = Field(default=1, ge=1, le=64)

    # Facing the internet (docs/operations.md): what one client may hold and send.
    #: Longest a client may take to send a request's line and headers (from its first byte,
    #: or from connecting); 408 and closed after it.
    header_timeout_s: float = Field(default=10.0, gt=0)
    #: Slowest a body may arrive (bytes/s, after a 5 s grace); 408 and closed below it.
    body_min_rate: int = Field(default=1024, ge=1)
    #: How long a kept-alive connection may sit idle between requests.
    idle_timeout_s: float = Field(default=5.0, gt=0)
    #: Open connections per worker; more are closed as soon as they are accepted.
    max_connections: int = Field(default=2048, ge=1)
    #: Open connections from one client address per worker (0: no limit; behind a proxy
    #: every connection comes from the proxy).
    max_connections_per_client: int = Field(default=64, ge=0)
    #: Largest request line plus headers (bytes), and most header lines; 431 above.
    max_header_bytes: int = Field(default=16 * 1024, ge=1024)
    max_headers: int = Field(default=100, ge=8)
    #: Host names the service answers to, comma-separated (`*.example.com` matches
    #: subdomains); empty answers any Host. Other hosts get 400.
    trusted_hosts: str = ""
    #: Networks allowed to post notifications, comma-separated CIDRs or addresses;
    #: `socketlabs` stands for SocketLabs' published ranges. Empty allows any; others 403.
    allow_from: str = ""
    #: Proxies whose X-Forwarded-For is believed (comma-separated CIDRs or addresses).
    trusted_proxies: str = ""

    # Suppression policy (docs/architecture.md): which new events put their address on the list.
    suppress_on_permanent_failure: bool = True
    suppress_on_complaint: bool = True
    #: Failed with FailureType 2 (SocketLabs' own list already holds the address).
    suppress_on_already_suppressed: bool = True
    #: This many temporary failures within the window suppress; 0 turns it off.
    suppress_temporary_failures: int = Field(default=3, ge=0)
    suppress_temporary_window_days: float = Field(default=7.0, gt=0)
    #: Update messages, addresses and suppressions with each commit. Off only to measure
    #: the raw store: `mailhooks db rebuild` then catches messages and addresses up, but
    #: the suppression policy is not replayed for events stored meanwhile.
    derive_state: bool = True

    #: Delete raw events older than this many days while serving; unset keeps everything.
    retention_days: float | None = Field(default=None, gt=0)
    retention_interval_s: float = Field(default=3600.0, gt=0)

    def as_environment(self) -> dict[str, str]:
        """These settings as MAILHOOKS_* variables, for worker processes to read back."""
        environment = {}
        for name, value in self.model_dump().items():
            if value is not None:
                text = str(value).lower() if isinstance(value, bool) else str(value)
                environment[f"MAILHOOKS_{name.upper()}"] = text
        return environment

    def suppression_policy(self) -> SuppressionPolicy:
        return SuppressionPolicy(
            on_permanent_failure=self.suppress_on_permanent_failure,
            on_complaint=self.suppress_on_complaint,
            on_already_suppressed=self.suppress_on_already_suppressed,
            temporary_failures=self.suppress_temporary_failures,
            temporary_window=timedelta(days=self.suppress_temporary_window_days),
        )
