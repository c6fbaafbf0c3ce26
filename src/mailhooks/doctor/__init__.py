"""`mailhooks doctor`: what in a deployment's settings and store is unsafe or fragile.

The checks are functions from settings and paths to findings (network.py, store.py), so
each can be tested on its own; the command (cli/doctor.py) only loads the settings and
prints. Nothing here creates, migrates or writes to a store.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import unquote_plus, urlsplit

from mailhooks.doctor.findings import Finding, Level, has_errors, redacted
from mailhooks.doctor.network import network_findings
from mailhooks.doctor.store import DiskUsageReader, disk_usage_of, store_findings

if TYPE_CHECKING:
    from mailhooks.config import Settings

__all__ = ["Finding", "Level", "examine", "has_errors", "url_secrets"]


def examine(
    settings: Settings | None, url: str, *, disk_usage: DiskUsageReader = disk_usage_of
) -> list[Finding]:
    """Every check of the settings (None when they do not load) and of the store at `url`,
    with the URL's password taken out of whatever they say."""
    findings = network_findings(settings) if settings is not None else []
    findings += store_findings(url, disk_usage=disk_usage)
    return redacted(findings, url_secrets(url))


def url_secrets(url: str) -> list[str]:
    """The password of a database URL, as written and decoded, in its userinfo or query."""
    try:
        parts = urlsplit(url)
        passwords = [parts.password or ""]
    except ValueError:  # urllib cannot split it: hide everything between `:` and `@`
        return re.findall(r"//[^/@]*?:(.+)@", url)
    for option in parts.query.split("&"):
        name, _, value = option.partition("=")
        if name.lower() == "password":
            passwords.append(value)
    return [
        form for password in passwords if password for form in (password, unquote_plus(password))
    ]
