"""Before any POST: does the name resolve, does the port answer, is the certificate valid?

Each probe returns one `CheckResult` with the likely cause of a failure, because
"the endpoint is unreachable" is the first reason SocketLabs gives for a failed validation.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from mailhooks.errors import InvalidInput, first_line
from mailhooks.protocol.events import WireFormat
from mailhooks.sender.check.types import CheckResult, failed, passed, warned
from mailhooks.sender.target import Target
from mailhooks.wording import plural

#: Where SocketLabs posts from (docs/protocol.md, "Authentication"): what a firewall must let in.
SOCKETLABS_SOURCES = "142.0.176.0/20 (notifications) and 52.152.150.178 (validation, tests)"
#: Warn when the certificate expires sooner than this.
EXPIRY_WARNING_DAYS = 14
_UNTRUSTED_FIX = (
    "serve the full chain (fullchain.pem) of a certificate from a public CA such as "
    "Let's Encrypt; to trust a private test CA here, pass --ca-file"
)


def tls_context(ca_file: Path | None) -> ssl.SSLContext:
    """The system's trusted CAs, plus `ca_file` when given (a private or test CA)."""
    context = ssl.create_default_context()
    if ca_file is not None:
        try:
            context.load_verify_locations(cafile=str(ca_file))
        except (OSError, ssl.SSLError) as error:
            raise InvalidInput(f"--ca-file {ca_file}: {first_line(error)}") from error
    return context


def check_dns(target: Target, timeout_s: float) -> tuple[CheckResult, list[str]]:
    """Resolve the host (bounded: getaddrinfo has no timeout of its own)."""
    try:
        ipaddress.ip_address(target.host)
        addresses = [target.host]
    except ValueError:
        found = _resolve(target.host, target.port, timeout_s)
        if isinstance(found, str):
            return failed(
                "dns",
                f"{target.host} does not resolve ({found})",
                "the host name has no DNS record (a typo, or the record is not published yet)",
                "check the host name in the URL; create its A/AAAA record",
            ), []
        addresses = found
    shown = ", ".join(addresses[:3])
    if not any(ipaddress.ip_address(address).is_global for address in addresses):
        return warned(
            "dns",
            f"{target.host} -> {shown}: not a public address",
            "SocketLabs posts from the internet and cannot reach a private or loopback address",
            "fine for a local test; for SocketLabs use a public host name",
        ), addresses
    return passed("dns", f"{target.host} -> {shown}"), addresses


def _resolve(host: str, port: int, timeout_s: float) -> list[str] | str:
    """The addresses of `host`, or the reason there are none."""
    outcome: list[list[str] | str] = []

    def lookup() -> None:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            outcome.append(list(dict.fromkeys(str(info[4][0]) for info in infos)))
        except OSError as error:
            outcome.append(first_line(error))

    thread = threading.Thread(target=lookup, name="mailhooks-check-dns", daemon=True)
    thread.start()
    thread.join(timeout_s)
    return outcome[0] if outcome else f"no answer within {timeout_s:g} s"


def check_connect(target: Target, addresses: list[str], timeout_s: float) -> CheckResult:
    """Open (and close) a TCP connection to the first address that accepts one."""
    errors: list[tuple[str, OSError]] = []
    for address in addresses:
        started = time.monotonic()
        try:
            with socket.create_connection((address, target.port), timeout=timeout_s):
                elapsed_ms = (time.monotonic() - started) * 1000
                return passed("connect", f"{address} port {target.port} in {elapsed_ms:.0f} ms")
        except OSError as problem:
            errors.append((address, problem))
    address, error = errors[-1]
    where = f"{address} port {target.port}"
    if isinstance(error, ConnectionRefusedError):
        return failed(
            "connect",
            f"{where}: connection refused",
            f"nothing listens on port {target.port}: the receiver is down, listens on "
            "another port or interface, or a firewall rejects the connection",
            "start the receiver, check its port and bind address (0.0.0.0 to be reachable)",
        )
    if isinstance(error, TimeoutError):
        return failed(
            "connect",
            f"{where}: no answer within {timeout_s:g} s",
            "a firewall drops the packets, or the host is down",
            f"allow SocketLabs' ranges in the firewall: {SOCKETLABS_SOURCES}",
        )
    return failed(
        "connect",
        f"{where}: {first_line(error)}",
        "the host cannot be reached from here (no route, or the network is down)",
        f"check routing and firewalls; SocketLabs connects from {SOCKETLABS_SOURCES}",
    )


def check_tls(
    target: Target, wire_format: WireFormat, context: ssl.SSLContext, timeout_s: float
) -> CheckResult:
    """A verifying TLS handshake, as SocketLabs does; plain HTTP only warns."""
    if target.scheme == "http":
        needs = (
            "JSON Event Webhook endpoints must use HTTPS"
            if wire_format is WireFormat.JSON
            else "legacy endpoints may use HTTP, but SocketLabs strongly advises HTTPS"
        )
        return warned(
            "tls",
            "plain HTTP: the secret key and addresses travel in clear",
            needs,
            "serve the endpoint over HTTPS with a certificate from a public CA; enter https://",
        )
    try:
        with (
            socket.create_connection((target.host, target.port), timeout=timeout_s) as raw,
            context.wrap_socket(raw, server_hostname=target.host) as tls,
        ):
            version = tls.version() or "TLS"
            not_after = (tls.getpeercert() or {}).get("notAfter")
    except ssl.SSLCertVerificationError as error:
        return _certificate_failure(target, error)
    except ssl.SSLError as error:
        return _handshake_failure(target, error)
    except OSError as error:
        return failed(
            "tls",
            f"handshake: {first_line(error)}",
            "the connection broke during the TLS handshake",
            "check that this port serves HTTPS (a TLS terminator or the receiver itself)",
        )
    if not isinstance(not_after, str):
        return passed("tls", f"{version}, certificate valid for {target.host}")
    expires = datetime.fromtimestamp(ssl.cert_time_to_seconds(not_after), UTC)
    days = (expires - datetime.now(UTC)).days
    detail = f"{version}, certificate valid for {target.host} until {expires:%Y-%m-%d}"
    if days < EXPIRY_WARNING_DAYS:
        within = f"in {plural(days, 'day')}" if days > 0 else "within a day"
        return warned(
            "tls",
            detail,
            f"the certificate expires {within}",
            "renew it (e.g. certbot renew) and reload the server",
        )
    return passed("tls", detail)


def _certificate_failure(target: Target, error: ssl.SSLCertVerificationError) -> CheckResult:
    message = str(error.verify_message)
    causes: dict[int, tuple[str, str]] = {
        9: ("certificate not yet valid", "check the server clock and the certificate dates"),
        10: ("certificate expired", "renew it (e.g. certbot renew) and reload the server"),
        18: ("certificate not trusted: it is self-signed", _UNTRUSTED_FIX),
        19: ("certificate not trusted: its root CA is not trusted here", _UNTRUSTED_FIX),
        20: ("certificate not trusted: its issuer is unknown here", _UNTRUSTED_FIX),
        21: ("certificate not trusted: the chain cannot be verified", _UNTRUSTED_FIX),
        62: (
            f"hostname mismatch: the certificate does not name {target.host}",
            f"use a certificate whose names cover {target.host}, or the name it was issued for",
        ),
    }
    causes[64] = causes[62]
    cause, fix = causes.get(
        int(error.verify_code), (f"certificate not accepted: {message}", _UNTRUSTED_FIX)
    )
    return failed("tls", f"certificate verification failed: {message}", cause, fix)


def _handshake_failure(target: Target, error: ssl.SSLError) -> CheckResult:
    reason = str(error.reason or first_line(error))
    if reason in ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG"):
        return failed(
            "tls",
            f"handshake failed ({reason})",
            f"port {target.port} speaks plain HTTP, not TLS",
            "terminate TLS on this port, or use the https port of the server",
        )
    return failed(
        "tls",
        f"handshake failed ({reason})",
        "the server's TLS setup is not acceptable to a modern client (old protocol or cipher)",
        "allow TLS 1.2 or newer with current ciphers",
    )
