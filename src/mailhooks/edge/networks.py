"""Sets of networks from settings: `MAILHOOKS_ALLOW_FROM`, `MAILHOOKS_TRUSTED_PROXIES`."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from mailhooks.errors import ConfigError

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: SocketLabs' published sources (docs/protocol.md): live notifications, and the address
#: that sends validation and Event Tester posts.
SOCKETLABS = ("142.0.176.0/20", "52.152.150.178/32")
#: The word in a list of networks that stands for `SOCKETLABS`.
SOCKETLABS_WORD = "socketlabs"


def comma_separated(text: str) -> list[str]:
    """The items of a comma-separated setting, stripped, empty ones left out."""
    return [item for item in (part.strip() for part in text.split(",")) if item]


@dataclass(frozen=True, slots=True)
class Networks:
    """Addresses and CIDR ranges; empty holds nothing."""

    networks: tuple[IPNetwork, ...]
    _holds: dict[str, bool] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def parse(cls, text: str, setting: str) -> Networks:
        """`10.0.0.0/8, 192.0.2.7, socketlabs` (comma-separated); ConfigError names a bad one."""
        found: list[IPNetwork] = []
        for item in comma_separated(text):
            if item.lower() == SOCKETLABS_WORD:
                found.extend(ipaddress.ip_network(cidr) for cidr in SOCKETLABS)
                continue
            try:
                found.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ConfigError(
                    f"{setting}: {item!r} is not an address or network (e.g. 192.0.2.0/24)"
                ) from None
        return cls(tuple(found))

    def __bool__(self) -> bool:
        return bool(self.networks)

    def holds(self, address: str) -> bool:
        """Whether `address` is in one of the networks (False for anything unparsable)."""
        known = self._holds.get(address)
        if known is None:
            known = _in_any(address, self.networks)
            if len(self._holds) < 65_536:  # a cache, not a record of every client seen
                self._holds[address] = known
        return known


def _in_any(address: str, networks: tuple[IPNetwork, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in networks)
