"""Checks of how `serve` faces the network: TLS, who may connect, which names it answers.

Each takes the settings `serve` would use and returns findings; nothing here opens a
socket. "Public" means any interface but loopback: a wildcard (0.0.0.0, ::), another
address, or a host name, which may resolve to anything.
"""

from __future__ import annotations

import ipaddress
import os
import resource
import ssl
import stat
from typing import TYPE_CHECKING

from mailhooks.doctor.findings import Finding, Level
from mailhooks.edge.networks import SOCKETLABS_WORD, Networks, comma_separated
from mailhooks.errors import ConfigError

if TYPE_CHECKING:
    from mailhooks.config import Settings

_PROXY_FIX = "set MAILHOOKS_TRUSTED_PROXIES to the proxy's address (e.g. 127.0.0.1)"


def network_findings(settings: Settings) -> list[Finding]:
    return [
        check_transport(settings),
        *check_tls_files(settings),
        check_allow_from(settings),
        check_trusted_proxies(settings),
        check_trusted_hosts(settings),
        check_client_connections(settings),
        check_open_files(settings),
    ]


def is_public(host: str) -> bool:
    """Whether `serve --host HOST` can be reached from other machines."""
    name = host.strip().strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return False
    try:
        return not ipaddress.ip_address(name).is_loopback
    except ValueError:  # a host name (or nothing): it may name any interface
        return True


def _parsed(text: str, setting: str) -> Networks | str:
    """The networks as serve reads them, or why serve refuses them."""
    try:
        return Networks.parse(text, setting)
    except ConfigError as error:
        return error.message


def _behind_proxy(settings: Settings) -> bool:
    proxies = _parsed(settings.trusted_proxies, "MAILHOOKS_TRUSTED_PROXIES")
    return isinstance(proxies, Networks) and bool(proxies)


def check_transport(settings: Settings) -> Finding:
    """SocketLabs' JSON Event Webhook posts only to HTTPS, and each post carries the key."""
    where = f"{settings.host}:{settings.port}"
    if settings.ssl_certfile:
        return Finding("https", Level.OK, f"serve speaks HTTPS itself on {where}")
    if not is_public(settings.host):
        return Finding(
            "https",
            Level.OK,
            f"plain HTTP on {where}, loopback only: SocketLabs reaches it through a TLS proxy",
        )
    if _behind_proxy(settings):
        return Finding(
            "https",
            Level.OK,
            f"plain HTTP on {where} behind the trusted proxies (MAILHOOKS_TRUSTED_PROXIES), "
            "where TLS ends; keep the port closed to everyone else",
        )
    return Finding(
        "https",
        Level.WARNING,
        f"plain HTTP on {where}, a public interface: SocketLabs' JSON Event Webhook needs "
        "HTTPS, and every post carries the endpoint's SecretKey in the clear",
        "set MAILHOOKS_SSL_CERTFILE and MAILHOOKS_SSL_KEYFILE, or listen on 127.0.0.1 behind "
        "a TLS proxy; if one already fronts this port, name it in MAILHOOKS_TRUSTED_PROXIES",
    )


def check_tls_files(settings: Settings) -> list[Finding]:
    """The certificate and key `serve` loads at start: there, readable, the key private."""
    cert, key = settings.ssl_certfile, settings.ssl_keyfile
    if not cert and not key:
        return []
    if not cert:
        return [
            Finding(
                "tls-cert",
                Level.ERROR,
                "MAILHOOKS_SSL_KEYFILE is set without MAILHOOKS_SSL_CERTFILE: serve cannot "
                "start TLS with a key alone",
                "set MAILHOOKS_SSL_CERTFILE to the certificate (full chain, PEM)",
            )
        ]
    findings = [_readable("tls-cert", "MAILHOOKS_SSL_CERTFILE", cert)]
    # Without a key file the certificate file must hold the key too: it is then the secret.
    key_path = key or cert
    if key:
        findings.append(_readable("tls-key", "MAILHOOKS_SSL_KEYFILE", key))
    if all(finding.level is Level.OK for finding in findings):
        findings.append(_key_private(key_path))
        findings.append(_pair_loads(cert, key))
    return [finding for finding in findings if finding.level is not Level.OK] or [
        Finding(
            "tls-files",
            Level.OK,
            f"certificate {cert} and key {key_path} load, and only their owner can read the key",
        )
    ]


def _readable(check: str, variable: str, path: str) -> Finding:
    try:
        with open(path, "rb") as file:
            file.read(1)
    except OSError as error:
        return Finding(
            check,
            Level.ERROR,
            f"{variable} {path} cannot be read ({error.strerror}): serve cannot start TLS",
            f"point {variable} at the PEM file, readable by the user that runs serve",
        )
    return Finding(check, Level.OK, f"{path} is readable")


def _key_private(path: str) -> Finding:
    mode = stat.S_IMODE(os.stat(path).st_mode)
    if mode & 0o044:
        return Finding(
            "tls-key",
            Level.ERROR,
            f"the private key {path} is readable by {_who(mode, 0o040, 0o004)} "
            f"(mode {mode:04o}): whoever reads it can pose as this service",
            f"chmod 600 {path}, owned by the user that runs serve; or hand it over with "
            "systemd's LoadCredential= (docs/operations.md)",
        )
    return Finding("tls-key", Level.OK, f"{path} has mode {mode:04o}")


def _pair_loads(cert: str, key: str | None) -> Finding:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        # An encrypted key would make OpenSSL prompt; serve has no password to give either.
        context.load_cert_chain(cert, key, password=lambda: b"")
    except ssl.SSLError as error:
        return Finding(
            "tls-load",
            Level.ERROR,
            f"the certificate and key do not load together ({error.reason or error}): a key "
            "that is encrypted or not this certificate's, or a file that is not PEM; serve "
            "would fail to start",
            "use the PEM certificate (full chain) and its own unencrypted private key",
        )
    return Finding("tls-load", Level.OK, "the certificate and key load")


def _who(mode: int, group_bit: int, other_bit: int) -> str:
    return " and ".join(
        name for name, bit in (("its group", group_bit), ("others", other_bit)) if mode & bit
    )


def check_allow_from(settings: Settings) -> Finding:
    """Only SocketLabs needs to post; an open port lets anyone make the receiver work."""
    allowed = _parsed(settings.allow_from, "MAILHOOKS_ALLOW_FROM")
    if isinstance(allowed, str):
        return Finding(
            "allow-from",
            Level.ERROR,
            f"{allowed}: serve refuses to start",
            f"comma-separated addresses or CIDRs (203.0.113.0/24), or {SOCKETLABS_WORD}",
        )
    public = is_public(settings.host)
    if not allowed:
        if not public:
            return Finding(
                "allow-from", Level.OK, "no source allowlist; serve listens on loopback only"
            )
        return Finding(
            "allow-from",
            Level.WARNING,
            "no source allowlist on a public interface: anyone who reaches the port can post "
            "(refused without the key, but each post is read and checked)",
            f"MAILHOOKS_ALLOW_FROM={SOCKETLABS_WORD} (SocketLabs' published ranges), plus the "
            "networks you run `mailhooks check` from",
        )
    if not public and not _behind_proxy(settings):
        local = allowed.holds("127.0.0.1") or allowed.holds("::1")
        return Finding(
            "allow-from",
            Level.WARNING,
            "MAILHOOKS_ALLOW_FROM is set, but serve listens on loopback and trusts no proxy: "
            "posts through a proxy arrive from this host, so "
            + (
                "the allowlist lets every one in"
                if local
                else "every one is refused (403) whoever sent it"
            ),
            f"{_PROXY_FIX}, so the address it forwards is judged",
        )
    return Finding(
        "allow-from",
        Level.OK,
        f"posts are taken only from MAILHOOKS_ALLOW_FROM ({len(allowed.networks)} networks)",
    )


def check_trusted_proxies(settings: Settings) -> Finding:
    proxies = _parsed(settings.trusted_proxies, "MAILHOOKS_TRUSTED_PROXIES")
    if isinstance(proxies, str):
        return Finding(
            "trusted-proxies",
            Level.ERROR,
            f"{proxies}: serve refuses to start",
            "comma-separated addresses or CIDRs of the proxies in front (e.g. 127.0.0.1)",
        )
    if not proxies:
        return Finding(
            "trusted-proxies",
            Level.OK,
            "no trusted proxies: each connection's own address is the client's",
        )
    return Finding(
        "trusted-proxies",
        Level.OK,
        f"X-Forwarded-For is believed from {len(proxies.networks)} trusted proxy networks",
    )


def check_trusted_hosts(settings: Settings) -> Finding:
    """Answering any Host lets scanners and rebinding pages reach the service by address."""
    names = comma_separated(settings.trusted_hosts)
    if names:
        return Finding("trusted-hosts", Level.OK, f"answers only Host {', '.join(names)}")
    if not is_public(settings.host):
        return Finding("trusted-hosts", Level.OK, "any Host is answered; loopback only")
    return Finding(
        "trusted-hosts",
        Level.WARNING,
        "no trusted hosts on a public interface: requests for any Host name, or for the bare "
        "address, are answered",
        "MAILHOOKS_TRUSTED_HOSTS=hooks.example.com (the host name in your SocketLabs URL)",
    )


def check_client_connections(settings: Settings) -> Finding:
    """Without a per-client cap one client can hold every connection a worker allows."""
    cap, total = settings.max_connections_per_client, settings.max_connections
    if cap:
        return Finding(
            "client-connections",
            Level.OK,
            f"at most {cap} connections per client address, {total} in all, per worker",
        )
    if not is_public(settings.host) or _behind_proxy(settings):
        return Finding(
            "client-connections",
            Level.OK,
            "no per-client connection cap: connections come through a proxy",
        )
    return Finding(
        "client-connections",
        Level.WARNING,
        "MAILHOOKS_MAX_CONNECTIONS_PER_CLIENT is 0 on a public interface with no trusted "
        f"proxy: one client can hold all {total} connections of a worker and shut SocketLabs out",
        "set it (the default is 64); 0 is for serving behind a proxy named in "
        "MAILHOOKS_TRUSTED_PROXIES",
    )


def check_open_files(settings: Settings) -> Finding:
    """serve raises its open-file limit for its connections, but only up to the hard limit."""
    from mailhooks.server import SPARE_DESCRIPTORS  # serve's own count, at serve's import cost

    wanted = settings.max_connections + SPARE_DESCRIPTORS
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard >= wanted:
        return Finding(
            "open-files", Level.OK, f"the open-file limit allows {wanted} descriptors per worker"
        )
    return Finding(
        "open-files",
        Level.WARNING,
        f"the hard open-file limit here is {hard}, below MAILHOOKS_MAX_CONNECTIONS plus "
        f"{SPARE_DESCRIPTORS} ({wanted}): past it new connections fail (as serve's own "
        "limit, if it starts with this one)",
        f"lower MAILHOOKS_MAX_CONNECTIONS, or raise the limit (ulimit -Hn; systemd: "
        f"LimitNOFILE={wanted})",
    )
